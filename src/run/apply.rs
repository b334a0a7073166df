//! The apply pipeline: prepare (load the manifests, reach COS, choose
//! the jobs, open the report and its sidecar), refresh (read what is on
//! every bucket), confirm (the caller answers for the deletions), execute
//! (send what differs) and record (finish the sidecar, stop the sandbox).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::connect::Connection;
use super::error::RunError;
use super::inputs::Inputs;
use super::locate::ServiceLocator;
use super::observe::{Caller, Deletion, Level, Phase, RunObserver};
use super::plan_text::ignored_lines;
use super::record::{Interruption, finish_record, new_record};
use super::settings::{Control, ReportTo, RunSettings};
use super::stages::{choose, load, reach, read_buckets};
use super::summary::{refresh_line, sandbox as sandbox_line};
use crate::executor::events::Stats;
use crate::executor::{self, ExecutorConfig, Locator, RunResult, StopReason};
use crate::plan::Plan;
use crate::plan::reconcile::{self, BucketWork, Unreadable, UnreadableEnd};
use crate::report::run::{
    RecordError, RunRecord, UnmanagedBucket, UnmanagedRecord, new_run_id, sidecar_path,
};
use crate::report::{self, OpenedReport, ReportWriter};
use crate::send::FetchSettings;
use crate::send::client::CosClient;

/// Everything checked and opened before the first request.
pub(super) struct Prepared {
    pub(super) plan: Arc<Plan>,
    /// Opened and checked, not written yet.
    report: Opened,
    /// `None` for a dry run: nothing is sent.
    connection: Option<Connection>,
    record: RunRecord,
}

/// The report, opened before the first request (so a path that cannot be
/// written is refused before anything is sent) and started only once the
/// run is sure to write it.
enum Opened {
    File(OpenedReport),
    Stdout,
    /// Rows are made and counted, and kept nowhere.
    Discard,
}

/// A run that went as far as it could: what it did, and its sidecar,
/// still to be finished with the caller's exit code.
pub struct Executed {
    pub plan: Arc<Plan>,
    pub result: RunResult,
    pub record: RunRecord,
    record_path: Option<PathBuf>,
    connection: Option<Connection>,
}

/// What the execute stage sends.
pub(super) enum Work {
    /// What differs from what is on each bucket (read first unless the
    /// run goes blind), deletions confirmed by the caller.
    Reconciled,
    /// A one-time job per planned job, nothing read first.
    OneTime(Vec<BucketWork>),
    /// A saved plan's work per bucket, sent where the bucket is still as
    /// it was when the plan was made (read first unless the run is dry).
    Saved(Vec<BucketWork>),
}

/// Runs apply from the manifests to the last row of the report.
pub async fn apply(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
) -> Result<Executed, RunError> {
    let started = jiff::Timestamp::now();
    let prepared = prepare(settings, observer, caller, started, &|_| Ok(())).await?;
    execute(settings, observer, caller, prepared, Work::Reconciled).await
}

/// Loads, reaches COS, chooses the jobs (then `check`s them, before the
/// report is opened) and opens the report.
pub(super) async fn prepare(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
    started: jiff::Timestamp,
    check: &dyn Fn(&Plan) -> Result<(), RunError>,
) -> Result<Prepared, RunError> {
    // Every manifest problem is shown before anything is asked or opened.
    let loaded = load(settings)?;
    let inputs = Inputs::of(&loaded.1, settings.from_report.as_deref());
    if let ReportTo::File(path) = &settings.report {
        inputs.refuse_as_report(path)?;
    }
    if let (Some(previous), false) = (&settings.from_report, settings.allow_changed_manifests) {
        inputs.check_previous(previous)?;
    }
    let accounts = loaded.1.accounts.clone();
    let connection = reach(settings, observer, caller).await?;
    let connection = super::accounts::connect(connection, &accounts, &settings.accounts).await?;
    let chosen = choose(settings, observer, loaded, connection.as_ref()).await?;
    check(&chosen.plan)?;
    if let Some(connection) = &connection {
        super::accounts::first_fetch(&connection.client, &chosen.plan, observer).await;
    }
    prepared(settings, chosen.plan, connection, started, &inputs)
}

/// The chosen `plan` with its report opened and its sidecar begun.
pub(super) fn prepared(
    settings: &RunSettings,
    plan: Plan,
    connection: Option<Connection>,
    started: jiff::Timestamp,
    inputs: &Inputs,
) -> Result<Prepared, RunError> {
    let run_id = new_run_id(started);
    let (report, report_path) = open_report(&settings.report, settings.dry_run, &run_id)?;
    let record = new_record(settings, started, run_id, report_path, inputs);
    Ok(Prepared {
        plan: Arc::new(plan),
        report,
        connection,
        record,
    })
}

/// The report and its path for the record (`-` for standard output,
/// none when nothing is kept).
fn open_report(
    to: &ReportTo,
    dry_run: bool,
    run_id: &str,
) -> Result<(Opened, Option<PathBuf>), RunError> {
    let named = |dir: &Path| -> Result<_, RunError> {
        let path = dir.join(report::default_report_path(run_id));
        Ok((Opened::File(OpenedReport::open_new(&path)?), Some(path)))
    };
    Ok(match to {
        ReportTo::Stdout => (Opened::Stdout, Some(PathBuf::from("-"))),
        ReportTo::File(path) => (Opened::File(OpenedReport::open(path)?), Some(path.clone())),
        // A dry run asked for no report leaves no file: trying a manifest
        // must not litter the folder it is tried in.
        ReportTo::Default | ReportTo::Folder(_) if dry_run => (Opened::Discard, None),
        ReportTo::Default => named(Path::new(""))?,
        ReportTo::Folder(dir) => named(dir)?,
    })
}

/// Starts the report and writes the sidecar beside a report file (never
/// `/dev/null.json`, none for standard output); the sidecar's path.
fn start_report(
    opened: Opened,
    record: &RunRecord,
) -> Result<(ReportWriter, Option<PathBuf>), RunError> {
    let report = match opened {
        Opened::Stdout => return Ok((ReportWriter::stdout()?, None)),
        Opened::Discard => return Ok((ReportWriter::discard(), None)),
        Opened::File(opened) => opened,
    };
    let sidecar = report
        .is_regular_file()
        .then(|| sidecar_path(report.path()));
    let writer = ReportWriter::start_on(report)?;
    if let Some(path) = &sidecar {
        record.write(path)?;
    }
    Ok((writer, sidecar))
}

/// Sends the work (the refresh and the deletions' question first, for
/// reconciled work), then every row.
pub(super) async fn execute(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
    prepared: Prepared,
    work: Work,
) -> Result<Executed, RunError> {
    let Prepared {
        plan,
        report,
        connection,
        mut record,
    } = prepared;
    caller.before_sending();
    if let Some(sandbox) = connection.as_ref().and_then(|c| c.sandbox.as_ref()) {
        let line = format!(
            "sandbox: a COS emulator in this process on {} (nothing leaves this machine); \
             its state is kept in {}",
            sandbox.emulator.endpoint(),
            sandbox.state.display()
        );
        observer.log(Level::Info, &line);
    }
    let control = Control::new(&settings.stop);
    let mut config = settings.connect.executor_config();
    let (work, stopped) = match (work, &connection, settings.refresh) {
        (Work::OneTime(work), _, _) => (work, None),
        (Work::Reconciled, Some(connection), true) => {
            let client = &connection.client;
            let refreshed = refresh(settings, observer, &plan, client, &config, &control).await;
            // Sign the writes with the clock the reads learned.
            config.clock_offset = refreshed.0;
            record.unmanaged = Some(unmanaged_of(&plan, &refreshed.1));
            (refreshed.1, refreshed.2)
        }
        (Work::Saved(saved), Some(connection), _) => {
            let client = &connection.client;
            let refreshed = refresh(settings, observer, &plan, client, &config, &control).await;
            config.clock_offset = refreshed.0;
            let work = crate::plan::saved::unless_changed(saved, refreshed.1);
            record.unmanaged = Some(unmanaged_of(&plan, &work));
            (work, refreshed.2)
        }
        (Work::Saved(saved), None, _) => (saved, None),
        _ => (reconcile::blind(&plan), None),
    };
    if let Err(declined) = confirm_deletes(caller, &plan, &work).await {
        if let Opened::File(report) = report {
            report.abandon();
        }
        return Err(declined);
    }
    let (report, record_path) = start_report(report, &record)?;
    let stats = Arc::<Stats>::default();
    // Deleted ids are rows too: a total without them shows `11/10`.
    let total = executor::rows_of(&plan, &work) as u64;
    let pacing = &control.pacing;
    let events = observer.phase_started(Phase::Apply, Arc::clone(&stats), total, pacing);
    let client = connection.as_ref().map(|c| c.client.clone());
    let locator = client
        .as_ref()
        .map(|c| locator(settings, c, &config, &control));
    let mut run = control.phase(stats, events);
    run.locator = locator.clone().map(|locator| locator as Locator);
    let result = executor::execute(plan.clone(), work, client, config, report, run).await;
    observer.phase_finished(Phase::Apply);
    if let Some(why) = locator.and_then(|locator| locator.failure()) {
        let line = format!(
            "cosinv: could not list the account's buckets to say where a missing one is: {why}"
        );
        observer.log(Level::Detail, &line);
    }
    let mut result = result?;
    result.stopped = result.stopped.or(stopped);
    Ok(Executed {
        plan,
        result,
        record,
        record_path,
        connection,
    })
}

/// Where a bucket that answered `NoSuchBucket` is: asked through the
/// run's pace and clock, and not past its stop.
fn locator(
    settings: &RunSettings,
    client: &CosClient,
    config: &ExecutorConfig,
    control: &Control,
) -> Arc<ServiceLocator> {
    let fetch = FetchSettings {
        pacing: control.pacing.clone(),
        clock_offset: config.clock_offset,
        ..settings.connect.fetch_settings()
    };
    let cancel = control.stop.cancel.clone();
    Arc::new(ServiceLocator::new(client.clone(), fetch, cancel))
}

/// The refresh phase: the clock offset it learned, the work per bucket
/// (nothing to send when it stopped the run) and why it stopped.
async fn refresh(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    plan: &Arc<Plan>,
    client: &CosClient,
    config: &ExecutorConfig,
    control: &Control,
) -> (i64, Vec<BucketWork>, Option<StopReason>) {
    let refreshed = read_buckets(settings, observer, plan, client, config, control).await;
    let result = &refreshed.result;
    observer.log(Level::Info, &refresh_line(result));
    if let Some(reason) = &result.stopped {
        let line = format!("cosinv: stopped early while reading the buckets: {reason}");
        observer.log(Level::Warn, &line);
    }
    for line in ignored_lines(plan, &refreshed.buckets) {
        observer.log(Level::Detail, &line);
    }
    let work = match &result.stopped {
        Some(reason) => nothing_sent(refreshed.buckets, reason),
        None => refreshed.buckets,
    };
    (result.clock_offset, work, result.stopped.clone())
}

/// After a refresh that stopped the run: nothing is sent. Buckets whose
/// read failed keep its answer (the cause, in their rows); the others are
/// skipped with the reason, so every job still has a row.
fn nothing_sent(work: Vec<BucketWork>, reason: &StopReason) -> Vec<BucketWork> {
    let skipped = Unreadable {
        end: UnreadableEnd::Skipped,
        http_status: None,
        error_code: String::new(),
        message: format!("not sent: {reason}"),
        request_id: String::new(),
    };
    work.into_iter()
        .map(|bucket| match bucket {
            BucketWork::Unreadable(failed) if failed.end == UnreadableEnd::Failed => {
                BucketWork::Unreadable(failed)
            }
            _ => BucketWork::Unreadable(skipped.clone()),
        })
        .collect()
}

/// The inventory ids the reads found on the plan's buckets that no job
/// of the manifests has, and that the run keeps (drift).
fn unmanaged_of(plan: &Plan, work: &[BucketWork]) -> UnmanagedRecord {
    let mut unmanaged = UnmanagedRecord::default();
    for (jobs, work) in plan.buckets().zip(work) {
        let BucketWork::Changes(changes) = work else {
            continue;
        };
        if changes.unmanaged.is_empty() {
            continue;
        }
        unmanaged.jobs += changes.unmanaged.len() as u64;
        unmanaged.buckets.push(UnmanagedBucket {
            bucket: jobs[0].bucket().to_string(),
            ids: changes.unmanaged.clone(),
        });
    }
    unmanaged
}

/// The ids the work deletes, if any, confirmed by the caller.
async fn confirm_deletes(
    caller: &mut dyn Caller,
    plan: &Plan,
    work: &[BucketWork],
) -> Result<(), RunError> {
    let deletes: Vec<Deletion> = plan
        .buckets()
        .zip(work)
        .flat_map(|(jobs, work)| match work {
            BucketWork::Changes(changes) if changes.limit.is_none() => changes
                .deletes
                .iter()
                .map(|id| Deletion {
                    bucket: jobs[0].bucket().to_string(),
                    id: id.to_string(),
                })
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    match deletes.is_empty() || caller.confirm_deletes(&deletes).await {
        true => Ok(()),
        false => Err(RunError::Declined),
    }
}

impl Executed {
    /// Finishes the sidecar with how the run ended and the caller's exit
    /// code, and writes it beside the report.
    pub fn finish(
        &mut self,
        interruption: Option<Interruption>,
        code: u8,
    ) -> Result<(), RecordError> {
        finish_record(&mut self.record, &self.result, interruption, code);
        match &self.record_path {
            Some(path) => self.record.write(path),
            None => Ok(()),
        }
    }

    /// Saves the sandbox's state and says what it holds.
    pub async fn shut_down(&mut self, observer: &dyn RunObserver) {
        let Some(sandbox) = self.connection.take().and_then(|c| c.sandbox) else {
            return;
        };
        let line = sandbox_line(&sandbox.emulator, &sandbox.state);
        if let Err(err) = sandbox.emulator.shutdown().await {
            let error = format!("sandbox: cannot save the state: {err}");
            observer.log(Level::Error, &error);
        }
        observer.log(Level::Summary, &line);
    }
}
