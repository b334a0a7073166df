//! The planner: manifest entries in, checked and expanded jobs out.
//!
//! Expansion happens in two passes. YAML files are read first (defaults and
//! policies may be used by any file on the command line), then YAML jobs
//! and CSV rows are expanded to one [`Job`] per (bucket, id). Everything
//! that is the same for all the buckets of a job (or for all the CSV rows
//! that differ only by bucket) is resolved and validated once, into a
//! shared `Template`; a job is then a bucket, a region, a line and a
//! pointer, which is what lets a million jobs fit in a few hundred
//! megabytes and check in seconds.
//!
//! - `expand`: defaults, policies, YAML jobs and CSV rows → jobs.
//! - `check`: one job's settings → a validated configuration, every
//!   problem reported where its value was written.
//! - [`shard`]: the stable partition of buckets across hosts.
//! - [`json`]: the plan as a JSON document, streamed; [`rollup`]: its counts.
//! - [`reconcile`]: one bucket's jobs against what is on it: create, update,
//!   leave alone, delete; the limit with live jobs counted.
//! - [`discover`]: `discover:` jobs against the account's bucket list,
//!   which the caller fetched (the planner never does).
//!
//! Nothing here prints: problems are collected and returned.

mod accounts;
mod check;
pub mod discover;
mod expand;
pub mod json;
pub mod reconcile;
pub mod rollup;
pub mod saved;
pub mod shard;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::manifest::{self, Loc, Problems, ReadOptions};
use crate::model::{self, BucketName, InventoryConfiguration, InventoryId, Region};

pub use discover::{Discovered, DiscoveredBucket, DiscoveryUse};
pub use shard::{Shard, ShardError, shard_of};

use expand::{Context, Expander, expand};

/// Where a job was defined: a manifest file and line (for CSV, the line of
/// the row; for a buckets file, the bucket's line there).
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

/// What the jobs of one YAML job entry (or of CSV rows alike but for the
/// bucket) share.
#[derive(Debug)]
pub(crate) struct Template {
    /// Complete but for the destination prefix (when it has placeholders)
    /// and region (when it is the job's).
    config: InventoryConfiguration,
    /// The destination prefix with `{bucket}`, `{region}` or `{id}`.
    prefix_pattern: Option<String>,
    /// `None`: the destination is in each job's own region.
    destination_region: Option<Region>,
    /// The policy the job's settings come from, if any.
    policy: Option<Arc<str>>,
}

/// One inventory job on one bucket: the unit the executor sends and the
/// report has a row for.
///
/// The bucket's name and the region are shared by every job that names
/// them (the planner keeps one of each), so a job is five words: a
/// million jobs take about 50 MB.
#[derive(Debug, Clone)]
pub struct Job {
    bucket: Arc<BucketName>,
    region: Arc<Region>,
    template: Arc<Template>,
    file: Arc<Path>,
    line: u32,
}

impl Job {
    pub fn new(
        bucket: BucketName,
        region: Region,
        config: InventoryConfiguration,
        source: Source,
    ) -> Self {
        Job {
            bucket: Arc::new(bucket),
            region: Arc::new(region),
            template: Arc::new(Template {
                destination_region: Some(config.destination.region.clone()),
                config,
                prefix_pattern: None,
                policy: None,
            }),
            file: Arc::from(source.file.as_path()),
            line: source.line as u32,
        }
    }
    /// The job just made by [`Job::new`], its settings said to come from
    /// `policy` (as a saved plan records it).
    pub fn with_policy(mut self, policy: Option<&str>) -> Self {
        if let Some(template) = Arc::get_mut(&mut self.template) {
            template.policy = policy.map(Arc::from);
        }
        self
    }
    pub fn bucket(&self) -> &BucketName {
        &self.bucket
    }
    pub fn region(&self) -> &Region {
        &self.region
    }
    pub fn id(&self) -> &InventoryId {
        &self.template.config.id
    }
    /// The configuration to PUT, placeholders expanded.
    pub fn config(&self) -> InventoryConfiguration {
        let mut config = self.template.config.clone();
        if let Some(pattern) = &self.template.prefix_pattern {
            config.destination.prefix =
                Some(expand(pattern, &self.bucket, &self.region, self.id()));
        }
        if self.template.destination_region.is_none() {
            config.destination.region = Region::clone(&self.region);
        }
        config
    }
    /// Where COS writes this job's reports, as
    /// [`crate::model::Destination::report_location`] of [`Job::config`],
    /// without building the configuration.
    pub fn report_location(&self) -> String {
        let destination = &self.template.config.destination;
        match (&self.template.prefix_pattern, &destination.prefix) {
            (Some(pattern), _) => format!(
                "cos://{}/{}/",
                destination.bucket,
                expand(pattern, &self.bucket, &self.region, self.id())
            ),
            (None, Some(prefix)) => format!("cos://{}/{prefix}/", destination.bucket),
            (None, None) => format!("cos://{}/", destination.bucket),
        }
    }
    /// `file:line`, as [`Source`] shows it.
    pub fn source_text(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
    /// The name of the policy the job's settings come from, if any.
    pub fn policy(&self) -> Option<&str> {
        self.template.policy.as_deref()
    }
    pub fn source(&self) -> Source {
        Source {
            file: self.file.to_path_buf(),
            line: self.line as usize,
        }
    }
    fn loc(&self) -> Loc {
        Loc::new(&self.file, self.line)
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
        sort_jobs(&mut jobs);
        Plan { jobs }
    }
    pub fn jobs(&self) -> &[Job] {
        &self.jobs
    }
    pub fn bucket_count(&self) -> usize {
        bucket_runs(&self.jobs).count()
    }
    /// The jobs of each bucket in turn.
    pub fn buckets(&self) -> impl Iterator<Item = &[Job]> {
        bucket_runs(&self.jobs)
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

/// Sorts by (bucket, id). The sort is stable: jobs come in manifest order
/// (files as given, lines in order), so of two jobs with the same (bucket,
/// id) the one written first stays first and duplicates are reported the
/// same way on every run.
fn sort_jobs(jobs: &mut [Job]) {
    jobs.sort_by(|a, b| (a.bucket(), a.id()).cmp(&(b.bucket(), b.id())));
}

/// The jobs of each bucket in turn (jobs sorted by bucket).
fn bucket_runs(jobs: &[Job]) -> impl Iterator<Item = &[Job]> {
    jobs.chunk_by(|a, b| a.bucket() == b.bucket())
}

/// Every problem found in a set of manifests.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} in the manifests", problem_count(*.total))]
pub struct ManifestErrors {
    /// Each as `file:line: field: message`, in file order; capped, with a
    /// last line saying how many are shown when there are more.
    pub problems: Vec<String>,
    /// How many problems there are, shown or not.
    pub total: usize,
}

fn problem_count(count: usize) -> String {
    match count {
        1 => "1 problem".to_string(),
        _ => format!("{count} problems"),
    }
}

/// What was read, for summaries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadSummary {
    pub files: usize,
    pub policies: usize,
    /// Each `discover:` job, in manifest order, and what it became.
    pub discovery: Vec<DiscoveryUse>,
    /// Every manifest read whole, in the order given, as it was read.
    pub manifests: Vec<manifest::FileDigest>,
    /// Every buckets file the manifests named and were read, sorted, as
    /// it was read.
    pub buckets_files: Vec<manifest::FileDigest>,
    /// The `accounts:` of every manifest, each APPID once.
    pub accounts: Vec<manifest::AccountSpec>,
}

/// Reads, expands and validates `files` (YAML and CSV, merged).
pub fn load(files: &[PathBuf]) -> Result<Plan, ManifestErrors> {
    load_with_summary(files).map(|(plan, _)| plan)
}

/// [`load`], and what was read. `discover:` jobs expand to no jobs.
pub fn load_with_summary(files: &[PathBuf]) -> Result<(Plan, LoadSummary), ManifestErrors> {
    load_with_options(files, &ReadOptions::default(), None)
}

/// [`load_with_summary`], reading with `options` (regions allowed,
/// buckets files outside the manifest's folder). `discovered` is the
/// account's bucket list for `discover:` jobs; without it they are checked
/// but expand to no jobs (see [`LoadSummary::discovery`]).
pub fn load_with_options(
    files: &[PathBuf],
    options: &ReadOptions,
    discovered: Option<&Discovered>,
) -> Result<(Plan, LoadSummary), ManifestErrors> {
    let mut problems = Problems::default();
    let mut yaml = Vec::new();
    let mut csv = Vec::new();
    for path in files {
        let file: Arc<Path> = Arc::from(path.as_path());
        problems.declare_file(&file);
        match kind_of(path) {
            Some(Kind::Yaml) => {
                yaml.push((path, manifest::yaml::read(path, options, &mut problems)))
            }
            Some(Kind::Csv) => csv.push(path),
            None => problems.add(
                &Loc::new(&file, 1),
                "file",
                "is neither YAML nor CSV; name manifests *.yaml, *.yml or *.csv",
            ),
        }
    }
    let context = Context::new(&yaml, &mut problems);
    let mut expander = Expander::new(&context, options, discovered);
    for (_, manifest) in &yaml {
        for spec in &manifest.jobs {
            expander.yaml_job(spec, &mut problems);
        }
    }
    let mut digests: HashMap<&Path, manifest::FileDigest> = yaml
        .iter()
        .filter_map(|(path, manifest)| Some((path.as_path(), manifest.digest.clone()?)))
        .collect();
    for path in csv {
        let digest = manifest::csv::read(path, options, &mut problems, |row, problems| {
            expander.csv_row(row, problems)
        });
        digests.extend(digest.map(|digest| (path.as_path(), digest)));
    }
    let manifests = files
        .iter()
        .filter_map(|path| digests.get(path.as_path()).cloned())
        .collect();
    let discovery = std::mem::take(&mut expander.discovery);
    let mut buckets_files: Vec<manifest::FileDigest> = expander
        .buckets_files
        .values()
        .filter_map(|read| Some(read.as_ref()?.digest.clone()))
        .collect();
    buckets_files.sort_by(|a, b| a.path.cmp(&b.path));
    // The expander's tables (buckets files, names) go before the sort
    // needs its scratch space.
    let mut jobs = std::mem::take(&mut expander.jobs);
    drop(expander);
    sort_jobs(&mut jobs);
    check_duplicates(&jobs, &mut problems);
    check_limits(&jobs, &mut problems);
    let accounts = accounts::collect(&yaml, &jobs, &mut problems);
    // A manifest of discover: jobs may select no bucket (yet): not a mistake.
    if jobs.is_empty() && problems.is_empty() && discovery.is_empty() {
        let at = files
            .first()
            .map(|path| Loc::new(&Arc::from(path.as_path()), 1));
        if let Some(at) = at {
            problems.add(
                &at,
                "jobs",
                "the manifests define no jobs; add a jobs: list or a CSV fleet",
            );
        }
    }
    if !problems.is_empty() {
        let report = problems.into_report();
        return Err(ManifestErrors {
            problems: report.lines,
            total: report.total,
        });
    }
    let summary = LoadSummary {
        files: files.len(),
        policies: context.policies.len(),
        discovery,
        manifests,
        buckets_files,
        accounts,
    };
    Ok((Plan { jobs }, summary))
}

enum Kind {
    Yaml,
    Csv,
}

fn kind_of(path: &Path) -> Option<Kind> {
    let extension = path.extension()?.to_str()?.to_ascii_lowercase();
    match extension.as_str() {
        "yaml" | "yml" => Some(Kind::Yaml),
        "csv" => Some(Kind::Csv),
        _ => None,
    }
}

/// Two jobs with the same (bucket, id) would overwrite each other.
fn check_duplicates(jobs: &[Job], problems: &mut Problems) {
    for pair in jobs.windows(2) {
        let (first, second) = (&pair[0], &pair[1]);
        if first.bucket() == second.bucket() && first.id() == second.id() {
            problems.add(
                &second.loc(),
                "bucket",
                format!(
                    "job ({}, {}) is also defined at {}; each (bucket, id) may appear once",
                    second.bucket(),
                    second.id(),
                    first.loc()
                ),
            );
        }
    }
}

/// COS keeps at most [`model::MAX_JOBS_PER_BUCKET`] inventory jobs per
/// bucket. `live` counts jobs already on the bucket that the plan does not
/// replace. The message, when over.
pub fn over_limit(bucket: &str, planned: usize, live: usize) -> Option<String> {
    let total = planned + live;
    (total > model::MAX_JOBS_PER_BUCKET).then(|| {
        let live = if live > 0 {
            format!(" ({planned} planned, {live} already on the bucket)")
        } else {
            String::new()
        };
        format!(
            "bucket {bucket}: {total} jobs{live}, limit {}; COS refuses more, so move some \
             ids to other buckets",
            model::MAX_JOBS_PER_BUCKET
        )
    })
}

fn check_limits(jobs: &[Job], problems: &mut Problems) {
    for run in bucket_runs(jobs) {
        if let Some(message) = over_limit(run[0].bucket().as_str(), run.len(), 0) {
            problems.add(&run[model::MAX_JOBS_PER_BUCKET].loc(), "bucket", message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_shows_its_report_location_and_source_as_its_configuration_does() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("m.yaml");
        std::fs::write(
            &manifest,
            "version: 1\ndefaults:\n  region: ap-guangzhou\njobs:\n  - id: a.b\n    \
             buckets: [photos-1250000000]\n    set:\n      schedule: Daily\n      \
             destination:\n        bucket: inv-1250000000\n        \
             prefix: \"x/{bucket}/{region}/{id}/{id}\"\n  - id: plain\n    \
             buckets: [photos-1250000000]\n    set:\n      schedule: Daily\n      \
             destination:\n        bucket: inv-1250000000\n",
        )
        .unwrap();
        let plan = load(std::slice::from_ref(&manifest)).unwrap();
        for job in plan.jobs() {
            assert_eq!(
                job.report_location(),
                job.config().destination.report_location()
            );
            assert_eq!(job.source_text(), job.source().to_string());
        }
        assert_eq!(
            plan.jobs()[0].report_location(),
            "cos://inv-1250000000/x/photos-1250000000/ap-guangzhou/a.b/a.b/"
        );
    }

    #[test]
    fn every_file_read_is_hashed_as_it_was_read_in_the_order_given() {
        use sha2::{Digest, Sha256};
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("m.yaml");
        let buckets = dir.path().join("b.txt");
        let csv = dir.path().join("f.csv");
        std::fs::write(&buckets, "photos-1250000000\nlogs-1250000000\n").unwrap();
        std::fs::write(
            &yaml,
            "version: 1\ndefaults:\n  region: ap-guangzhou\njobs:\n  - id: daily\n    \
             buckets_file: b.txt\n    set:\n      schedule: Daily\n      \
             destination:\n        bucket: inv-1250000000\n",
        )
        .unwrap();
        // Bigger than the head read for the delimiter, so the digest must
        // join the head and the rest; semicolons, so the head is sniffed.
        let mut text = String::from("bucket;region;id;schedule;destination_bucket\n");
        for n in 0..3_000 {
            text.push_str(&format!(
                "b{n:05}-1250000000;ap-guangzhou;x;Daily;inv-1250000000\n"
            ));
        }
        std::fs::write(&csv, &text).unwrap();
        let (plan, summary) = load_with_summary(&[csv.clone(), yaml.clone()]).unwrap();
        assert_eq!(plan.jobs().len(), 3_002);
        let sha = |path: &Path| hex::encode(Sha256::digest(std::fs::read(path).unwrap()));
        let read: Vec<(&Path, &str, u64)> = summary
            .manifests
            .iter()
            .chain(&summary.buckets_files)
            .map(|file| (file.path.as_path(), file.sha256.as_str(), file.bytes))
            .collect();
        let on_disk: Vec<(&Path, String, u64)> = [&csv, &yaml, &buckets]
            .into_iter()
            .map(|path| {
                (
                    path.as_path(),
                    sha(path),
                    std::fs::metadata(path).unwrap().len(),
                )
            })
            .collect();
        let on_disk: Vec<(&Path, &str, u64)> = on_disk
            .iter()
            .map(|(path, sha, bytes)| (*path, sha.as_str(), *bytes))
            .collect();
        assert_eq!(read, on_disk);
    }

    #[test]
    fn the_limit_counts_planned_and_live_jobs() {
        assert_eq!(over_limit("b", 1000, 0), None);
        assert_eq!(
            over_limit("b", 1001, 0).unwrap(),
            "bucket b: 1001 jobs, limit 1000; COS refuses more, so move some ids to other buckets"
        );
        assert!(
            over_limit("b", 990, 11)
                .unwrap()
                .contains("1001 jobs (990 planned, 11 already")
        );
    }
}
