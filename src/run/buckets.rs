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
    command: &str,
    observer: &dyn RunObserver,
) -> Result<Vec<BucketEntry>, ListingError> {
    let target = connect::target(settings, command, observer).await?;
    let connection = connect::connect(target).await?;
    let mut fetch = settings.fetch_settings();
    let region = filter.single_region();
    let listed =
        account::list_buckets(&connection.client, region, MAX_SERVICE_PAGE, &mut fetch).await;
    let _ = connection.shut_down().await;
    let listed = listed?;
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
