//! Lanes: the tasks that take buckets, biggest first, and do a phase's
//! work on each — read what is on it (refresh), or apply its changes.
//!
//! A lane runs its bucket's requests with at most `bucket_concurrency` in
//! flight; each request waits for the bucket's rate limit *before* taking
//! one of the `concurrency` global permits, and holds the permit only
//! while it is on the wire — never during a backoff. There are more lanes
//! than permits, so a bucket waiting on its own rate limit never stalls the
//! others: the schedule is work-conserving.
//!
//! A lane sends a bucket's requests through the transport's
//! [`Transport::for_bucket`] and drops it when done with the bucket, so a
//! transport that keeps connections per bucket host (COS: one host name
//! per bucket) closes them then, and open connections stay bounded by the
//! concurrency however many buckets a run has.

use std::sync::{Arc, OnceLock};

use futures_util::StreamExt;

use super::events::Event;
use super::rows::{self, Target};
use super::{Mode, Shared, Transport};
use crate::cos::error::{NO_SUCH_BUCKET, NO_SUCH_INVENTORY_CONFIGURATION};
use crate::cos::live::live_page_from_xml;
use crate::cos::request::InventoryRequest;
use crate::model::live::LiveConfiguration;
use crate::model::{BucketName, Region};
use crate::plan::Job;
use crate::plan::reconcile::{
    self, BucketChanges, BucketWork, JobAction, Unreadable, UnreadableEnd,
};
use crate::report::{Action, Outcome, ReportRow};
use crate::send::{End, Ended, Subject};

/// A bucket's inventory takes at most this many list pages (COS pages at
/// 100 and allows 1,000 jobs; a server that keeps going is looping).
const MAX_LIST_PAGES: usize = 20;

/// Takes the next bucket until none is left or the run is cancelled.
pub(super) async fn run_lane<T: Transport>(shared: Arc<Shared<T>>) {
    loop {
        if shared.sender.is_cancelled() {
            return;
        }
        let Some(taken) = shared.queue.take() else {
            return;
        };
        match &shared.mode {
            Mode::Refresh { .. } => refresh_bucket(&shared, taken.bucket).await,
            Mode::Apply { .. } => apply_bucket(&shared, taken.bucket).await,
        }
        shared.queue.done(taken);
    }
}

/// The jobs of bucket number `bucket` (all on one bucket).
fn jobs_of<T: Transport>(shared: &Shared<T>, bucket: usize) -> &[Job] {
    &shared.plan.jobs()[shared.buckets[bucket].clone()]
}

/// The run's transport for one bucket: its own, when it keeps one per
/// bucket, else the shared one. `None` in a dry run.
struct BucketTransport<'a, T> {
    own: Option<T>,
    shared: Option<&'a T>,
}

impl<'a, T: Transport> BucketTransport<'a, T> {
    fn new(shared: &'a Shared<T>, bucket: &BucketName, region: &Region) -> Self {
        let shared = shared.transport.as_ref();
        BucketTransport {
            own: shared.and_then(|transport| transport.for_bucket(bucket, region)),
            shared,
        }
    }

    fn get(&self) -> Option<&T> {
        self.own.as_ref().or(self.shared)
    }
}

// ---------------------------------------------------------------------------
// Refresh.

/// Lists the bucket's inventory, every page, and reconciles its jobs.
async fn refresh_bucket<T: Transport>(shared: &Shared<T>, bucket: usize) {
    let Mode::Refresh { prune, results } = &shared.mode else {
        return;
    };
    let jobs = jobs_of(shared, bucket);
    let transport = BucketTransport::new(shared, jobs[0].bucket(), jobs[0].region());
    let transport = transport.get().expect("a refresh sends requests");
    let work = match list_bucket(shared, transport, &jobs[0]).await {
        Ok(live) => BucketWork::Changes(reconcile::reconcile(jobs, &live, prune)),
        Err(row) => BucketWork::Unreadable(unreadable(row)),
    };
    let outcome = match &work {
        BucketWork::Changes(_) => Outcome::Applied,
        BucketWork::Unreadable(unreadable) => match unreadable.end {
            UnreadableEnd::Failed => Outcome::Failed,
            UnreadableEnd::Skipped => Outcome::Skipped,
            UnreadableEnd::Cancelled => Outcome::Cancelled,
        },
    };
    shared.stats.count(outcome);
    let _ = results[bucket].set(work);
}

/// The failed list request's row, as the plan keeps it.
fn unreadable(row: ReportRow) -> Unreadable {
    Unreadable {
        end: match row.outcome {
            Outcome::Skipped => UnreadableEnd::Skipped,
            Outcome::Cancelled => UnreadableEnd::Cancelled,
            _ => UnreadableEnd::Failed,
        },
        http_status: row.http_status,
        error_code: row.error_code,
        message: row.message,
        request_id: row.request_id,
    }
}

/// Every configuration on `job`'s bucket, or the row of the list request
/// that failed.
async fn list_bucket<T: Transport>(
    shared: &Shared<T>,
    transport: &T,
    job: &Job,
) -> Result<Vec<LiveConfiguration>, ReportRow> {
    let bucket_skip = OnceLock::new();
    let target = Target {
        bucket: job.bucket(),
        region: job.region(),
        id: "",
        action: rows::READ_ACTION,
        job: None,
    };
    let mut live = Vec::new();
    let mut token: Option<String> = None;
    for page in 0..MAX_LIST_PAGES {
        let request = InventoryRequest::list(job.bucket(), job.region(), token.as_deref());
        let subject = Subject {
            bucket: Some(job.bucket()),
            id: "(list)",
            slot: None,
        };
        let seed = page as u64 ^ hash_of(job.bucket().as_str());
        let ended = shared
            .sender
            .send(transport, subject, &request, &bucket_skip, seed)
            .await;
        if !matches!(ended.end, End::Succeeded) {
            return Err(rows::ended(&target, &ended, Outcome::Applied));
        }
        let page = live_page_from_xml(ended.body()).map_err(|err| {
            let mut row = rows::ended(&target, &ended, Outcome::Failed);
            row.error_code = "MalformedResponse".into();
            row.message = err.to_string();
            row
        })?;
        live.extend(page.configurations);
        if !page.is_truncated {
            return Ok(live);
        }
        token = page.next_continuation_token;
    }
    let mut row = rows::refused(&target, "TooManyPages", String::new());
    row.message = format!("the list did not end after {MAX_LIST_PAGES} pages");
    Err(row)
}

/// A stable number per bucket, to vary backoff jitter between buckets.
fn hash_of(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash: u64, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

// ---------------------------------------------------------------------------
// Apply.

async fn apply_bucket<T: Transport>(shared: &Shared<T>, bucket: usize) {
    let Mode::Apply { work } = &shared.mode else {
        return;
    };
    let first = shared.buckets[bucket].start;
    let jobs = jobs_of(shared, bucket);
    let changes = match &work[bucket] {
        BucketWork::Unreadable(refresh) => {
            for (offset, job) in jobs.iter().enumerate() {
                let row = rows::unreadable(&Target::job(job, Action::Put.as_str()), refresh);
                finish(shared, first + offset, row).await;
            }
            return;
        }
        BucketWork::Changes(changes) => changes,
    };
    if let Some(limit) = changes.limit {
        for (offset, (job, action)) in jobs.iter().zip(&changes.actions).enumerate() {
            let row = rows::refused(
                &Target::job(job, rows::action(action)),
                "InventoryLimit",
                limit.message(),
            );
            finish(shared, first + offset, row).await;
        }
        return;
    }
    let bucket_skip = OnceLock::new();
    let transport = BucketTransport::new(shared, jobs[0].bucket(), jobs[0].region());
    let transport = transport.get();
    let deletes = Deletes {
        job: &jobs[0],
        changes,
        first: shared.delete_base[bucket],
    };
    delete_unlisted(shared, transport, deletes, &bucket_skip).await;
    put_jobs(shared, transport, first, jobs, changes, &bucket_skip).await;
}

/// Deletes the bucket's pruned ids, before its PUTs so that the room they
/// free is there when the PUTs arrive.
/// A bucket's pruned ids: any of its jobs (for the bucket and region),
/// its changes, and the index of its first delete among the run's rows.
#[derive(Clone, Copy)]
struct Deletes<'a> {
    job: &'a Job,
    changes: &'a BucketChanges,
    first: usize,
}

async fn delete_unlisted<T: Transport>(
    shared: &Shared<T>,
    transport: Option<&T>,
    deletes: Deletes<'_>,
    bucket_skip: &OnceLock<String>,
) {
    let concurrency = shared.config.bucket_concurrency.get();
    let job = deletes.job;
    futures_util::stream::iter(deletes.changes.deletes.iter().enumerate())
        .for_each_concurrent(concurrency, |(offset, id)| async move {
            let index = deletes.first + offset;
            let target = Target {
                bucket: job.bucket(),
                region: job.region(),
                id,
                action: Action::Delete.as_str(),
                job: None,
            };
            let row = match transport {
                None => rows::refused(&target, "", "not sent (dry run)".into()),
                Some(transport) => {
                    let request = InventoryRequest::delete(job.bucket(), job.region(), id);
                    let subject = Subject {
                        bucket: Some(job.bucket()),
                        id,
                        slot: shared.slots.get(index),
                    };
                    let seed = hash_of(id);
                    let ended = shared
                        .sender
                        .send(transport, subject, &request, bucket_skip, seed)
                        .await;
                    deleted_row(&target, &ended)
                }
            };
            finish(shared, index, row).await;
        })
        .await;
}

/// A DELETE that finds the id already gone reached what was wanted.
fn deleted_row(target: &Target<'_>, ended: &Ended) -> ReportRow {
    let mut row = rows::ended(target, ended, Outcome::Deleted);
    if row.outcome == Outcome::Failed && row.error_code == NO_SUCH_INVENTORY_CONFIGURATION {
        row.outcome = Outcome::Deleted;
        row.message = "already gone".to_string();
    }
    row
}

async fn put_jobs<T: Transport>(
    shared: &Shared<T>,
    transport: Option<&T>,
    first: usize,
    jobs: &[Job],
    changes: &BucketChanges,
    bucket_skip: &OnceLock<String>,
) {
    let concurrency = shared.config.bucket_concurrency.get();
    let indexed = jobs.iter().zip(&changes.actions).enumerate();
    let one = |(offset, (job, action))| async move {
        let index = first + offset;
        let row = put_job(shared, transport, index, job, action, bucket_skip).await;
        finish(shared, index, row).await;
    };
    if concurrency == 1 {
        // The default: one job at a time, without a stream of futures.
        for job in indexed {
            one(job).await;
        }
        return;
    }
    futures_util::stream::iter(indexed)
        .for_each_concurrent(concurrency, one)
        .await;
}

/// One job to its end: its row.
async fn put_job<T: Transport>(
    shared: &Shared<T>,
    transport: Option<&T>,
    index: usize,
    job: &Job,
    action: &JobAction,
    bucket_skip: &OnceLock<String>,
) -> ReportRow {
    let target = Target::job(job, rows::action(action));
    if !action.sends() {
        return rows::unchanged(&target);
    }
    let Some(transport) = transport else {
        return rows::dry_run(job, rows::action(action));
    };
    let (request, id) = match action {
        JobAction::RunNow(id) => {
            let config = job.config();
            let request = InventoryRequest::post(job.bucket(), job.region(), &config, id);
            (request, id.as_str())
        }
        _ => {
            let request = InventoryRequest::put(job.bucket(), job.region(), &job.config());
            (request, job.id().as_str())
        }
    };
    let subject = Subject {
        bucket: Some(job.bucket()),
        id,
        slot: shared.slots.get(index),
    };
    let ended = shared
        .sender
        .send(transport, subject, &request, bucket_skip, index as u64)
        .await;
    let mut row = rows::ended(&target, &ended, Outcome::Applied);
    if let JobAction::RunNow(id) = action {
        rows::one_time(&mut row, id, &ended);
    }
    row
}

/// Counts a row, tells the observer, hands it to the writer (waiting
/// while its queue is full). `index` is the row's place among the run's:
/// the job's, or after the jobs for a pruned id.
async fn finish<T: Transport>(shared: &Shared<T>, index: usize, mut row: ReportRow) {
    if let Some(locator) = &shared.locator
        && row.error_code == NO_SUCH_BUCKET
    {
        let found = locator.region_of(&row.bucket).await;
        rows::region_hint(&mut row, found.as_deref());
    }
    shared.stats.count(row.outcome);
    if let Some(observer) = &shared.observer {
        observer(&Event::Finished(&row));
    }
    if let Some(rows) = &shared.rows {
        // The writer only stops early after a failure it reports itself.
        let _ = rows.send((index, row)).await;
    }
}
