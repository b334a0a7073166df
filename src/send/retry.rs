//! When to try a request again, and how long to wait first.
//!
//! Three separate pieces, as in smithy-rs and object_store:
//! - [`classify`] is the one place that decides what an outcome means: retry
//!   it, stop the whole run, stop the bucket, or accept it as final. It
//!   reads the HTTP status and the parsed COS `<Code>` only (never by
//!   searching body text), or the kind of a failure without an answer (a
//!   refused certificate or missing credentials stop the run);
//! - [`backoff_delay`] is a pure function of the attempt, the policy, a
//!   random number the caller supplies and any `Retry-After`;
//!
//! How many retries failures piling up may cause is not decided here:
//! the outage guard ([`crate::pace::outage`]) slows and pauses the whole run
//! instead of failing jobs, and throttling is answered by the pace
//! ([`crate::pace::ceiling`]).

use std::num::NonZeroU32;
use std::time::Duration;

use crate::cos::error as code;
use crate::send::client::{Response, TransportError, TransportErrorKind};

/// What an outcome means for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Success,
    /// 429, 503, `SlowDown`: the server asks us to slow down.
    Throttled,
    /// No complete answer: timeout, refused or broken connection; or COS's
    /// 400 `RequestTimeout` (the body arrived too slowly).
    Transient,
    /// Any other 5xx.
    ServerError,
    /// 409: a concurrent change to the bucket's configuration.
    Conflict,
    /// 403 `RequestTimeTooSkewed`, or `AccessDenied` "Request has expired"
    /// (what COS answers a host whose clock runs slow): sign again with the
    /// server's clock.
    ClockSkew,
    /// The credentials were refused (unknown SecretId, bad signature,
    /// expired or invalid token): no request of the run can succeed, so
    /// the run stops sending.
    CredentialsRejected,
    /// No credentials to sign with (expired and not refreshable, or a
    /// value no header can carry): the request was not sent, and the run
    /// stops sending.
    CredentialsUnavailable,
    /// The bucket's account has no credentials (its role could not be
    /// assumed): not sent, and no request to that account's buckets is;
    /// the other accounts go on.
    AccountUnavailable,
    /// The server's certificate was refused: no retry can fix that, so the
    /// run stops sending.
    TlsRefused,
    /// The bucket does not exist or refuses these credentials: no other
    /// request to it can succeed, so the rest of the bucket is skipped.
    BucketRefused,
    /// A 4xx that will fail the same way again.
    ClientError,
    /// A 3xx: the request was sent somewhere that points elsewhere. Never
    /// followed (the signed request and its token would go to another
    /// server) and not retried (the answer would be the same).
    Redirected,
    /// An answer whose body is over the size cap: not read, not retried.
    TooLarge,
    /// A 2xx that does not look like COS's (no `x-cos-request-id`, an
    /// HTML or JSON body): something else answered, so whether COS made
    /// the change is unknown. Not retried: the same thing would answer.
    NotCos,
}

impl Class {
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            Class::Throttled
                | Class::Transient
                | Class::ServerError
                | Class::Conflict
                | Class::ClockSkew
        )
    }

    /// The column-friendly name used in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Success => "success",
            Class::Throttled => "throttled",
            Class::Transient => "transient",
            Class::ServerError => "server-error",
            Class::Conflict => "conflict",
            Class::ClockSkew => "clock-skew",
            Class::CredentialsRejected => "credentials-rejected",
            Class::CredentialsUnavailable => "credentials-unavailable",
            Class::AccountUnavailable => "account-unavailable",
            Class::TlsRefused => "tls-refused",
            Class::BucketRefused => "bucket-refused",
            Class::ClientError => "client-error",
            Class::Redirected => "redirected",
            Class::TooLarge => "too-large",
            Class::NotCos => "not-cos",
        }
    }
}

/// Sorts one outcome.
pub fn classify(outcome: &Result<Response, TransportError>) -> Class {
    match outcome {
        Err(TransportError { kind, .. }) => match kind {
            TransportErrorKind::Timeout
            | TransportErrorKind::Connect
            | TransportErrorKind::Connection => Class::Transient,
            TransportErrorKind::TlsVerification => Class::TlsRefused,
            TransportErrorKind::Credentials => Class::CredentialsUnavailable,
            TransportErrorKind::AccountUnavailable => Class::AccountUnavailable,
            TransportErrorKind::TooLarge => Class::TooLarge,
        },
        Ok(response) if signature_expired(response) => Class::ClockSkew,
        Ok(response) if response.is_success() && response.unparsed_error.is_some() => Class::NotCos,
        Ok(response) => classify_response(response.status, response.code()),
    }
}

/// COS refuses a signature whose window has ended with 403 `AccessDenied`
/// and this message; with a fresh signature it can only mean our clock is
/// behind COS's.
fn signature_expired(response: &Response) -> bool {
    response.status == 403
        && response.error.as_ref().is_some_and(|error| {
            error.code == code::ACCESS_DENIED
                && error.message.starts_with(code::REQUEST_EXPIRED_MESSAGE)
        })
}

/// Sorts an HTTP answer by status and COS error code.
pub fn classify_response(status: u16, cos_code: Option<&str>) -> Class {
    match (status, cos_code) {
        (200..=299, _) => Class::Success,
        (300..=399, _) => Class::Redirected,
        // Only a request to slow down is throttling; any other 503
        // (ServiceUnavailable, a proxy's page) is the service failing.
        (_, Some(code::SLOW_DOWN | code::TOO_MANY_REQUESTS)) => Class::Throttled,
        (429, _) => Class::Throttled,
        (_, Some(code::REQUEST_TIME_TOO_SKEWED)) => Class::ClockSkew,
        (_, Some(code::REQUEST_TIMEOUT)) => Class::Transient,
        (500..=599, _) => Class::ServerError,
        // A one-time id already used stays used: sending it again can
        // only be refused again (whatever the status, 409 included).
        (_, Some(code::DUPLICATE_INVENTORY_ID)) => Class::ClientError,
        (409, _) => Class::Conflict,
        (_, Some(found)) if code::CREDENTIAL_CODES.contains(&found) => Class::CredentialsRejected,
        (_, Some(found)) if code::BUCKET_CODES.contains(&found) => Class::BucketRefused,
        _ => Class::ClientError,
    }
}

/// Limits on retrying one job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per job, the first included.
    pub max_attempts: NonZeroU32,
    /// The cap of the first backoff; doubles each failed attempt.
    pub base_delay: Duration,
    /// The same after a throttled attempt; doubles each throttled attempt.
    /// Short, because the pacer already slows the whole run for a busy COS
    /// and every retry waits its turn there.
    pub throttled_base_delay: Duration,
    /// The largest backoff cap.
    pub max_delay: Duration,
    /// The largest backoff cap while COS answers most other requests (the
    /// outage guard's window shows failures isolated): a request failing
    /// among many live answers has no outage to wait out, and a cap that
    /// kept doubling would leave one unlucky job (or a bucket's chain of
    /// them) seconds behind the rest of the run. Failures that line up
    /// slow and pause the whole run through the outage guard, and the cap
    /// doubles up to `max_delay` again.
    pub isolated_max_delay: Duration,
    /// The longest `Retry-After` honoured; a server asking for more gets
    /// this.
    pub max_retry_after: Duration,
    /// No retry starts once a job has been running this long.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: NonZeroU32::new(8).expect("non-zero"),
            base_delay: Duration::from_millis(200),
            throttled_base_delay: Duration::from_millis(25),
            max_delay: Duration::from_secs(20),
            isolated_max_delay: Duration::from_secs(1),
            max_retry_after: Duration::from_secs(60),
            max_elapsed: Duration::from_secs(600),
        }
    }
}

/// How long to wait after failed attempt number `attempt` (1 for the first
/// attempt): "full jitter", a uniform draw between zero and a cap that
/// doubles per attempt up to `max_delay`; never less than the server's
/// `Retry-After` (clamped to `max_retry_after`). `random` is in `[0, 1)`.
pub fn backoff_delay(
    policy: &RetryPolicy,
    attempt: u32,
    random: f64,
    retry_after: Option<Duration>,
) -> Duration {
    let doublings = attempt.saturating_sub(1).min(30);
    let cap = policy
        .base_delay
        .saturating_mul(1u32 << doublings)
        .min(policy.max_delay);
    // A NaN from a broken random source means no jitter, not a panic.
    let random = if random.is_nan() {
        0.0
    } else {
        random.clamp(0.0, 1.0)
    };
    let jittered = cap.mul_f64(random);
    match retry_after {
        Some(asked) => jittered.max(asked.min(policy.max_retry_after)),
        None => jittered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, code: Option<&str>) -> Result<Response, TransportError> {
        Ok(Response::canned(status, code))
    }

    #[test]
    fn classifies_by_status_and_code() {
        let cases = [
            (200, None, Class::Success),
            (204, None, Class::Success),
            (503, Some("SlowDown"), Class::Throttled),
            (503, None, Class::ServerError),
            (503, Some("ServiceUnavailable"), Class::ServerError),
            (429, None, Class::Throttled),
            (400, Some("SlowDown"), Class::Throttled),
            (500, Some("InternalError"), Class::ServerError),
            (502, None, Class::ServerError),
            (409, Some("ConcurrentUpdate"), Class::Conflict),
            (409, Some("DuplicateInventoryId"), Class::ClientError),
            (400, Some("DuplicateInventoryId"), Class::ClientError),
            (403, Some("RequestTimeTooSkewed"), Class::ClockSkew),
            (400, Some("RequestTimeout"), Class::Transient),
            (400, Some("InvalidArgument"), Class::ClientError),
            (400, Some("InventoryFull"), Class::ClientError),
            (
                403,
                Some("SignatureDoesNotMatch"),
                Class::CredentialsRejected,
            ),
            (403, Some("InvalidAccessKeyId"), Class::CredentialsRejected),
            (400, Some("ExpiredToken"), Class::CredentialsRejected),
            (403, Some("InvalidToken"), Class::CredentialsRejected),
            (404, Some("NoSuchBucket"), Class::BucketRefused),
            (403, Some("AccessDenied"), Class::BucketRefused),
            (400, None, Class::ClientError),
            (301, None, Class::Redirected),
            (307, None, Class::Redirected),
            (308, Some("PermanentRedirect"), Class::Redirected),
            (302, Some("SlowDown"), Class::Redirected),
        ];
        for (status, code, want) in cases {
            assert_eq!(classify(&response(status, code)), want, "{status} {code:?}");
        }
    }

    #[test]
    fn an_expired_signature_is_a_clock_problem_other_denials_are_final() {
        let denied = |message: &str| {
            let mut answer = response(403, Some("AccessDenied"));
            answer.as_mut().unwrap().error.as_mut().unwrap().message = message.into();
            classify(&answer)
        };
        assert_eq!(denied("Request has expired"), Class::ClockSkew);
        assert_eq!(denied("Access Denied."), Class::BucketRefused);
    }

    #[test]
    fn network_failures_are_transient() {
        for kind in [
            TransportErrorKind::Timeout,
            TransportErrorKind::Connect,
            TransportErrorKind::Connection,
        ] {
            let outcome = Err(TransportError {
                kind,
                message: String::new(),
            });
            assert_eq!(classify(&outcome), Class::Transient);
        }
    }

    #[test]
    fn refused_certificates_and_missing_credentials_stop_the_run() {
        let failure = |kind| {
            classify(&Err(TransportError {
                kind,
                message: String::new(),
            }))
        };
        assert_eq!(
            failure(TransportErrorKind::TlsVerification),
            Class::TlsRefused
        );
        assert_eq!(
            failure(TransportErrorKind::Credentials),
            Class::CredentialsUnavailable
        );
    }

    #[test]
    fn a_body_over_the_cap_is_final() {
        let outcome = Err(TransportError {
            kind: TransportErrorKind::TooLarge,
            message: String::new(),
        });
        assert_eq!(classify(&outcome), Class::TooLarge);
    }

    #[test]
    fn only_client_errors_refusals_redirects_oversize_and_success_are_final() {
        for class in [
            Class::Success,
            Class::ClientError,
            Class::CredentialsRejected,
            Class::CredentialsUnavailable,
            Class::TlsRefused,
            Class::BucketRefused,
            Class::Redirected,
            Class::TooLarge,
        ] {
            assert!(!class.is_retryable(), "{class:?}");
        }
        for class in [
            Class::Throttled,
            Class::Transient,
            Class::ServerError,
            Class::Conflict,
            Class::ClockSkew,
        ] {
            assert!(class.is_retryable(), "{class:?}");
        }
    }

    #[test]
    fn backoff_cap_doubles_up_to_the_maximum() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1_000),
            ..RetryPolicy::default()
        };
        let top = |attempt| backoff_delay(&policy, attempt, 1.0, None);
        assert_eq!(top(1), Duration::from_millis(100));
        assert_eq!(top(2), Duration::from_millis(200));
        assert_eq!(top(4), Duration::from_millis(800));
        assert_eq!(top(5), Duration::from_millis(1_000));
        assert_eq!(top(u32::MAX), Duration::from_millis(1_000));
    }

    #[test]
    fn backoff_is_full_jitter_over_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(backoff_delay(&policy, 3, 0.0, None), Duration::ZERO);
        assert_eq!(
            backoff_delay(&policy, 3, 0.5, None),
            Duration::from_millis(400)
        );
        // Out-of-range randomness is clamped, never panics.
        assert_eq!(backoff_delay(&policy, 1, 7.0, None), policy.base_delay);
        assert_eq!(backoff_delay(&policy, 1, f64::NAN, None), Duration::ZERO);
    }

    #[test]
    fn retry_after_is_a_floor_clamped_to_a_sane_bound() {
        let policy = RetryPolicy::default();
        let asked = Some(Duration::from_secs(3));
        assert_eq!(
            backoff_delay(&policy, 1, 0.0, asked),
            Duration::from_secs(3)
        );
        let huge = Some(Duration::from_secs(86_400));
        assert_eq!(backoff_delay(&policy, 1, 0.0, huge), policy.max_retry_after);
        // A larger jittered delay wins over a small Retry-After.
        assert_eq!(
            backoff_delay(&policy, 8, 1.0, Some(Duration::from_secs(1))),
            policy.max_delay
        );
    }
}
