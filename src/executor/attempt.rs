//! One request, tried until it ends: skip check, turn, send, classify,
//! learn, decide — the same loop for every kind of call (PUT, DELETE, a
//! page of a list), so reads and writes share concurrency, rate limits,
//! retries and cancellation.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// tokio's clock, so that tests on a paused clock see every wait.
use tokio::time::Instant;

use super::events::Event;
use super::{Attempt, Shared, Transport};
use crate::cos::request::InventoryRequest;
use crate::model::BucketName;
use crate::pace::outage::OutcomeKind;
use crate::pace::shared::Change;
use crate::send::StopReason;
use crate::send::client::TransportErrorKind;
use crate::send::retry::{self, Class, RetryPolicy};

/// How a request ended.
#[derive(Debug)]
pub(super) enum End {
    /// A 2xx answer.
    Succeeded,
    /// A final failure; `why` says why a retryable one was not retried.
    Failed { why: Option<String> },
    /// Not sent (again): an earlier answer showed it would fail.
    Skipped(String),
    /// The run was cancelled before it ended.
    Cancelled,
}

/// A request's end, with what its attempts got.
#[derive(Debug)]
pub(super) struct Ended {
    pub end: End,
    pub attempts: u32,
    /// The last attempt's outcome, if one was sent.
    pub last: Option<Attempt>,
    pub elapsed: Duration,
}

impl Ended {
    /// The successful answer's body.
    pub fn body(&self) -> &[u8] {
        match &self.last {
            Some(Ok(response)) => &response.body,
            _ => &[],
        }
    }
}

/// What names a request in `-vv` detail: its bucket and id (or `list`).
pub(super) struct Subject<'a> {
    pub bucket: &'a BucketName,
    pub id: &'a str,
    /// Where the run keeps this job's attempts and whether one is on the
    /// wire, for a row if the run is stopped mid-request.
    pub slot: Option<&'a AtomicU32>,
}

/// The bit of a slot that says a request is on the wire.
pub(super) const ON_WIRE: u32 = 1 << 31;

pub(super) fn unix_now(offset: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    now.saturating_add_signed(offset)
}

/// A request's turn to be sent, or why it has none.
enum Turn<'a> {
    /// Send now, holding a permit; `sent_at` goes back to the pacer with
    /// the answer.
    Go {
        permit: tokio::sync::SemaphorePermit<'a>,
        sent_at: std::time::Instant,
    },
    Cancelled,
    /// COS stayed down past the deadline: the run is stopping.
    GaveUp,
}

/// Tries `request` until it succeeds, fails for good, is skipped or is
/// cancelled. `seed` makes its backoff jitter repeatable.
pub(super) async fn run<T: Transport>(
    shared: &Shared<T>,
    transport: &T,
    subject: Subject<'_>,
    request: &InventoryRequest,
    bucket_skip: &OnceLock<String>,
    seed: u64,
) -> Ended {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(shared.config.seed ^ seed);
    let mut tries = Tries {
        attempts: 0,
        throttled: 0,
        started,
    };
    let mut last: Option<Attempt> = None;
    let end = loop {
        if let Some(reason) = shared.abort.get() {
            break End::Skipped(format!("not sent: {reason}"));
        }
        if let Some(reason) = bucket_skip.get() {
            break End::Skipped(reason.clone());
        }
        let (permit, sent_at) = match wait_for_turn(shared, subject.bucket).await {
            Turn::Go { permit, sent_at } => (permit, sent_at),
            Turn::Cancelled => break End::Cancelled,
            // The stop reason is set: the first check of the loop ends it.
            Turn::GaveUp => continue,
        };
        tries.attempts += 1;
        if let Some(slot) = subject.slot {
            slot.store(tries.attempts | ON_WIRE, Ordering::Relaxed);
        }
        let outcome = send(shared, transport, request).await;
        if let Some(slot) = subject.slot {
            slot.store(tries.attempts, Ordering::Relaxed);
        }
        drop(permit);
        let class = retry::classify(&outcome);
        learn_from(shared, class, &outcome, sent_at);
        tries.throttled += u32::from(class == Class::Throttled);
        let verdict = decide(shared, &subject, bucket_skip, tries, class, &outcome);
        last = Some(outcome);
        let Some(end) = verdict else {
            let outcome = last.as_ref().expect("just set");
            let delay = retry_delay(shared, tries, class, outcome, &mut rng);
            notify_retry(shared, &subject, tries.attempts, class, delay, outcome);
            if backoff(shared, delay).await {
                continue;
            }
            break End::Cancelled;
        };
        break end;
    };
    Ended {
        end,
        attempts: tries.attempts,
        last,
        elapsed: started.elapsed(),
    }
}

/// How far a request has got.
#[derive(Clone, Copy)]
struct Tries {
    /// Attempts sent.
    attempts: u32,
    /// Of those, attempts COS throttled. They do not count toward the
    /// attempt limit: throttling is answered by slowing the whole run, and
    /// a job should not fail because COS was busy.
    throttled: u32,
    started: Instant,
}

impl Tries {
    /// Attempts that failed other than by throttling (the last one
    /// included, whatever it was).
    fn failures(&self) -> u32 {
        self.attempts - self.throttled
    }
}

/// What the outcome of the latest attempt means for the request: how it
/// ends, or `None` to try again.
fn decide<T: Transport>(
    shared: &Shared<T>,
    subject: &Subject<'_>,
    bucket_skip: &OnceLock<String>,
    tries: Tries,
    class: Class,
    outcome: &Attempt,
) -> Option<End> {
    if class == Class::Success {
        return Some(End::Succeeded);
    }
    if !class.is_retryable() {
        remember_fatal(shared, subject, bucket_skip, class, outcome);
        return Some(End::Failed { why: None });
    }
    no_more_retries(shared, tries, class, outcome).map(|why| End::Failed { why: Some(why) })
}

/// How long to wait before the next attempt.
fn retry_delay<T: Transport>(
    shared: &Shared<T>,
    tries: Tries,
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
        .and_then(|response| response.retry_after);
    let policy = &shared.config.retry;
    let (policy, count) = if class == Class::Throttled {
        // The pacer slows the whole run for COS; this job only needs its
        // retry spread out, not held back for a server error's backoff.
        let throttled = RetryPolicy {
            base_delay: policy.throttled_base_delay,
            ..*policy
        };
        (throttled, tries.throttled)
    } else {
        (*policy, tries.failures())
    };
    retry::backoff_delay(&policy, count, rng.f64(), retry_after)
}

/// Waits for the bucket's rate, a global permit, the outage gate, the
/// global rate and the pacer, in that order. The gate comes after the
/// permit: a job admitted before a pause must not be sent once a permit
/// frees up during it (only the wave already on the wire may go out).
async fn wait_for_turn<'a, T: Transport>(shared: &'a Shared<T>, bucket: &BucketName) -> Turn<'a> {
    let cancel = &shared.cancel;
    let pace = shared.pace();
    tokio::select! {
        biased;
        _ = cancel.cancelled() => return Turn::Cancelled,
        _ = shared.limits.bucket_ready(bucket) => {}
    }
    let permit = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Turn::Cancelled,
        permit = shared.permits.acquire() => match permit {
            Ok(permit) => permit,
            Err(_) => return Turn::Cancelled,
        },
    };
    let admitted = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Turn::Cancelled,
        admitted = pace.gate.admit() => admitted,
    };
    if let Err(give_up) = admitted {
        let _ = shared.abort.set(StopReason::Unreachable {
            message: give_up.to_string(),
        });
        return Turn::GaveUp;
    }
    let sent_at = tokio::select! {
        biased;
        _ = cancel.cancelled() => return Turn::Cancelled,
        sent_at = async {
            shared.limits.global_ready().await;
            pace.pacer.acquire().await
        } => sent_at,
    };
    Turn::Go { permit, sent_at }
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

/// Feeds the pacer, the outage gate and the clock correction.
fn learn_from<T: Transport>(
    shared: &Shared<T>,
    class: Class,
    outcome: &Attempt,
    sent_at: std::time::Instant,
) {
    let pace = shared.pace();
    if let Some(change) = pace.gate.on_outcome(outage_kind(class, outcome)) {
        notify_change(shared, change);
    }
    match class {
        Class::Success => pace.pacer.on_success(sent_at),
        Class::Throttled => {
            shared.stats.throttled.fetch_add(1, Ordering::Relaxed);
            pace.pacer.on_throttle(sent_at);
        }
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
    subject: &Subject<'_>,
    bucket_skip: &OnceLock<String>,
    class: Class,
    outcome: &Attempt,
) {
    if let Some(reason) = StopReason::from_attempt(class, subject.bucket, subject.id, outcome) {
        let _ = shared.abort.set(reason);
        return;
    }
    if class == Class::BucketRefused {
        let code = outcome
            .as_ref()
            .ok()
            .and_then(|response| response.code())
            .unwrap_or_default();
        let (bucket, id) = (subject.bucket, subject.id);
        let _ = bucket_skip.set(format!(
            "not sent: an earlier request to this bucket got {code} ({bucket}/{id})"
        ));
    }
}

/// What an outcome says about COS's health, for the outage gate.
fn outage_kind(class: Class, outcome: &Attempt) -> OutcomeKind {
    match (class, outcome) {
        (Class::Success, _) => OutcomeKind::Success,
        (Class::Throttled, _) => OutcomeKind::Throttled,
        (_, Err(err)) => match err.kind {
            TransportErrorKind::Connect => OutcomeKind::ConnectFailed,
            TransportErrorKind::Timeout => OutcomeKind::Timeout,
            TransportErrorKind::Connection => OutcomeKind::Broken,
            // Nothing was sent, or an answer came (too big to read).
            TransportErrorKind::TlsVerification
            | TransportErrorKind::Credentials
            | TransportErrorKind::TooLarge => OutcomeKind::ClientError,
        },
        (Class::Transient, Ok(_)) => OutcomeKind::Timeout,
        (Class::ServerError, Ok(response)) if response.status == 503 => {
            OutcomeKind::ServiceUnavailable
        }
        (Class::ServerError, Ok(_)) => OutcomeKind::ServerError,
        // Any other answer is a live server saying no.
        (_, Ok(_)) => OutcomeKind::ClientError,
    }
}

fn notify_change<T: Transport>(shared: &Shared<T>, change: Change) {
    if let Some(observer) = &shared.observer {
        observer(&match change {
            Change::Paused { failures } => Event::Paused { failures },
            Change::Resumed { paused_for } => Event::Resumed { paused_for },
        });
    }
}

/// Why a retryable failure is final anyway, if it is.
fn no_more_retries<T: Transport>(
    shared: &Shared<T>,
    tries: Tries,
    class: Class,
    outcome: &Attempt,
) -> Option<String> {
    let (failures, attempts, started) = (tries.failures(), tries.attempts, tries.started);
    let policy = &shared.config.retry;
    if class == Class::ClockSkew && server_time(outcome).is_none() {
        return Some(
            "COS refused the signature's time window and sent no Date to correct our clock \
             by; check this host's clock (NTP)"
                .into(),
        );
    }
    if failures >= policy.max_attempts.get() {
        return Some(format!("gave up after {attempts} attempts"));
    }
    if started.elapsed() >= policy.max_elapsed {
        return Some(format!(
            "gave up after {attempts} attempts in {}s",
            started.elapsed().as_secs()
        ));
    }
    None
}

fn notify_retry<T: Transport>(
    shared: &Shared<T>,
    subject: &Subject<'_>,
    attempt: u32,
    class: Class,
    delay: Duration,
    outcome: &Attempt,
) {
    shared.stats.retries.fetch_add(1, Ordering::Relaxed);
    if let Some(observer) = &shared.observer {
        observer(&Event::Retry {
            bucket: subject.bucket.to_string(),
            id: subject.id.to_string(),
            attempt,
            class,
            delay,
            message: crate::send::describe(outcome),
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
