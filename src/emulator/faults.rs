//! Injected latency, errors and rate ceilings, drawn from one seeded
//! generator so that a run of sequential requests sees the same faults
//! every time.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

// tokio's clock, not std's: under a paused test clock
// (`#[tokio::test(start_paused = true)]`, or `tokio::time::pause`) the
// rate ceilings, schedules and outage windows follow the test's time, so
// a ten-second outage takes no ten seconds of the suite. Outside tests it
// is the monotonic clock.
use tokio::time::Instant;

use super::{Faults, Outage, OutageMode};

/// A fraction of requests, from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Default)]
pub struct Fraction(f64);

/// A value that is not a number from 0 to 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not a fraction from 0 to 1")]
pub struct InvalidFraction {
    pub text: String,
}

impl Fraction {
    pub fn get(self) -> f64 {
        self.0
    }
}

/// A rate schedule or outage window that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {expected}")]
pub struct InvalidSchedule {
    pub text: String,
    pub expected: &'static str,
}

/// Parses `SECS:RATE,SECS:RATE,…` (offsets in seconds, increasing; rates
/// positive), e.g. `0:40,10:200,20:40`.
pub fn parse_rate_schedule(text: &str) -> Result<Vec<(Duration, f64)>, InvalidSchedule> {
    let bad = || InvalidSchedule {
        text: text.to_string(),
        expected: "SECS:RATE[,SECS:RATE…] with increasing seconds and positive rates",
    };
    let mut schedule: Vec<(Duration, f64)> = Vec::new();
    for step in text.split(',') {
        let (at, rate) = step.split_once(':').ok_or_else(bad)?;
        let at: f64 = at.trim().parse().map_err(|_| bad())?;
        let rate: f64 = rate.trim().parse().map_err(|_| bad())?;
        let at = Duration::try_from_secs_f64(at).map_err(|_| bad())?;
        let increasing = schedule.last().is_none_or(|(last, _)| at > *last);
        if !(rate.is_finite() && rate > 0.0 && increasing) {
            return Err(bad());
        }
        schedule.push((at, rate));
    }
    Ok(schedule)
}

/// Parses `START..END` (seconds after the emulator starts), e.g. `10..20`.
pub fn parse_outage(text: &str, mode: OutageMode) -> Result<Outage, InvalidSchedule> {
    let bad = || InvalidSchedule {
        text: text.to_string(),
        expected: "START..END in seconds, START before END",
    };
    let (start, end) = text.split_once("..").ok_or_else(bad)?;
    let seconds = |value: &str| {
        value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .ok_or_else(bad)
    };
    let (start, end) = (seconds(start)?, seconds(end)?);
    if start >= end {
        return Err(bad());
    }
    Ok(Outage { start, end, mode })
}

impl std::str::FromStr for Fraction {
    type Err = InvalidFraction;
    fn from_str(text: &str) -> Result<Fraction, InvalidFraction> {
        match text.trim().parse::<f64>() {
            Ok(value) if (0.0..=1.0).contains(&value) => Ok(Fraction(value)),
            _ => Err(InvalidFraction {
                text: text.to_string(),
            }),
        }
    }
}

/// What to do to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Injected {
    /// Serve it normally.
    Nothing,
    /// Never answer.
    Hang,
    /// Drop the connection without answering.
    Reset,
    /// Answer with this COS error.
    Error {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
}

pub(crate) const SLOW_DOWN: Injected = Injected::Error {
    status: 503,
    code: crate::cos::error::SLOW_DOWN,
    message: "Please reduce your request rate.",
};

pub(crate) struct FaultState {
    state: Mutex<State>,
    /// How much longer than asked a sleep takes, nanoseconds.
    overshoot_ns: AtomicU64,
}

/// An overshoot above this is a busy machine, not the timer's rounding.
const MAX_OVERSHOOT_NS: u64 = 3_000_000;

struct State {
    faults: Faults,
    /// When the faults were set: the origin of the schedule and outage.
    started: Instant,
    rng: fastrand::Rng,
    global: Option<TokenBucket>,
    per_bucket: HashMap<String, TokenBucket>,
    /// By APPID.
    per_account: HashMap<String, TokenBucket>,
    /// Requests drawn for so far.
    requests: u64,
}

/// A rate ceiling holding `burst` seconds' worth of tokens (one second
/// unless set: COS's documents give no figure, so the burst is a guess;
/// servers differ, and the pace must cope with short ones too).
struct TokenBucket {
    tokens: f64,
    last: Instant,
    burst: f64,
}

impl TokenBucket {
    fn full(rate: f64, burst: Option<Duration>, now: Instant) -> Self {
        let burst = burst.map_or(1.0, |burst| burst.as_secs_f64());
        TokenBucket {
            tokens: (rate * burst).max(1.0),
            last: now,
            burst,
        }
    }

    fn try_take(&mut self, rate: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        let capacity = (rate * self.burst).max(1.0);
        self.tokens = (self.tokens + elapsed * rate).min(capacity);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// The global ceiling `elapsed` after the faults were set.
fn ceiling_at(faults: &Faults, elapsed: Duration) -> Option<f64> {
    faults
        .rate_limit_schedule
        .iter()
        .rev()
        .find(|(at, _)| *at <= elapsed)
        .map(|(_, rate)| *rate)
        .or(faults.rate_limit)
}

pub(crate) const INTERNAL_ERROR: Injected = Injected::Error {
    status: 500,
    code: crate::cos::error::INTERNAL_ERROR,
    message: "We encountered an internal error. Please try again.",
};

pub(crate) const SERVICE_UNAVAILABLE: Injected = Injected::Error {
    status: 503,
    code: crate::cos::error::SERVICE_UNAVAILABLE,
    message: "Service Unavailable.",
};

impl FaultState {
    pub(crate) fn new(faults: Faults) -> Self {
        FaultState {
            state: Mutex::new(State::new(faults)),
            overshoot_ns: AtomicU64::new(0),
        }
    }

    pub(crate) fn set(&self, faults: Faults) {
        *self.lock() = State::new(faults);
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, State> {
        self.state.lock()
    }

    /// The latency to add to the next request.
    pub(crate) fn latency(&self) -> Duration {
        let mut state = self.lock();
        let jitter = state.faults.latency_jitter;
        let extra = if jitter.is_zero() {
            Duration::ZERO
        } else {
            jitter.mul_f64(state.rng.f64())
        };
        state.faults.latency + extra
    }

    /// While connections are refused: how long that goes on.
    pub(crate) fn refusing(&self) -> Option<Duration> {
        let state = self.lock();
        let elapsed = state.started.elapsed();
        state
            .faults
            .outage
            .filter(|outage| outage.mode == OutageMode::Refuse)
            .filter(|outage| (outage.start..outage.end).contains(&elapsed))
            .map(|outage| outage.end - elapsed)
    }

    /// Sleeps `latency` on average. tokio's timer rounds a deadline up to
    /// its next millisecond tick and wakes a little after it, so a 20 ms
    /// sleep took about 21.6 ms: the overshoot is learned (a moving
    /// average over the sleeps) and asked for that much less, so that an
    /// injected latency is the one configured, as a benchmark's "ideal"
    /// assumes.
    pub(crate) async fn delay(&self, latency: Duration) {
        let overshoot = Duration::from_nanos(self.overshoot_ns.load(Ordering::Relaxed));
        let asked = latency.saturating_sub(overshoot);
        let started = tokio::time::Instant::now();
        tokio::time::sleep(asked).await;
        let over = started.elapsed().saturating_sub(asked).as_nanos();
        let over = u64::try_from(over)
            .unwrap_or(u64::MAX)
            .min(MAX_OVERSHOOT_NS);
        let learned = (overshoot.as_nanos() as u64 * 15 + over) / 16;
        self.overshoot_ns.store(learned, Ordering::Relaxed);
    }

    /// Decides the fate of a request to `bucket`.
    pub(crate) fn draw(&self, bucket: Option<&str>) -> Injected {
        let mut state = self.lock();
        let faults = state.faults.clone();
        let elapsed = state.started.elapsed();
        if let Some(outage) = faults.outage
            && (outage.start..outage.end).contains(&elapsed)
        {
            return match outage.mode {
                OutageMode::Unavailable => SERVICE_UNAVAILABLE,
                OutageMode::Refuse => Injected::Reset,
            };
        }
        state.requests += 1;
        if let Some(injected) = periodic(&faults, state.requests) {
            return injected;
        }
        let draw = state.rng.f64();
        let mut threshold = 0.0;
        let outcomes = [
            (faults.hang, Injected::Hang),
            (faults.reset, Injected::Reset),
            (faults.slow_down, SLOW_DOWN),
            (faults.internal_error, INTERNAL_ERROR),
            (
                faults.too_many_requests,
                Injected::Error {
                    status: 429,
                    code: crate::cos::error::TOO_MANY_REQUESTS,
                    message: "Too many requests; slow down.",
                },
            ),
        ];
        for (fraction, injected) in outcomes {
            threshold += fraction.clamp(0.0, 1.0);
            if draw < threshold {
                return injected;
            }
        }
        state.ceilings(&faults, bucket, elapsed)
    }

    /// `Retry-After` seconds for throttling answers, if configured.
    pub(crate) fn retry_after(&self) -> Option<u64> {
        self.lock().faults.retry_after
    }
}

impl State {
    fn new(faults: Faults) -> Self {
        State {
            rng: fastrand::Rng::with_seed(faults.seed),
            started: Instant::now(),
            faults,
            global: None,
            per_bucket: HashMap::new(),
            per_account: HashMap::new(),
            requests: 0,
        }
    }

    /// The rate ceilings, global then per bucket: a token taken, or
    /// `SlowDown`.
    fn ceilings(&mut self, faults: &Faults, bucket: Option<&str>, elapsed: Duration) -> Injected {
        let now = Instant::now();
        let burst = faults.rate_limit_burst;
        if let Some(rate) = ceiling_at(faults, elapsed) {
            let global = self
                .global
                .get_or_insert_with(|| TokenBucket::full(rate, burst, now));
            if !global.try_take(rate, now) {
                return SLOW_DOWN;
            }
        }
        if let (Some(rate), Some(bucket)) = (faults.bucket_rate_limit, bucket) {
            let limiter = self
                .per_bucket
                .entry(bucket.to_string())
                .or_insert_with(|| TokenBucket::full(rate, burst, now));
            if !limiter.try_take(rate, now) {
                return SLOW_DOWN;
            }
        }
        // COS throttles each account on its own: the bucket's APPID.
        let account = bucket.and_then(super::org::bucket_appid);
        if let Some((appid, &rate)) =
            account.and_then(|appid| Some((appid, faults.account_rate_limit.get(appid)?)))
        {
            let limiter = self
                .per_account
                .entry(appid.to_string())
                .or_insert_with(|| TokenBucket::full(rate, burst, now));
            if !limiter.try_take(rate, now) {
                return SLOW_DOWN;
            }
        }
        Injected::Nothing
    }
}

/// A fault every k-th request (the `request`-th, from 1), whatever the
/// pace: `SlowDown` first when both fall on one request.
fn periodic(faults: &Faults, request: u64) -> Option<Injected> {
    let falls =
        |every: Option<u32>| every.is_some_and(|k| k > 0 && request.is_multiple_of(u64::from(k)));
    if falls(faults.slow_down_every) {
        return Some(SLOW_DOWN);
    }
    falls(faults.internal_error_every).then_some(INTERNAL_ERROR)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(faults: &Faults, n: usize) -> Vec<Injected> {
        let state = FaultState::new(faults.clone());
        (0..n).map(|_| state.draw(Some("b"))).collect()
    }

    #[test]
    fn the_same_seed_gives_the_same_faults() {
        let faults = Faults {
            slow_down: 0.2,
            internal_error: 0.1,
            reset: 0.1,
            seed: 42,
            ..Faults::default()
        };
        let first = sequence(&faults, 500);
        assert_eq!(first, sequence(&faults, 500));
        let other = Faults { seed: 43, ..faults };
        assert_ne!(first, sequence(&other, 500));
        let slow = first.iter().filter(|f| **f == SLOW_DOWN).count();
        assert!((60..140).contains(&slow), "{slow} of 500 at 20%");
    }

    #[test]
    fn no_faults_means_nothing_injected() {
        assert!(
            sequence(&Faults::default(), 100)
                .iter()
                .all(|f| *f == Injected::Nothing)
        );
    }

    #[test]
    fn schedules_and_outages_parse_and_apply_by_time() {
        let schedule = parse_rate_schedule("0:40, 10:200,20.5:5").unwrap();
        assert_eq!(schedule[2], (Duration::from_millis(20_500), 5.0));
        for bad in ["", "10", "a:1", "10:1,5:2", "0:0", "0:-1"] {
            assert!(parse_rate_schedule(bad).is_err(), "{bad}");
        }
        let faults = Faults {
            rate_limit: Some(7.0),
            rate_limit_schedule: vec![(Duration::from_secs(5), 40.0)],
            ..Faults::default()
        };
        assert_eq!(ceiling_at(&faults, Duration::from_secs(1)), Some(7.0));
        assert_eq!(ceiling_at(&faults, Duration::from_secs(6)), Some(40.0));
        let outage = parse_outage("0..3600", OutageMode::Unavailable).unwrap();
        let state = FaultState::new(Faults {
            outage: Some(outage),
            ..Faults::default()
        });
        assert_eq!(state.draw(Some("b")), SERVICE_UNAVAILABLE);
        assert_eq!(state.refusing(), None);
        for bad in ["10", "5..5", "9..3", "a..b"] {
            assert!(parse_outage(bad, OutageMode::Refuse).is_err(), "{bad}");
        }
    }

    /// The windows and the ceiling read tokio's clock: a test on a paused
    /// one moves them by advancing it.
    #[tokio::test(start_paused = true)]
    async fn windows_and_ceilings_follow_the_runtime_clock() {
        let state = FaultState::new(Faults {
            rate_limit: Some(2.0),
            outage: Some(Outage {
                start: Duration::from_secs(10),
                end: Duration::from_secs(20),
                mode: OutageMode::Refuse,
            }),
            ..Faults::default()
        });
        assert_eq!(state.draw(None), Injected::Nothing);
        assert_eq!(state.draw(None), Injected::Nothing);
        assert_eq!(state.draw(None), SLOW_DOWN);
        assert_eq!(state.refusing(), None);
        tokio::time::advance(Duration::from_secs(15)).await;
        assert_eq!(state.refusing(), Some(Duration::from_secs(5)));
        assert_eq!(state.draw(None), Injected::Reset);
        tokio::time::advance(Duration::from_secs(5)).await;
        assert_eq!(state.refusing(), None);
        assert_eq!(state.draw(None), Injected::Nothing, "refilled meanwhile");
    }

    #[test]
    fn a_rate_ceiling_answers_slow_down_beyond_its_burst() {
        let faults = Faults {
            bucket_rate_limit: Some(10.0),
            ..Faults::default()
        };
        let state = FaultState::new(faults);
        let outcomes: Vec<Injected> = (0..20).map(|_| state.draw(Some("b"))).collect();
        assert!(outcomes[..10].iter().all(|f| *f == Injected::Nothing));
        assert!(
            outcomes[10..].iter().all(|f| *f == SLOW_DOWN),
            "{outcomes:?}"
        );
        // Another bucket has its own ceiling.
        assert_eq!(state.draw(Some("c")), Injected::Nothing);
    }

    #[test]
    fn periodic_faults_fall_on_every_kth_request_whatever_the_pace() {
        let faults = Faults {
            slow_down_every: Some(3),
            internal_error_every: Some(5),
            ..Faults::default()
        };
        let drawn = sequence(&faults, 15);
        let at = |pick: fn(&Injected) -> bool| -> Vec<usize> {
            (1..=15).filter(|&n| pick(&drawn[n - 1])).collect()
        };
        let slow = at(|i| matches!(i, Injected::Error { status: 503, .. }));
        let broken = at(|i| matches!(i, Injected::Error { status: 500, .. }));
        assert_eq!(slow, [3, 6, 9, 12, 15]);
        // The 15th falls on both: SlowDown wins.
        assert_eq!(broken, [5, 10]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_ceiling_s_burst_is_as_long_as_asked() {
        let faults = Faults {
            rate_limit: Some(100.0),
            rate_limit_burst: Some(Duration::from_millis(200)),
            ..Faults::default()
        };
        let state = FaultState::new(faults);
        let let_through = (0..100)
            .filter(|_| matches!(state.draw(None), Injected::Nothing))
            .count();
        // 0.2 s of 100/s at once, not a second's 100.
        assert_eq!(let_through, 20);
        tokio::time::advance(Duration::from_millis(100)).await;
        let refilled = (0..100)
            .filter(|_| matches!(state.draw(None), Injected::Nothing))
            .count();
        assert_eq!(refilled, 10);
    }
}
