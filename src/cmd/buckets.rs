//! `cosinv buckets`: the account's buckets (GET Service, every page),
//! filtered by region and name, as aligned text, CSV or JSON on stdout.

use std::io::Write;

use super::args::{BucketsArgs, ListFormat, LogFormat};
use super::connect;
use super::exit;
use super::log::Log;
use super::runtime;
use super::terminal::Terminal;
use crate::account::{self, BucketFilter, ListError};
use crate::cos::request::MAX_SERVICE_PAGE;
use crate::cos::xml::BucketEntry;
use crate::run;
use crate::run::connect::ConnectError;

/// Why the list could not be had.
#[derive(Debug, thiserror::Error)]
enum BucketsError {
    #[error("{}", connect::message(.0))]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    List(#[from] ListError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// `cosinv buckets`: 0, 1 when COS did not give the list, 2 when it could
/// not be asked (usage, credentials).
pub fn run(args: &BucketsArgs) -> u8 {
    let log = Log::new(LogFormat::Text);
    let listed =
        runtime::block_on(list(args, &log)).unwrap_or_else(|err| Err(BucketsError::Runtime(err)));
    let buckets = match listed {
        Ok(buckets) => buckets,
        Err(err) => {
            log.error(&format!("cosinv buckets: {err}"));
            return match err {
                BucketsError::List(_) => exit::JOBS_FAILED,
                _ => exit::USAGE,
            };
        }
    };
    match write(args.output, &buckets) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            log.error(&format!("cosinv buckets: cannot write the list: {err}"));
            exit::JOBS_FAILED
        }
        _ => exit::SUCCESS,
    }
}

async fn list(args: &BucketsArgs, log: &Log) -> Result<Vec<BucketEntry>, BucketsError> {
    let settings = connect::settings(&args.connect);
    let terminal = Terminal::new(log, &args.display, false);
    let target = run::connect::target(&settings, "buckets", &terminal).await?;
    let connection = run::connect::connect(target).await?;
    let filter = BucketFilter {
        regions: args.region.clone(),
        matches: args.matches.clone(),
        exclude: args.exclude.clone(),
    };
    let mut fetch = settings.fetch_settings();
    let region = filter.single_region();
    let listed =
        account::list_buckets(&connection.client, region, MAX_SERVICE_PAGE, &mut fetch).await;
    let _ = connection.shut_down().await;
    let listed = listed?;
    if !args.display.quiet {
        let kept = listed.iter().filter(|entry| filter.keeps(entry)).count();
        log.info(&format!(
            "cosinv buckets: {kept} of the {} listed",
            listed.len()
        ));
    }
    Ok(listed
        .into_iter()
        .filter(|entry| filter.keeps(entry))
        .collect())
}

#[derive(serde::Serialize)]
struct JsonList<'a> {
    version: u32,
    buckets: Vec<JsonBucket<'a>>,
}

#[derive(serde::Serialize)]
struct JsonBucket<'a> {
    bucket: &'a str,
    region: &'a str,
    creation_date: &'a str,
}

fn write(format: ListFormat, buckets: &[BucketEntry]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
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
            let mut csv = csv::Writer::from_writer(&mut out);
            csv.write_record(["bucket", "region", "creation_date"])?;
            for bucket in buckets {
                csv.write_record([&bucket.name, &bucket.location, &bucket.creation_date])?;
            }
            csv.flush()?;
        }
        ListFormat::Json => {
            let document = JsonList {
                version: 1,
                buckets: buckets
                    .iter()
                    .map(|b| JsonBucket {
                        bucket: &b.name,
                        region: &b.location,
                        creation_date: &b.creation_date,
                    })
                    .collect(),
            };
            serde_json::to_writer(&mut out, &document)?;
            writeln!(out)?;
        }
    }
    out.flush()
}
