//! One account-level request, tried until it ends, through the same
//! [`Sender`] loop as every request of a run: classified by the one
//! classifier, retried after its backoff, paced, a skewed clock corrected
//! from COS's `Date`. These reads are few (a page per 2,000 buckets, a
//! policy per destination), so they go without the executor's lanes.

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use tokio_util::sync::CancellationToken;

use super::client::{Response, TransportError, TransportErrorKind};
use super::retry::{self, Class, RetryPolicy};
use super::sender::{End, SendSettings, Sender, Subject, Unwatched};
use super::{Attempt, Transport};
use crate::cos::request::InventoryRequest;
use crate::model::BucketName;
use crate::pace::Pacing;

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
    /// The pace learned so far, shared by every clone of these settings.
    pub pacing: Pacing,
    /// The account (APPID) whose pace a request to no bucket waits on,
    /// when known (see [`SendSettings::account`]).
    pub account: Option<String>,
}

impl Default for FetchSettings {
    fn default() -> Self {
        FetchSettings {
            retry: RetryPolicy::default(),
            clock_offset: 0,
            seed: 0,
            concurrency: 8,
            pacing: Pacing::default(),
            account: None,
        }
    }
}

impl FetchSettings {
    fn send_settings(&self) -> SendSettings {
        SendSettings {
            concurrency: NonZeroUsize::new(self.concurrency).unwrap_or(NonZeroUsize::MIN),
            retry: self.retry,
            seed: self.seed,
            clock_offset: self.clock_offset,
            account: self.account.clone(),
            ..SendSettings::default()
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

/// Sends `request` (about `bucket`, if it is about one) until it succeeds,
/// fails for good or runs out of attempts. `settings.clock_offset` is
/// updated when COS says the clock is off, so later requests sign right
/// the first time.
pub async fn fetch<T: Transport>(
    transport: &T,
    request: &InventoryRequest,
    bucket: Option<&BucketName>,
    settings: &mut FetchSettings,
) -> Fetched {
    let sender = Sender::new(
        settings.send_settings(),
        settings.pacing.clone(),
        CancellationToken::new(),
        Arc::new(Unwatched),
    );
    let fetched = fetch_through(&sender, transport, request, bucket, settings.seed).await;
    settings.clock_offset = sender.clock_offset();
    fetched
}

/// Sends `request` through `sender` until it ends: for reads made by the
/// thousand, which share one sender's permits, rate limits, pace and
/// learned clock.
pub async fn fetch_through<T: Transport>(
    sender: &Sender,
    transport: &T,
    request: &InventoryRequest,
    bucket: Option<&BucketName>,
    seed: u64,
) -> Fetched {
    let subject = Subject {
        bucket,
        id: request.operation.as_str(),
        slot: None,
    };
    let ended = sender
        .send(transport, subject, request, &OnceLock::new(), seed)
        .await;
    let last = match (ended.last, ended.end) {
        (Some(last), _) => last,
        // Never sent: the shared pace gave up on COS (an outage that
        // outlasted its deadline) before this request's turn came.
        (None, end) => Err(TransportError {
            kind: TransportErrorKind::Connect,
            message: match end {
                End::Skipped(reason) => reason,
                other => format!("not sent: {other:?}"),
            },
        }),
    };
    Fetched {
        class: retry::classify(&last),
        last,
        attempts: ended.attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::send::client::{TransportError, TransportErrorKind};
    use crate::send::sender::unix_now;
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
        let fetched = fetch(&transport, &request(), None, &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (3, Class::Success));
        assert!(fetched.success().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_final_answer_is_not_retried_and_attempts_are_capped() {
        let transport = script(vec![Ok(response(403, Some("AccessDenied")))]);
        let mut settings = FetchSettings::default();
        let fetched = fetch(&transport, &request(), None, &mut settings).await;
        assert_eq!(fetched.attempts, 1);
        assert!(fetched.success().is_none());
        assert!(
            fetched.describe().contains("AccessDenied"),
            "{}",
            fetched.describe()
        );
        let transport = script((0..10).map(|_| Ok(response(500, None))).collect());
        settings.retry.max_attempts = std::num::NonZeroU32::new(3).unwrap();
        let fetched = fetch(&transport, &request(), None, &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (3, Class::ServerError));
        assert!(fetched.describe().ends_with("(after 3 attempts)"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_skewed_clock_is_corrected_from_the_servers_date() {
        let mut skewed = response(403, Some("RequestTimeTooSkewed"));
        skewed.server_time = Some(unix_now(0) + 3600);
        let transport = script(vec![Ok(skewed)]);
        let mut settings = FetchSettings::default();
        let fetched = fetch(&transport, &request(), None, &mut settings).await;
        assert_eq!((fetched.attempts, fetched.class), (2, Class::Success));
        assert!(
            (3590..=3610).contains(&settings.clock_offset),
            "{}",
            settings.clock_offset
        );
        let signed = transport.signed_at.lock().clone();
        assert!(signed[1] >= signed[0] + 3590, "{signed:?}");
    }

    /// Always refuses the connection, as a COS that is down does.
    struct Down;

    impl Transport for Down {
        fn send(
            &self,
            _: &InventoryRequest,
            _: u64,
        ) -> impl std::future::Future<Output = Attempt> + Send {
            std::future::ready(Err(TransportError {
                kind: TransportErrorKind::Connect,
                message: "connection refused".into(),
            }))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_read_whose_turn_never_comes_is_a_failed_read_not_a_panic() {
        // Reads share one pace: once COS has been down past the deadline,
        // the pace gives up, and a later read is never sent at all.
        let mut settings = FetchSettings::default();
        let mut never_sent = None;
        for _ in 0..200 {
            let fetched = fetch(&Down, &request(), None, &mut settings).await;
            if fetched.attempts == 0 {
                never_sent = Some(fetched);
                break;
            }
        }
        let fetched = never_sent.expect("the shared pace gave up on COS");
        assert!(fetched.success().is_none());
        assert_ne!(fetched.class, Class::Success);
        assert!(
            fetched.describe().starts_with("not sent: "),
            "{}",
            fetched.describe()
        );
    }
}
