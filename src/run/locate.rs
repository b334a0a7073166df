//! Where a bucket that answered `NoSuchBucket` really is: the account's
//! bucket list (GET Service, every page), read at most once per run and
//! only when the first such answer comes, so a run whose buckets all
//! exist sends no extra request. A bucket declared in the wrong region is
//! the usual cause, and its rows then name the region to write.

use std::collections::HashMap;

use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::account;
use crate::cos::request::MAX_SERVICE_PAGE;
use crate::executor::Locate;
use crate::send::FetchSettings;
use crate::send::client::CosClient;

/// The longest a row waits for the list: a hint is not worth holding a
/// run's rows for longer.
const LIST_DEADLINE: std::time::Duration = std::time::Duration::from_secs(60);

/// The account's buckets, asked lazily, through the run's pace.
pub struct ServiceLocator {
    client: CosClient,
    settings: FetchSettings,
    /// A stopped run does not wait for the list.
    cancel: CancellationToken,
    /// Bucket → region; `None` when the list could not be had (not asked
    /// again: one GET Service per run, whatever happens).
    listed: OnceCell<Option<HashMap<String, String>>>,
    /// Why the list could not be had, for a detail line.
    failure: Mutex<Option<String>>,
}

impl ServiceLocator {
    /// `settings` should carry the run's pacing, so that the list waits
    /// its turn like every request of the run.
    pub fn new(client: CosClient, settings: FetchSettings, cancel: CancellationToken) -> Self {
        ServiceLocator {
            client,
            settings,
            cancel,
            listed: OnceCell::new(),
            failure: Mutex::new(None),
        }
    }

    /// Why the list could not be had, if it was asked for and failed.
    pub fn failure(&self) -> Option<String> {
        self.failure.lock().clone()
    }

    /// The account's list, paced with `account`'s requests (the APPID of
    /// the bucket that asked first): COS throttles GET Service with the
    /// account's other requests, and a pace of its own would start at 1/s
    /// on one `SlowDown` and hold every row waiting for the list.
    async fn list(&self, account: &str) -> Option<HashMap<String, String>> {
        let mut settings = self.settings.clone();
        settings.account = Some(account.to_string());
        let listing = account::list_buckets(&self.client, None, MAX_SERVICE_PAGE, &mut settings);
        let failed = |why: String| {
            *self.failure.lock() = Some(why);
            None
        };
        tokio::select! {
            () = self.cancel.cancelled() => failed("the run was stopped".into()),
            listed = tokio::time::timeout(LIST_DEADLINE, listing) => match listed {
                Ok(Ok(entries)) => Some(
                    entries.into_iter().map(|entry| (entry.name, entry.location)).collect(),
                ),
                Ok(Err(err)) => failed(err.to_string()),
                Err(_) => failed(format!("no list after {}s", LIST_DEADLINE.as_secs())),
            },
        }
    }
}

impl Locate for ServiceLocator {
    fn region_of<'a>(&'a self, bucket: &'a str) -> BoxFuture<'a, Option<String>> {
        Box::pin(async move {
            let account = crate::model::appid_of(bucket);
            let listed = self.listed.get_or_init(|| self.list(account)).await;
            listed.as_ref()?.get(bucket).cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::xml::BucketEntry;
    use crate::credentials::{CredentialSource, Credentials, SharedCredentials};
    use crate::emulator::{Emulator, EmulatorConfig};
    use crate::send::client::{ClientConfig, Endpoint};

    async fn account() -> Emulator {
        let entry = |name: &str, region: &str| BucketEntry {
            name: name.into(),
            location: region.into(),
            creation_date: "2024-01-01T00:00:00Z".into(),
        };
        let config = EmulatorConfig {
            buckets: Some(vec![entry("logs-1250000000", "ap-shanghai")]),
            ..EmulatorConfig::new(Credentials::new("id", "key", None))
        };
        Emulator::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap()
    }

    fn locator(emulator: &Emulator, key: &str) -> ServiceLocator {
        let credentials = SharedCredentials::fixed(
            Credentials::new("id", key, None),
            CredentialSource::Explicit,
        );
        let endpoint = Endpoint::parse(&emulator.endpoint(), false).unwrap();
        let client = CosClient::new(ClientConfig::new(endpoint, credentials)).unwrap();
        ServiceLocator::new(client, FetchSettings::default(), CancellationToken::new())
    }

    fn requests(emulator: &Emulator) -> u64 {
        emulator.counters().requests.values().sum()
    }

    #[tokio::test]
    async fn the_account_is_listed_once_and_only_when_asked() {
        let emulator = account().await;
        let locator = locator(&emulator, "key");
        assert_eq!(requests(&emulator), 0, "listed before anyone asked");
        let found = locator.region_of("logs-1250000000").await;
        assert_eq!(found.as_deref(), Some("ap-shanghai"));
        assert_eq!(locator.region_of("gone-1250000000").await, None);
        assert_eq!(requests(&emulator), 1);
        assert_eq!(locator.failure(), None);
    }

    #[tokio::test]
    async fn the_list_waits_on_the_pace_of_the_account_of_the_bucket_that_asked() {
        // Not on a pace of its own for requests to no bucket, which one
        // SlowDown would set to 1/s while every row waits for the list.
        let emulator = account().await;
        let mut locator = locator(&emulator, "key");
        let pacing = crate::pace::Pacing::default();
        locator.settings.pacing = pacing.clone();
        assert!(locator.region_of("logs-1250000000").await.is_some());
        let paced: Vec<_> = pacing.report().by_account.into_keys().collect();
        assert_eq!(paced, ["1250000000"]);
    }

    #[tokio::test]
    async fn a_list_that_fails_is_not_asked_again_and_says_why() {
        let emulator = account().await;
        let locator = locator(&emulator, "not-the-key");
        assert_eq!(locator.region_of("logs-1250000000").await, None);
        let sent = requests(&emulator);
        assert_eq!(locator.region_of("logs-1250000000").await, None);
        assert_eq!(requests(&emulator), sent);
        let why = locator.failure().expect("a reason");
        assert!(why.contains("GET Service"), "{why}");
    }
}
