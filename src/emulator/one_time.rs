//! One-time inventory jobs (POST Bucket inventory) as the emulator
//! received them, for tests to inspect; whether an id is a duplicate is
//! the store's (kept in the state file).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::model::InventoryConfiguration;

/// A one-time job as the emulator received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeJob {
    pub bucket: String,
    pub id: String,
    /// The job id answered in `<PostInventoryResult>`.
    pub job_id: String,
    /// The request body, as sent.
    pub body: String,
    pub config: InventoryConfiguration,
    /// When it was submitted (Unix seconds, the emulator's clock).
    pub submitted: u64,
}

/// Every one-time job accepted since the emulator started.
#[derive(Default)]
pub(crate) struct OneTimeJobs {
    jobs: Mutex<Vec<OneTimeJob>>,
    next: AtomicU64,
}

impl OneTimeJobs {
    /// A job id not answered before, across restarts too (the time leads).
    pub(crate) fn next_job_id(&self, now: u64) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!("{now:x}{n:08x}")
    }

    pub(crate) fn keep(&self, job: OneTimeJob) {
        self.jobs.lock().push(job);
    }

    /// Every job accepted on `bucket`, oldest first.
    pub(crate) fn on(&self, bucket: &str) -> Vec<OneTimeJob> {
        let jobs = self.jobs.lock();
        jobs.iter()
            .filter(|job| job.bucket == bucket)
            .cloned()
            .collect()
    }

    /// Every job accepted, oldest first.
    pub(crate) fn all(&self) -> Vec<OneTimeJob> {
        self.jobs.lock().clone()
    }

    /// How many jobs were accepted, on every bucket.
    pub(crate) fn count(&self) -> usize {
        self.jobs.lock().len()
    }
}
