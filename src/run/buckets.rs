//! The account's buckets (GET Service, every page), filtered by region
//! and name, and written as aligned text, CSV or JSON.

use crate::report::neutralised;
use std::io::Write;

use super::connect::{self, ConnectError, ConnectSettings};
use super::observe::{Level, RunObserver};
use crate::account::{self, BucketFilter, ListError};
use crate::cos::request::MAX_SERVICE_PAGE;
use crate::cos::xml::BucketEntry;

/// The version of the JSON bucket list: fields may be added within a
/// version; a field removed or changed in meaning is a new version.
pub const BUCKETS_SCHEMA_VERSION: u32 = 1;

/// Why the list could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ListingError {
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    List(#[from] ListError),
    /// The manifests naming the accounts have problems (each line one).
    #[error("{}", .0.join("\n"))]
    Manifest(Vec<String>),
    #[error("no manifest lists account {0} under accounts:")]
    UnknownAccount(String),
}

/// Whose buckets are listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accounts {
    /// The caller's account.
    Caller,
    /// One member account (an APPID under `accounts:`), with its own
    /// credentials.
    One(String),
    /// The caller's and every member account's.
    All,
}

/// The `accounts:` of `files` (YAML manifests; jobs are not needed).
pub fn manifest_accounts(
    files: &[std::path::PathBuf],
) -> Result<Vec<crate::manifest::AccountSpec>, ListingError> {
    let mut problems = crate::manifest::Problems::default();
    let options = crate::manifest::ReadOptions::default();
    let mut accounts = Vec::new();
    for file in files {
        let manifest = crate::manifest::yaml::read(file, &options, &mut problems);
        accounts.extend(manifest.accounts);
    }
    match problems.is_empty() {
        true => Ok(accounts),
        false => Err(ListingError::Manifest(problems.into_report().lines)),
    }
}

/// How the list is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// Aligned columns: name, region, creation date.
    Text,
    /// bucket,region,creation_date with a header row.
    Csv,
    /// `{"schema_version":1,"buckets":[{"bucket","region","creation_date"}]}`
    /// (`docs/schemas/buckets.schema.json`).
    Json,
}

/// The account's buckets that `filter` keeps; `command` names the caller
/// in its lines.
pub async fn list(
    settings: &ConnectSettings,
    filter: &BucketFilter,
    (account, manifests): (Option<&str>, &[std::path::PathBuf]),
    command: &str,
    observer: &dyn RunObserver,
) -> Result<Vec<BucketEntry>, ListingError> {
    let which = &match account {
        None => Accounts::Caller,
        Some("all") => Accounts::All,
        Some(appid) => Accounts::One(appid.to_string()),
    };
    let accounts = &manifest_accounts(manifests)?;
    let target = connect::target(settings, command, observer).await?;
    let mut connection = connect::connect(target).await?;
    let selected = match which {
        Accounts::One(appid) if !accounts.iter().any(|a| &a.appid == appid) => {
            return Err(ListingError::UnknownAccount(appid.clone()));
        }
        Accounts::One(appid) => vec![appid.clone()],
        Accounts::Caller | Accounts::All => Vec::new(),
    };
    if *which != Accounts::Caller {
        let client = connection.client.clone();
        connection.client = super::accounts::attach(client, accounts, &selected).await?;
    }
    let mut clients = connection.client.account_clients();
    if *which != Accounts::All {
        clients.retain(|(appid, _)| selected.contains(appid));
    }
    if matches!(which, Accounts::Caller | Accounts::All) {
        clients.insert(0, (String::new(), connection.client.clone()));
    }
    let mut fetch = settings.fetch_settings();
    let region = filter.single_region();
    let mut listed = Vec::new();
    for (_, client) in &clients {
        match account::list_buckets(client, region, MAX_SERVICE_PAGE, &mut fetch).await {
            Ok(found) => listed.extend(found),
            Err(err) => {
                let _ = connection.shut_down().await;
                return Err(err.into());
            }
        }
    }
    let _ = connection.shut_down().await;
    listed.sort_by(|a, b| a.name.cmp(&b.name));
    listed.dedup_by(|a, b| a.name == b.name);
    let kept = listed.iter().filter(|entry| filter.keeps(entry)).count();
    let line = format!("cosinv {command}: {kept} of the {} listed", listed.len());
    observer.log(Level::Info, &line);
    Ok(listed
        .into_iter()
        .filter(|entry| filter.keeps(entry))
        .collect())
}

#[derive(serde::Serialize)]
struct JsonList<'a> {
    schema_version: u32,
    buckets: Vec<JsonBucket<'a>>,
}

#[derive(serde::Serialize)]
struct JsonBucket<'a> {
    bucket: &'a str,
    region: &'a str,
    creation_date: &'a str,
}

/// `buckets` in `format`, to `out`.
pub fn write_list(
    out: &mut impl Write,
    format: ListFormat,
    buckets: &[BucketEntry],
) -> std::io::Result<()> {
    match format {
        ListFormat::Text => {
            let width = buckets
                .iter()
                .map(|b| b.name.len())
                .max()
                .unwrap_or(0)
                .max(6);
            let region = buckets
                .iter()
                .map(|b| b.location.len())
                .max()
                .unwrap_or(0)
                .max(6);
            writeln!(out, "{:<width$}  {:<region$}  created", "bucket", "region")?;
            for bucket in buckets {
                writeln!(
                    out,
                    "{:<width$}  {:<region$}  {}",
                    bucket.name, bucket.location, bucket.creation_date
                )?;
            }
        }
        ListFormat::Csv => {
            let mut csv = csv::Writer::from_writer(&mut *out);
            csv.write_record(["bucket", "region", "creation_date"])?;
            for bucket in buckets {
                // The server's text: formula-starting cells neutralised.
                let cells = [&bucket.name, &bucket.location, &bucket.creation_date];
                csv.write_record(
                    cells
                        .map(|cell| neutralised(cell))
                        .iter()
                        .map(|c| c.as_ref()),
                )?;
            }
            csv.flush()?;
        }
        ListFormat::Json => {
            let document = JsonList {
                schema_version: BUCKETS_SCHEMA_VERSION,
                buckets: buckets
                    .iter()
                    .map(|b| JsonBucket {
                        bucket: &b.name,
                        region: &b.location,
                        creation_date: &b.creation_date,
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut *out, &document)?;
            writeln!(out)?;
        }
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_s_names_cannot_start_a_formula_in_the_csv() {
        let hostile = BucketEntry {
            name: "=HYPERLINK(\"http://x\")".into(),
            location: "+ap".into(),
            creation_date: "2026-01-01T00:00:00Z".into(),
        };
        let mut out = Vec::new();
        write_list(&mut out, ListFormat::Csv, &[hostile]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert_eq!(
            row,
            "\"'=HYPERLINK(\"\"http://x\"\")\",'+ap,2026-01-01T00:00:00Z"
        );
    }
}
