//! The executor: every planned job becomes a signed `PUT Bucket inventory`,
//! and every job ends as exactly one report row.
//!
//! Scheduling. Buckets are handed out whole to *lanes*, biggest first (a
//! bucket with 1,000 jobs starts early instead of becoming the run's tail).
//! A lane runs its bucket's jobs with at most `bucket_concurrency` in
//! flight, waits for the bucket's rate limit *before* taking one of the
//! `concurrency` global permits, and holds the permit only while a request
//! is on the wire — never during a backoff. There are more lanes than
//! permits, so a bucket waiting on its own rate limit never stalls the
//! others: the schedule is work-conserving.
//!
//! Every attempt is signed the moment it is sent. Outcomes are classified
//! by [`crate::retry`]; throttling feeds the [`AdaptiveRate`] pacer.
//!
//! Rows go to a writer thread as jobs end. The writer remembers which jobs
//! have a row, so however the run ends (done, cancelled, drained after a
//! timeout), the jobs without one are written as `cancelled` at the end:
//! one row per job, always.

use std::ops::Range;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::client::{CosClient, InventoryRequest, Response, TransportError, TransportErrorKind};
use crate::plan::{Job, Plan};
use crate::ratelimit::{AdaptiveConfig, AdaptiveRate, InvalidRate, Limits};
use crate::report::{self, Outcome, ReportError, ReportRow, ReportWriter};
use crate::retry::{self, Class, RetryBudget, RetryPolicy};

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecutorConfig {
    /// Requests in flight at once, across all buckets.
    pub concurrency: usize,
    /// Requests in flight at once on one bucket.
    pub bucket_concurrency: usize,
    /// Requests per second across all buckets.
    pub rate: Option<f64>,
    /// Requests per second to one bucket.
    pub bucket_rate: Option<f64>,
    pub retry: RetryPolicy,
    /// Tokens in the shared retry budget (see [`RetryBudget`]).
    pub retry_budget: u32,
    /// Write `dry-run` rows; send nothing.
    pub dry_run: bool,
    /// After cancellation, how long requests already on the wire may take
    /// to finish before their jobs are written as cancelled.
    pub drain_timeout: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            concurrency: 64,
            bucket_concurrency: 1,
            rate: None,
            bucket_rate: None,
            retry: RetryPolicy::default(),
            retry_budget: 500,
            dry_run: false,
            drain_timeout: Duration::from_secs(10),
            seed: 0,
        }
    }
}

/// Why a run could not start or finish.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error("invalid settings: {0}")]
    Settings(String),
    #[error(transparent)]
    Rate(#[from] InvalidRate),
    #[error("the report could not be written, so the run was stopped: {0}")]
    Report(#[from] ReportError),
    #[error("the report writer thread failed: {0}")]
    Writer(String),
}

/// Live counters, read by the progress display.
#[derive(Debug, Default)]
pub struct Stats {
    pub total: AtomicU64,
    pub applied: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    pub cancelled: AtomicU64,
    pub dry_run: AtomicU64,
    /// Requests sent, retries included.
    pub attempts: AtomicU64,
    /// Retries scheduled so far.
    pub retries: AtomicU64,
    /// Jobs now waiting out a backoff.
    pub retrying: AtomicU64,
    /// Requests now on the wire.
    pub in_flight: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub total: u64,
    pub applied: u64,
    pub failed: u64,
    pub skipped: u64,
    pub cancelled: u64,
    pub dry_run: u64,
    pub attempts: u64,
    pub retries: u64,
    pub retrying: u64,
    pub in_flight: u64,
}

impl StatsSnapshot {
    /// Jobs that have ended.
    pub fn done(&self) -> u64 {
        self.applied + self.failed + self.skipped + self.cancelled + self.dry_run
    }
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            total: get(&self.total),
            applied: get(&self.applied),
            failed: get(&self.failed),
            skipped: get(&self.skipped),
            cancelled: get(&self.cancelled),
            dry_run: get(&self.dry_run),
            attempts: get(&self.attempts),
            retries: get(&self.retries),
            retrying: get(&self.retrying),
            in_flight: get(&self.in_flight),
        }
    }

    fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Applied => &self.applied,
            Outcome::Failed => &self.failed,
            Outcome::Skipped => &self.skipped,
            Outcome::Cancelled => &self.cancelled,
            Outcome::DryRun => &self.dry_run,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Something worth telling a user who asked for detail (`-v`).
#[derive(Debug, Clone)]
pub enum Event {
    /// A job will be tried again after `delay`.
    Retry {
        bucket: String,
        id: String,
        attempt: u32,
        class: Class,
        delay: Duration,
        message: String,
    },
    /// A job ended.
    Finished(ReportRow),
}

/// Receives [`Event`]s; must be quick (it runs on the executor's tasks).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

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
    /// Set when COS rejected the credentials and the rest was skipped.
    pub aborted: Option<String>,
    /// Seconds COS's clock is ahead of ours (negative: behind), when a
    /// refused signature window made us correct it; 0 otherwise.
    pub clock_offset: i64,
}

/// COS codes after which no job can succeed with these credentials.
const CREDENTIAL_CODES: [&str; 4] = [
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
];
/// COS codes after which no other job on the same bucket can succeed.
const BUCKET_CODES: [&str; 2] = ["NoSuchBucket", "AccessDenied"];

/// Everything the lanes share.
struct Shared {
    plan: Arc<Plan>,
    client: Option<CosClient>,
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
    /// Why the rest of the run is skipped (credentials rejected).
    abort: OnceLock<String>,
}

/// Runs every job of `plan`, writing one row per job to `report`.
/// `client` may be `None` only for a dry run.
pub async fn execute(
    plan: Arc<Plan>,
    client: Option<CosClient>,
    config: ExecutorConfig,
    report: ReportWriter,
    control: RunControl,
) -> Result<RunResult, ExecuteError> {
    let RunControl {
        cancel,
        force,
        stats,
        observer,
    } = control;
    check_config(&config, client.is_some())?;
    let started = Instant::now();
    let total = plan.jobs().len();
    stats.total.store(total as u64, Ordering::Relaxed);

    let (rows, receiver) = mpsc::channel();
    let writer = spawn_writer(report, receiver, total, cancel.clone());
    let buckets = bucket_ranges(plan.jobs());
    let lanes = lane_count(&config, buckets.len());
    let shared = Arc::new(Shared {
        limits: Limits::new(config.rate, config.bucket_rate)?,
        pacer: AdaptiveRate::new(AdaptiveConfig::default(), Instant::now()),
        budget: RetryBudget::new(config.retry_budget),
        permits: Semaphore::new(config.concurrency),
        plan,
        client,
        config,
        cancel: cancel.clone(),
        stats: stats.clone(),
        observer,
        rows,
        buckets,
        next_bucket: AtomicU64::new(0),
        clock_offset: AtomicI64::new(0),
        abort: OnceLock::new(),
    });

    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..lanes {
        tasks.spawn(run_lane(shared.clone()));
    }
    let drain_timeout = shared.config.drain_timeout;
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = async {
            cancel.cancelled().await;
            tokio::select! {
                _ = tokio::time::sleep(drain_timeout) => {}
                _ = force.cancelled() => {}
            }
        } => {
            // Requests still on the wire after the drain timeout are
            // abandoned; their jobs are written as cancelled below.
            tasks.abort_all();
            while tasks.join_next().await.is_some() {}
        }
    }
    let aborted = shared.abort.get().cloned();
    let clock_offset = shared.clock_offset.load(Ordering::Relaxed);
    let plan = shared.plan.clone();
    drop(shared);

    let (mut report, written, failure) = writer
        .join()
        .map_err(|_| ExecuteError::Writer("panicked".into()))?;
    if let Some(err) = failure {
        return Err(err.into());
    }
    for (index, job) in plan.jobs().iter().enumerate() {
        if !written[index] {
            let row = cancelled_row(job, 0, Duration::ZERO, None);
            stats.count(row.outcome);
            report.write(&row)?;
        }
    }
    report.finish()?;
    Ok(RunResult {
        stats: stats.snapshot(),
        elapsed: started.elapsed(),
        aborted,
        clock_offset,
    })
}

fn check_config(config: &ExecutorConfig, has_client: bool) -> Result<(), ExecuteError> {
    if config.concurrency == 0 {
        return Err(ExecuteError::Settings(
            "--concurrency must be at least 1".into(),
        ));
    }
    if config.bucket_concurrency == 0 {
        return Err(ExecuteError::Settings(
            "--bucket-concurrency must be at least 1".into(),
        ));
    }
    if config.retry.max_attempts == 0 {
        return Err(ExecuteError::Settings(
            "--max-attempts must be at least 1".into(),
        ));
    }
    if !config.dry_run && !has_client {
        return Err(ExecuteError::Settings(
            "a client is needed unless this is a dry run".into(),
        ));
    }
    Ok(())
}

/// More lanes than permits, so lanes blocked on one bucket's rate limit
/// leave permits for others.
fn lane_count(config: &ExecutorConfig, buckets: usize) -> usize {
    let per_lane = config.bucket_concurrency.min(config.concurrency).max(1);
    (2 * config.concurrency / per_lane).max(1).min(buckets)
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
#[allow(clippy::type_complexity)]
fn spawn_writer(
    mut report: ReportWriter,
    receiver: mpsc::Receiver<(usize, ReportRow)>,
    total: usize,
    cancel: CancellationToken,
) -> std::thread::JoinHandle<(ReportWriter, Vec<bool>, Option<ReportError>)> {
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

async fn run_lane(shared: Arc<Shared>) {
    loop {
        if shared.cancel.is_cancelled() {
            return;
        }
        let next = shared.next_bucket.fetch_add(1, Ordering::Relaxed) as usize;
        let Some(range) = shared.buckets.get(next).cloned() else {
            return;
        };
        run_bucket(&shared, range).await;
    }
}

async fn run_bucket(shared: &Shared, range: Range<usize>) {
    let bucket_skip: OnceLock<String> = OnceLock::new();
    futures_util::stream::iter(range)
        .for_each_concurrent(shared.config.bucket_concurrency, |index| {
            let bucket_skip = &bucket_skip;
            async move {
                let row = run_job(shared, index, bucket_skip).await;
                finish(shared, index, row);
            }
        })
        .await;
}

fn finish(shared: &Shared, index: usize, row: ReportRow) {
    shared.stats.count(row.outcome);
    if let Some(observer) = &shared.observer {
        observer(&Event::Finished(row.clone()));
    }
    // The writer only stops early after a failure it reports itself.
    let _ = shared.rows.send((index, row));
}

fn unix_now(offset: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_add_signed(offset)
}

/// What the last attempt of a job got.
type Attempt = Result<Response, TransportError>;

/// Runs one job to its end and returns its row.
async fn run_job(shared: &Shared, index: usize, bucket_skip: &OnceLock<String>) -> ReportRow {
    let job = &shared.plan.jobs()[index];
    let started = Instant::now();
    if shared.config.dry_run {
        return dry_run_row(job);
    }
    let Some(client) = &shared.client else {
        return dry_run_row(job);
    };
    let request = InventoryRequest::put(job.bucket(), job.region(), &job.config());
    let mut rng = fastrand::Rng::with_seed(shared.config.seed ^ index as u64);
    let mut attempts = 0u32;
    let mut last: Option<Attempt> = None;
    loop {
        if let Some(reason) = shared.abort.get().or(bucket_skip.get()) {
            return skipped_row(job, attempts, started.elapsed(), last.as_ref(), reason);
        }
        let Some(permit) = wait_for_turn(shared, job).await else {
            return cancelled_row(job, attempts, started.elapsed(), last.as_ref());
        };
        attempts += 1;
        let outcome = send(shared, client, &request).await;
        drop(permit);
        let class = retry::classify(&outcome);
        learn_from(shared, class, &outcome);
        if class == Class::Success {
            return applied_row(job, attempts, started.elapsed(), &outcome);
        }
        if !class.is_retryable() {
            remember_fatal(shared, job, bucket_skip, &outcome);
            return failed_row(job, attempts, started.elapsed(), &outcome, None);
        }
        if let Some(why) = no_more_retries(shared, attempts, started, class, &outcome) {
            return failed_row(job, attempts, started.elapsed(), &outcome, Some(why));
        }
        let delay = if class == Class::ClockSkew {
            // Nothing to wait for: the next signature uses COS's clock.
            Duration::ZERO
        } else {
            let retry_after = outcome
                .as_ref()
                .ok()
                .and_then(|response| response.retry_after)
                .map(Duration::from_secs);
            retry::backoff_delay(&shared.config.retry, attempts, rng.f64(), retry_after)
        };
        notify_retry(shared, job, attempts, class, delay, &outcome);
        last = Some(outcome);
        if !backoff(shared, delay).await {
            return cancelled_row(job, attempts, started.elapsed(), last.as_ref());
        }
    }
}

/// Waits for the bucket's rate, a global permit, the global rate and the
/// adaptive pacer, in that order; `None` when cancelled meanwhile.
async fn wait_for_turn<'a>(
    shared: &'a Shared,
    job: &Job,
) -> Option<tokio::sync::SemaphorePermit<'a>> {
    let cancel = &shared.cancel;
    tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        _ = shared.limits.bucket_ready(job.bucket()) => {}
    }
    let permit = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        permit = shared.permits.acquire() => permit.ok()?,
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        _ = async {
            shared.limits.global_ready().await;
            shared.pacer.acquire().await;
        } => {}
    }
    Some(permit)
}

/// Sends one attempt, signed now. Not cancellable: a request on the wire
/// finishes (bounded by the request timeout and the drain timeout).
async fn send(shared: &Shared, client: &CosClient, request: &InventoryRequest) -> Attempt {
    shared.stats.attempts.fetch_add(1, Ordering::Relaxed);
    shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let now = unix_now(shared.clock_offset.load(Ordering::Relaxed));
    let outcome = client.send(request, now).await;
    shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    outcome
}

/// Feeds the pacer, the budget and the clock correction.
fn learn_from(shared: &Shared, class: Class, outcome: &Attempt) {
    let now = Instant::now();
    match class {
        Class::Success => {
            shared.budget.refund_success();
            shared.pacer.on_success(now);
        }
        Class::Throttled => shared.pacer.on_throttle(now),
        Class::ClockSkew => {
            if let Some(server) = server_time(outcome) {
                let local = unix_now(0) as i64;
                shared
                    .clock_offset
                    .store(server as i64 - local, Ordering::Relaxed);
            }
        }
        _ => {}
    }
}

fn server_time(outcome: &Attempt) -> Option<u64> {
    outcome
        .as_ref()
        .ok()
        .and_then(|response| response.server_time)
}

/// Credentials rejected: skip the rest of the run. Bucket missing or
/// forbidden: skip the rest of the bucket.
fn remember_fatal(shared: &Shared, job: &Job, bucket_skip: &OnceLock<String>, outcome: &Attempt) {
    let Some(code) = outcome.as_ref().ok().and_then(|r| r.code()) else {
        return;
    };
    if CREDENTIAL_CODES.contains(&code) {
        let _ = shared.abort.set(format!(
            "not sent: COS rejected the credentials ({code}) for {}/{}; check COS_SECRET_ID, \
             COS_SECRET_KEY and COS_SECURITY_TOKEN, then run again",
            job.bucket(),
            job.id()
        ));
    } else if BUCKET_CODES.contains(&code) {
        let _ = bucket_skip.set(format!(
            "not sent: an earlier job on this bucket got {code} ({}/{})",
            job.bucket(),
            job.id()
        ));
    }
}

/// Why a retryable failure is final anyway, if it is.
fn no_more_retries(
    shared: &Shared,
    attempts: u32,
    started: Instant,
    class: Class,
    outcome: &Attempt,
) -> Option<String> {
    let policy = &shared.config.retry;
    if class == Class::ClockSkew && server_time(outcome).is_none() {
        return Some(
            "COS refused the signature's time window and sent no Date to correct our clock \
             by; check this host's clock (NTP)"
                .into(),
        );
    }
    if attempts >= policy.max_attempts {
        return Some(format!("gave up after {attempts} attempts"));
    }
    if started.elapsed() >= policy.max_elapsed {
        return Some(format!(
            "gave up after {attempts} attempts in {}s",
            started.elapsed().as_secs()
        ));
    }
    if !shared.budget.try_spend(class) {
        return Some(format!(
            "not retried after {attempts} attempts: the run's retry budget is spent \
             (too many failures; lower --concurrency or --rate)"
        ));
    }
    None
}

fn notify_retry(
    shared: &Shared,
    job: &Job,
    attempt: u32,
    class: Class,
    delay: Duration,
    outcome: &Attempt,
) {
    shared.stats.retries.fetch_add(1, Ordering::Relaxed);
    if let Some(observer) = &shared.observer {
        observer(&Event::Retry {
            bucket: job.bucket().to_string(),
            id: job.id().to_string(),
            attempt,
            class,
            delay,
            message: describe(outcome),
        });
    }
}

/// Sleeps out a backoff; false when cancelled meanwhile.
async fn backoff(shared: &Shared, delay: Duration) -> bool {
    shared.stats.retrying.fetch_add(1, Ordering::Relaxed);
    let finished = tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    };
    shared.stats.retrying.fetch_sub(1, Ordering::Relaxed);
    finished
}

// ---------------------------------------------------------------------------
// Rows.

fn describe(outcome: &Attempt) -> String {
    match outcome {
        Ok(response) => response.describe(),
        Err(err) => err.message.clone(),
    }
}

fn transport_code(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::Timeout => "Timeout",
        TransportErrorKind::Connect => "ConnectError",
        TransportErrorKind::Connection => "ConnectionError",
    }
}

fn base_row(job: &Job, outcome: Outcome, attempts: u32, elapsed: Duration) -> ReportRow {
    ReportRow {
        bucket: job.bucket().to_string(),
        region: job.region().to_string(),
        id: job.id().to_string(),
        action: "put",
        outcome,
        http_status: None,
        error_code: String::new(),
        message: String::new(),
        request_id: String::new(),
        attempts,
        elapsed_ms: elapsed.as_millis() as u64,
        finished_at: report::timestamp(jiff::Timestamp::now()),
    }
}

/// Fills status, code, request id and message from an attempt.
fn with_attempt(mut row: ReportRow, attempt: Option<&Attempt>) -> ReportRow {
    match attempt {
        Some(Ok(response)) => {
            row.http_status = Some(response.status);
            row.request_id = response.request_id.clone().unwrap_or_default();
            if !response.is_success() {
                row.error_code = response.code().unwrap_or_default().to_string();
                row.message = response.describe();
            }
        }
        Some(Err(err)) => {
            row.error_code = transport_code(err.kind).to_string();
            row.message = err.message.clone();
        }
        None => {}
    }
    row
}

fn applied_row(job: &Job, attempts: u32, elapsed: Duration, outcome: &Attempt) -> ReportRow {
    with_attempt(
        base_row(job, Outcome::Applied, attempts, elapsed),
        Some(outcome),
    )
}

fn failed_row(
    job: &Job,
    attempts: u32,
    elapsed: Duration,
    outcome: &Attempt,
    why: Option<String>,
) -> ReportRow {
    let mut row = with_attempt(
        base_row(job, Outcome::Failed, attempts, elapsed),
        Some(outcome),
    );
    if let Some(why) = why {
        row.message = format!("{why}: {}", row.message);
    }
    row
}

fn skipped_row(
    job: &Job,
    attempts: u32,
    elapsed: Duration,
    last: Option<&Attempt>,
    reason: &str,
) -> ReportRow {
    let mut row = with_attempt(base_row(job, Outcome::Skipped, attempts, elapsed), last);
    row.message = reason.to_string();
    row
}

fn cancelled_row(job: &Job, attempts: u32, elapsed: Duration, last: Option<&Attempt>) -> ReportRow {
    let mut row = with_attempt(base_row(job, Outcome::Cancelled, attempts, elapsed), last);
    row.message = if row.message.is_empty() {
        "not finished: the run was interrupted".to_string()
    } else {
        format!(
            "not finished: the run was interrupted; last attempt: {}",
            row.message
        )
    };
    row
}

fn dry_run_row(job: &Job) -> ReportRow {
    let mut row = base_row(job, Outcome::DryRun, 0, Duration::ZERO);
    row.message = format!(
        "not sent (dry run); reports would go to {}",
        job.config().destination.report_location()
    );
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, InventoryId, Region};
    use crate::plan::Source;

    fn job(bucket: &str, id: &str) -> Job {
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
            concurrency: 8,
            ..ExecutorConfig::default()
        };
        assert_eq!(lane_count(&config, 1_000), 16);
        assert_eq!(lane_count(&config, 3), 3);
        let wide = ExecutorConfig {
            concurrency: 8,
            bucket_concurrency: 4,
            ..ExecutorConfig::default()
        };
        assert_eq!(lane_count(&wide, 1_000), 4);
    }

    #[test]
    fn settings_are_checked() {
        let zero = ExecutorConfig {
            concurrency: 0,
            ..ExecutorConfig::default()
        };
        assert!(check_config(&zero, true).is_err());
        assert!(check_config(&ExecutorConfig::default(), false).is_err());
        let dry = ExecutorConfig {
            dry_run: true,
            ..ExecutorConfig::default()
        };
        assert!(check_config(&dry, false).is_ok());
    }

    #[tokio::test]
    async fn dry_run_writes_one_row_per_job_and_sends_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let plan = Arc::new(Plan::from_jobs(vec![
            job("a-1250000000", "x"),
            job("b-1250000000", "y"),
        ]));
        let config = ExecutorConfig {
            dry_run: true,
            ..ExecutorConfig::default()
        };
        let result = execute(
            plan,
            None,
            config,
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
        let client = CosClient::new(crate::client::ClientConfig {
            endpoint: crate::client::Endpoint::parse("http://127.0.0.1:9", false).unwrap(),
            credentials: crate::credentials::Credentials::new("a", "b", None),
            request_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(1),
            max_idle_per_host: 1,
        })
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
