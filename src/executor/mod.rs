//! The executor: every planned job becomes signed requests, and every job
//! ends as exactly one report row.
//!
//! A run has up to two phases, each over the same machinery:
//! - [`refresh`]: one `List Bucket inventory` per bucket (every page),
//!   reconciled with the plan ([`crate::plan::reconcile`]) into the work
//!   for each bucket: create, update, leave alone, delete.
//! - [`execute`]: that work (or, without a refresh, every job put blind)
//!   sent, one report row per job and per deleted id.
//!
//! - `lane`: buckets handed out whole to lanes, biggest first (a bucket
//!   with 1,000 jobs starts early instead of becoming the run's tail).
//! - [`events`]: counters and events for whoever shows progress.
//! - `rows`: the report row for each way a job ends.
//!
//! How fast it sends is [`crate::pace`]'s (the operator's limits, COS's
//! ceiling, outages); how one attempt is sent and what its answer means is
//! [`crate::send`]'s.
//!
//! Rows go to a writer thread as jobs end, through a bounded queue (a dry
//! run makes rows faster than a disk takes them; lanes then wait instead
//! of memory growing). The writer takes what is queued, writes it in one
//! write, and looks again a few milliseconds later: a row reaches the file
//! within [`WRITE_INTERVAL`] of its job's end, at the cost of one wake-up
//! and one write per batch instead of per job. It remembers which jobs
//! have a row, so however the run ends (done, cancelled, drained after a
//! timeout), the jobs without one are written as `cancelled` at the end:
//! one row per job, always.

pub mod events;
mod lane;
mod queue;
mod rows;
#[cfg(test)]
mod scripted;

use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::pace::limits::Rate;
use crate::plan::reconcile::{BucketWork, PruneRule, Unreadable, UnreadableEnd};
use crate::plan::{Job, Plan};
use crate::report::{Action, ReportCounts, ReportError, ReportRow, ReportWriter};
use crate::send::retry::RetryPolicy;
use crate::send::{SendSettings, Sender};
use events::Stats;

pub use crate::pace::{Pacing, PacingReport};
pub use crate::send::{Attempt, StopReason, Transport};
pub use events::{Event, Observer, StatsSnapshot};

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
    /// While COS fails every request, the run pauses behind a probe; with
    /// no answer for this long it stops (see [`crate::pace::outage`]).
    pub give_up_after: Duration,
    /// After cancellation, how long requests already on the wire may take
    /// to finish before their jobs are written as cancelled.
    pub drain_timeout: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// Seconds to add to this host's clock when signing, as an earlier
    /// phase learned from COS (see [`RunResult::clock_offset`]).
    pub clock_offset: i64,
}

impl ExecutorConfig {
    /// How the run's requests are sent.
    pub fn send_settings(&self) -> SendSettings {
        SendSettings {
            concurrency: self.concurrency,
            rate: self.rate,
            bucket_rate: self.bucket_rate,
            retry: self.retry,
            give_up_after: self.give_up_after,
            seed: self.seed,
            clock_offset: self.clock_offset,
            account: None,
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            concurrency: NonZeroUsize::new(64).expect("non-zero"),
            bucket_concurrency: NonZeroUsize::MIN,
            rate: None,
            bucket_rate: None,
            retry: RetryPolicy::default(),
            give_up_after: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(10),
            seed: 0,
            clock_offset: 0,
        }
    }
}

/// Why a run could not finish.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
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
    /// The pace learned so far; pass the same to both phases of a run.
    pub pacing: Pacing,
    /// Asked where a bucket that answered `NoSuchBucket` really is, so that
    /// its rows name the fix; `None`: the rows say only what COS said.
    pub locator: Option<Locator>,
}

/// Where a bucket is, for the rows of a bucket that answered
/// `NoSuchBucket` where the manifest put it. The executor does not read
/// the account itself (that is `account`'s): the caller answers, once per
/// run however many rows ask.
pub trait Locate: Send + Sync {
    /// The region the account holds `bucket` in, if it holds it.
    fn region_of<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Option<String>>;
}

/// A [`Locate`] shared by a run's lanes.
pub type Locator = Arc<dyn Locate>;

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
    /// How COS's throttling and failures slowed or paused the run (every
    /// phase that shared its [`Pacing`] so far).
    pub pacing: PacingReport,
}

/// Every bucket of a plan after a refresh, in the plan's bucket order.
#[derive(Debug, Clone)]
pub struct Refreshed {
    pub buckets: Vec<BucketWork>,
    /// The refresh's own counts: one per bucket (`applied` read,
    /// `failed`/`skipped`/`cancelled` not).
    pub result: RunResult,
}

/// What the lanes do with each bucket.
enum Mode {
    Refresh {
        prune: PruneRule,
        results: Vec<OnceLock<BucketWork>>,
    },
    Apply {
        work: Vec<BucketWork>,
    },
}

/// A row for the writer, with its place among the run's rows (jobs first,
/// then pruned ids).
type RowMessage = (usize, ReportRow);

/// Rows queued for the writer at most; lanes that finish more wait.
const ROW_QUEUE: usize = 4096;
/// How long the writer waits after a batch smaller than `BIG_BATCH`
/// before it looks again: the longest a row waits to be written.
pub const WRITE_INTERVAL: Duration = Duration::from_millis(5);
/// A batch this big means rows come faster than they are written: the
/// writer looks again at once.
const BIG_BATCH: usize = 512;

/// Everything the lanes share.
struct Shared<T> {
    plan: Arc<Plan>,
    /// `None`: a dry run; nothing is sent.
    transport: Option<T>,
    config: ExecutorConfig,
    /// Concurrency, rate limits, pacing, retries, the clock, the stop.
    sender: Sender,
    stats: Arc<Stats>,
    observer: Option<Observer>,
    locator: Option<Locator>,
    /// `None` in a refresh, which writes no report.
    rows: Option<mpsc::Sender<RowMessage>>,
    /// Buckets as ranges of `plan.jobs()`, in plan order.
    buckets: Vec<Range<usize>>,
    /// Which bucket a lane takes next: biggest first, by account.
    queue: queue::BucketQueue,
    /// Per row of an apply (jobs, then pruned ids): attempts so far, and
    /// [`crate::send::sender::ON_WIRE`] while one is on the wire. Empty in a refresh.
    slots: Vec<AtomicU32>,
    /// Per bucket: the place of its first pruned id among the rows.
    delete_base: Vec<usize>,
    mode: Mode,
}

impl<T: Transport> Shared<T> {
    fn new(
        plan: Arc<Plan>,
        transport: Option<T>,
        config: ExecutorConfig,
        control: &RunControl,
        rows: Option<mpsc::Sender<RowMessage>>,
        mode: Mode,
    ) -> Self {
        let buckets = bucket_ranges(plan.jobs());
        let mut order: Vec<usize> = (0..buckets.len()).collect();
        order.sort_by_key(|&index| std::cmp::Reverse(buckets[index].len()));
        let lanes = lanes_for(&config, transport.is_some(), buckets.len());
        let jobs = plan.jobs();
        let account_of = |bucket: usize| jobs[buckets[bucket].start].bucket().appid();
        let queue = queue::BucketQueue::new(&order, account_of, lanes);
        let (slots, delete_base) = row_places(plan.jobs().len(), &mode);
        Shared {
            sender: Sender::new(
                config.send_settings(),
                control.pacing.clone(),
                control.cancel.clone(),
                Arc::new(events::Watch::new(control)),
            ),
            plan,
            transport,
            config,
            stats: control.stats.clone(),
            observer: control.observer.clone(),
            locator: control.locator.clone(),
            rows,
            buckets,
            queue,
            slots,
            delete_base,
            mode,
        }
    }

    fn result(&self, started: Instant) -> RunResult {
        RunResult {
            stats: self.stats.snapshot(),
            elapsed: started.elapsed(),
            stopped: self.sender.stopped().cloned(),
            counts: ReportCounts::default(),
            clock_offset: self.sender.clock_offset(),
            pacing: self.sender.pacing_report(),
        }
    }
}

/// Reads what is on every bucket of `plan` and reconciles its jobs: one
/// `List Bucket inventory` per bucket (every page), with the concurrency,
/// rate limits, retries and cancellation of a write run. Progress counts
/// buckets.
pub async fn refresh<T: Transport>(
    plan: Arc<Plan>,
    transport: T,
    prune: PruneRule,
    config: ExecutorConfig,
    control: RunControl,
) -> Refreshed {
    let started = Instant::now();
    let count = plan.bucket_count();
    control.stats.total.store(count as u64, Ordering::Relaxed);
    let results = (0..count).map(|_| OnceLock::new()).collect();
    let mode = Mode::Refresh { prune, results };
    let shared = Arc::new(Shared::new(
        plan,
        Some(transport),
        config,
        &control,
        None,
        mode,
    ));
    run_lanes(&shared, &control).await;
    let result = shared.result(started);
    let Mode::Refresh { results, .. } = &shared.mode else {
        unreachable!("built as a refresh");
    };
    let buckets = results
        .iter()
        .map(|slot| {
            slot.get().cloned().unwrap_or_else(|| {
                BucketWork::Unreadable(Unreadable {
                    end: UnreadableEnd::Cancelled,
                    http_status: None,
                    error_code: String::new(),
                    message: "not read: the run was interrupted".into(),
                    request_id: String::new(),
                })
            })
        })
        .collect();
    Refreshed { buckets, result }
}

/// The rows an apply of `work` writes, each a unit of its progress: one
/// per job and one per deleted id (a bucket over the limit deletes
/// nothing). Progress totals are this, or a prune shows `11/10`.
pub fn rows_of(plan: &Plan, work: &[BucketWork]) -> usize {
    let deletes: usize = work
        .iter()
        .map(|bucket| match bucket {
            BucketWork::Changes(changes) if changes.limit.is_none() => changes.deletes.len(),
            _ => 0,
        })
        .sum();
    plan.jobs().len() + deletes
}

/// Runs `work` (one entry per bucket of `plan`, in its order), writing one
/// row per job and per deleted id to `report`. Without a `transport` this
/// is a dry run: every job gets a `dry-run` row.
pub async fn execute<T: Transport>(
    plan: Arc<Plan>,
    work: Vec<BucketWork>,
    transport: Option<T>,
    config: ExecutorConfig,
    report: ReportWriter,
    control: RunControl,
) -> Result<RunResult, ExecuteError> {
    let started = Instant::now();
    let total = rows_of(&plan, &work);
    control.stats.total.store(total as u64, Ordering::Relaxed);
    let (rows, receiver) = mpsc::channel(ROW_QUEUE);
    let writer = spawn_writer(report, receiver, total, control.cancel.clone());
    let mode = Mode::Apply { work };
    let shared = Arc::new(Shared::new(
        plan,
        transport,
        config,
        &control,
        Some(rows),
        mode,
    ));
    run_lanes(&shared, &control).await;
    let result_at_end = shared.result(started);
    // Every lane has ended: this is the last handle, and dropping its
    // sender lets the writer finish.
    let mut shared = Arc::try_unwrap(shared).unwrap_or_else(|_| unreachable!("lanes ended"));
    shared.rows = None;
    let written = writer.join().map_err(|_| ExecuteError::WriterPanicked)?;
    let (counts, stopped) = match write_missing_rows(&shared, written, &control.stats) {
        Ok(counts) => (counts, result_at_end.stopped.clone()),
        // Nothing more could be recorded: that outranks any other stop.
        Err(unwritable) => (
            unwritable.counts,
            Some(StopReason::ReportUnwritable {
                message: unwritable.err.to_string(),
                sent_unrecorded: unwritable.sent_unrecorded,
            }),
        ),
    };
    Ok(RunResult {
        stats: control.stats.snapshot(),
        counts,
        stopped,
        ..result_at_end
    })
}

/// Runs the lanes until every bucket is done, or until cancelled and the
/// drain timeout (or a forced stop) has passed.
async fn run_lanes<T: Transport>(shared: &Arc<Shared<T>>, control: &RunControl) {
    let mut tasks = tokio::task::JoinSet::new();
    let lanes = lanes_for(
        &shared.config,
        shared.transport.is_some(),
        shared.buckets.len(),
    );
    for _ in 0..lanes {
        tasks.spawn(lane::run_lane(shared.clone()));
    }
    let drain_timeout = shared.config.drain_timeout;
    tokio::select! {
        _ = async {
            while let Some(joined) = tasks.join_next().await {
                if let Err(err) = joined
                    && err.is_panic()
                {
                    shared.sender.stop(StopReason::Crashed {
                        message: panic_message(err.into_panic()),
                    });
                }
            }
        } => {}
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

/// What a panic said, for the stop reason (a bug: say it, never swallow).
fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|text| text.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

/// What the writer thread hands back.
struct WriterResult {
    report: ReportWriter,
    /// Which rows reached the writer (all written, unless `failure`).
    received: Vec<bool>,
    /// The write failure that stopped the run, if any.
    failure: Option<ReportError>,
    /// Rows of jobs whose request was sent that reached the writer after
    /// (or in) the write that failed: answered, but not in the report.
    sent_unrecorded: u64,
}

/// The rows of an apply: one slot per job, then one per pruned id (of
/// buckets under the limit), and where each bucket's pruned ids start.
fn row_places(jobs: usize, mode: &Mode) -> (Vec<AtomicU32>, Vec<usize>) {
    let Mode::Apply { work } = mode else {
        return (Vec::new(), Vec::new());
    };
    let mut next = jobs;
    let delete_base = work
        .iter()
        .map(|bucket| {
            let first = next;
            if let BucketWork::Changes(changes) = bucket
                && changes.limit.is_none()
            {
                next += changes.deletes.len();
            }
            first
        })
        .collect();
    ((0..next).map(|_| AtomicU32::new(0)).collect(), delete_base)
}

/// Writes a row for every job and pruned id the writer has none for —
/// `unknown` if its request was on the wire when the run stopped,
/// `cancelled` otherwise — and closes the report; the report's counts.
fn write_missing_rows<T: Transport>(
    shared: &Shared<T>,
    written: WriterResult,
    stats: &Stats,
) -> Result<ReportCounts, Box<Unwritable>> {
    let WriterResult {
        mut report,
        received,
        failure,
        sent_unrecorded,
    } = written;
    if let Some(err) = failure {
        // Jobs whose request went out but whose row never reached the
        // writer (abandoned on the wire) are not in the report either.
        let abandoned = row_targets(shared)
            .filter(|(place, _)| {
                !received[*place] && shared.slots[*place].load(Ordering::Relaxed) != 0
            })
            .count() as u64;
        return Err(Box::new(Unwritable {
            counts: report.counts().clone(),
            err,
            sent_unrecorded: sent_unrecorded + abandoned,
        }));
    }
    let failed = |report: &ReportWriter, err| {
        Box::new(Unwritable {
            counts: report.counts().clone(),
            err,
            sent_unrecorded: 0,
        })
    };
    for (place, target) in row_targets(shared) {
        if !received[place] {
            let slot = shared.slots[place].load(Ordering::Relaxed);
            let on_wire = slot & crate::send::sender::ON_WIRE != 0;
            let row = match target.action == Action::Unchanged.as_str() {
                // Already in place: nothing was to be sent, so a stop
                // cannot have left it undone.
                true => rows::unchanged(&target),
                false => rows::unfinished(&target, slot & !crate::send::sender::ON_WIRE, on_wire),
            };
            stats.count(row.outcome);
            report.write(&row).map_err(|err| failed(&report, err))?;
        }
    }
    let counts = report.counts().clone();
    report
        .finish()
        .map_err(|err| failed_to_finish(counts.clone(), err))?;
    Ok(counts)
}

/// A report that took every row but could not be flushed and synced.
fn failed_to_finish(counts: ReportCounts, err: ReportError) -> Box<Unwritable> {
    Box::new(Unwritable {
        counts,
        err,
        sent_unrecorded: 0,
    })
}

/// The report stopped taking rows: what it holds, and why.
struct Unwritable {
    counts: ReportCounts,
    err: ReportError,
    /// Jobs sent whose rows the report could not take.
    sent_unrecorded: u64,
}

/// What each row of an apply is about, with its place: the jobs (with
/// their actions), then each bucket's pruned ids. Lazily: at a million
/// jobs a list of them would cost 64 MiB at the very end of the run.
fn row_targets<T: Transport>(
    shared: &Shared<T>,
) -> impl Iterator<Item = (usize, rows::Target<'_>)> + '_ {
    let work: &[BucketWork] = match &shared.mode {
        Mode::Apply { work } => work,
        Mode::Refresh { .. } => &[],
    };
    let jobs = shared.plan.jobs();
    let buckets = shared.buckets.iter().zip(work).zip(&shared.delete_base);
    buckets.flat_map(move |((range, work), &first)| {
        let changes = match work {
            BucketWork::Changes(changes) => Some(changes),
            BucketWork::Unreadable(_) => None,
        };
        let start = range.start;
        let job_rows = jobs[range.clone()]
            .iter()
            .enumerate()
            .map(move |(offset, job)| {
                let action = changes
                    .and_then(|changes| changes.actions.get(offset))
                    .map_or(Action::Put.as_str(), rows::action);
                (start + offset, rows::Target::job(job, action))
            });
        let pruned = changes.filter(|changes| changes.limit.is_none());
        let bucket_job = &jobs[start];
        let delete_rows = pruned
            .into_iter()
            .flat_map(|changes| changes.deletes.iter())
            .enumerate()
            .map(move |(offset, id)| {
                let target = rows::Target {
                    bucket: bucket_job.bucket(),
                    region: bucket_job.region(),
                    id,
                    action: Action::Delete.as_str(),
                    job: None,
                };
                (first + offset, target)
            });
        job_rows.chain(delete_rows)
    })
}

/// More lanes than permits, so lanes blocked on one bucket's rate limit
/// leave permits for others.
/// The lanes of a run: a dry run waits on nothing but the writer, so one
/// lane keeps it busy (more would only take turns waking each other).
fn lanes_for(config: &ExecutorConfig, sends: bool, buckets: usize) -> usize {
    match sends {
        true => lane_count(config, buckets),
        false => 1,
    }
}

fn lane_count(config: &ExecutorConfig, buckets: usize) -> usize {
    let concurrency = config.concurrency.get();
    let per_lane = config.bucket_concurrency.get().min(concurrency);
    (2 * concurrency / per_lane).max(1).min(buckets)
}

/// The plan's buckets as ranges of its (bucket-sorted) jobs, in order.
fn bucket_ranges(jobs: &[Job]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut start = 0;
    for index in 1..=jobs.len() {
        if index == jobs.len() || jobs[index].bucket() != jobs[start].bucket() {
            ranges.push(start..index);
            start = index;
        }
    }
    ranges
}

/// Writes rows on a thread of its own (file I/O stays off the runtime),
/// in batches, and reports which jobs have one. A write failure stops the
/// run.
fn spawn_writer(
    mut report: ReportWriter,
    mut receiver: mpsc::Receiver<RowMessage>,
    total: usize,
    cancel: CancellationToken,
) -> std::thread::JoinHandle<WriterResult> {
    std::thread::spawn(move || {
        let mut received = vec![false; total];
        let mut failure = None;
        let mut sent_unrecorded = 0;
        let mut batch = Vec::with_capacity(ROW_QUEUE);
        while let Some((index, row)) = receiver.blocking_recv() {
            received[index] = true;
            batch.push(row);
            while batch.len() < ROW_QUEUE {
                let Ok((index, row)) = receiver.try_recv() else {
                    break;
                };
                received[index] = true;
                batch.push(row);
            }
            let big = batch.len() >= BIG_BATCH;
            if failure.is_none()
                && let Err(err) = report.write_all(&batch)
            {
                failure = Some(err);
                cancel.cancel();
            }
            if failure.is_some() {
                // The report is cut back to its last whole row before
                // this batch: what these rows say is lost.
                sent_unrecorded += batch.iter().filter(|row| row.attempts > 0).count() as u64;
            }
            batch.clear();
            if !big {
                std::thread::sleep(WRITE_INTERVAL);
            }
        }
        WriterResult {
            report,
            received,
            failure,
            sent_unrecorded,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, InventoryId, Region};
    use crate::plan::Source;
    use crate::send::client::CosClient;

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
        assert_eq!(bucket_ranges(plan.jobs()), vec![0..1, 1..4, 4..6]);
        assert_eq!(bucket_ranges(&[]), Vec::<Range<usize>>::new());
        let shared = Shared::new(
            Arc::new(plan),
            None::<CosClient>,
            ExecutorConfig::default(),
            &RunControl::default(),
            None,
            Mode::Apply { work: Vec::new() },
        );
        assert_eq!(shared.queue.order(), [1, 2, 0]);
    }

    #[test]
    fn the_rows_of_an_apply_count_its_deletes() {
        use crate::plan::reconcile::BucketChanges;
        let plan = Plan::from_jobs(vec![
            job("a-1250000000", "x"),
            job("a-1250000000", "y"),
            job("b-1250000000", "x"),
        ]);
        let pruning = BucketChanges {
            deletes: vec!["old-1".into(), "old-2".into()],
            ..BucketChanges::blind(2)
        };
        let work = vec![
            BucketWork::Changes(pruning.clone()),
            BucketWork::Changes(BucketChanges::blind(1)),
        ];
        assert_eq!(rows_of(&plan, &work), 5);
        // Over the limit, nothing is sent to the bucket: no delete rows.
        let limited = BucketChanges {
            limit: Some(crate::plan::reconcile::LimitExceeded {
                planned: 2,
                unmanaged: 999,
            }),
            ..pruning
        };
        let work = vec![
            BucketWork::Changes(limited),
            BucketWork::Changes(BucketChanges::blind(1)),
        ];
        assert_eq!(rows_of(&plan, &work), 3);
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
        let work = crate::plan::reconcile::blind(&plan);
        let result = execute(
            plan,
            work,
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
        let credentials = crate::credentials::SharedCredentials::fixed(
            crate::credentials::Credentials::new("a", "b", None),
            crate::credentials::CredentialSource::Explicit,
        );
        let client = CosClient::new(crate::send::client::ClientConfig::new(
            crate::send::client::Endpoint::parse("http://127.0.0.1:9", false).unwrap(),
            credentials,
        ))
        .unwrap();
        let control = RunControl::default();
        control.cancel.cancel();
        let work = crate::plan::reconcile::blind(&plan);
        let result = execute(
            plan,
            work,
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
