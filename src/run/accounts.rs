//! An organisation's accounts: each APPID under `accounts:` gets its own
//! credentials (a role assumed with the caller's credentials, or a named
//! profile), and the client signs that APPID's buckets with them.
//!
//! The credentials are attached before `discover:` is resolved (each
//! account's buckets are listed with its own), and fetched when first
//! needed: the accounts with jobs all at once before the first request
//! (one STS call per account), then refreshed before they expire while the
//! run goes on. An account whose role cannot be assumed gets one warning
//! line; its requests are not sent (its jobs end `skipped` with the
//! reason) and the other accounts go on.

use std::collections::{BTreeMap, HashMap};

use futures_util::StreamExt;

use super::connect::{ConnectError, Connection};
use super::observe::{Level, RunObserver};
use crate::credentials::assume_role::{DEFAULT_DURATION_SECONDS, RoleSpec, assumed_role};
use crate::credentials::{ChainOptions, CredentialChain, CredentialsError, SharedCredentials};
use crate::manifest::{AccountAccess, AccountSpec};
use crate::plan::Plan;
use crate::send::client::CosClient;

/// STS answers from any region; the run names one all the same.
const STS_REGION: &str = "ap-guangzhou";
/// STS calls in flight at once when the run starts: STS takes about 600
/// requests a second per caller, and an organisation may have hundreds of
/// accounts.
const STS_IN_FLIGHT: usize = 16;

/// An APPID as given on the command line: digits only.
pub fn parse_appid(text: &str) -> Result<String, String> {
    let text = text.trim();
    match !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        true => Ok(text.to_string()),
        false => Err(format!(
            "{text:?} is not an APPID (the digits a bucket name ends in)"
        )),
    }
}

/// `client`, signing each listed account's buckets with its credentials
/// (not fetched yet); only the `selected` accounts when any are.
pub async fn attach(
    client: CosClient,
    accounts: &[AccountSpec],
    selected: &[String],
) -> Result<CosClient, ConnectError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let mut map = HashMap::new();
    for account in accounts {
        if !selected.is_empty() && !selected.contains(&account.appid) {
            continue;
        }
        let credentials = match &account.access {
            AccountAccess::Role {
                role_arn,
                external_id,
                session_name,
                duration,
            } => {
                let spec = RoleSpec {
                    role_arn: role_arn.clone(),
                    external_id: external_id.clone(),
                    session_name: session_name
                        .clone()
                        .unwrap_or_else(|| format!("cosinv-{}", account.appid)),
                    duration_seconds: duration.unwrap_or(DEFAULT_DURATION_SECONDS),
                };
                let caller = client.credentials().clone();
                let http = client.http_options();
                assumed_role(caller, spec, STS_REGION, http, &lookup)
                    .map_err(CredentialsError::from)?
            }
            AccountAccess::Profile { name } => {
                let options = ChainOptions {
                    profile: Some(name.clone()),
                    http: client.http_options().clone(),
                    ..ChainOptions::default()
                };
                CredentialChain::from_env(&options).await?
            }
        };
        map.insert(account.appid.clone(), credentials);
    }
    match map.is_empty() {
        true => Ok(client),
        false => Ok(client.with_accounts(map)),
    }
}

/// [`attach`] for a run's connection, if it has one.
pub async fn connect(
    connection: Option<Connection>,
    accounts: &[AccountSpec],
    selected: &[String],
) -> Result<Option<Connection>, ConnectError> {
    let Some(mut connection) = connection else {
        return Ok(None);
    };
    connection.client = attach(connection.client, accounts, selected).await?;
    Ok(Some(connection))
}

/// Fetches the credentials of every account with jobs in `plan`, all at
/// once; one line per account that cannot be reached.
pub async fn first_fetch(client: &CosClient, plan: &Plan, observer: &dyn RunObserver) {
    let mut jobs: BTreeMap<&str, usize> = BTreeMap::new();
    for job in plan.jobs() {
        *jobs.entry(job.bucket().appid()).or_default() += 1;
    }
    let map = client.accounts();
    let used: Vec<(&str, &SharedCredentials)> = jobs
        .keys()
        .filter_map(|appid| Some((*appid, map.get(*appid)?)))
        .collect();
    let fetched: Vec<_> = futures_util::stream::iter(used.iter())
        .map(|(_, credentials)| credentials.current())
        .buffered(STS_IN_FLIGHT)
        .collect()
        .await;
    for ((appid, _), result) in used.iter().zip(fetched) {
        if let Err(err) = result {
            let count = jobs.get(appid).copied().unwrap_or_default();
            let jobs_word = if count == 1 { "job" } else { "jobs" };
            observer.log(
                Level::Warn,
                &format!(
                    "cosinv: account {appid}: {err}; its {count} {jobs_word} are skipped, \
                     the other accounts go on"
                ),
            );
        }
    }
}
