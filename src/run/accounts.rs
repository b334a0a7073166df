//! An organisation's accounts: each APPID under `accounts:` gets its own
//! credentials (a role assumed with the caller's credentials, or a named
//! profile), and the client signs that APPID's buckets with them.
//!
//! Each role is assumed once, before the first request (all at once, one
//! STS call per account); the credentials are then refreshed before they
//! expire while the run goes on. An account whose role cannot be assumed
//! gets one warning line; its requests are not sent (its jobs end
//! `skipped` with the reason) and the other accounts go on.

use std::collections::{BTreeMap, HashMap};

use futures_util::future::join_all;

use super::connect::{ConnectError, Connection};
use super::observe::{Level, RunObserver};
use crate::credentials::assume_role::{DEFAULT_DURATION_SECONDS, RoleSpec, assumed_role};
use crate::credentials::{ChainOptions, CredentialChain, CredentialsError, SharedCredentials};
use crate::manifest::{AccountAccess, AccountSpec};
use crate::plan::Plan;
use crate::send::client::CosClient;

/// `client`, signing each listed account's buckets with its credentials;
/// accounts without a job in `plan` are left out.
pub async fn route(
    client: CosClient,
    accounts: &[AccountSpec],
    plan: &Plan,
    observer: &dyn RunObserver,
) -> Result<CosClient, ConnectError> {
    if accounts.is_empty() {
        return Ok(client);
    }
    let mut jobs: BTreeMap<&str, (usize, &str)> = BTreeMap::new();
    for job in plan.jobs() {
        let entry = jobs
            .entry(job.bucket().appid())
            .or_insert((0, job.region().as_str()));
        entry.0 += 1;
    }
    let lookup = |name: &str| std::env::var(name).ok();
    let mut map = HashMap::new();
    for account in accounts {
        let Some((_, region)) = jobs.get(account.appid.as_str()) else {
            continue;
        };
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
                assumed_role(caller, spec, region, http, &lookup).map_err(CredentialsError::from)?
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
    first_fetch(&map, &jobs, observer).await;
    Ok(client.with_accounts(map))
}

/// [`route`] for a run's connection, if it has one.
pub async fn connect(
    connection: Option<Connection>,
    accounts: &[AccountSpec],
    plan: &Plan,
    observer: &dyn RunObserver,
) -> Result<Option<Connection>, ConnectError> {
    let Some(mut connection) = connection else {
        return Ok(None);
    };
    connection.client = route(connection.client, accounts, plan, observer).await?;
    Ok(Some(connection))
}

/// Fetches every account's credentials at once; one line per account that
/// cannot be reached.
async fn first_fetch(
    map: &HashMap<String, SharedCredentials>,
    jobs: &BTreeMap<&str, (usize, &str)>,
    observer: &dyn RunObserver,
) {
    let mut appids: Vec<&String> = map.keys().collect();
    appids.sort();
    let fetched = join_all(appids.iter().map(|appid| map[*appid].current())).await;
    for (appid, result) in appids.into_iter().zip(fetched) {
        if let Err(err) = result {
            let count = jobs.get(appid.as_str()).map_or(0, |(count, _)| *count);
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
