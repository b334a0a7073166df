//! Lanes: the tasks that take buckets, biggest first, and run their jobs.
//!
//! A lane runs its bucket's jobs with at most `bucket_concurrency` in
//! flight, waits for the bucket's rate limit *before* taking one of the
//! `concurrency` global permits, and holds the permit only while a request
//! is on the wire — never during a backoff. There are more lanes than
//! permits, so a bucket waiting on its own rate limit never stalls the
//! others: the schedule is work-conserving.

use std::ops::Range;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// tokio's clock, so that tests on a paused clock see every wait.
use tokio::time::Instant;

use futures_util::StreamExt;

use super::events::Event;
use super::retry::{self, Class};
use super::stop::StopReason;
use super::{Attempt, Shared, Transport, rows};
use crate::cos::request::InventoryRequest;
use crate::plan::Job;
use crate::report::ReportRow;

/// Takes the next bucket until none is left or the run is cancelled.
pub(super) async fn run_lane<T: Transport>(shared: std::sync::Arc<Shared<T>>) {
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

async fn run_bucket<T: Transport>(shared: &Shared<T>, range: Range<usize>) {
    let bucket_skip: OnceLock<String> = OnceLock::new();
    futures_util::stream::iter(range)
        .for_each_concurrent(shared.config.bucket_concurrency.get(), |index| {
            let bucket_skip = &bucket_skip;
            async move {
                let row = run_job(shared, index, bucket_skip).await;
                finish(shared, index, row);
            }
        })
        .await;
}

fn finish<T: Transport>(shared: &Shared<T>, index: usize, row: ReportRow) {
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

/// Runs one job to its end and returns its row: skip check, turn, send,
/// classify, learn, decide.
async fn run_job<T: Transport>(
    shared: &Shared<T>,
    index: usize,
    bucket_skip: &OnceLock<String>,
) -> ReportRow {
    let job = &shared.plan.jobs()[index];
    let started = Instant::now();
    let Some(transport) = &shared.transport else {
        return rows::dry_run(job);
    };
    let request = InventoryRequest::put(job.bucket(), job.region(), &job.config());
    let mut rng = fastrand::Rng::with_seed(shared.config.seed ^ index as u64);
    let mut attempts = 0u32;
    let mut last: Option<Attempt> = None;
    loop {
        if let Some(reason) = shared.abort.get() {
            let reason = format!("not sent: {reason}");
            return rows::skipped(job, attempts, started.elapsed(), last.as_ref(), &reason);
        }
        if let Some(reason) = bucket_skip.get() {
            return rows::skipped(job, attempts, started.elapsed(), last.as_ref(), reason);
        }
        let Some(permit) = wait_for_turn(shared, job).await else {
            return rows::cancelled(job, attempts, started.elapsed(), last.as_ref());
        };
        attempts += 1;
        let outcome = send(shared, transport, &request).await;
        drop(permit);
        let class = retry::classify(&outcome);
        learn_from(shared, class, &outcome);
        if class == Class::Success {
            return rows::applied(job, attempts, started.elapsed(), &outcome);
        }
        if !class.is_retryable() {
            remember_fatal(shared, job, bucket_skip, class, &outcome);
            return rows::failed(job, attempts, started.elapsed(), &outcome, None);
        }
        if let Some(why) = no_more_retries(shared, attempts, started, class, &outcome) {
            return rows::failed(job, attempts, started.elapsed(), &outcome, Some(why));
        }
        let delay = retry_delay(shared, attempts, class, &outcome, &mut rng);
        notify_retry(shared, job, attempts, class, delay, &outcome);
        last = Some(outcome);
        if !backoff(shared, delay).await {
            return rows::cancelled(job, attempts, started.elapsed(), last.as_ref());
        }
    }
}

/// How long to wait before the next attempt.
fn retry_delay<T: Transport>(
    shared: &Shared<T>,
    attempts: u32,
    class: Class,
    outcome: &Attempt,
    rng: &mut fastrand::Rng,
) -> Duration {
    if class == Class::ClockSkew {
        // Nothing to wait for: the next signature uses COS's clock.
        return Duration::ZERO;
    }
    let retry_after = outcome
        .as_ref()
        .ok()
        .and_then(|response| response.retry_after)
        .map(Duration::from_secs);
    retry::backoff_delay(&shared.config.retry, attempts, rng.f64(), retry_after)
}

/// Waits for the bucket's rate, a global permit, the global rate and the
/// adaptive pacer, in that order; `None` when cancelled meanwhile.
async fn wait_for_turn<'a, T: Transport>(
    shared: &'a Shared<T>,
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
async fn send<T: Transport>(
    shared: &Shared<T>,
    transport: &T,
    request: &InventoryRequest,
) -> Attempt {
    shared.stats.attempts.fetch_add(1, Ordering::Relaxed);
    shared.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    let now = unix_now(shared.clock_offset.load(Ordering::Relaxed));
    let outcome = transport.send(request, now).await;
    shared.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    outcome
}

/// Feeds the pacer, the budget and the clock correction.
fn learn_from<T: Transport>(shared: &Shared<T>, class: Class, outcome: &Attempt) {
    let now = Instant::now().into_std();
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

/// Credentials rejected or unavailable, or a certificate refused: skip the
/// rest of the run. Bucket missing or forbidden: skip the rest of the
/// bucket.
fn remember_fatal<T: Transport>(
    shared: &Shared<T>,
    job: &Job,
    bucket_skip: &OnceLock<String>,
    class: Class,
    outcome: &Attempt,
) {
    if let Some(reason) = StopReason::from_attempt(class, job, outcome) {
        let _ = shared.abort.set(reason);
        return;
    }
    if class == Class::BucketRefused {
        let code = outcome
            .as_ref()
            .ok()
            .and_then(|response| response.code())
            .unwrap_or_default();
        let (bucket, id) = (job.bucket(), job.id());
        let _ = bucket_skip.set(format!(
            "not sent: an earlier job on this bucket got {code} ({bucket}/{id})"
        ));
    }
}

/// Why a retryable failure is final anyway, if it is.
fn no_more_retries<T: Transport>(
    shared: &Shared<T>,
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
    if attempts >= policy.max_attempts.get() {
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
             (too many failures; lower the concurrency or the rate)"
        ));
    }
    None
}

fn notify_retry<T: Transport>(
    shared: &Shared<T>,
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
            message: rows::describe(outcome),
        });
    }
}

/// Sleeps out a backoff; false when cancelled meanwhile.
async fn backoff<T: Transport>(shared: &Shared<T>, delay: Duration) -> bool {
    shared.stats.retrying.fetch_add(1, Ordering::Relaxed);
    let finished = tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    };
    shared.stats.retrying.fetch_sub(1, Ordering::Relaxed);
    finished
}
