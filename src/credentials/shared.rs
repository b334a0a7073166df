//! The credentials a run signs with, kept fresh while it goes on.
//!
//! [`SharedCredentials`] is a cheap, cloneable handle. Every attempt asks
//! it for [`SharedCredentials::current`] and signs with what it gets; the
//! signer stays a pure function of those credentials. While they are fresh
//! that is one atomic load. Temporary credentials (CVM role, TKE OIDC) are
//! fetched again before they expire:
//!
//! - refresh when a tenth of the lifetime is left but at least 5 minutes
//!   before expiry, as Tencent's SDKs do (300 s for the CVM role, a tenth
//!   for STS); lifetimes under 10 minutes (the emulator's) at half-life;
//! - one task refreshes at a time, inline, and the others go on with the
//!   old credentials while those are still good;
//! - a failed refresh keeps the old credentials while they are good and
//!   tries again a little later; once they have expired, the failure is
//!   [`SourceError::Expired`].
//!
//! "Good" ends a short margin before the real expiry (a tenth of the
//! lifetime, at most 30 s) so that a request signed just before does not
//! arrive just after. All of this runs on tokio's clock, so the tests
//! drive it with a paused clock.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use futures_util::future::BoxFuture;
use tokio::time::Instant;

use super::source::{CredentialSource, SourceError};
use super::{Credentials, CredentialsError};

/// Lifetimes from this long on refresh a tenth ahead, at least 5 minutes.
const LONG_LIFETIME: Duration = Duration::from_secs(600);
/// The least a long-lived credential is refreshed ahead of expiry.
const MIN_REFRESH_LEAD: Duration = Duration::from_secs(300);
/// The most of a credential's end given up as a safety margin.
const MAX_EXPIRY_MARGIN: Duration = Duration::from_secs(30);
/// After a failed refresh, the longest and shortest waits before the next.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(60);
const MIN_RETRY_DELAY: Duration = Duration::from_millis(100);

/// Temporary credentials as a source hands them out, with how long they
/// have left (measured when they were received). `Debug` is safe:
/// [`Credentials`] redacts itself.
#[derive(Clone, Debug)]
pub(crate) struct Issued {
    pub credentials: Credentials,
    pub expires_in: Duration,
}

/// Fetches a new set of temporary credentials.
pub(crate) trait Refresh: Send + Sync + 'static {
    fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>>;
}

/// When a temporary credential should be refreshed and when it stops being
/// usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Schedule {
    refresh_at: Instant,
    usable_until: Instant,
    /// After a failed refresh: not again before this.
    retry_at: Option<Instant>,
}

impl Schedule {
    fn starting(now: Instant, lifetime: Duration) -> Self {
        Schedule {
            refresh_at: now + lifetime.saturating_sub(refresh_lead(lifetime)),
            usable_until: now + lifetime.saturating_sub(expiry_margin(lifetime)),
            retry_at: None,
        }
    }
}

/// How long before expiry a credential of this lifetime is refreshed.
fn refresh_lead(lifetime: Duration) -> Duration {
    if lifetime >= LONG_LIFETIME {
        (lifetime / 10).max(MIN_REFRESH_LEAD)
    } else {
        lifetime / 2
    }
}

fn expiry_margin(lifetime: Duration) -> Duration {
    (lifetime / 10).min(MAX_EXPIRY_MARGIN)
}

fn retry_delay(left: Duration) -> Duration {
    (left / 5).clamp(MIN_RETRY_DELAY, MAX_RETRY_DELAY)
}

struct State {
    credentials: Arc<Credentials>,
    /// `None`: long-lived credentials, never refreshed.
    schedule: Option<Schedule>,
    /// The last refresh that failed after the credentials had expired
    /// (its attempt number), so that tasks queued behind it share its
    /// answer.
    failure: Option<(u64, SourceError)>,
    /// False until a lazy source's first fetch succeeds: a first fetch
    /// that fails is the answer for good (no fetch per request).
    fetched: bool,
}

struct Inner {
    source: CredentialSource,
    state: ArcSwap<State>,
    refresher: Option<Box<dyn Refresh>>,
    /// Held by the one task refreshing.
    refreshing: tokio::sync::Mutex<()>,
    /// Refresh attempts begun.
    attempts: AtomicU64,
}

/// The credentials of a run: long-lived ones as they are, temporary ones
/// refreshed before they expire. Cheap to clone; all clones share one
/// state.
#[derive(Clone)]
pub struct SharedCredentials {
    inner: Arc<Inner>,
}

impl SharedCredentials {
    /// Long-lived credentials that never change.
    pub fn fixed(credentials: Credentials, source: CredentialSource) -> Self {
        Self::with_state(
            source,
            State {
                credentials: Arc::new(credentials),
                schedule: None,
                failure: None,
                fetched: true,
            },
            None,
        )
    }

    /// Temporary credentials just fetched, and how to fetch the next ones.
    pub(crate) fn refreshing(
        source: CredentialSource,
        first: Issued,
        refresher: Box<dyn Refresh>,
    ) -> Self {
        let state = State {
            credentials: Arc::new(first.credentials),
            schedule: Some(Schedule::starting(Instant::now(), first.expires_in)),
            failure: None,
            fetched: true,
        };
        Self::with_state(source, state, Some(refresher))
    }

    /// Temporary credentials fetched when first asked for (one fetch for
    /// all the tasks asking at once), then refreshed like any others. If
    /// the first fetch fails, every later ask gets that failure without
    /// fetching again.
    pub(crate) fn lazy(source: CredentialSource, refresher: Box<dyn Refresh>) -> Self {
        let now = Instant::now();
        let state = State {
            credentials: Arc::new(Credentials::new("", "", None)),
            schedule: Some(Schedule {
                refresh_at: now,
                usable_until: now,
                retry_at: None,
            }),
            failure: None,
            fetched: false,
        };
        Self::with_state(source, state, Some(refresher))
    }

    fn with_state(
        source: CredentialSource,
        state: State,
        refresher: Option<Box<dyn Refresh>>,
    ) -> Self {
        SharedCredentials {
            inner: Arc::new(Inner {
                source,
                state: ArcSwap::from_pointee(state),
                refresher,
                refreshing: tokio::sync::Mutex::new(()),
                attempts: AtomicU64::new(0),
            }),
        }
    }

    /// Which source supplied the credentials, for `-v`.
    pub fn source(&self) -> &CredentialSource {
        &self.inner.source
    }

    /// Whether these are temporary credentials that get refreshed.
    pub fn is_temporary(&self) -> bool {
        self.inner.refresher.is_some()
    }

    /// The credentials to sign the next attempt with.
    pub async fn current(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let state = self.inner.state.load();
        let now = Instant::now();
        let Some(schedule) = state.schedule else {
            return Ok(state.credentials.clone());
        };
        if now < schedule.refresh_at {
            return Ok(state.credentials.clone());
        }
        if now < schedule.usable_until {
            let waiting = schedule.retry_at.is_some_and(|retry| now < retry);
            if !waiting && let Ok(_guard) = self.inner.refreshing.try_lock() {
                return Ok(self.refresh().await?);
            }
            // Another task is refreshing, or the last try failed recently.
            return Ok(state.credentials.clone());
        }
        drop(state);
        self.refresh_expired().await
    }

    /// The credentials have expired: wait for the refresh in progress, or
    /// do one.
    async fn refresh_expired(&self) -> Result<Arc<Credentials>, CredentialsError> {
        let asked = self.inner.attempts.load(Ordering::SeqCst);
        let _guard = self.inner.refreshing.lock().await;
        let state = self.inner.state.load();
        if state
            .schedule
            .is_some_and(|s| Instant::now() < s.usable_until)
        {
            return Ok(state.credentials.clone());
        }
        // A refresh that began while this task waited has just failed:
        // its answer is this task's too (no queue of doomed fetches); a
        // lazy source's failed first fetch is everyone's answer.
        if let Some((attempt, failure)) = &state.failure
            && (*attempt > asked || !state.fetched)
        {
            return Err(failure.clone().into());
        }
        drop(state);
        Ok(self.refresh().await?)
    }

    /// Fetches new credentials; the caller holds `refreshing`.
    async fn refresh(&self) -> Result<Arc<Credentials>, SourceError> {
        let Some(refresher) = &self.inner.refresher else {
            return Ok(self.inner.state.load().credentials.clone());
        };
        let attempt = self.inner.attempts.fetch_add(1, Ordering::SeqCst) + 1;
        let result = refresher
            .fetch()
            .await
            .and_then(|issued| checked(issued, &self.inner.source));
        let now = Instant::now();
        let old = self.inner.state.load_full();
        match result {
            Ok(issued) => {
                let credentials = Arc::new(issued.credentials);
                self.inner.state.store(Arc::new(State {
                    credentials: credentials.clone(),
                    schedule: Some(Schedule::starting(now, issued.expires_in)),
                    failure: None,
                    fetched: true,
                }));
                Ok(credentials)
            }
            Err(cause) => self.keep_after_failure(&old, now, attempt, cause),
        }
    }

    /// A refresh failed: go on with the old credentials while they are
    /// good, and try again later; otherwise the run cannot go on.
    fn keep_after_failure(
        &self,
        old: &State,
        now: Instant,
        attempt: u64,
        cause: SourceError,
    ) -> Result<Arc<Credentials>, SourceError> {
        let schedule = old.schedule.filter(|s| now < s.usable_until);
        if let Some(schedule) = schedule {
            self.inner.state.store(Arc::new(State {
                credentials: old.credentials.clone(),
                schedule: Some(Schedule {
                    retry_at: Some(now + retry_delay(schedule.usable_until - now)),
                    ..schedule
                }),
                failure: None,
                fetched: old.fetched,
            }));
            return Ok(old.credentials.clone());
        }
        let expired = if old.fetched {
            SourceError::Expired {
                from: self.inner.source.clone(),
                cause: Box::new(cause),
            }
        } else {
            cause
        };
        self.inner.state.store(Arc::new(State {
            credentials: old.credentials.clone(),
            schedule: old.schedule,
            failure: Some((attempt, expired.clone())),
            fetched: old.fetched,
        }));
        Err(expired)
    }
}

/// `issued`, unless a value cannot be sent in a header: then a refresh
/// failure like any other, which stops the run once the credentials in use
/// have expired.
pub(crate) fn checked(issued: Issued, from: &CredentialSource) -> Result<Issued, SourceError> {
    match issued.credentials.unsendable_part() {
        Some(part) => Err(SourceError::Unsendable {
            from: from.clone(),
            part,
        }),
        None => Ok(issued),
    }
}

impl fmt::Debug for SharedCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedCredentials")
            .field("source", &self.inner.source)
            .field("credentials", &*self.inner.state.load().credentials)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::AtomicUsize;

    /// Hands out `AKID1`, `AKID2`, … each living `lifetime`, or fails
    /// while `failing` is set; counts the fetches.
    struct Script {
        lifetime: Duration,
        fetches: AtomicUsize,
        failing: Mutex<bool>,
        /// How long a fetch takes (on the paused clock).
        takes: Duration,
    }

    impl Script {
        fn new(lifetime: Duration) -> Arc<Script> {
            Arc::new(Script {
                lifetime,
                fetches: AtomicUsize::new(0),
                failing: Mutex::new(false),
                takes: Duration::ZERO,
            })
        }
        fn fetches(&self) -> usize {
            self.fetches.load(Ordering::SeqCst)
        }
        fn fail(&self, failing: bool) {
            *self.failing.lock().unwrap() = failing;
        }
    }

    impl Refresh for Arc<Script> {
        fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>> {
            Box::pin(async move {
                tokio::time::sleep(self.takes).await;
                let n = self.fetches.fetch_add(1, Ordering::SeqCst) + 2;
                if *self.failing.lock().unwrap() {
                    return Err(SourceError::TkeIncomplete {
                        missing: "TKE_REGION",
                    });
                }
                Ok(issued(n, self.lifetime))
            })
        }
    }

    fn issued(n: usize, lifetime: Duration) -> Issued {
        Issued {
            credentials: Credentials::new(
                format!("AKID{n}"),
                format!("secret-key-{n}"),
                Some(format!("token-{n}")),
            ),
            expires_in: lifetime,
        }
    }

    fn shared(script: &Arc<Script>) -> SharedCredentials {
        SharedCredentials::refreshing(
            CredentialSource::CvmRole {
                role: "test-role".into(),
            },
            issued(1, script.lifetime),
            Box::new(script.clone()),
        )
    }

    async fn id(shared: &SharedCredentials) -> String {
        shared.current().await.unwrap().secret_id().to_string()
    }

    #[test]
    fn refresh_leads_follow_the_lifetime() {
        let hours = |h: u64| Duration::from_secs(h * 3600);
        // Two hours (STS's default): a tenth, 12 minutes, as the Python SDK.
        assert_eq!(refresh_lead(hours(2)), Duration::from_secs(720));
        // Fifteen minutes: the 5-minute floor.
        assert_eq!(
            refresh_lead(Duration::from_secs(900)),
            Duration::from_secs(300)
        );
        // Seconds (the emulator's): half-life.
        assert_eq!(refresh_lead(Duration::from_secs(4)), Duration::from_secs(2));
        assert_eq!(expiry_margin(hours(2)), Duration::from_secs(30));
        assert_eq!(
            expiry_margin(Duration::from_secs(4)),
            Duration::from_millis(400)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fixed_credentials_never_refresh() {
        let shared = SharedCredentials::fixed(
            Credentials::new("AKIDfixed", "k", None),
            CredentialSource::Explicit,
        );
        tokio::time::advance(Duration::from_secs(365 * 86400)).await;
        assert_eq!(id(&shared).await, "AKIDfixed");
        assert!(!shared.is_temporary());
    }

    #[tokio::test(start_paused = true)]
    async fn refreshes_once_the_lead_is_reached_and_not_before() {
        let script = Script::new(Duration::from_secs(7200));
        let shared = shared(&script);
        // Refresh is due at 2h - 12 min = 6480 s.
        tokio::time::advance(Duration::from_secs(6479)).await;
        assert_eq!(id(&shared).await, "AKID1");
        assert_eq!(script.fetches(), 0);
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(id(&shared).await, "AKID2");
        assert_eq!(script.fetches(), 1);
        // The new ones start a new schedule.
        tokio::time::advance(Duration::from_secs(6479)).await;
        assert_eq!(id(&shared).await, "AKID2");
        assert_eq!(script.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn short_lifetimes_refresh_at_half_life() {
        let script = Script::new(Duration::from_secs(4));
        let shared = shared(&script);
        tokio::time::advance(Duration::from_millis(1999)).await;
        assert_eq!(id(&shared).await, "AKID1");
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(id(&shared).await, "AKID2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_refresh_keeps_good_credentials_and_retries_later() {
        let script = Script::new(Duration::from_secs(7200));
        let shared = shared(&script);
        script.fail(true);
        tokio::time::advance(Duration::from_secs(6480)).await;
        assert_eq!(id(&shared).await, "AKID1");
        assert_eq!(script.fetches(), 1);
        // Usable for 720 - 30 s more: the next try waits a fifth of that,
        // capped at 60 s.
        tokio::time::advance(Duration::from_secs(59)).await;
        assert_eq!(id(&shared).await, "AKID1");
        assert_eq!(script.fetches(), 1);
        tokio::time::advance(Duration::from_secs(1)).await;
        script.fail(false);
        assert_eq!(id(&shared).await, "AKID3");
        assert_eq!(script.fetches(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_and_unrefreshable_is_a_typed_error_without_secrets() {
        let script = Script::new(Duration::from_secs(7200));
        let shared = shared(&script);
        script.fail(true);
        // Past the margin: 7200 - 30 s.
        tokio::time::advance(Duration::from_secs(7170)).await;
        let err = shared.current().await.unwrap_err();
        match &err {
            CredentialsError::Source(SourceError::Expired { from, cause }) => {
                assert_eq!(from, shared.source());
                assert!(matches!(**cause, SourceError::TkeIncomplete { .. }));
            }
            other => panic!("unexpected {other:?}"),
        }
        let text = err.to_string();
        assert!(text.contains("CVM instance role test-role"), "{text}");
        assert!(!text.contains("secret-key"), "{text}");
        // It recovers as soon as the source does.
        script.fail(false);
        assert!(shared.current().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn one_task_refreshes_while_the_others_go_on() {
        let script = Arc::new(Script {
            takes: Duration::from_secs(1),
            ..Arc::into_inner(Script::new(Duration::from_secs(900))).unwrap()
        });
        let shared = shared(&script);
        tokio::time::advance(Duration::from_secs(600)).await;
        let refresher = tokio::spawn({
            let shared = shared.clone();
            async move { id(&shared).await }
        });
        // Let the refresher start its (1 s) fetch.
        tokio::task::yield_now().await;
        let others: Vec<String> = futures_util::future::join_all((0..8).map(|_| id(&shared))).await;
        assert!(others.iter().all(|id| id == "AKID1"), "{others:?}");
        assert_eq!(refresher.await.unwrap(), "AKID2");
        assert_eq!(script.fetches(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn expired_credentials_wait_for_a_single_refresh() {
        let script = Arc::new(Script {
            takes: Duration::from_secs(1),
            ..Arc::into_inner(Script::new(Duration::from_secs(900))).unwrap()
        });
        let shared = shared(&script);
        tokio::time::advance(Duration::from_secs(900)).await;
        let all: Vec<String> = futures_util::future::join_all((0..8).map(|_| id(&shared))).await;
        assert!(all.iter().all(|id| id == "AKID2"), "{all:?}");
        assert_eq!(script.fetches(), 1);
    }

    /// Hands out credentials whose token ends in a newline.
    struct BadToken;

    impl Refresh for BadToken {
        fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>> {
            Box::pin(async {
                Ok(Issued {
                    credentials: Credentials::new("AKIDbad", "k", Some("token\n".into())),
                    expires_in: Duration::from_secs(7200),
                })
            })
        }
    }

    #[tokio::test(start_paused = true)]
    async fn refreshed_values_no_header_can_carry_are_a_typed_error() {
        let source = CredentialSource::CvmRole { role: "r".into() };
        let shared = SharedCredentials::refreshing(
            source.clone(),
            issued(1, Duration::from_secs(7200)),
            Box::new(BadToken),
        );
        // Still good: the old ones go on.
        tokio::time::advance(Duration::from_secs(6480)).await;
        assert_eq!(id(&shared).await, "AKID1");
        tokio::time::advance(Duration::from_secs(720)).await;
        let err = shared.current().await.unwrap_err();
        let CredentialsError::Source(SourceError::Expired { cause, .. }) = &err else {
            panic!("unexpected {err:?}");
        };
        assert_eq!(
            **cause,
            SourceError::Unsendable {
                from: source,
                part: crate::credentials::CredentialPart::SecurityToken
            }
        );
        assert!(!err.to_string().contains("token\n"), "{err}");
    }

    #[test]
    fn debug_shows_the_source_not_the_secret() {
        let shared = SharedCredentials::fixed(
            Credentials::new("AKIDshown", "hidden-key", Some("hidden-token".into())),
            CredentialSource::Explicit,
        );
        let text = format!("{shared:?}");
        assert!(
            text.contains("AKIDshown") && text.contains("Explicit"),
            "{text}"
        );
        assert!(!text.contains("hidden"), "{text}");
    }
}
