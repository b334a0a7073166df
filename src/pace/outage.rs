//! Outage protection: when failures pile up the run slows, when COS is down
//! it pauses behind a slow probe, and when it stays down past a deadline
//! the run ends; jobs wait meanwhile instead of failing.
//!
//! This replaces the shared retry budget, which failed jobs after one
//! attempt once it ran dry. Here nothing fails a job: [`OutageGuard`] only
//! says whether a request may start now ([`Admission`]). It owns the
//! decisions, not the waiting: every method takes the time from its caller,
//! nothing reads a clock or sleeps, so it is tested on a simulated clock.
//! [`crate::pace::OutageGate`] is the thin shared wrapper the executor's tasks use.
//! Throttling is not its business (that is [`super::ceiling`]): a
//! `SlowDown` is a live server asking for less, and counts as alive here.
//!
//! # Design
//!
//! - **Slowed.** Over a sliding window of two seconds, while failures
//!   outnumber live answers, dispatch is paced at twice the rate of live
//!   answers (at least [`OutageConfig::min_slowed_rate`]). This is the
//!   client-side adaptive throttling of Google's SRE book ("Handling
//!   Overload": allow `K × accepts`, K = 2) with waiting in place of
//!   local rejection. Failures at any share below a half never slow the
//!   run: retries cost little when most attempts succeed, and slowing
//!   would not make random failures rarer.
//! - **Paused.** [`OutageConfig::outage_streak`] failed answers in a row,
//!   with no live answer between them, look like an outage (every answer a
//!   5xx or a refused connection): dispatch stops except for one probe
//!   request, sent at once and then at a growing interval (1 s, ×1.5, at
//!   most 5 s). Any live answer, the probe's or a straggler's, resumes the
//!   run. Requests during an outage are the wave already on its way plus a
//!   probe every few seconds, not concurrency × attempts.
//! - **Given up.** Paused with no live answer for
//!   [`OutageConfig::give_up_after`] (5 minutes by default): the run must
//!   end, with [`GiveUp`] saying for how long and what failed.
//! - **History.** Each slowed or paused stretch becomes an [`Outage`]
//!   (start, end, what failed, how often) for the run's summary. Pauses
//!   shorter than [`OutageConfig::calm_after`] (random failures lining up
//!   for a moment) are only counted, so a summary is not a list of blips.

use std::fmt;
use std::time::{Duration, Instant};

/// Tuning of [`OutageGuard`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutageConfig {
    /// Paused this long without a live answer, the run ends. Five minutes
    /// rides out a restart or a network blip, and does not leave a nightly
    /// run spinning for an hour against an endpoint that is gone.
    pub give_up_after: Duration,
    /// Failed answers in a row that mean an outage. With failures at
    /// random, 12 in a row is rare below a share of a half (one in 300,000
    /// answers at 35%), while an outage fills it from the wave already in
    /// flight (64 requests at the default concurrency). See
    /// [`OutageConfig::for_concurrency`] for fewer workers.
    pub outage_streak: u32,
    /// The wait after the first probe (sent as soon as the run pauses).
    pub probe_interval: Duration,
    /// Each failed probe multiplies the wait by this.
    pub probe_growth: f64,
    /// ... up to this, which bounds how late the run notices a recovery.
    pub max_probe_interval: Duration,
    /// Failures and live answers are compared over this much recent time:
    /// long enough for dozens of answers at modest rates, short enough to
    /// let go within seconds once failures stop.
    pub window: Duration,
    /// While slowed, dispatch never drops below this pace, so a sick but
    /// alive service still sees the run move.
    pub min_slowed_rate: f64,
    /// An outage ends this long after its cause did; pauses shorter than
    /// this are counted, not recorded.
    pub calm_after: Duration,
}

impl Default for OutageConfig {
    fn default() -> Self {
        OutageConfig {
            give_up_after: Duration::from_secs(300),
            outage_streak: 12,
            probe_interval: Duration::from_secs(1),
            probe_growth: 1.5,
            max_probe_interval: Duration::from_secs(5),
            window: Duration::from_secs(2),
            min_slowed_rate: 2.0,
            calm_after: Duration::from_secs(1),
        }
    }
}

impl OutageConfig {
    /// The defaults, with an outage streak that a run of `concurrency`
    /// workers fills within about two waves: twice the concurrency, between
    /// 4 and 12. (With one worker, four failures in a row already pause it
    /// behind a probe; the first probe goes at once, so a false alarm costs
    /// one round trip.)
    pub fn for_concurrency(concurrency: usize) -> Self {
        let streak = (2 * concurrency).clamp(4, 12) as u32;
        OutageConfig {
            outage_streak: streak,
            ..OutageConfig::default()
        }
    }
}

/// What became of one request, as far as outages are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutcomeKind {
    /// 2xx.
    Success,
    /// 503 `SlowDown`, 429: alive, asking for less.
    Throttled,
    /// A 4xx (and 409, 403 clock skew...): alive, the request was wrong.
    ClientError,
    /// 500, 502, 504 and other 5xx.
    ServerError,
    /// 503 without `SlowDown` (`ServiceUnavailable`): what an outage looks
    /// like.
    ServiceUnavailable,
    /// The connection was refused or could not be made.
    ConnectFailed,
    /// No answer in time.
    Timeout,
    /// The connection broke mid-request (reset, truncated answer).
    Broken,
}

impl OutcomeKind {
    /// Whether this is a failure of the service (as opposed to an answer
    /// from a live one).
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            OutcomeKind::Success | OutcomeKind::Throttled | OutcomeKind::ClientError
        )
    }

    /// A short description for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Success => "success",
            OutcomeKind::Throttled => "throttled",
            OutcomeKind::ClientError => "client error",
            OutcomeKind::ServerError => "server error",
            OutcomeKind::ServiceUnavailable => "service unavailable",
            OutcomeKind::ConnectFailed => "connection refused",
            OutcomeKind::Timeout => "timed out",
            OutcomeKind::Broken => "connection broken",
        }
    }
}

impl fmt::Display for OutcomeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Failures by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FailureCounts {
    pub server_error: u64,
    pub service_unavailable: u64,
    pub connect_failed: u64,
    pub timeout: u64,
    pub broken: u64,
}

impl FailureCounts {
    fn count(&mut self, kind: OutcomeKind) {
        match kind {
            OutcomeKind::ServerError => self.server_error += 1,
            OutcomeKind::ServiceUnavailable => self.service_unavailable += 1,
            OutcomeKind::ConnectFailed => self.connect_failed += 1,
            OutcomeKind::Timeout => self.timeout += 1,
            OutcomeKind::Broken => self.broken += 1,
            OutcomeKind::Success | OutcomeKind::Throttled | OutcomeKind::ClientError => {}
        }
    }

    fn by_kind(&self) -> [(OutcomeKind, u64); 5] {
        [
            (OutcomeKind::ConnectFailed, self.connect_failed),
            (OutcomeKind::ServiceUnavailable, self.service_unavailable),
            (OutcomeKind::ServerError, self.server_error),
            (OutcomeKind::Timeout, self.timeout),
            (OutcomeKind::Broken, self.broken),
        ]
    }

    pub fn total(&self) -> u64 {
        self.by_kind().iter().map(|(_, n)| n).sum()
    }

    /// The most frequent kind: the reason to give in a summary.
    pub fn most_common(&self) -> Option<OutcomeKind> {
        self.by_kind()
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .max_by_key(|(_, n)| *n)
            .map(|(kind, _)| kind)
    }
}

impl fmt::Display for FailureCounts {
    /// `64 connection refused, 3 timed out`, most frequent first.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kinds: Vec<_> = self.by_kind().into_iter().filter(|(_, n)| *n > 0).collect();
        kinds.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        if kinds.is_empty() {
            return f.write_str("no failures");
        }
        for (i, (kind, n)) in kinds.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            write!(f, "{separator}{n} {kind}")?;
        }
        Ok(())
    }
}

/// Whether a request may start.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Send it.
    Go,
    /// Send it: it is the probe of a paused run. Its outcome decides
    /// whether the run resumes.
    Probe,
    /// Not before this; then ask again. The job waits, it does not fail.
    Wait(Instant),
    /// COS has been unreachable past the deadline: end the run.
    GiveUp(GiveUp),
}

/// Why the run must end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("COS unreachable for {}s ({failures} since the last answer)", .down_for.as_secs())]
pub struct GiveUp {
    /// Since the last live answer (or the start of the run).
    pub down_for: Duration,
    /// What failed since then.
    pub failures: FailureCounts,
}

/// The kind of an [`Outage`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageKind {
    /// Dispatch was paced because failures outnumbered live answers.
    Slowed,
    /// Dispatch stopped behind a probe: an outage.
    Paused,
}

/// A stretch of the run that was slowed or paused, for the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Outage {
    pub kind: OutageKind,
    /// Since the guard was created (the start of the run).
    pub start: Duration,
    /// `None` while it lasts.
    pub end: Option<Duration>,
    /// Failures answered during it (for a pause, counted from the first of
    /// the failures in a row that caused it).
    pub failures: FailureCounts,
    /// Live answers during it.
    pub live: u64,
    /// Probes sent (pauses only).
    pub probes: u32,
    /// Times a request was told to wait.
    pub held: u64,
}

impl Outage {
    fn new(kind: OutageKind, start: Duration, failures: FailureCounts) -> Self {
        Outage {
            kind,
            start,
            end: None,
            failures,
            live: 0,
            probes: 0,
            held: 0,
        }
    }

    /// The most frequent failure: the reason to give.
    pub fn reason(&self) -> Option<OutcomeKind> {
        self.failures.most_common()
    }
}

impl fmt::Display for Outage {
    /// `paused 12.3 s – 22.8 s: 64 connection refused, 7 probes`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            OutageKind::Slowed => "slowed",
            OutageKind::Paused => "paused",
        };
        let start = self.start.as_secs_f64();
        match self.end {
            Some(end) => write!(f, "{kind} {start:.1} s – {:.1} s: ", end.as_secs_f64())?,
            None => write!(f, "{kind} from {start:.1} s: ")?,
        }
        write!(f, "{}", self.failures)?;
        if self.probes > 0 {
            write!(f, ", {} probes", self.probes)?;
        }
        Ok(())
    }
}

/// What the guard is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Normal,
    Slowed,
    Paused,
    GaveUp,
}

#[derive(Debug, Clone)]
enum State {
    Running,
    Paused(Pause),
    GaveUp(GiveUp),
}

#[derive(Debug, Clone, Copy)]
struct Pause {
    /// When the run paused.
    since: Instant,
    next_probe: Instant,
    interval: Duration,
}

/// The pure outage guard; see the module documentation.
#[derive(Debug, Clone)]
pub struct OutageGuard {
    config: OutageConfig,
    started: Instant,
    window: Window,
    state: State,
    /// Failures in a row since the last live answer, and what they were.
    streak: u32,
    streak_failures: FailureCounts,
    last_live: Instant,
    /// While slowed: the next dispatch slot.
    next_slot: Instant,
    /// The last time a request was held because of failures.
    last_hold: Option<Instant>,
    outages: Vec<Outage>,
    /// The index of the outage under way.
    open: Option<usize>,
    brief_pauses: u32,
}

impl OutageGuard {
    pub fn new(config: OutageConfig, now: Instant) -> Self {
        OutageGuard {
            config,
            started: now,
            window: Window::new(now, config.window),
            state: State::Running,
            streak: 0,
            streak_failures: FailureCounts::default(),
            last_live: now,
            next_slot: now,
            last_hold: None,
            outages: Vec::new(),
            open: None,
            brief_pauses: 0,
        }
    }

    /// Whether a request may start now.
    pub fn admit(&mut self, now: Instant) -> Admission {
        match self.state.clone() {
            State::GaveUp(reason) => Admission::GiveUp(reason),
            State::Paused(pause) => self.admit_paused(now, pause),
            State::Running => self.admit_running(now),
        }
    }

    /// Records how a request ended. `Throttled`, `Success` and
    /// `ClientError` are live answers; the others are failures.
    pub fn on_outcome(&mut self, now: Instant, kind: OutcomeKind) {
        let failed = kind.is_failure();
        self.window.record(now, failed);
        if let Some(outage) = self.open_outage() {
            outage.failures.count(kind);
            outage.live += u64::from(!failed);
        }
        if !failed {
            self.streak = 0;
            self.streak_failures = FailureCounts::default();
            self.last_live = self.last_live.max(now);
            if matches!(self.state, State::Paused(_)) {
                self.resume(now);
            }
            return;
        }
        self.streak += 1;
        self.streak_failures.count(kind);
        if matches!(self.state, State::Running) && self.streak >= self.config.outage_streak {
            self.pause(now);
        }
    }

    pub fn health(&self, now: Instant) -> Health {
        match self.state {
            State::GaveUp(_) => Health::GaveUp,
            State::Paused(_) => Health::Paused,
            State::Running if self.slowed_rate(now).is_some() => Health::Slowed,
            State::Running => Health::Normal,
        }
    }

    /// Whether the failures of late are single requests failing among many
    /// live answers, not COS failing: running, with at least
    /// `ISOLATED_EVIDENCE` live answers over the window and at least
    /// twice as many live answers as failures. A retry of one such
    /// request has no outage to wait out.
    pub fn failures_are_isolated(&self, now: Instant) -> bool {
        let (live, failed) = self.window.totals(now);
        matches!(self.state, State::Running) && live >= ISOLATED_EVIDENCE && live >= 2 * failed
    }

    /// When the run paused, while it is paused.
    pub fn paused_since(&self) -> Option<Instant> {
        match &self.state {
            State::Paused(pause) => Some(pause.since),
            _ => None,
        }
    }

    /// The failures in a row since the last live answer.
    pub fn streak_failures(&self) -> FailureCounts {
        self.streak_failures
    }

    /// The slowed and paused stretches so far, oldest first.
    pub fn outages(&self) -> &[Outage] {
        &self.outages
    }

    /// Pauses that ended within [`OutageConfig::calm_after`]: counted, not
    /// recorded as outages.
    pub fn brief_pauses(&self) -> u32 {
        self.brief_pauses
    }

    fn admit_paused(&mut self, now: Instant, pause: Pause) -> Admission {
        let deadline = self.last_live + self.config.give_up_after;
        if now >= deadline {
            return self.give_up(now);
        }
        if now >= pause.next_probe {
            let interval = pause.interval.mul_f64(self.config.probe_growth);
            self.state = State::Paused(Pause {
                since: pause.since,
                next_probe: now + pause.interval,
                interval: interval.min(self.config.max_probe_interval),
            });
            if let Some(outage) = self.open_outage() {
                outage.probes += 1;
            }
            return Admission::Probe;
        }
        self.hold(now);
        Admission::Wait(pause.next_probe.min(deadline))
    }

    fn admit_running(&mut self, now: Instant) -> Admission {
        let Some(rate) = self.slowed_rate(now) else {
            self.close_slowed_if_calm(now);
            return Admission::Go;
        };
        if self.open.is_none() {
            self.open_outage_now(OutageKind::Slowed, now, FailureCounts::default());
        }
        if now >= self.next_slot {
            self.next_slot = self.next_slot.max(now) + Duration::from_secs_f64(1.0 / rate);
            return Admission::Go;
        }
        self.hold(now);
        Admission::Wait(self.next_slot)
    }

    /// The pace dispatch is held to, if failures outnumber live answers in
    /// the window (and there are enough of them to mean something): twice
    /// the rate of live answers, at least `min_slowed_rate`.
    fn slowed_rate(&self, now: Instant) -> Option<f64> {
        let (live, failed) = self.window.totals(now);
        if failed < 10 || failed <= live {
            return None;
        }
        let live_rate = live as f64 / self.window.covered(now).as_secs_f64();
        Some((2.0 * live_rate).max(self.config.min_slowed_rate))
    }

    fn pause(&mut self, now: Instant) {
        self.close_outage(now);
        self.state = State::Paused(Pause {
            since: now,
            // The first probe goes at once: if this was random failures
            // lining up, the run loses one round trip.
            next_probe: now,
            interval: self.config.probe_interval,
        });
        self.open_outage_now(OutageKind::Paused, now, self.streak_failures);
    }

    fn resume(&mut self, now: Instant) {
        self.state = State::Running;
        self.next_slot = now;
        // The outage's failures are explained; they must not slow the
        // restart. A server that falls over again pauses the run again.
        self.window = Window::new(now, self.config.window);
        let brief = self.open.map(|i| &self.outages[i]).is_some_and(|e| {
            e.kind == OutageKind::Paused && self.since_start(now) - e.start < self.config.calm_after
        });
        if brief {
            self.outages.pop();
            self.open = None;
            self.brief_pauses += 1;
        } else {
            self.close_outage(now);
        }
    }

    fn give_up(&mut self, now: Instant) -> Admission {
        let reason = GiveUp {
            down_for: now.saturating_duration_since(self.last_live),
            failures: self.streak_failures,
        };
        self.close_outage(now);
        self.state = State::GaveUp(reason.clone());
        Admission::GiveUp(reason)
    }

    fn hold(&mut self, now: Instant) {
        self.last_hold = Some(now);
        if let Some(outage) = self.open_outage() {
            outage.held += 1;
        }
    }

    fn close_slowed_if_calm(&mut self, now: Instant) {
        let calm = self
            .last_hold
            .is_none_or(|last| now.saturating_duration_since(last) >= self.config.calm_after);
        if calm {
            let end = self.last_hold.unwrap_or(now);
            self.close_outage(end);
        }
    }

    fn since_start(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.started)
    }

    fn open_outage(&mut self) -> Option<&mut Outage> {
        self.open.map(|i| &mut self.outages[i])
    }

    fn open_outage_now(&mut self, kind: OutageKind, now: Instant, failures: FailureCounts) {
        self.outages
            .push(Outage::new(kind, self.since_start(now), failures));
        self.open = Some(self.outages.len() - 1);
    }

    fn close_outage(&mut self, now: Instant) {
        let end = self.since_start(now);
        if let Some(outage) = self.open_outage() {
            outage.end = Some(end.max(outage.start));
        }
        self.open = None;
    }
}

/// Live answers over the window below which failures are never taken to
/// be isolated: a handful of answers says nothing about COS's health.
const ISOLATED_EVIDENCE: u64 = 10;

/// Live answers and failures over a sliding window, in eight buckets.
#[derive(Debug, Clone)]
struct Window {
    origin: Instant,
    bucket: Duration,
    /// The bucket `counts[current % 8]` counts into.
    current: u64,
    /// (live, failed)
    counts: [(u64, u64); 8],
}

impl Window {
    fn new(now: Instant, span: Duration) -> Self {
        Window {
            origin: now,
            bucket: (span / 8).max(Duration::from_millis(1)),
            current: 0,
            counts: [(0, 0); 8],
        }
    }

    fn index(&self, now: Instant) -> u64 {
        (now.saturating_duration_since(self.origin).as_nanos() / self.bucket.as_nanos()) as u64
    }

    fn record(&mut self, now: Instant, failed: bool) {
        let index = self.index(now).max(self.current);
        self.advance(index);
        let slot = &mut self.counts[(self.current % 8) as usize];
        if failed {
            slot.1 += 1;
        } else {
            slot.0 += 1;
        }
    }

    fn advance(&mut self, index: u64) {
        if index <= self.current {
            return;
        }
        for step in 1..=(index - self.current).min(8) {
            self.counts[((self.current + step) % 8) as usize] = (0, 0);
        }
        self.current = index;
    }

    /// (live, failed) over the window ending at `now`.
    fn totals(&self, now: Instant) -> (u64, u64) {
        let age = self.index(now).saturating_sub(self.current);
        if age >= 8 {
            return (0, 0);
        }
        // Buckets older than the window as of `now` no longer count.
        (0..8 - age)
            .map(|back| self.counts[((self.current + 8 - back) % 8) as usize])
            .fold((0, 0), |(l, f), (bl, bf)| (l + bl, f + bf))
    }

    /// The time the window covers at `now` (less at the start of a run).
    fn covered(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.origin)
            .min(self.bucket * 8)
            .max(self.bucket)
    }
}

#[cfg(test)]
mod tests;
