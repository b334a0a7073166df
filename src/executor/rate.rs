//! How fast requests may start.
//!
//! Two layers, composed by the executor:
//! - [`Limits`]: the operator's hard caps (global and per bucket),
//!   GCRA limiters from governor, global and keyed by bucket;
//! - [`AdaptiveRate`]: a pacer that learns the server's throttle. It is
//!   off until the first throttling answer; then the rate drops
//!   multiplicatively (at most once per reaction window, since the requests
//!   already in flight report the same congestion) and grows back a few
//!   percent per second of successes, until it is off again. A run against
//!   an unknown throttle converges instead of storming.
//!
//! The adaptive pacer is a plain state machine over [`Instant`]s given by
//! the caller, so it is tested without sleeping.

use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::model::BucketName;

/// A rate that is not a positive, finite number of requests per second.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a positive number of requests per second")]
pub struct InvalidRate {
    pub value: String,
}

/// A positive, finite number of requests per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate(f64);

impl Rate {
    pub fn new(per_second: f64) -> Result<Rate, InvalidRate> {
        // Below one request a century is not a rate governor can pace.
        if per_second.is_finite() && per_second >= 1e-9 {
            Ok(Rate(per_second))
        } else {
            Err(InvalidRate {
                value: per_second.to_string(),
            })
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// A GCRA quota of this rate. The burst is 20 ms worth of requests (at
    /// least one), so late timer wake-ups are absorbed instead of lowering
    /// the achieved rate.
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.0).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new((self.0 * 0.02).round().clamp(1.0, 10_000.0) as u32)
            .unwrap_or(NonZeroU32::MIN);
        Quota::with_period(period)
            .expect("a positive period")
            .allow_burst(burst)
    }
}

impl std::str::FromStr for Rate {
    type Err = InvalidRate;
    fn from_str(text: &str) -> Result<Rate, InvalidRate> {
        let value: f64 = text.trim().parse().map_err(|_| InvalidRate {
            value: text.to_string(),
        })?;
        Rate::new(value).map_err(|_| InvalidRate {
            value: text.to_string(),
        })
    }
}

impl std::fmt::Display for Rate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/s", self.0)
    }
}

/// The operator's caps; both optional.
#[derive(Debug)]
pub struct Limits {
    global: Option<DefaultDirectRateLimiter>,
    per_bucket: Option<DefaultKeyedRateLimiter<BucketName>>,
}

impl Limits {
    pub fn new(global: Option<Rate>, per_bucket: Option<Rate>) -> Self {
        Limits {
            global: global.map(|rate| RateLimiter::direct(rate.quota())),
            per_bucket: per_bucket.map(|rate| RateLimiter::keyed(rate.quota())),
        }
    }

    pub fn unlimited() -> Self {
        Limits {
            global: None,
            per_bucket: None,
        }
    }

    /// Waits until `bucket` may receive another request.
    pub async fn bucket_ready(&self, bucket: &BucketName) {
        if let Some(limiter) = &self.per_bucket {
            limiter.until_key_ready(bucket).await;
        }
    }

    /// Waits until the run may send another request.
    pub async fn global_ready(&self) {
        if let Some(limiter) = &self.global {
            limiter.until_ready().await;
        }
    }
}

/// Tuning of [`AdaptiveRate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdaptiveConfig {
    /// Multiplier on a throttle.
    pub decrease: f64,
    /// Growth per second of successes, as a fraction of the rate.
    pub increase_per_sec: f64,
    /// The rate never drops below this (requests per second).
    pub floor: f64,
    /// Nor below this fraction of the rate being sent when the first
    /// throttle of an episode came. Throttling that does not ease as we
    /// slow (a fraction of answers throttled whatever the rate) would
    /// otherwise push a big run down to `floor` for hours; the operator's rate cap is the
    /// way to go lower.
    pub floor_fraction: f64,
    /// Throttles within this window of a decrease are the same event.
    pub reaction_window: Duration,
}

impl Default for AdaptiveConfig {
    fn default() -> Self {
        AdaptiveConfig {
            decrease: 0.7,
            increase_per_sec: 0.08,
            floor: 1.0,
            floor_fraction: 0.1,
            reaction_window: Duration::from_millis(250),
        }
    }
}

#[derive(Debug)]
struct AdaptiveState {
    /// `None` until throttled, and again once recovered.
    rate: Option<f64>,
    next_slot: Instant,
    last_change: Instant,
    /// Starts counted since `window_start`, to know the rate we were
    /// actually sending at when the first throttle came.
    window_start: Instant,
    window_sends: u64,
    measured: f64,
    /// The lowest rate of this throttling episode.
    floor: f64,
}

/// The self-tuning pacer.
#[derive(Debug)]
pub struct AdaptiveRate {
    config: AdaptiveConfig,
    /// Recovered means unthrottled once the rate is back above this;
    /// without a cap, twice the rate first throttled at.
    ceiling: parking_lot::Mutex<f64>,
    state: parking_lot::Mutex<AdaptiveState>,
}

const MEASURE_WINDOW: Duration = Duration::from_secs(1);

impl AdaptiveRate {
    pub fn new(config: AdaptiveConfig, now: Instant) -> Self {
        AdaptiveRate {
            config,
            ceiling: parking_lot::Mutex::new(f64::INFINITY),
            state: parking_lot::Mutex::new(AdaptiveState {
                rate: None,
                next_slot: now,
                last_change: now,
                window_start: now,
                window_sends: 0,
                measured: 0.0,
                floor: config.floor,
            }),
        }
    }

    fn lock(&self) -> parking_lot::MutexGuard<'_, AdaptiveState> {
        self.state.lock()
    }

    /// The current paced rate; `None` when not pacing.
    pub fn current(&self) -> Option<f64> {
        self.lock().rate
    }

    /// Reserves the next start time at or after `now`.
    pub fn reserve(&self, now: Instant) -> Instant {
        let mut state = self.lock();
        let elapsed = now.saturating_duration_since(state.window_start);
        if elapsed >= MEASURE_WINDOW {
            state.measured = state.window_sends as f64 / elapsed.as_secs_f64();
            state.window_start = now;
            state.window_sends = 0;
        }
        state.window_sends += 1;
        let Some(rate) = state.rate else {
            return now;
        };
        // Allow a few milliseconds of catch-up so late wake-ups do not
        // accumulate into a lower rate.
        let slot = state
            .next_slot
            .max(now.checked_sub(Duration::from_millis(5)).unwrap_or(now));
        state.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
        slot.max(now)
    }

    /// Waits for the next start time.
    pub async fn acquire(&self) {
        // tokio's clock, so that a paused test clock governs the pacing.
        let slot = self.reserve(tokio::time::Instant::now().into_std());
        tokio::time::sleep_until(slot.into()).await;
    }

    /// A throttling answer arrived.
    pub fn on_throttle(&self, now: Instant) {
        let mut state = self.lock();
        let current = match state.rate {
            Some(rate) => {
                if now.saturating_duration_since(state.last_change) < self.config.reaction_window {
                    return;
                }
                rate
            }
            None => {
                let sent = state.window_sends as f64;
                let elapsed = now
                    .saturating_duration_since(state.window_start)
                    .as_secs_f64();
                // Early in a run the window is short: count it as at
                // least 50 ms rather than guess a rate from nothing.
                let recent = sent / elapsed.max(0.05);
                let observed = state.measured.max(recent).max(self.config.floor);
                let mut ceiling = self.ceiling.lock();
                *ceiling = ceiling.min(observed * 2.0);
                state.floor = (observed * self.config.floor_fraction).max(self.config.floor);
                observed
            }
        };
        state.rate = Some((current * self.config.decrease).max(state.floor));
        state.last_change = now;
        state.next_slot = state.next_slot.max(now);
    }

    /// A request succeeded.
    pub fn on_success(&self, now: Instant) {
        let mut state = self.lock();
        let Some(rate) = state.rate else {
            return;
        };
        let elapsed = now
            .saturating_duration_since(state.last_change)
            .as_secs_f64();
        if elapsed < 0.05 {
            return;
        }
        let grown = rate * (1.0 + self.config.increase_per_sec * elapsed) + 0.5 * elapsed;
        let ceiling = *self.ceiling.lock();
        state.rate = if grown >= ceiling { None } else { Some(grown) };
        state.last_change = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn rates_must_be_positive_and_finite() {
        assert_eq!(Rate::new(10.0).unwrap().get(), 10.0);
        assert_eq!("0.5".parse::<Rate>().unwrap().get(), 0.5);
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(Rate::new(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "NaN", "inf", "fast", ""] {
            let err = bad.parse::<Rate>().unwrap_err();
            assert!(err.to_string().contains("requests per second"), "{err}");
        }
        // Tiny rates are allowed and pace instead of panicking.
        let _ = Limits::new(Rate::new(1e-6).ok(), Rate::new(1e9).ok());
    }

    #[test]
    fn unthrottled_pacer_never_delays() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        for i in 0..1000 {
            assert_eq!(pacer.reserve(t0 + ms(i)), t0 + ms(i));
        }
        assert_eq!(pacer.current(), None);
    }

    #[test]
    fn first_throttle_paces_below_the_observed_rate() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        // 200 requests in the first second: observed 200/s.
        for i in 0..200 {
            pacer.reserve(t0 + ms(i * 5));
        }
        pacer.reserve(t0 + ms(1000));
        pacer.on_throttle(t0 + ms(1001));
        let rate = pacer.current().unwrap();
        assert!((rate - 140.0).abs() < 1.0, "{rate}");
        // Slots are now spaced by 1/rate (the first may start at once).
        pacer.reserve(t0 + ms(1002));
        let a = pacer.reserve(t0 + ms(1002));
        let b = pacer.reserve(t0 + ms(1002));
        let gap = b.duration_since(a).as_secs_f64();
        assert!((gap - 1.0 / rate).abs() < 1e-6, "{gap}");
    }

    #[test]
    fn throttles_in_one_reaction_window_count_once() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        for i in 0..100 {
            pacer.reserve(t0 + ms(i * 10));
        }
        pacer.on_throttle(t0 + ms(1000));
        let after_first = pacer.current().unwrap();
        for i in 1..50 {
            pacer.on_throttle(t0 + ms(1000 + i));
        }
        assert_eq!(pacer.current(), Some(after_first));
        pacer.on_throttle(t0 + ms(1300));
        let after_second = pacer.current().unwrap();
        assert!((after_second - after_first * 0.7).abs() < 1e-9);
    }

    #[test]
    fn repeated_throttles_stop_at_the_floor() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        for i in 0..100 {
            pacer.on_throttle(t0 + ms(i * 300));
        }
        assert_eq!(pacer.current(), Some(1.0));
    }

    #[test]
    fn the_floor_is_a_tenth_of_the_rate_first_throttled_at() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        // 200 requests in the first second: observed 200/s.
        for i in 0..200 {
            pacer.reserve(t0 + ms(i * 5));
        }
        pacer.reserve(t0 + ms(1000));
        for i in 0..100 {
            pacer.on_throttle(t0 + ms(1001 + i * 300));
        }
        let rate = pacer.current().unwrap();
        assert!((rate - 20.0).abs() < 0.5, "{rate}");
    }

    #[test]
    fn successes_recover_gradually_then_stop_pacing() {
        let t0 = Instant::now();
        let pacer = AdaptiveRate::new(AdaptiveConfig::default(), t0);
        for i in 0..100 {
            pacer.reserve(t0 + ms(i * 10));
        }
        pacer.on_throttle(t0 + ms(1000));
        let start = pacer.current().unwrap();
        pacer.on_success(t0 + ms(2000));
        let one_second_later = pacer.current().unwrap();
        assert!(
            one_second_later > start && one_second_later < start * 1.2,
            "{start} → {one_second_later}"
        );
        let mut t = 2000;
        while pacer.current().is_some() && t < 120_000 {
            t += 100;
            pacer.on_success(t0 + ms(t));
        }
        assert_eq!(pacer.current(), None, "still pacing after {t} ms");
        assert!(t > 5_000, "recovered too fast: {t} ms");
    }
}
