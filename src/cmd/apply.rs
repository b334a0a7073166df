//! `cosinv apply`: load and check the manifests, find the credentials and
//! the route to COS, take the run lock, resolve `discover:` jobs from the
//! account's bucket list (with `--from-report`, keep only the jobs that
//! did not apply last time; with `--check-destinations`, warn about
//! destinations COS may not write to), open the report and its sidecar;
//! read what is on every bucket (unless `--no-refresh`), ask before
//! deleting (`--prune`), then send what differs with a progress display
//! and signal handling, and turn the result into an exit code a cron job
//! can act on (see [`exit`]).

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_util::sync::CancellationToken;

use super::args::{ApplyArgs, LogFormat, OutputFormat};
use super::connect::{self, ConnectError, Connection};
use super::discovery::{
    self, DiscoveryError, destination_lines, fetch_settings, load_offline, unresolved_notes,
};
use super::exit;
use super::lock::{LockError, RunLock};
use super::log::Log;
use super::progress::{Counting, Progress, ProgressOptions};
use super::runtime;
use super::signals::StopSignals;
use super::summary;
use super::text::count;
use crate::account::check_destinations;
use crate::executor::events::Stats;
use crate::executor::{
    self, ExecuteError, ExecutorConfig, Pacing, Refreshed, RunControl, RunResult, StopReason,
};
use crate::plan::reconcile::{self, BucketWork, PruneRule, Unreadable, UnreadableEnd};
use crate::plan::{LoadSummary, ManifestErrors, Plan};
use crate::report::previous::{PreviousReport, PreviousReportError};
use crate::report::run::{
    ManifestDigest, RecordError, RunOptions, RunRecord, SCHEMA_VERSION, Target, new_run_id,
    sidecar_path,
};
use crate::report::{self, ReportError, ReportWriter};
use crate::send::client::CosClient;

/// How many jobs that left the manifests are named; the rest are counted.
const GONE_SHOWN: usize = 5;

/// Why `apply` could not run.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}; choose another place with --report")]
    Report(#[from] ReportError),
    #[error("{0}; choose another place with --report")]
    Record(#[from] RecordError),
    #[error("--from-report: {0}")]
    Previous(#[from] PreviousReportError),
    #[error("cannot read the manifest {}: {source}", path.display())]
    Digest {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "{0} would all write to standard output; give the report a file (or drop \
         --output json)"
    )]
    StdoutShared(String),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error(
        "--prune deletes inventory jobs and asks first; there is no terminal to ask on, so \
         nothing was sent: pass --yes to delete without asking"
    )]
    PruneNeedsConfirmation,
    #[error("nothing was sent: the deletions were not confirmed")]
    PruneDeclined,
    #[error(transparent)]
    Discovery(#[from] DiscoveryError),
    #[error(
        "--check-destinations reads each destination bucket's policy, and --dry-run sends \
         nothing; drop one of them (cosinv plan --check-destinations checks without applying)"
    )]
    CheckOffline,
}

impl ApplyError {
    /// 2 for anything that stopped the run before it started; 1 when the
    /// run itself broke (the report says how far it got).
    fn exit_code(&self) -> u8 {
        match self {
            ApplyError::Execute(_) => exit::JOBS_FAILED,
            _ => exit::USAGE,
        }
    }
}

/// `cosinv apply`: the exit code.
pub fn run(args: &ApplyArgs) -> u8 {
    let log = Log::new(args.log_format);
    let deletes = args.reconcile.prune && !args.dry_run;
    let claims = stdout_claims(args);
    let outcome = if claims.len() > 1 {
        Err(ApplyError::StdoutShared(claims.join(" and ")))
    } else if args.check_destinations && args.dry_run {
        Err(ApplyError::CheckOffline)
    } else if deletes && !args.yes && !std::io::stdin().is_terminal() {
        Err(ApplyError::PruneNeedsConfirmation)
    } else {
        runtime::block_on(apply(args, &log)).unwrap_or_else(|err| Err(ApplyError::Runtime(err)))
    };
    match outcome {
        Ok(code) => code,
        Err(ApplyError::Manifest(errors))
        | Err(ApplyError::Discovery(DiscoveryError::Manifest(errors))) => problems(&log, &errors),
        Err(err) => {
            log.error(&format!("cosinv apply: {err}"));
            err.exit_code()
        }
    }
}

/// `--report -`: the report on standard output (progress and the summary
/// stay on stderr).
fn writes_report_to_stdout(args: &ApplyArgs) -> bool {
    args.report.as_deref() == Some(Path::new("-"))
}

/// What wants this process's standard output; each may have it only
/// alone, refused together before anything runs.
fn stdout_claims(args: &ApplyArgs) -> Vec<&'static str> {
    let mut claims = Vec::new();
    if writes_report_to_stdout(args) {
        claims.push("--report -");
    }
    if args.output == OutputFormat::Json {
        claims.push("--output json");
    }
    claims
}

/// Every manifest problem, then a count; exit code 2.
fn problems(log: &Log, errors: &ManifestErrors) -> u8 {
    if log.format() == LogFormat::Text {
        return super::validate::print_problems("apply", errors, "; nothing was sent");
    }
    for problem in &errors.problems {
        log.error(&super::validate::with_flag_hint(problem));
    }
    log.error(&format!("cosinv apply: {errors}; nothing was sent"));
    exit::USAGE
}

async fn apply(args: &ApplyArgs, log: &Log) -> Result<u8, ApplyError> {
    let prepared = prepare(args, log).await?;
    execute(args, log, prepared).await
}

/// Everything checked and opened before the first request.
struct Prepared {
    plan: Arc<Plan>,
    report: ReportWriter,
    executor: ExecutorConfig,
    /// `None` for a dry run: nothing is sent.
    connection: Option<Connection>,
    record: RunRecord,
    /// The sidecar, beside a report file (none for a report on stdout).
    record_path: Option<PathBuf>,
    /// `None` for a dry run or a sandbox: they change nothing on COS, so
    /// there is nothing to race.
    _lock: Option<RunLock>,
}

async fn prepare(args: &ApplyArgs, log: &Log) -> Result<Prepared, ApplyError> {
    let started = jiff::Timestamp::now();
    // Every manifest problem is shown before anything is asked or opened.
    let loaded = load_offline(&args.files, &args.read)?;
    let target = match args.dry_run {
        true => None,
        false => Some(connect::target_logged(&args.connect, &args.display, log, "apply").await?),
    };
    let lock = match target {
        Some(connect::Target::Remote(_)) => Some(RunLock::acquire(&args.files, args.shard)?),
        Some(connect::Target::Sandbox(_)) | None => None,
    };
    let connection = match target {
        Some(target) => Some(connect::connect(&args.connect, target).await?),
        None => None,
    };
    let plan = select_jobs(args, log, loaded, connection.as_ref()).await?;
    let (report, report_path) = open_report(args, started)?;
    let record = new_record(args, started, &report_path, record_target(args))?;
    // The sidecar sits beside a report file only: never `/dev/null.json`.
    let record_path = report.is_regular_file().then(|| sidecar_path(&report_path));
    if let Some(path) = &record_path {
        record.write(path)?;
    }
    Ok(Prepared {
        plan: Arc::new(plan),
        report,
        executor: connect::executor_config(&args.connect),
        connection,
        record,
        record_path,
        _lock: lock,
    })
}

/// The report (standard output for `-`) and its path for the record.
fn open_report(
    args: &ApplyArgs,
    started: jiff::Timestamp,
) -> Result<(ReportWriter, PathBuf), ApplyError> {
    Ok(match &args.report {
        Some(path) if writes_report_to_stdout(args) => (ReportWriter::stdout()?, path.clone()),
        given => {
            let path = given
                .clone()
                .unwrap_or_else(|| report::default_report_path(started));
            (ReportWriter::create(&path)?, path)
        }
    })
}

/// The manifests' jobs, `discover:` ones resolved through `connection`
/// (left out on a dry run); with `--from-report`, only those that did not
/// apply there; with `--shard`, only the shard's. With
/// `--check-destinations`, the warnings are logged.
async fn select_jobs(
    args: &ApplyArgs,
    log: &Log,
    loaded: (Plan, LoadSummary),
    connection: Option<&Connection>,
) -> Result<Plan, ApplyError> {
    let quiet = args.display.quiet;
    let mut settings = fetch_settings(&args.connect);
    let (mut plan, _) = match connection {
        Some(connection) => {
            let options = args.read.options();
            let client = &connection.client;
            discovery::resolve(
                &args.files,
                &options,
                loaded,
                client,
                &mut settings,
                log,
                quiet,
            )
            .await?
        }
        None => {
            let why = "--dry-run sends nothing, GET Service included";
            for note in unresolved_notes("apply", &loaded.1, why) {
                log.warn(&note);
            }
            loaded
        }
    };
    if let Some(path) = &args.from_report {
        let previous = PreviousReport::read(path)?;
        plan = rerun_only(plan, &previous, path, log, args.display.quiet);
    }
    if let Some(shard) = args.shard {
        plan = plan.shard(shard);
    }
    if let (Some(connection), true) = (connection, args.check_destinations) {
        let check = check_destinations(&connection.client, &plan, &settings).await;
        for line in destination_lines(&plan, &check) {
            log.warn(&line);
        }
    }
    Ok(plan)
}

/// The jobs of `plan` that `previous` says did not apply. Jobs of the
/// report that the manifests no longer have are named and skipped.
fn rerun_only(plan: Plan, previous: &PreviousReport, path: &Path, log: &Log, quiet: bool) -> Plan {
    let mut present = BTreeSet::new();
    let mut jobs = Vec::new();
    for job in plan.jobs() {
        let key = (job.bucket().to_string(), job.id().to_string());
        if previous.rerun.contains(&key) {
            jobs.push(job.clone());
            present.insert(key);
        }
    }
    let gone: Vec<String> = previous
        .rerun
        .difference(&present)
        .map(|(bucket, id)| format!("{bucket}/{id}"))
        .collect();
    if !quiet {
        log.info(&format!(
            "cosinv: {}: {} applied, {} to send again",
            path.display(),
            count(previous.done as u64, "job", "jobs"),
            count(jobs.len() as u64, "job", "jobs"),
        ));
    }
    if !gone.is_empty() {
        let more = gone.len().saturating_sub(GONE_SHOWN);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        log.warn(&format!(
            "cosinv: {} of {} {} no longer in the manifests and {} skipped: {}{more}",
            count(gone.len() as u64, "job", "jobs"),
            path.display(),
            if gone.len() == 1 { "is" } else { "are" },
            if gone.len() == 1 { "is" } else { "are" },
            gone[..gone.len().min(GONE_SHOWN)].join(", "),
        ));
    }
    Plan::from_jobs(jobs)
}

/// Where the run sends, as the sidecar records it.
fn record_target(args: &ApplyArgs) -> Target {
    match (&args.connect.endpoint, args.dry_run, args.connect.sandbox) {
        (_, true, _) => Target::DryRun,
        (_, _, true) => Target::Sandbox,
        (Some(url), ..) => Target::Endpoint { url: url.clone() },
        (None, ..) => Target::Cos,
    }
}

/// The sidecar as the run starts: what was asked, with the manifests'
/// digests.
fn new_record(
    args: &ApplyArgs,
    started: jiff::Timestamp,
    report: &Path,
    target: Target,
) -> Result<RunRecord, ApplyError> {
    let manifests = args
        .files
        .iter()
        .map(|path| {
            ManifestDigest::of_file(path).map_err(|source| ApplyError::Digest {
                path: path.clone(),
                source,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(RunRecord {
        schema_version: SCHEMA_VERSION,
        cosinv_version: env!("CARGO_PKG_VERSION"),
        run_id: new_run_id(started),
        started_at: report::timestamp(started),
        finished_at: None,
        report: report.to_path_buf(),
        manifests,
        target,
        shard: args.shard.map(|shard| shard.to_string()),
        from_report: args.from_report.clone(),
        options: RunOptions {
            concurrency: args.connect.concurrency.get(),
            bucket_concurrency: args.connect.bucket_concurrency.get(),
            rate: args.connect.rate.map(|rate| rate.get()),
            bucket_rate: args.connect.bucket_rate.map(|rate| rate.get()),
            max_attempts: args.connect.max_attempts.get(),
            request_timeout_secs: args.connect.request_timeout.as_secs_f64(),
            give_up_after_secs: args.connect.give_up_after.as_secs_f64(),
            dry_run: args.dry_run,
            refresh: args.reconcile.refreshes() && !args.dry_run,
            prune: args.reconcile.prune && !args.dry_run,
            prune_prefix: args.reconcile.prune_prefix.clone(),
        },
        stopped: None,
        exit_code: None,
        counts: None,
        pacing: None,
    })
}

async fn execute(args: &ApplyArgs, log: &Log, prepared: Prepared) -> Result<u8, ApplyError> {
    let Prepared {
        plan,
        report,
        mut executor,
        connection,
        mut record,
        record_path,
        _lock,
    } = prepared;
    let stop = Stop::default();
    let signal = watch_signals(stop.cancel.clone(), stop.force.clone(), log.clone());
    if let Some(sandbox) = connection.as_ref().and_then(|c| c.sandbox.as_ref())
        && !args.display.quiet
    {
        log.info(&format!(
            "sandbox: a COS emulator in this process on {} (nothing leaves this machine); \
             its state is kept in {}",
            sandbox.emulator.endpoint(),
            sandbox.state.display()
        ));
    }
    let client = connection.as_ref().map(|c| c.client.clone());
    let mut stopped = None;
    let work = match (&client, args.reconcile.refreshes()) {
        (Some(client), true) => {
            let refreshed = refresh(args, log, &plan, client, &executor, &stop).await;
            // Sign the writes with the clock the reads learned.
            executor.clock_offset = refreshed.result.clock_offset;
            stopped = refreshed.result.stopped;
            match &stopped {
                Some(reason) => nothing_sent(refreshed.buckets, reason),
                None => refreshed.buckets,
            }
        }
        _ => reconcile::blind(&plan),
    };
    confirm_deletes(args, log, &plan, &work)?;
    let phase = Phase {
        args,
        log,
        plan: &plan,
        stop: &stop,
    };
    let mut result = phase.apply(work, client, executor, report).await?;
    result.stopped = result.stopped.or(stopped);
    let signal = signal.load(Ordering::Relaxed);
    let code = summary::exit_code(&result, signal);
    summary::finish_record(&mut record, &result, signal, code);
    if let Some(path) = &record_path
        && let Err(err) = record.write(path)
    {
        log.error(&format!("cosinv apply: {err}"));
    }
    for line in summary::lines(&result, &plan, &record) {
        log.info(&line);
    }
    if let Some(connection) = connection {
        shut_down(connection, &plan, log).await;
    }
    if args.output == OutputFormat::Json {
        summary::print_json(&record, log);
    }
    Ok(code)
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

/// The run's stop tokens and pacing, shared by both phases: a signal
/// stops whichever is going on, and the apply starts at the pace the
/// refresh found.
#[derive(Clone, Default)]
struct Stop {
    cancel: CancellationToken,
    force: CancellationToken,
    pacing: Pacing,
}

impl Stop {
    fn control(&self, progress: &Progress, stats: Arc<Stats>) -> RunControl {
        RunControl {
            cancel: self.cancel.clone(),
            force: self.force.clone(),
            stats,
            observer: progress.observer(),
            pacing: self.pacing.clone(),
        }
    }
}

/// How progress is shown: a bar on a terminal with text logs.
fn progress_options(args: &ApplyArgs) -> ProgressOptions {
    let bar = args.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    ProgressOptions::detect(args.display.quiet, args.display.verbose, bar)
}

/// The refresh phase, with its own progress (buckets read).
async fn refresh(
    args: &ApplyArgs,
    log: &Log,
    plan: &Arc<Plan>,
    client: &CosClient,
    config: &ExecutorConfig,
    stop: &Stop,
) -> Refreshed {
    let stats = Arc::<Stats>::default();
    let options = progress_options(args).counting(Counting::BUCKETS);
    let total = plan.bucket_count() as u64;
    let progress = Progress::new(options, Arc::clone(&stats), total, log.clone());
    let prune = PruneRule {
        enabled: args.reconcile.prune && !args.dry_run,
        prefix: args.reconcile.prune_prefix.clone(),
    };
    progress.start();
    let control = stop.control(&progress, stats);
    let refreshed =
        executor::refresh(plan.clone(), client.clone(), prune, config.clone(), control).await;
    progress.finish();
    if !args.display.quiet {
        log.info(&summary::refresh_line(&refreshed.result));
    }
    if let Some(reason) = &refreshed.result.stopped {
        log.warn(&format!(
            "cosinv: stopped early while reading the buckets: {reason}"
        ));
    }
    if args.display.verbose > 0 && !args.display.quiet {
        for line in super::plan::ignored_lines(plan, &refreshed.buckets) {
            log.info(&line);
        }
    }
    refreshed
}

/// What both phases of a run share.
struct Phase<'a> {
    args: &'a ApplyArgs,
    log: &'a Log,
    plan: &'a Arc<Plan>,
    stop: &'a Stop,
}

impl Phase<'_> {
    /// The apply phase, with its own progress (jobs).
    async fn apply(
        &self,
        work: Vec<BucketWork>,
        client: Option<CosClient>,
        config: ExecutorConfig,
        report: ReportWriter,
    ) -> Result<RunResult, ExecuteError> {
        let stats = Arc::<Stats>::default();
        let total = self.plan.jobs().len() as u64;
        let options = progress_options(self.args);
        let progress = Progress::new(options, Arc::clone(&stats), total, self.log.clone());
        progress.start();
        let control = self.stop.control(&progress, stats);
        let plan = self.plan.clone();
        let result = executor::execute(plan, work, client, config, report, control).await;
        progress.finish();
        result
    }
}

/// With `--prune` and ids to delete: asks on the terminal, unless `--yes`.
fn confirm_deletes(
    args: &ApplyArgs,
    log: &Log,
    plan: &Plan,
    work: &[BucketWork],
) -> Result<(), ApplyError> {
    let deletes: Vec<(&str, &str)> = plan
        .buckets()
        .zip(work)
        .flat_map(|(jobs, work)| match work {
            BucketWork::Changes(changes) if changes.limit.is_none() => changes
                .deletes
                .iter()
                .map(|id| (jobs[0].bucket().as_str(), id.as_str()))
                .collect(),
            _ => Vec::new(),
        })
        .collect();
    if deletes.is_empty() || args.yes {
        return Ok(());
    }
    log.warn(&format!(
        "cosinv apply: --prune would delete {} not in the manifests, e.g.:",
        count(deletes.len() as u64, "inventory job", "inventory jobs")
    ));
    for (bucket, id) in deletes.iter().take(10) {
        log.warn(&format!("  - {bucket} {id}"));
    }
    eprint!("Delete them? Type yes to go on: ");
    let mut answer = String::new();
    let _ = std::io::stdin().read_line(&mut answer);
    if answer.trim().eq_ignore_ascii_case("yes") {
        Ok(())
    } else {
        Err(ApplyError::PruneDeclined)
    }
}

/// Saves the sandbox's state and says what it holds.
async fn shut_down(connection: Connection, plan: &Plan, log: &Log) {
    let Some(sandbox) = connection.sandbox else {
        return;
    };
    let line = summary::sandbox(&sandbox.emulator, plan, &sandbox.state);
    if let Err(err) = sandbox.emulator.shutdown().await {
        log.error(&format!("sandbox: cannot save the state: {err}"));
    }
    log.info(&line);
}

/// SIGINT and SIGTERM: the first stops dispatching, the second stops
/// waiting for requests on the wire. Returns the exit code of the first
/// signal, 0 while none has come.
fn watch_signals(cancel: CancellationToken, force: CancellationToken, log: Log) -> Arc<AtomicU8> {
    let received = Arc::new(AtomicU8::new(0));
    let Ok(mut signals) = StopSignals::watch() else {
        log.warn("cosinv: cannot watch signals; Ctrl-C will stop at once");
        return received;
    };
    let first = received.clone();
    tokio::spawn(async move {
        loop {
            let code = signals.next().await.exit_code();
            if first
                .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                log.warn(
                    "cosinv: stopping: no new requests; waiting for those in flight \
                     (signal again to stop at once)",
                );
                cancel.cancel();
            } else {
                force.cancel();
            }
        }
    });
    received
}
