//! One request, tried until it ends: skip check, turn, send, classify,
//! learn, decide — the same loop for every kind of call (PUT, DELETE, a
//! page of a list, GET Service, a bucket policy), so every request of a run
//! shares concurrency, rate limits, pacing, retries, clock correction and
//! cancellation, wherever it comes from.
//!
//! A [`Sender`] holds what the requests of one run share; whoever sends
//! watches through a [`Watcher`] (counters, retry notes, pauses), so this
//! layer knows nothing of jobs, rows or progress displays.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

// tokio's clock, so that tests on a paused clock see every wait.
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::client::TransportErrorKind;
use super::retry::{self, Class, RetryPolicy};
use super::{Attempt, StopReason, Transport};
use crate::cos::request::InventoryRequest;
use crate::model::BucketName;
use crate::pace::limits::{Limits, Rate};
use crate::pace::outage::OutcomeKind;
use crate::pace::shared::Change;
use crate::pace::{Pacing, PacingReport, Parts};

/// How a run's requests are sent. Every value is valid by its type.
#[derive(Debug, Clone)]
pub struct SendSettings {
    /// Requests in flight at once.
    pub concurrency: NonZeroUsize,
    /// Requests per second overall, and to one bucket.
    pub rate: Option<Rate>,
    pub bucket_rate: Option<Rate>,
    pub retry: RetryPolicy,
    /// While COS fails every request, sending pauses behind a probe; with
    /// no answer for this long the run stops (see [`crate::pace::outage`]).
    pub give_up_after: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// Seconds to add to this host's clock when signing, as learned from
    /// COS earlier.
    pub clock_offset: i64,
    /// The account (APPID) whose pace a request to no bucket (GET
    /// Service) waits on, when it is known; else such requests have a
    /// pace of their own, which one throttled request alone sets to 1/s.
    pub account: Option<String>,
}

impl Default for SendSettings {
    fn default() -> Self {
        SendSettings {
            concurrency: NonZeroUsize::new(64).expect("non-zero"),
            rate: None,
            bucket_rate: None,
            retry: RetryPolicy::default(),
            give_up_after: Duration::from_secs(300),
            seed: 0,
            clock_offset: 0,
            account: None,
        }
    }
}

/// What a sender tells whoever sends through it; every method must be
/// quick (it runs on the sending tasks). The defaults ignore everything.
pub trait Watcher: Send + Sync {
    /// An attempt goes on the wire.
    fn sending(&self) {}
    /// An attempt came back (answered or not).
    fn answered(&self) {}
    /// COS asked to slow down.
    fn throttled(&self) {}
    /// A request will be tried again.
    fn retry(&self, _retry: &Retry<'_>) {}
    /// A request starts (`true`) or ends (`false`) waiting out a backoff.
    fn backing_off(&self, _waiting: bool) {}
    /// COS's failures paused sending, or a live answer resumed it.
    fn outage(&self, _change: Change) {}
}

/// A watcher that ignores everything.
pub struct Unwatched;

impl Watcher for Unwatched {}

/// A request about to be tried again.
pub struct Retry<'a> {
    pub subject: &'a Subject<'a>,
    /// The attempt that just failed (1 for the first).
    pub attempt: u32,
    pub class: Class,
    pub delay: Duration,
    pub outcome: &'a Attempt,
}

/// What the requests of one run share while they are sent.
pub struct Sender {
    settings: SendSettings,
    limits: Limits,
    pacing: Pacing,
    permits: Semaphore,
    cancel: CancellationToken,
    /// Seconds to add to our clock (learned from `RequestTimeTooSkewed`).
    clock_offset: AtomicI64,
    /// Why the rest of the run is skipped.
    abort: OnceLock<StopReason>,
    watcher: Arc<dyn Watcher>,
}

impl Sender {
    /// A sender over `pacing` (shared with the run's other phases), stopped
    /// by `cancel`, watched by `watcher`.
    pub fn new(
        settings: SendSettings,
        pacing: Pacing,
        cancel: CancellationToken,
        watcher: Arc<dyn Watcher>,
    ) -> Self {
        Sender {
            limits: Limits::new(settings.rate, settings.bucket_rate),
            permits: Semaphore::new(settings.concurrency.get()),
            clock_offset: AtomicI64::new(settings.clock_offset),
            settings,
            pacing,
            cancel,
            abort: OnceLock::new(),
            watcher,
        }
    }

    /// Seconds COS's clock is ahead of ours, as learned so far.
    pub fn clock_offset(&self) -> i64 {
        self.clock_offset.load(Ordering::Relaxed)
    }

    /// Why the run stopped sending, if it did.
    pub fn stopped(&self) -> Option<&StopReason> {
        self.abort.get()
    }

    /// Stops the rest of the run for `reason` (the first reason stays).
    pub fn stop(&self, reason: StopReason) {
        let _ = self.abort.set(reason);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// What pacing did so far (every phase that shared it).
    pub fn pacing_report(&self) -> PacingReport {
        self.pacing.report()
    }

    /// The pacer and outage gate of `bucket`'s account (COS throttles
    /// each account on its own).
    fn pace(&self, bucket: Option<&BucketName>) -> Arc<Parts> {
        let bucketless = self.settings.account.as_deref().unwrap_or("");
        let account = bucket.map_or(bucketless, BucketName::appid);
        self.pacing.parts(
            account,
            self.settings.concurrency.get(),
            self.settings.give_up_after,
        )
    }

    /// Tries `request` until it succeeds, fails for good, is skipped or is
    /// cancelled. A final refusal of the bucket skips the other requests
    /// of `scope` (one bucket's); `seed` makes the backoff jitter
    /// repeatable.
    pub async fn send<T: Transport>(
        &self,
        transport: &T,
        subject: Subject<'_>,
        request: &InventoryRequest,
        scope: &OnceLock<String>,
        seed: u64,
    ) -> Ended {
        run(self, transport, subject, request, scope, seed).await
    }
}

/// How a request ended.
#[derive(Debug)]
pub enum End {
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
pub struct Ended {
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

/// What names a request in `-vv` detail: its bucket (none for a call on
/// the account, such as GET Service) and id (or `(list)`).
pub struct Subject<'a> {
    pub bucket: Option<&'a BucketName>,
    pub id: &'a str,
    /// Where the run keeps this job's attempts and whether one is on the
    /// wire, for a row if the run is stopped mid-request.
    pub slot: Option<&'a AtomicU32>,
}

impl Subject<'_> {
    /// `bucket/id`, or the id alone for a call on the account.
    pub fn name(&self) -> String {
        match self.bucket {
            Some(bucket) => format!("{bucket}/{}", self.id),
            None => self.id.to_string(),
        }
    }
}

/// The bit of a slot that says a request is on the wire.
pub const ON_WIRE: u32 = 1 << 31;

pub fn unix_now(offset: i64) -> u64 {
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
async fn run<T: Transport>(
    shared: &Sender,
    transport: &T,
    subject: Subject<'_>,
    request: &InventoryRequest,
    bucket_skip: &OnceLock<String>,
    seed: u64,
) -> Ended {
    let started = Instant::now();
    let mut rng = fastrand::Rng::with_seed(shared.settings.seed ^ seed);
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
        // The turn may have taken long (a pace, a pause): what stopped the
        // run or the bucket meanwhile is checked again right before sending.
        if shared.abort.get().is_some() || bucket_skip.get().is_some() {
            // The pacer counted it as sent: an answer it waits for would
            // never come.
            shared.pace(subject.bucket).pacer.on_unsent(sent_at);
            continue;
        }
        tries.attempts += 1;
        if let Some(slot) = subject.slot {
            slot.store(tries.attempts | ON_WIRE, Ordering::Relaxed);
        }
        let outcome = send_once(shared, transport, request).await;
        if let Some(slot) = subject.slot {
            slot.store(tries.attempts, Ordering::Relaxed);
        }
        drop(permit);
        let class = retry::classify(&outcome);
        let pace = shared.pace(subject.bucket);
        learn_from(&pace, shared, class, &outcome, sent_at);
        tries.throttled += u32::from(class == Class::Throttled);
        let verdict = decide(shared, &subject, bucket_skip, tries, class, &outcome);
        last = Some(outcome);
        let Some(end) = verdict else {
            let outcome = last.as_ref().expect("just set");
            let delay = retry_delay(shared, &pace, tries, class, outcome, &mut rng);
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
fn decide(
    shared: &Sender,
    subject: &Subject<'_>,
    bucket_skip: &OnceLock<String>,
    tries: Tries,
    class: Class,
    outcome: &Attempt,
) -> Option<End> {
    if class == Class::Success {
        return Some(End::Succeeded);
    }
    // Not sent, and nothing for this bucket's account can be: skipped,
    // like the rest of the bucket.
    if class == Class::AccountUnavailable {
        let reason = format!("not sent: {}", super::describe(outcome));
        let _ = bucket_skip.set(reason.clone());
        return Some(End::Skipped(reason));
    }
    if !class.is_retryable() {
        remember_fatal(shared, subject, bucket_skip, class, outcome);
        return Some(End::Failed { why: None });
    }
    no_more_retries(shared, tries, class, outcome).map(|why| End::Failed { why: Some(why) })
}

/// How long to wait before the next attempt.
fn retry_delay(
    shared: &Sender,
    pace: &Parts,
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
    let mut policy = shared.settings.retry;
    if pace.gate.failures_are_isolated() {
        policy.max_delay = policy.max_delay.min(policy.isolated_max_delay);
    }
    let (policy, count) = if class == Class::Throttled {
        // The pacer slows the whole run for COS; this job only needs its
        // retry spread out, not held back for a server error's backoff.
        let throttled = RetryPolicy {
            base_delay: policy.throttled_base_delay,
            ..policy
        };
        (throttled, tries.throttled)
    } else {
        (policy, tries.failures())
    };
    retry::backoff_delay(&policy, count, rng.f64(), retry_after)
}

/// Waits for the bucket's rate, a global permit, the outage gate, the
/// global rate and the pacer, in that order. The gate comes after the
/// permit: a job admitted before a pause must not be sent once a permit
/// frees up during it (only the wave already on the wire may go out).
async fn wait_for_turn<'a>(shared: &'a Sender, bucket: Option<&BucketName>) -> Turn<'a> {
    let cancel = &shared.cancel;
    let pace = shared.pace(bucket);
    tokio::select! {
        biased;
        _ = cancel.cancelled() => return Turn::Cancelled,
        _ = async {
            if let Some(bucket) = bucket {
                shared.limits.bucket_ready(bucket).await;
            }
        } => {}
    }
    // Held at its account's ceiling, a request waits for its pace without
    // a permit: the run's permits are for requests on their way, and
    // another account's requests must not queue behind this account's
    // pace (COS throttles each account on its own). Not paced, the permit
    // comes first, as the pace's waves count requests that can go at once.
    let paced = pace.pacer.current_rate().is_some();
    let mut permit = None;
    if !paced {
        permit = match acquire_permit(shared).await {
            Some(permit) => Some(permit),
            None => return Turn::Cancelled,
        };
    }
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
    let permit = match permit {
        Some(permit) => permit,
        None => match acquire_permit(shared).await {
            Some(permit) => permit,
            None => {
                // The pacer counted it as sent: give the turn back.
                pace.pacer.on_unsent(sent_at);
                return Turn::Cancelled;
            }
        },
    };
    Turn::Go { permit, sent_at }
}

/// One of the run's permits; `None` when the run is cancelled first.
async fn acquire_permit(shared: &Sender) -> Option<tokio::sync::SemaphorePermit<'_>> {
    tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => None,
        permit = shared.permits.acquire() => permit.ok(),
    }
}

/// Sends one attempt, signed now. Not cancellable: a request on the wire
/// finishes (bounded by the request timeout and the drain timeout).
async fn send_once<T: Transport>(
    shared: &Sender,
    transport: &T,
    request: &InventoryRequest,
) -> Attempt {
    shared.watcher.sending();
    let now = unix_now(shared.clock_offset.load(Ordering::Relaxed));
    let outcome = transport.send(request, now).await;
    shared.watcher.answered();
    outcome
}

/// Feeds the pacer, the outage gate and the clock correction.
fn learn_from(
    pace: &Parts,
    shared: &Sender,
    class: Class,
    outcome: &Attempt,
    sent_at: std::time::Instant,
) {
    if let Some(change) = pace.gate.on_outcome(outage_kind(class, outcome)) {
        shared.watcher.outage(change);
    }
    match class {
        Class::Success => pace.pacer.on_success(sent_at),
        Class::Throttled => {
            shared.watcher.throttled();
            pace.pacer.on_throttle(sent_at);
        }
        Class::ClockSkew => {
            pace.pacer.on_error(sent_at);
            if let Some(server) = server_time(outcome) {
                let local = unix_now(0) as i64;
                shared
                    .clock_offset
                    .store(server as i64 - local, Ordering::Relaxed);
            }
        }
        // Nothing was sent: no credentials to sign with.
        Class::CredentialsUnavailable | Class::AccountUnavailable => pace.pacer.on_unsent(sent_at),
        // Every other end is an answer too (a 404, a 500, a reset): not a
        // throttle, so it never cuts the pace, but the pacer must hear of
        // it, or it waits for an answer that never comes.
        _ => pace.pacer.on_error(sent_at),
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
fn remember_fatal(
    shared: &Sender,
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
        let _ = bucket_skip.set(format!(
            "not sent: an earlier request to this bucket got {code} ({})",
            subject.name()
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
            | TransportErrorKind::AccountUnavailable
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

/// Why a retryable failure is final anyway, if it is.
fn no_more_retries(
    shared: &Sender,
    tries: Tries,
    class: Class,
    outcome: &Attempt,
) -> Option<String> {
    let (failures, attempts, started) = (tries.failures(), tries.attempts, tries.started);
    let policy = &shared.settings.retry;
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

fn notify_retry(
    shared: &Sender,
    subject: &Subject<'_>,
    attempt: u32,
    class: Class,
    delay: Duration,
    outcome: &Attempt,
) {
    shared.watcher.retry(&Retry {
        subject,
        attempt,
        class,
        delay,
        outcome,
    });
}

/// Sleeps out a backoff; false when cancelled meanwhile.
async fn backoff(shared: &Sender, delay: Duration) -> bool {
    shared.watcher.backing_off(true);
    let finished = tokio::select! {
        biased;
        _ = shared.cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    };
    shared.watcher.backing_off(false);
    finished
}
