//! What a run does around the planner for `discover:` jobs and the
//! destination check: the manifests are loaded offline first (every
//! problem shown before anything is sent); when they hold `discover:`
//! jobs, the account's bucket list is read (GET Service, every page) and
//! they are loaded again with it. Offline runs say which jobs were left
//! unresolved, and why.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::error::RunError;
use super::observe::{Level, RunObserver};
use super::text::count;
use crate::account::{self, DestinationCheck};
use crate::cos::request::MAX_SERVICE_PAGE;
use crate::manifest::ReadOptions;
use crate::plan::{self, LoadSummary, ManifestErrors, Plan, discover::single_region};
use crate::send::client::CosClient;
use crate::send::fetch::FetchSettings;

/// The manifests; `discover:` jobs unresolved.
pub fn load_offline(
    files: &[PathBuf],
    options: &ReadOptions,
) -> Result<(Plan, LoadSummary), ManifestErrors> {
    plan::load_with_options(files, options, None)
}

/// The plan again, with `discover:` jobs expanded from the account's
/// buckets; `loaded` when there are none (nothing is asked).
pub async fn resolve(
    files: &[PathBuf],
    options: &ReadOptions,
    loaded: (Plan, LoadSummary),
    client: &CosClient,
    settings: &mut FetchSettings,
    observer: &dyn RunObserver,
) -> Result<(Plan, LoadSummary), RunError> {
    if loaded.1.discovery.is_empty() {
        return Ok(loaded);
    }
    let region = single_region(&loaded.1.discovery);
    let mut entries =
        account::list_buckets(client, region.as_ref(), MAX_SERVICE_PAGE, settings).await?;
    // GET Service lists the signer's account's buckets: each member
    // account's are listed with its own credentials. One that cannot be
    // listed is named, and the others go on.
    for (appid, member) in client.account_clients() {
        match account::list_buckets(&member, region.as_ref(), MAX_SERVICE_PAGE, settings).await {
            Ok(listed) => entries.extend(listed),
            Err(err) => observer.log(
                Level::Warn,
                &format!("cosinv: discover: account {appid}: {err}; its buckets are left out"),
            ),
        }
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    entries.dedup_by(|a, b| a.name == b.name);
    let (discovered, skipped) = account::discovered(&entries);
    for why in skipped {
        let line = format!("cosinv: GET Service listed a bucket cosinv cannot use: {why}");
        observer.log(Level::Warn, &line);
    }
    let (plan, summary) = plan::load_with_options(files, options, Some(&discovered))?;
    let asked = region.map_or("the account".to_string(), |r| format!("region {r}"));
    let line = format!(
        "cosinv: discover: {} in {asked}",
        count(entries.len() as u64, "bucket", "buckets")
    );
    observer.log(Level::Info, &line);
    for used in &summary.discovery {
        let selected = used.selected.unwrap_or(0);
        let line = format!(
            "cosinv: {}: discover: ({}) selected {}",
            used.source,
            used.id,
            count(selected as u64, "bucket", "buckets")
        );
        let level = if selected == 0 {
            Level::Warn
        } else {
            Level::Info
        };
        observer.log(level, &line);
    }
    Ok((plan, summary))
}

/// For a run that stays offline: one line per `discover:` job left
/// unresolved, saying why (`why`, the caller's words).
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

/// Destinations warned about by name before the rest are only counted.
const DESTINATION_WARNINGS_SHOWN: usize = 20;

/// The destination check for people: a line per warned job (the first
/// ones), then what was checked.
pub fn destination_lines(plan: &Plan, check: &DestinationCheck) -> Vec<String> {
    // One line per destination bucket: its first job's warning and how
    // many jobs send their reports there with one (ten jobs behind one
    // policy-less bucket are one problem, not ten).
    let mut by_destination: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (job, warning) in plan.jobs().iter().zip(&check.warnings) {
        let Some(warning) = warning else { continue };
        let destination = job.config().destination.bucket.to_string();
        let entry = by_destination.entry(destination).or_insert_with(|| {
            let example = format!("e.g. {} {}", job.bucket(), job.id());
            (0, format!("{warning} ({example}"))
        });
        entry.0 += 1;
    }
    let mut lines: Vec<String> = by_destination
        .values()
        .take(DESTINATION_WARNINGS_SHOWN)
        .map(|(jobs, first)| {
            format!(
                "cosinv: warning: {first}; {} behind it)",
                count(*jobs as u64, "job", "jobs")
            )
        })
        .collect();
    if by_destination.len() > lines.len() {
        lines.push(format!(
            "cosinv: … and {} more (the JSON plan has every job's destination_warning)",
            count(
                (by_destination.len() - lines.len()) as u64,
                "destination",
                "destinations"
            )
        ));
    }
    let warned = check.warned();
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, Region};
    use crate::plan::{Job, Source};

    fn job(bucket: &str) -> Job {
        let source = Source {
            file: "m.yaml".into(),
            line: 1,
        };
        let bucket = BucketName::parse(bucket).unwrap();
        Job::new(
            bucket,
            Region::parse("ap-guangzhou").unwrap(),
            sample(),
            source,
        )
    }

    #[test]
    fn one_line_per_destination_with_the_jobs_behind_it() {
        let buckets = ["a-1250000000", "b-1250000000", "c-1250000000"];
        let plan = Plan::from_jobs(buckets.iter().map(|bucket| job(bucket)).collect());
        let warning = Some("destination has no bucket policy".to_string());
        let check = DestinationCheck {
            warnings: vec![warning.clone(), None, warning],
            destinations: 1,
        };
        let lines = destination_lines(&plan, &check);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].ends_with("(e.g. a-1250000000 list1; 2 jobs behind it)"),
            "{lines:?}"
        );
        assert!(
            lines[1].ends_with("2 of 3 jobs have a warning"),
            "{lines:?}"
        );
    }
}
