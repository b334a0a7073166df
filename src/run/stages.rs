//! The stages plan and apply share: load the manifests, reach COS, choose
//! the jobs (`discover:`, an earlier report, the shard, the destination
//! check) and read what is on every bucket.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use super::connect::{self, Connection, Target};
use super::discover::{destination_lines, load_offline, resolve, unresolved_notes};
use super::error::RunError;
use super::observe::{Caller, Level, Phase, RunObserver};
use super::settings::{Control, RunSettings};
use super::text::count;
use crate::account::check_destinations;
use crate::executor::events::Stats;
use crate::executor::{self, ExecutorConfig, Refreshed};
use crate::plan::{Job, LoadSummary, Plan};
use crate::report::previous::PreviousReport;
use crate::send::client::CosClient;

/// How many jobs that left the manifests are named; the rest are counted.
const GONE_SHOWN: usize = 5;

/// The manifests, every problem at once; `discover:` jobs unresolved.
pub fn load(settings: &RunSettings) -> Result<(Plan, LoadSummary), RunError> {
    Ok(load_offline(&settings.files, &settings.read)?)
}

/// The connection a run sends through; none for a dry run.
pub async fn reach(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
) -> Result<Option<Connection>, RunError> {
    match settings.dry_run {
        true => Ok(None),
        false => Ok(Some(connect_to(settings, observer, caller).await?)),
    }
}

/// Finds the route and the credentials, asks the caller before a run
/// that changes COS connects, and connects (starting the sandbox).
pub async fn connect_to(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
) -> Result<Connection, RunError> {
    let target = connect::target(&settings.connect, settings.command, observer).await?;
    if let Target::Remote(_) = target {
        caller.before_connecting().map_err(RunError::Caller)?;
    }
    Ok(connect::connect(target).await?)
}

/// The jobs chosen, with a destination warning or none per job when the
/// destinations were checked.
pub struct Chosen {
    pub plan: Plan,
    pub warnings: Option<Vec<Option<String>>>,
}

/// The manifests' jobs, `discover:` ones resolved through `connection`
/// (left out when there is none); with an earlier report, only those that
/// did not apply there; with a shard, only the shard's. The destination
/// check's lines are logged.
pub async fn choose(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    loaded: (Plan, LoadSummary),
    connection: Option<&Connection>,
) -> Result<Chosen, RunError> {
    let mut fetch = settings.connect.fetch_settings();
    let (mut plan, _) = match connection {
        Some(connection) => {
            let client = &connection.client;
            let (files, read) = (&settings.files, &settings.read);
            resolve(files, read, loaded, client, &mut fetch, observer).await?
        }
        None => {
            let why = &settings.offline_reason;
            for note in unresolved_notes(settings.command, &loaded.1, why) {
                observer.log(Level::Warn, &note);
            }
            loaded
        }
    };
    if let Some(path) = &settings.from_report {
        let previous = PreviousReport::read(path)?;
        plan = rerun_only(plan, &previous, path, observer);
    }
    if let Some(shard) = settings.shard {
        plan = plan.shard(shard);
    }
    if !settings.accounts.is_empty() {
        let only = |job: &&Job| settings.accounts.iter().any(|a| a == job.bucket().appid());
        plan = Plan::from_jobs(plan.jobs().iter().filter(only).cloned().collect());
    }
    let mut warnings = None;
    if let (Some(connection), true) = (connection, settings.check_destinations) {
        let check = check_destinations(&connection.client, &plan, &fetch).await;
        for line in destination_lines(&plan, &check) {
            observer.log(Level::Warn, &line);
        }
        warnings = Some(check.warnings);
    }
    Ok(Chosen { plan, warnings })
}

/// The jobs of `plan` that `previous` does not show done: those whose
/// last row failed, was skipped, cancelled or unknown, and those without a
/// row (the earlier run died before writing them). Jobs of the report
/// that the manifests no longer have are named.
fn rerun_only(
    plan: Plan,
    previous: &PreviousReport,
    path: &Path,
    observer: &dyn RunObserver,
) -> Plan {
    let mut listed = BTreeSet::new();
    let mut jobs = Vec::new();
    let mut without_row = 0;
    for job in plan.jobs() {
        let key = (job.bucket().to_string(), job.id().to_string());
        if previous.reruns(&key.0, &key.1) {
            without_row += usize::from(!previous.not_done.contains(&key));
            jobs.push(job.clone());
        }
        listed.insert(key);
    }
    let torn = match previous.torn {
        true => "; its last row was cut short and is left out",
        false => "",
    };
    let line = format!(
        "cosinv: {}: {} done, {} to send again ({} without a row){torn}",
        path.display(),
        count(previous.done.len() as u64, "job", "jobs"),
        count(jobs.len() as u64, "job", "jobs"),
        without_row,
    );
    observer.log(Level::Info, &line);
    let gone: Vec<String> = previous
        .not_done
        .difference(&listed)
        .map(|(bucket, id)| format!("{bucket}/{id}"))
        .collect();
    if !gone.is_empty() {
        let more = match gone.len().saturating_sub(GONE_SHOWN) {
            0 => String::new(),
            more => format!(" and {more} more"),
        };
        let verb = if gone.len() == 1 { "is" } else { "are" };
        let line = format!(
            "cosinv: {} of {} {verb} no longer in the manifests and {verb} skipped: {}{more}",
            count(gone.len() as u64, "job", "jobs"),
            path.display(),
            gone[..gone.len().min(GONE_SHOWN)].join(", "),
        );
        observer.log(Level::Warn, &line);
    }
    Plan::from_jobs(jobs)
}

/// Reads every bucket's inventory, as a phase of its own (buckets read).
pub async fn read_buckets(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    plan: &Arc<Plan>,
    client: &CosClient,
    config: &ExecutorConfig,
    control: &Control,
) -> Refreshed {
    let stats = Arc::<Stats>::default();
    let total = plan.bucket_count() as u64;
    let pacing = &control.pacing;
    let events = observer.phase_started(Phase::Refresh, Arc::clone(&stats), total, pacing);
    let control = control.phase(stats, events);
    let prune = settings.prune.clone();
    let refreshed =
        executor::refresh(plan.clone(), client.clone(), prune, config.clone(), control).await;
    observer.phase_finished(Phase::Refresh);
    refreshed
}
