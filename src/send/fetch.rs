//! One account-level request, tried until it ends: sent through the
//! executor's [`Transport`], each outcome sorted by its one classifier,
//! retryable ones retried after its backoff, a skewed clock corrected from
//! COS's `Date`. These reads are few (a page per 2,000 buckets, a policy per
//! destination), so they go one after another, without the executor's
//! lanes and rate limits.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cos::request::InventoryRequest;
use crate::send::client::Response;
use crate::send::retry::{self, Class, RetryPolicy};
use crate::send::{Attempt, Transport};

/// How account-level reads are sent.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    pub retry: RetryPolicy,
    /// Seconds added to this host's clock when signing (learnt from COS).
    pub clock_offset: i64,
    /// Seeds the backoff jitter.
    pub seed: u64,
    /// Reads in flight at once (destination policies).
    pub concurrency: usize,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            retry: RetryPolicy::default(),
            clock_offset: 0,
            seed: 0,
            concurrency: 8,
        }
    }
}

/// How a request ended: its last outcome and how it was sorted.
#[derive(Debug)]
pub struct Fetched {
    pub last: Attempt,
    pub class: Class,
    pub attempts: u32,
}

impl Fetched {
    /// The answer, when it was a success.
    pub fn success(&self) -> Option<&Response> {
        match (&self.last, self.class) {
            (Ok(response), Class::Success) => Some(response),
            _ => None,
        }
    }

    /// What went wrong, in one line.
    pub fn describe(&self) -> String {
        let tries = match self.attempts {
            1 => String::new(),
            n => format!(" (after {n} attempts)"),
        };
        match &self.last {
            Ok(response) => format!("{}{tries}", response.describe()),
            Err(err) => format!("{err}{tries}"),
        }
    }
}

fn unix_now(offset: i64) -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    now.saturating_add_signed(offset)
}

/// Sends `request` until it succeeds, fails for good or runs out of
/// attempts. `settings.clock_offset` is updated when COS says the clock is
/// off, so later requests sign right the first time.
pub async fn fetch<T: Transport>(
    transport: &T,
    request: &InventoryRequest,
    settings: &mut FetchSettings,
) -> Fetched {
    let mut rng = fastrand::Rng::with_seed(settings.seed);
    let mut attempts = 0;
    loop {
        attempts += 1;
        let last = transport
            .send(request, unix_now(settings.clock_offset))
            .await;
        let class = retry::classify(&last);
        let more = attempts < settings.retry.max_attempts.get() && class.is_retryable();
        if !more {
            return Fetched {
                last,
                class,
                attempts,
            };
        }
        let delay = match (&last, class) {
            (Ok(response), Class::ClockSkew) => {
                if let Some(server) = response.server_time {
                    settings.clock_offset = server as i64 - unix_now(0) as i64;
                }
                Duration::ZERO
            }
            (outcome, _) => {
                let retry_after = outcome
                    .as_ref()
                    .ok()
                    .and_then(|response| response.retry_after);
                retry::backoff_delay(&settings.retry, attempts, rng.f64(), retry_after)
            }
        };
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::client::{TransportError, TransportErrorKind};
    use parking_lot::Mutex;

    /// Answers from a script, then 200s; records the signing times.
    struct Script {
        answers: Mutex<Vec<Attempt>>,
        signed_at: Mutex<Vec<u64>>,
    }

    impl Transport for Script {
        fn send(
            &self,
            _: &InventoryRequest,
            now: u64,
        ) -> impl std::future::Future<Output = Attempt> + Send {
            self.signed_at.lock().push(now);
            let mut answers = self.answers.lock();
            let answer = if answers.is_empty() {
                Ok(response(200, None))
            } else {
                answers.remove(0)
            };
            async move { answer }
        }
    }

    fn response(status: u16, code: Option<&str>) -> Response {
        Response::canned(status, code)
    }

    fn script(answers: Vec<Attempt>) -> Script {
        Script {
            answers: Mutex::new(answers),
            signed_at: Mutex::new(Vec::new()),
        }
    }

    fn request() -> InventoryRequest {
        InventoryRequest::list_buckets(crate::cos::request::service_host(None), None, 2000)
    }

    #[tokio::test(start_paused = true)]
    async fn throttling_and_broken_connections_are_retried_then_it_succeeds() {
        let broken = Err(TransportError {
            kind: TransportErrorKind::Connection,
            message: "reset".into(),
        });
        let transport = script(vec![Ok(response(503, Some("SlowDown"))), broken]);
        let mut settings = FetchSettings::default();
        let fetched = fetch(&transport, &request(), &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (3, Class::Success));
        assert!(fetched.success().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_answer_is_not_retried_and_attempts_are_capped() {
        let transport = script(vec![Ok(response(403, Some("AccessDenied")))]);
        let mut settings = FetchSettings::default();
        let fetched = fetch(&transport, &request(), &mut settings).await;
        assert_eq!(fetched.attempts, 1);
        assert!(fetched.success().is_none());
        assert!(
            fetched.describe().contains("AccessDenied"),
            "{}",
            fetched.describe()
        );
        let transport = script((0..10).map(|_| Ok(response(500, None))).collect());
        settings.retry.max_attempts = std::num::NonZeroU32::new(3).unwrap();
        let fetched = fetch(&transport, &request(), &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (3, Class::ServerError));
        assert!(fetched.describe().ends_with("(after 3 attempts)"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_skewed_clock_is_corrected_from_the_servers_date() {
        let mut skewed = response(403, Some("RequestTimeTooSkewed"));
        skewed.server_time = Some(unix_now(0) + 3600);
        let transport = script(vec![Ok(skewed)]);
        let mut settings = FetchSettings::default();
        let fetched = fetch(&transport, &request(), &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (2, Class::Success));
        assert!(
            (3590..=3610).contains(&settings.clock_offset),
            "{}",
            settings.clock_offset
        );
        let signed = transport.signed_at.lock().clone();
        assert!(signed[1] >= signed[0] + 3590, "{signed:?}");
    }
}
