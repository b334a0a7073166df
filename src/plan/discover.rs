//! `discover:` jobs, resolved against the account's buckets.
//!
//! The planner stays offline: the account's bucket list (GET Service, as
//! the command layer fetched it) comes in as a [`Discovered`], and each
//! `discover:` job becomes one job per bucket it selects, in the region
//! COS gave for that bucket. Without a list (`validate`, offline plans),
//! such jobs are checked like any other but expand to no jobs, and the
//! [`DiscoveryUse`] of each says so.

use super::Source;
use crate::manifest::Discover;
use crate::model::{BucketName, Region};

/// One bucket of the account, as GET Service named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredBucket {
    pub name: BucketName,
    pub region: Region,
}

/// The account's buckets, every page of GET Service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Discovered {
    buckets: Vec<DiscoveredBucket>,
}

impl Discovered {
    pub fn new(buckets: Vec<DiscoveredBucket>) -> Self {
        Discovered { buckets }
    }

    pub fn buckets(&self) -> &[DiscoveredBucket] {
        &self.buckets
    }

    /// The buckets `discover` selects, in the order GET Service listed them.
    pub fn selected_by<'a>(
        &'a self,
        discover: &'a Discover,
    ) -> impl Iterator<Item = &'a DiscoveredBucket> + 'a {
        self.buckets
            .iter()
            .filter(|bucket| discover.selects(bucket.name.as_str(), bucket.region.as_str()))
    }
}

/// What became of one `discover:` job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryUse {
    /// Where its `discover:` is.
    pub source: Source,
    /// The inventory id it writes.
    pub id: String,
    /// The regions it is limited to; empty: every region.
    pub regions: Vec<String>,
    /// How many buckets it selected; `None` when no bucket list was given
    /// (the job was checked but expands to nothing).
    pub selected: Option<usize>,
}

/// The one region whose endpoint can answer for every `discover:` job, when
/// each names regions and together they name exactly one; otherwise the
/// account-wide endpoint must be asked (`None`).
pub fn single_region(uses: &[DiscoveryUse]) -> Option<Region> {
    if uses.iter().any(|job| job.regions.is_empty()) {
        return None;
    }
    let named: std::collections::BTreeSet<&str> = uses
        .iter()
        .flat_map(|job| job.regions.iter().map(String::as_str))
        .collect();
    match named.into_iter().collect::<Vec<_>>().as_slice() {
        [only] => Region::parse(only).ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(regions: &[&str]) -> DiscoveryUse {
        DiscoveryUse {
            source: Source {
                file: "m.yaml".into(),
                line: 1,
            },
            id: "a".into(),
            regions: regions.iter().map(|r| r.to_string()).collect(),
            selected: None,
        }
    }

    #[test]
    fn one_region_is_asked_only_when_every_job_names_just_it() {
        assert_eq!(single_region(&[]), None);
        assert_eq!(
            single_region(&[used(&["ap-beijing"]), used(&["ap-beijing", "ap-beijing"])]),
            Some(Region::parse("ap-beijing").unwrap())
        );
        assert_eq!(single_region(&[used(&["ap-beijing"]), used(&[])]), None);
        assert_eq!(single_region(&[used(&["ap-beijing", "ap-shanghai"])]), None);
        assert_eq!(
            single_region(&[used(&["ap-beijing"]), used(&["ap-shanghai"])]),
            None
        );
    }
}
