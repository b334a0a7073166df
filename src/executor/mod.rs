//! The executor: every planned job becomes a signed `PUT Bucket inventory`,
//! and every job ends as exactly one report row.
//!
//! - `lane`: buckets handed out whole to lanes, biggest first (a bucket
//!   with 1,000 jobs starts early instead of becoming the run's tail);
//!   each job's attempts, signed the moment they are sent.
//! - [`retry`]: the one classifier of outcomes, the backoff, the budget.
//! - [`rate`]: the operator's caps and the adaptive pacer.
//! - [`events`]: counters and events for whoever shows progress.
//! - `rows`: the report row for each way a job ends.
//! - [`stop`]: why a run stops before every job was tried
//!   ([`StopReason`], in [`RunResult::stopped`]).
//!
//! Rows go to a writer thread as jobs end. The writer remembers which jobs
//! have a row, so however the run ends (done, cancelled, drained after a
//! timeout), the jobs without one are written as `cancelled` at the end:
//! one row per job, always.

pub mod events;
mod lane;
pub mod rate;
pub mod retry;
mod rows;
#[cfg(test)]
mod scripted;
pub mod stop;

use std::future::Future;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::cos::client::{CosClient, Response, TransportError};
use crate::cos::request::InventoryRequest;
use crate::plan::{Job, Plan};
use crate::report::{ReportCounts, ReportError, ReportRow, ReportWriter};
use events::Stats;
use rate::{AdaptiveConfig, AdaptiveRate, Limits, Rate};
use retry::{RetryBudget, RetryPolicy};

pub use events::{Event, Observer, StatsSnapshot};
pub use stop::StopReason;

/// What one attempt got: an HTTP answer, or no complete answer.
pub type Attempt = Result<Response, TransportError>;

/// Sends one attempt of a request, signed for `now` (Unix seconds).
/// [`CosClient`] is the real one; tests script their own.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, request: &InventoryRequest, now: u64) -> impl Future<Output = Attempt> + Send;
}

impl Transport for CosClient {
    fn send(&self, request: &InventoryRequest, now: u64) -> impl Future<Output = Attempt> + Send {
        CosClient::send(self, request, now)
    }
}

/// How the executor runs. Every value is valid by its type.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Requests in flight at once, across all buckets.
    pub concurrency: NonZeroUsize,
    /// Requests in flight at once on one bucket.
    pub bucket_concurrency: NonZeroUsize,
    /// Requests per second across all buckets.
    pub rate: Option<Rate>,
    /// Requests per second to one bucket.
    pub bucket_rate: Option<Rate>,
    pub retry: RetryPolicy,
    /// Tokens in the shared retry budget (see [`RetryBudget`]).
    pub retry_budget: u32,
    /// After cancellation, how long requests already on the wire may take
    /// to finish before their jobs are written as cancelled.
    pub drain_timeout: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            concurrency: NonZeroUsize::new(64).expect("non-zero"),
            bucket_concurrency: NonZeroUsize::MIN,
            rate: None,
            bucket_rate: None,
            retry: RetryPolicy::default(),
            retry_budget: 500,
            drain_timeout: Duration::from_secs(10),
            seed: 0,
        }
    }
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("the report could not be written, so the run was stopped: {0}")]
    Report(#[from] ReportError),
    #[error("the report writer thread panicked")]
    WriterPanicked,
}

/// How the caller steers and watches a run.
#[derive(Clone, Default)]
pub struct RunControl {
    /// Stop dispatching; requests on the wire may finish.
    pub cancel: CancellationToken,
    /// Stop waiting for requests on the wire too (a second Ctrl-C).
    pub force: CancellationToken,
    pub stats: Arc<Stats>,
    pub observer: Option<Observer>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub stats: StatsSnapshot,
    pub elapsed: Duration,
    /// Set when the run stopped sending early (credentials rejected or
    /// unavailable, a certificate refused) and the rest was skipped.
    pub stopped: Option<StopReason>,
    /// The report's rows, counted as written.
    pub counts: ReportCounts,
    /// Seconds COS's clock is ahead of ours (negative: behind), when a
    /// refused signature window made us correct it; 0 otherwise.
    pub clock_offset: i64,
}

/// Everything the lanes share.
struct Shared<T> {
    plan: Arc<Plan>,
    /// `None`: a dry run; nothing is sent.
    transport: Option<T>,
    config: ExecutorConfig,
    limits: Limits,
    pacer: AdaptiveRate,
    budget: RetryBudget,
    permits: Semaphore,
    cancel: CancellationToken,
    stats: Arc<Stats>,
    observer: Option<Observer>,
    rows: mpsc::Sender<(usize, ReportRow)>,
    /// Buckets as ranges of `plan.jobs()`, biggest first.
    buckets: Vec<Range<usize>>,
    next_bucket: AtomicU64,
    /// Seconds to add to our clock (learned from `RequestTimeTooSkewed`).
    clock_offset: AtomicI64,
    /// Why the rest of the run is skipped.
    abort: OnceLock<StopReason>,
}

/// What the writer thread hands back: the report, which jobs have a row,
/// and the write failure that stopped it, if any.
type WriterResult = (ReportWriter, Vec<bool>, Option<ReportError>);

/// Runs every job of `plan`, writing one row per job to `report`. Without
/// a `transport` this is a dry run: every job gets a `dry-run` row.
pub async fn execute<T: Transport>(
    plan: Arc<Plan>,
    transport: Option<T>,
    config: ExecutorConfig,
    report: ReportWriter,
    control: RunControl,
) -> Result<RunResult, ExecuteError> {
    let started = Instant::now();
    let total = plan.jobs().len();
    control.stats.total.store(total as u64, Ordering::Relaxed);
    let (rows, receiver) = mpsc::channel();
    let writer = spawn_writer(report, receiver, total, control.cancel.clone());
    let shared = Arc::new(Shared {
        limits: Limits::new(config.rate, config.bucket_rate),
        pacer: AdaptiveRate::new(AdaptiveConfig::default(), Instant::now().into_std()),
        budget: RetryBudget::new(config.retry_budget),
        permits: Semaphore::new(config.concurrency.get()),
        buckets: bucket_ranges(plan.jobs()),
        plan,
        transport,
        config,
        cancel: control.cancel.clone(),
        stats: control.stats.clone(),
        observer: control.observer.clone(),
        rows,
        next_bucket: AtomicU64::new(0),
        clock_offset: AtomicI64::new(0),
        abort: OnceLock::new(),
    });
    run_lanes(&shared, &control).await;
    let aborted = shared.abort.get().cloned();
    let clock_offset = shared.clock_offset.load(Ordering::Relaxed);
    let plan = shared.plan.clone();
    drop(shared);
    let written = writer.join().map_err(|_| ExecuteError::WriterPanicked)?;
    let counts = write_missing_rows(&plan, written, &control.stats)?;
    Ok(RunResult {
        stats: control.stats.snapshot(),
        elapsed: started.elapsed(),
        stopped: aborted,
        counts,
        clock_offset,
    })
}

/// Runs the lanes until every bucket is done, or until cancelled and the
/// drain timeout (or a forced stop) has passed.
async fn run_lanes<T: Transport>(shared: &Arc<Shared<T>>, control: &RunControl) {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..lane_count(&shared.config, shared.buckets.len()) {
        tasks.spawn(lane::run_lane(shared.clone()));
    }
    let drain_timeout = shared.config.drain_timeout;
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = async {
            control.cancel.cancelled().await;
            tokio::select! {
                _ = tokio::time::sleep(drain_timeout) => {}
                _ = control.force.cancelled() => {}
            }
        } => {
            // Requests still on the wire after the drain timeout are
            // abandoned; their jobs are written as cancelled below.
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
}

/// Writes a `cancelled` row for every job the writer has no row for, and
/// closes the report; the report's counts.
fn write_missing_rows(
    plan: &Plan,
    (mut report, written, failure): WriterResult,
    stats: &Stats,
) -> Result<ReportCounts, ExecuteError> {
    if let Some(err) = failure {
        return Err(err.into());
    }
    for (index, job) in plan.jobs().iter().enumerate() {
        if !written[index] {
            let row = rows::cancelled(job, 0, Duration::ZERO, None);
            stats.count(row.outcome);
            report.write(&row)?;
        }
    }
    let counts = report.counts().clone();
    report.finish()?;
    Ok(counts)
}

/// More lanes than permits, so lanes blocked on one bucket's rate limit
/// leave permits for others.
fn lane_count(config: &ExecutorConfig, buckets: usize) -> usize {
    let concurrency = config.concurrency.get();
    let per_lane = config.bucket_concurrency.get().min(concurrency);
    (2 * concurrency / per_lane).max(1).min(buckets)
}

/// The plan's buckets as ranges of its (bucket-sorted) jobs, biggest first
/// (longest-processing-time-first keeps a huge bucket off the tail).
fn bucket_ranges(jobs: &[Job]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for index in 1..=jobs.len() {
        if index == jobs.len() || jobs[index].bucket() != jobs[start].bucket() {
            ranges.push(start..index);
            start = index;
        }
    }
    ranges.sort_by_key(|range| std::cmp::Reverse(range.len()));
    ranges
}

/// Writes rows on a thread of its own (file I/O stays off the runtime) and
/// reports which jobs have one. A write failure stops the run.
fn spawn_writer(
    mut report: ReportWriter,
    receiver: mpsc::Receiver<(usize, ReportRow)>,
    total: usize,
    cancel: CancellationToken,
) -> std::thread::JoinHandle<WriterResult> {
    std::thread::spawn(move || {
        let mut written = vec![false; total];
        let mut failure = None;
        for (index, row) in receiver {
            if failure.is_some() {
                continue;
            }
            match report.write(&row) {
                Ok(()) => written[index] = true,
                Err(err) => {
                    failure = Some(err);
                    cancel.cancel();
                }
            }
        }
        (report, written, failure)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, InventoryId, Region};
    use crate::plan::Source;

    /// A job of the sample configuration with `id` on `bucket`.
    pub(super) fn job(bucket: &str, id: &str) -> Job {
        let mut config = sample();
        config.id = InventoryId::parse(id).unwrap();
        Job::new(
            BucketName::parse(bucket).unwrap(),
            Region::parse("ap-guangzhou").unwrap(),
            config,
            Source {
                file: "m.yaml".into(),
                line: 1,
            },
        )
    }

    #[test]
    fn buckets_are_ranges_biggest_first() {
        let plan = Plan::from_jobs(vec![
            job("a-1250000000", "x"),
            job("b-1250000000", "x"),
            job("b-1250000000", "y"),
            job("b-1250000000", "z"),
            job("c-1250000000", "x"),
            job("c-1250000000", "y"),
        ]);
        assert_eq!(bucket_ranges(plan.jobs()), vec![1..4, 4..6, 0..1]);
        assert_eq!(bucket_ranges(&[]), Vec::<Range<usize>>::new());
    }

    #[test]
    fn lanes_outnumber_permits_but_not_buckets() {
        let config = ExecutorConfig {
            concurrency: NonZeroUsize::new(8).unwrap(),
            ..ExecutorConfig::default()
        };
        assert_eq!(lane_count(&config, 1_000), 16);
        assert_eq!(lane_count(&config, 3), 3);
        let wide = ExecutorConfig {
            concurrency: NonZeroUsize::new(8).unwrap(),
            bucket_concurrency: NonZeroUsize::new(4).unwrap(),
            ..ExecutorConfig::default()
        };
        assert_eq!(lane_count(&wide, 1_000), 4);
    }

    #[tokio::test]
    async fn dry_run_writes_one_row_per_job_and_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let plan = Arc::new(Plan::from_jobs(vec![
            job("a-1250000000", "x"),
            job("b-1250000000", "y"),
        ]));
        let result = execute(
            plan,
            None::<CosClient>,
            ExecutorConfig::default(),
            ReportWriter::create(&path).unwrap(),
            RunControl::default(),
        )
        .await
        .unwrap();
        assert_eq!(result.stats.dry_run, 2);
        assert_eq!(result.stats.attempts, 0);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("dry-run"));
    }

    #[tokio::test]
    async fn cancelled_before_start_writes_cancelled_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let plan = Arc::new(Plan::from_jobs(vec![
            job("a-1250000000", "x"),
            job("a-1250000000", "y"),
        ]));
        let credentials = crate::cos::credentials::SharedCredentials::fixed(
            crate::cos::credentials::Credentials::new("a", "b", None),
            crate::cos::credentials::CredentialSource::Explicit,
        );
        let client = CosClient::new(crate::cos::client::ClientConfig::new(
            crate::cos::client::Endpoint::parse("http://127.0.0.1:9", false).unwrap(),
            credentials,
        ))
        .unwrap();
        let control = RunControl::default();
        control.cancel.cancel();
        let result = execute(
            plan,
            Some(client),
            ExecutorConfig::default(),
            ReportWriter::create(&path).unwrap(),
            control,
        )
        .await
        .unwrap();
        assert_eq!(result.stats.cancelled, 2);
        assert_eq!(result.stats.attempts, 0);
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let outcomes: Vec<String> = reader
            .records()
            .map(|r| r.unwrap()[4].to_string())
            .collect();
        assert_eq!(outcomes, ["cancelled", "cancelled"]);
    }
}
