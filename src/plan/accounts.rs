//! The `accounts:` of every YAML manifest, merged: an APPID listed in two
//! places is a problem (which entry would win is not the operator's
//! guess), and with `require_accounts: true` every bucket's APPID must be
//! listed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::Job;
use crate::manifest::{AccountSpec, Problems, YamlManifest};

/// The accounts of all files, each APPID once; problems added.
pub(super) fn collect(
    yaml: &[(&PathBuf, YamlManifest)],
    jobs: &[Job],
    problems: &mut Problems,
) -> Vec<AccountSpec> {
    let mut by_appid: BTreeMap<&str, &AccountSpec> = BTreeMap::new();
    for (_, manifest) in yaml {
        for account in &manifest.accounts {
            match by_appid.get(account.appid.as_str()) {
                Some(first) => problems.add(
                    &account.at,
                    &format!("accounts.{}", account.appid),
                    format!(
                        "APPID {} is already listed at {}; list each account once",
                        account.appid, first.at
                    ),
                ),
                None => {
                    by_appid.insert(&account.appid, account);
                }
            }
        }
    }
    let required = yaml.iter().any(|(_, manifest)| {
        manifest
            .defaults
            .as_ref()
            .and_then(|d| d.require_accounts.as_ref())
            .is_some_and(|setting| setting.value)
    });
    if required {
        let mut reported = std::collections::BTreeSet::new();
        for job in jobs {
            let appid = job.bucket().appid();
            if !by_appid.contains_key(appid) && reported.insert(appid.to_string()) {
                problems.add(
                    &job.loc(),
                    "bucket",
                    format!(
                        "{}'s APPID {appid} is not listed under accounts: \
                         (defaults.require_accounts is true); add it with its role_arn or profile",
                        job.bucket()
                    ),
                );
            }
        }
    }
    by_appid.into_values().cloned().collect()
}
