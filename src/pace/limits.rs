//! How fast requests may start.
//!
//! [`Limits`] are the operator's hard caps (global and per bucket): GCRA
//! limiters from governor, global and keyed by bucket. The pace COS's
//! throttling allows is found separately, under these caps, by
//! [`super::ceiling`].

use std::num::NonZeroU32;
use std::time::Duration;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
