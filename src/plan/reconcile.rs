//! One bucket's planned jobs against what is on it: what to create,
//! update, leave alone and delete, and whether COS's limit still holds.
//!
//! Pure: the live configurations come in (read by the executor's refresh),
//! the decisions go out. Comparison is by meaning
//! ([`crate::model::live::changes`]), never by XML text.

use std::collections::HashMap;

use super::Job;
use crate::model::live::{FieldChange, LiveConfiguration, changes};
use crate::model::{InventoryId, MAX_JOBS_PER_BUCKET};

/// What a run does with one planned job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// Live state was not read (`--no-refresh`): the job is put blind.
    Put,
    /// The id is not on the bucket.
    Create,
    /// The id is on the bucket with other values, in these fields.
    Update(Vec<FieldChange>),
    /// The id is on the bucket and means the same: nothing is sent.
    Unchanged,
    /// A one-time inventory of the job's settings under this id (POST);
    /// live state is not read: a POST creates, never reconciles.
    RunNow(InventoryId),
}

impl JobAction {
    /// The report's `action` column.
    pub fn as_str(&self) -> &'static str {
        match self {
            JobAction::Put => "put",
            JobAction::Create => "create",
            JobAction::Update(_) => "update",
            JobAction::Unchanged => "none",
            JobAction::RunNow(_) => "run-now",
        }
    }

    /// Whether a request is sent for it.
    pub fn sends(&self) -> bool {
        !matches!(self, JobAction::Unchanged)
    }
}

/// Which live ids a run may delete: none, or those the manifests do not
/// list (only on buckets they cover), optionally only under a prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneRule {
    pub enabled: bool,
    /// Only ids starting with this are deleted.
    pub prefix: Option<String>,
}

impl PruneRule {
    fn deletes(&self, id: &str) -> bool {
        self.enabled
            && self
                .prefix
                .as_deref()
                .is_none_or(|prefix| id.starts_with(prefix))
    }
}

/// A bucket that would hold more than COS allows once live jobs count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The manifests' jobs on the bucket.
    pub planned: usize,
    /// Live jobs the manifests do not list and the run keeps.
    pub unmanaged: usize,
}

impl LimitExceeded {
    pub fn total(&self) -> usize {
        self.planned + self.unmanaged
    }

    /// One line for the report and the plan.
    pub fn message(&self) -> String {
        format!(
            "the bucket would hold {} inventory jobs ({} planned, {} already on it and not \
             in the manifests), over COS's limit of {MAX_JOBS_PER_BUCKET}; nothing was sent to \
             it: delete ids (prune) or move jobs to other buckets",
            self.total(),
            self.planned,
            self.unmanaged
        )
    }
}

/// One bucket reconciled with what is on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketChanges {
    /// One per planned job of the bucket, in plan order.
    pub actions: Vec<JobAction>,
    /// Live ids the manifests do not list, kept.
    pub unmanaged: Vec<String>,
    /// Live ids the manifests do not list, to delete (prune).
    pub deletes: Vec<String>,
    /// Set when the bucket would go over the limit: nothing is sent to it.
    pub limit: Option<LimitExceeded>,
    /// Elements cosinv never sends on the bucket's unmanaged
    /// configurations, which are left as they are:
    /// (id, element path), for whoever asks for detail.
    pub ignored: Vec<(String, String)>,
    /// The [`fingerprint`] of what the refresh found on the bucket; `None`
    /// when nothing was read (blind or one-time work).
    pub fingerprint: Option<String>,
}

impl BucketChanges {
    /// Every job put blind (no refresh).
    pub fn blind(jobs: usize) -> Self {
        BucketChanges {
            actions: vec![JobAction::Put; jobs],
            ..BucketChanges::default()
        }
    }

    /// True when the run would send nothing to the bucket.
    pub fn is_empty(&self) -> bool {
        self.deletes.is_empty() && self.actions.iter().all(|action| !action.sends())
    }
}

/// What a run does on one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BucketWork {
    /// Its jobs' actions (all `Put` without a refresh), its deletes.
    Changes(BucketChanges),
    /// Its live state could not be read: nothing is sent to it.
    Unreadable(Unreadable),
}

/// Why a bucket's live state could not be read: the list request's end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub end: UnreadableEnd,
    pub http_status: Option<u16>,
    pub error_code: String,
    pub message: String,
    pub request_id: String,
}

/// How the list request of an unreadable bucket ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadableEnd {
    /// COS refused it or every attempt failed.
    Failed,
    /// Not sent: an earlier answer showed it would fail.
    Skipped,
    /// The run was interrupted first.
    Cancelled,
}

/// Every job put blind, for a run without a refresh.
pub fn blind(plan: &super::Plan) -> Vec<BucketWork> {
    plan.buckets()
        .map(|jobs| BucketWork::Changes(BucketChanges::blind(jobs.len())))
        .collect()
}

/// One one-time job per planned job, each under `id_of(job)`.
pub fn one_time(plan: &super::Plan, id_of: impl Fn(&Job) -> InventoryId) -> Vec<BucketWork> {
    plan.buckets()
        .map(|jobs| {
            BucketWork::Changes(BucketChanges {
                actions: jobs
                    .iter()
                    .map(|job| JobAction::RunNow(id_of(job)))
                    .collect(),
                ..BucketChanges::default()
            })
        })
        .collect()
}

/// Reconciles one bucket's `jobs` (all on the same bucket) with `live`.
pub fn reconcile(jobs: &[Job], live: &[LiveConfiguration], prune: &PruneRule) -> BucketChanges {
    let by_id: HashMap<&str, &LiveConfiguration> = live
        .iter()
        .map(|config| (config.id.as_str(), config))
        .collect();
    let actions: Vec<JobAction> = jobs
        .iter()
        .map(|job| match by_id.get(job.id().as_str()) {
            None => JobAction::Create,
            Some(found) => {
                let desired = LiveConfiguration::from(&job.config());
                match changes(found, &desired) {
                    found_changes if found_changes.is_empty() => JobAction::Unchanged,
                    found_changes => JobAction::Update(found_changes),
                }
            }
        })
        .collect();
    let managed: std::collections::HashSet<&str> =
        jobs.iter().map(|job| job.id().as_str()).collect();
    let (deletes, unmanaged): (Vec<String>, Vec<String>) = live
        .iter()
        .map(|config| config.id.clone())
        .filter(|id| !managed.contains(id.as_str()))
        .partition(|id| prune.deletes(id));
    let limit = LimitExceeded {
        planned: jobs.len(),
        unmanaged: unmanaged.len(),
    };
    let ignored = live
        .iter()
        .filter(|config| !managed.contains(config.id.as_str()))
        .flat_map(|config| {
            config
                .unknown_elements
                .iter()
                .map(|path| (config.id.clone(), path.clone()))
        })
        .collect();
    BucketChanges {
        actions,
        unmanaged,
        deletes,
        limit: (limit.total() > MAX_JOBS_PER_BUCKET).then_some(limit),
        ignored,
        fingerprint: Some(fingerprint(live)),
    }
}

/// A bucket's whole live inventory as one hash (lower-case hex SHA-256),
/// so a saved plan can tell whether a bucket changed since it was made.
/// Canonical, like the comparison: configurations by id, each as its
/// id, its compared fields' meanings and its unmodelled element paths
/// (sorted); what means the same hashes the same, whatever order or
/// spelling COS sent it in.
pub fn fingerprint(live: &[LiveConfiguration]) -> String {
    use sha2::{Digest, Sha256};
    let mut sorted: Vec<&LiveConfiguration> = live.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    let mut hasher = Sha256::new();
    // Each value length-prefixed, so no two inventories share a stream.
    let mut add = |value: &str| {
        hasher.update((value.len() as u64).to_be_bytes());
        hasher.update(value.as_bytes());
    };
    for config in sorted {
        add(&config.id);
        for value in config.meaning() {
            add(&value);
        }
        let mut unknown: Vec<&String> = config.unknown_elements.iter().collect();
        unknown.sort();
        add(&unknown.len().to_string());
        for path in unknown {
            add(path);
        }
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, InventoryId, Region};
    use crate::plan::Source;

    fn job(id: &str) -> Job {
        let mut config = sample();
        config.id = InventoryId::parse(id).unwrap();
        Job::new(
            BucketName::parse("a-1250000000").unwrap(),
            Region::parse("ap-guangzhou").unwrap(),
            config,
            Source {
                file: "m.yaml".into(),
                line: 1,
            },
        )
    }

    fn live(id: &str) -> LiveConfiguration {
        LiveConfiguration::from(&job(id).config())
    }

    #[test]
    fn each_job_is_created_updated_or_left_alone() {
        let mut changed = live("b");
        changed.frequency = Some("Weekly".into());
        let mut reordered = live("c");
        reordered.optional_fields.reverse();
        let jobs = [job("a"), job("b"), job("c")];
        let found = reconcile(&jobs, &[changed, reordered], &PruneRule::default());
        assert_eq!(found.actions[0], JobAction::Create);
        let JobAction::Update(fields) = &found.actions[1] else {
            panic!("{:?}", found.actions[1]);
        };
        assert_eq!(fields[0].field, "schedule");
        assert_eq!(found.actions[2], JobAction::Unchanged);
        assert!(found.unmanaged.is_empty() && found.deletes.is_empty());
        assert!(!found.is_empty());
    }

    #[test]
    fn unlisted_ids_are_kept_unless_pruned_and_under_the_prefix() {
        let jobs = [job("a")];
        let on_bucket = [live("a"), live("old-1"), live("keep")];
        let kept = reconcile(&jobs, &on_bucket, &PruneRule::default());
        assert_eq!(kept.unmanaged, ["old-1", "keep"]);
        assert!(kept.is_empty());
        let all = PruneRule {
            enabled: true,
            prefix: None,
        };
        assert_eq!(
            reconcile(&jobs, &on_bucket, &all).deletes,
            ["old-1", "keep"]
        );
        let prefixed = PruneRule {
            enabled: true,
            prefix: Some("old-".into()),
        };
        let found = reconcile(&jobs, &on_bucket, &prefixed);
        assert_eq!(found.deletes, ["old-1"]);
        assert_eq!(found.unmanaged, ["keep"]);
    }

    #[test]
    fn the_limit_counts_live_jobs_the_run_keeps() {
        let on_bucket: Vec<LiveConfiguration> =
            (0..999).map(|n| live(&format!("live-{n}"))).collect();
        let jobs = [job("new-1"), job("new-2")];
        let over = reconcile(&jobs, &on_bucket, &PruneRule::default());
        let limit = over.limit.unwrap();
        assert_eq!(
            (limit.planned, limit.unmanaged, limit.total()),
            (2, 999, 1001)
        );
        assert!(
            limit
                .message()
                .contains("1001 inventory jobs (2 planned, 999 already")
        );
        let pruning = PruneRule {
            enabled: true,
            prefix: Some("live-1".into()),
        };
        assert_eq!(reconcile(&jobs, &on_bucket, &pruning).limit, None);
        assert_eq!(
            reconcile(&jobs[..1], &on_bucket, &PruneRule::default()).limit,
            None
        );
    }

    #[test]
    fn the_fingerprint_changes_with_meaning_not_with_order_or_spelling() {
        let (a, b) = (live("a"), live("b"));
        let base = fingerprint(&[a.clone(), b.clone()]);
        assert_eq!(base.len(), 64);
        let mut respelled = b.clone();
        respelled.optional_fields.reverse();
        respelled.enabled = Some(" TRUE ".into());
        assert_eq!(fingerprint(&[respelled, a.clone()]), base);
        let mut weekly = b.clone();
        weekly.frequency = Some("Weekly".into());
        assert_ne!(fingerprint(&[a.clone(), weekly]), base);
        assert_ne!(fingerprint(std::slice::from_ref(&a)), base);
        assert_ne!(fingerprint(&[]), fingerprint(&[a]));
        let found = reconcile(&[job("a")], &[b], &PruneRule::default());
        assert_eq!(found.fingerprint, Some(fingerprint(&[live("b")])));
    }

    #[test]
    fn a_managed_job_with_elements_cosinv_never_sends_is_updated() {
        let mut found = live("a");
        found.unknown_elements = vec!["Filter/StorageClass".into()];
        let mut console = live("console");
        console.unknown_elements = vec!["Filter/StorageClass".into()];
        let result = reconcile(&[job("a")], &[found, console], &PruneRule::default());
        let [JobAction::Update(changes)] = &result.actions[..] else {
            panic!("{:?}", result.actions);
        };
        assert_eq!(changes[0].live, "Filter/StorageClass");
        // An unmanaged configuration is left as it is: its elements are
        // only listed.
        assert_eq!(
            result.ignored,
            [("console".to_string(), "Filter/StorageClass".to_string())]
        );
    }
}
