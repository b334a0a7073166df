//! One-time inventory jobs (POST Bucket inventory): what was submitted, so
//! that an id used again is refused as COS refuses it.

use std::collections::HashMap;

use parking_lot::Mutex;

use crate::model::InventoryConfiguration;

const SECONDS_PER_DAY: u64 = 86_400;

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

/// Every one-time job submitted while the emulator runs.
#[derive(Default)]
pub(crate) struct OneTimeJobs {
    jobs: Mutex<Vec<OneTimeJob>>,
    /// (bucket, id) → the index of its latest job.
    latest: Mutex<HashMap<(String, String), usize>>,
}

impl OneTimeJobs {
    /// Keeps `job` and answers its job id; `Err` (the earlier job's id)
    /// when the same id was already submitted on the bucket that UTC day.
    /// The emulator's jobs finish at once, so "before the earlier one
    /// finished" never refuses beyond that.
    pub(crate) fn submit(&self, mut job: OneTimeJob) -> Result<String, String> {
        let key = (job.bucket.clone(), job.id.clone());
        let mut jobs = self.jobs.lock();
        let mut latest = self.latest.lock();
        if let Some(&index) = latest.get(&key) {
            let earlier = &jobs[index];
            if earlier.submitted / SECONDS_PER_DAY == job.submitted / SECONDS_PER_DAY {
                return Err(earlier.job_id.clone());
            }
        }
        job.job_id = format!("{:016x}", 0x5eed_0000_0000_u64 + jobs.len() as u64);
        let job_id = job.job_id.clone();
        latest.insert(key, jobs.len());
        jobs.push(job);
        Ok(job_id)
    }

    /// Every job submitted on `bucket`, oldest first.
    pub(crate) fn on(&self, bucket: &str) -> Vec<OneTimeJob> {
        let jobs = self.jobs.lock();
        jobs.iter()
            .filter(|job| job.bucket == bucket)
            .cloned()
            .collect()
    }

    /// How many jobs were submitted, on every bucket.
    pub(crate) fn count(&self) -> usize {
        self.jobs.lock().len()
    }
}
