//! The planner: manifests in, validated jobs out.
//!
//! SKELETON: the public API below is the contract the executor builds on.
//! Issue #4 fills it in (and may add to it, but not change these names).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::model::{BucketName, InventoryConfiguration, InventoryId, Region};

/// Where a job was defined: a manifest file and line (for CSV, the line of
/// the row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub file: PathBuf,
    pub line: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// One inventory job on one bucket: the unit the executor sends and the
/// report has a row for.
#[derive(Debug, Clone)]
pub struct Job {
    bucket: BucketName,
    region: Region,
    config: InventoryConfiguration,
    source: Source,
}

impl Job {
    pub fn new(
        bucket: BucketName,
        region: Region,
        config: InventoryConfiguration,
        source: Source,
    ) -> Self {
        Job {
            bucket,
            region,
            config,
            source,
        }
    }
    pub fn bucket(&self) -> &BucketName {
        &self.bucket
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn id(&self) -> &InventoryId {
        &self.config.id
    }
    /// The configuration to PUT, placeholders expanded.
    pub fn config(&self) -> InventoryConfiguration {
        self.config.clone()
    }
    pub fn source(&self) -> &Source {
        &self.source
    }
}

/// Every job of a set of manifests, validated, sorted by (bucket, id).
#[derive(Debug, Clone, Default)]
pub struct Plan {
    jobs: Vec<Job>,
}

impl Plan {
    /// Sorts the jobs; the caller guarantees they are valid and unique.
    pub fn from_jobs(mut jobs: Vec<Job>) -> Self {
        jobs.sort_by(|a, b| (a.bucket(), a.id()).cmp(&(b.bucket(), b.id())));
        Plan { jobs }
    }
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }
    pub fn bucket_count(&self) -> usize {
        let mut count = 0;
        let mut last: Option<&BucketName> = None;
        for job in &self.jobs {
            if last != Some(job.bucket()) {
                count += 1;
                last = Some(job.bucket());
            }
        }
        count
    }
    /// Keeps only the buckets of `shard`.
    pub fn shard(self, shard: Shard) -> Plan {
        Plan {
            jobs: self
                .jobs
                .into_iter()
                .filter(|job| shard.contains(job.bucket()))
                .collect(),
        }
    }
}

/// Shard K of N (K from 0): a stable partition of buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub fn contains(&self, _bucket: &BucketName) -> bool {
        unimplemented!("issue #4")
    }
}

impl FromStr for Shard {
    type Err = String;
    fn from_str(_text: &str) -> Result<Self, String> {
        unimplemented!("issue #4")
    }
}

/// Every problem found in a set of manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} problem(s) in the manifests", .problems.len())]
pub struct ManifestErrors {
    /// Each as `file:line: field: message`, in file order.
    pub problems: Vec<String>,
}

/// Reads, expands and validates `files` (YAML and CSV, merged).
pub fn load(_files: &[PathBuf]) -> Result<Plan, ManifestErrors> {
    unimplemented!("issue #4")
}

/// `cosinv validate`: exit code 0, or 2 with every problem on stderr.
pub fn run_validate(_args: &crate::cli::ValidateArgs) -> u8 {
    eprintln!("cosinv validate: not implemented yet in this version");
    crate::exit::USAGE
}

/// `cosinv plan`.
pub fn run_plan(_args: &crate::cli::PlanArgs) -> u8 {
    eprintln!("cosinv plan: not implemented yet in this version");
    crate::exit::USAGE
}
