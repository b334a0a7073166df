//! What plan and apply do around the planner for `discover:` jobs and
//! `--check-destinations`: the manifests are loaded offline first (every
//! problem shown before anything is sent); when they hold `discover:`
//! jobs, the account's bucket list is read (GET Service, every page) and
//! they are loaded again with it. Offline commands say which jobs were
//! left unresolved, and why.

use std::path::PathBuf;

use super::args::{ConnectArgs, ReadArgs};
use super::log::Log;
use super::text::count;
use crate::account::{self, DestinationCheck, FetchSettings, ListError};
use crate::cos::request::MAX_SERVICE_PAGE;
use crate::manifest::ReadOptions;
use crate::plan::{self, LoadSummary, ManifestErrors, Plan, discover::single_region};
use crate::send::client::CosClient;

/// Why discovery failed.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("cannot list the account's buckets for discover: jobs: {0}")]
    List(#[from] ListError),
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),
}

/// How account-level reads are sent, from the connection flags.
pub fn fetch_settings(args: &ConnectArgs) -> FetchSettings {
    let executor = super::connect::executor_config(args);
    FetchSettings {
        retry: executor.retry,
        seed: executor.seed,
        concurrency: args.concurrency.get().min(16),
        ..FetchSettings::default()
    }
}

/// The manifests, read with the read flags; `discover:` jobs unresolved.
pub fn load_offline(
    files: &[PathBuf],
    read: &ReadArgs,
) -> Result<(Plan, LoadSummary), ManifestErrors> {
    plan::load_with_options(files, &read.options(), None)
}

/// The plan again, with `discover:` jobs expanded from the account's
/// buckets; `loaded` when there are none (nothing is asked).
pub async fn resolve(
    files: &[PathBuf],
    options: &ReadOptions,
    loaded: (Plan, LoadSummary),
    client: &CosClient,
    settings: &mut FetchSettings,
    log: &Log,
    quiet: bool,
) -> Result<(Plan, LoadSummary), DiscoveryError> {
    if loaded.1.discovery.is_empty() {
        return Ok(loaded);
    }
    let region = single_region(&loaded.1.discovery);
    let entries =
        account::list_buckets(client, region.as_ref(), MAX_SERVICE_PAGE, settings).await?;
    let (discovered, skipped) = account::discovered(&entries);
    for why in skipped {
        log.warn(&format!(
            "cosinv: GET Service listed a bucket cosinv cannot use: {why}"
        ));
    }
    let (plan, summary) = plan::load_with_options(files, options, Some(&discovered))?;
    if !quiet {
        let asked = region.map_or("the account".to_string(), |r| format!("region {r}"));
        log.info(&format!(
            "cosinv: discover: {} in {asked}",
            count(entries.len() as u64, "bucket", "buckets")
        ));
    }
    for used in &summary.discovery {
        let selected = used.selected.unwrap_or(0);
        let line = format!(
            "cosinv: {}: discover: ({}) selected {}",
            used.source,
            used.id,
            count(selected as u64, "bucket", "buckets")
        );
        match selected {
            0 => log.warn(&line),
            _ if !quiet => log.info(&line),
            _ => {}
        }
    }
    Ok((plan, summary))
}

/// For a command that stays offline: one line per `discover:` job left
/// unresolved, saying why (`why`, e.g. "--no-refresh stays offline").
pub fn unresolved_notes(command: &str, summary: &LoadSummary, why: &str) -> Vec<String> {
    summary
        .discovery
        .iter()
        .map(|used| {
            format!(
                "cosinv {command}: {}: discover: ({}) not resolved, so it adds no jobs here: {why}",
                used.source, used.id
            )
        })
        .collect()
}

/// Job warnings shown on stderr before the rest are only counted.
const DESTINATION_WARNINGS_SHOWN: usize = 20;

/// The destination check for people: a line per warned job (the first
/// ones), then what was checked.
pub fn destination_lines(plan: &Plan, check: &DestinationCheck) -> Vec<String> {
    let mut lines: Vec<String> = plan
        .jobs()
        .iter()
        .zip(&check.warnings)
        .filter_map(|(job, warning)| {
            let warning = warning.as_ref()?;
            Some(format!(
                "cosinv: warning: {} {}: {warning}",
                job.bucket(),
                job.id()
            ))
        })
        .take(DESTINATION_WARNINGS_SHOWN)
        .collect();
    let warned = check.warned();
    if warned > lines.len() {
        lines.push(format!(
            "cosinv: … and {} more (the JSON plan has every job's destination_warning)",
            count((warned - lines.len()) as u64, "job", "jobs")
        ));
    }
    lines.push(format!(
        "cosinv: destination check: {} read; {} of {} {} a warning",
        count(
            check.destinations as u64,
            "bucket policy",
            "bucket policies"
        ),
        warned,
        count(check.warnings.len() as u64, "job", "jobs"),
        if warned == 1 { "has" } else { "have" }
    ));
    lines
}
