//! Counts of a reconciled plan: by action overall, by policy, by region —
//! what a reader of a 100,000-bucket plan looks at first.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Plan;
use super::reconcile::{BucketWork, JobAction};

/// Jobs (and deleted ids) by action.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub delete: usize,
    pub none: usize,
    /// Put blind (no refresh).
    pub put: usize,
}

impl Counts {
    fn add(&mut self, action: &JobAction) {
        match action {
            JobAction::Create => self.create += 1,
            JobAction::Update(_) => self.update += 1,
            JobAction::Unchanged => self.none += 1,
            // Both are sent without reading live state.
            JobAction::Put | JobAction::RunNow(_) => self.put += 1,
        }
    }

    /// Requests the run would send.
    pub fn changes(&self) -> usize {
        self.create + self.update + self.delete + self.put
    }
}

/// The name jobs without a policy are counted under.
pub const NO_POLICY: &str = "(no policy)";

/// A reconciled plan in numbers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Rollup {
    pub jobs: usize,
    pub buckets: usize,
    #[serde(flatten)]
    pub totals: Counts,
    /// Live ids the manifests do not list, kept.
    pub unmanaged: usize,
    /// Buckets that would go over COS's limit: nothing is sent to them.
    pub over_limit: usize,
    /// Buckets whose live state could not be read.
    pub unreadable: usize,
    #[serde(skip)]
    pub by_policy: BTreeMap<String, Counts>,
    #[serde(skip)]
    pub by_region: BTreeMap<String, Counts>,
}

impl Rollup {
    /// Counts `work` (one entry per bucket of `plan`, in its order).
    pub fn of(plan: &Plan, work: &[BucketWork]) -> Rollup {
        let mut rollup = Rollup {
            jobs: plan.jobs().len(),
            buckets: plan.bucket_count(),
            ..Rollup::default()
        };
        for (jobs, work) in plan.buckets().zip(work) {
            let region = jobs[0].region().to_string();
            let BucketWork::Changes(changes) = work else {
                rollup.unreadable += 1;
                continue;
            };
            if changes.limit.is_some() {
                rollup.over_limit += 1;
            }
            rollup.unmanaged += changes.unmanaged.len();
            for (job, action) in jobs.iter().zip(&changes.actions) {
                let policy = job.policy().unwrap_or(NO_POLICY).to_string();
                rollup.totals.add(action);
                rollup.by_policy.entry(policy).or_default().add(action);
                rollup
                    .by_region
                    .entry(region.clone())
                    .or_default()
                    .add(action);
            }
            let deletes = changes.deletes.len();
            rollup.totals.delete += deletes;
            rollup.by_region.entry(region).or_default().delete += deletes;
        }
        rollup
    }

    /// Buckets that stop the plan from being applied as a whole.
    pub fn errors(&self) -> usize {
        self.over_limit + self.unreadable
    }
}
