//! `cosinv apply`: load and check the manifests, take the run lock, open
//! the report; read what is on every bucket (unless `--no-refresh`), ask
//! before deleting (`--prune`), then send what differs with a progress
//! display and signal handling, and turn the result into an exit code a
//! cron job can act on.

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio_util::sync::CancellationToken;

use super::args::ApplyArgs;
use super::connect::{self, ConnectError, Connection};
use super::exit;
use super::lock::{LockError, RunLock};
use super::progress::{Counting, Progress, ProgressOptions, human_duration};
use super::runtime;
use super::signals::StopSignals;
use super::validate::print_problems;
use crate::cos::client::{ClientConfig, CosClient};
use crate::executor::{self, ExecuteError, ExecutorConfig, Refreshed, RunControl, RunResult};
use crate::plan::reconcile::{self, BucketWork, PruneRule};
use crate::plan::{self, ManifestErrors, Plan};
use crate::report::{self, ReportError, ReportWriter};

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
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error(
        "--prune deletes inventory jobs and asks first; there is no terminal to ask on, so \
         nothing was sent: pass --yes to delete without asking"
    )]
    PruneNeedsConfirmation,
    #[error("nothing was sent: the deletions were not confirmed")]
    PruneDeclined,
}

impl ApplyError {
    /// 2 for anything that stopped the run before it sent anything; 1 when
    /// the run itself broke (the report says how far it got).
    fn exit_code(&self) -> u8 {
        match self {
            ApplyError::Execute(_) => exit::JOBS_FAILED,
            _ => exit::USAGE,
        }
    }
}

/// `cosinv apply`: the exit code.
pub fn run(args: &ApplyArgs) -> u8 {
    let outcome = prepare(args).and_then(|prepared| {
        runtime::block_on(execute(args, prepared)).map_err(ApplyError::Runtime)?
    });
    match outcome {
        Ok(code) => code,
        Err(ApplyError::Manifest(errors)) => print_problems("apply", &errors, "; nothing was sent"),
        Err(err) => {
            eprintln!("cosinv apply: {err}");
            err.exit_code()
        }
    }
}

/// Everything checked and opened before the first request.
struct Prepared {
    plan: Arc<Plan>,
    report: ReportWriter,
    executor: ExecutorConfig,
    /// `None` for a dry run: nothing is sent.
    client: Option<ClientConfig>,
    _lock: RunLock,
}

fn prepare(args: &ApplyArgs) -> Result<Prepared, ApplyError> {
    let deletes = args.reconcile.prune && !args.dry_run;
    if deletes && !args.yes && !std::io::stdin().is_terminal() {
        return Err(ApplyError::PruneNeedsConfirmation);
    }
    let mut plan = plan::load(&args.files)?;
    if let Some(shard) = args.shard {
        plan = plan.shard(shard);
    }
    let client = match args.dry_run {
        true => None,
        false => Some(connect::client_config(&args.connect)?),
    };
    let lock = RunLock::acquire(&args.files, args.shard)?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| report::default_report_path(jiff::Timestamp::now()));
    let report = ReportWriter::create(&report_path)?;
    Ok(Prepared {
        plan: Arc::new(plan),
        report,
        executor: connect::executor_config(&args.connect),
        client,
        _lock: lock,
    })
}

async fn execute(args: &ApplyArgs, prepared: Prepared) -> Result<u8, ApplyError> {
    let Prepared {
        plan,
        report,
        mut executor,
        client,
        _lock,
    } = prepared;
    let report_path = report.path().to_path_buf();
    let connection = match client {
        Some(config) => Some(connect::connect(&args.connect, config).await?),
        None => None,
    };
    let options = ProgressOptions::detect(args.display.quiet, args.display.verbose);
    let stop = Stop::default();
    let signal = watch_signals(&stop, options);
    if let Some(sandbox) = connection.as_ref().and_then(|c| c.sandbox.as_ref())
        && !args.display.quiet
    {
        eprintln!(
            "sandbox: a COS emulator in this process on {} (nothing leaves this machine); \
             its state is kept in {}",
            sandbox.emulator.endpoint(),
            sandbox.state.display()
        );
    }
    let client = connection.as_ref().map(|c| c.client.clone());
    let work = match (&client, args.reconcile.refreshes()) {
        (Some(client), true) => {
            let refreshed = refresh(args, &plan, client, &executor, &stop, options).await;
            if let Some(reason) = &refreshed.result.aborted {
                eprintln!("cosinv: stopped early while reading the buckets: {reason}");
            }
            // Sign the writes with the clock the reads learned.
            executor.clock_offset = refreshed.result.clock_offset;
            refreshed.buckets
        }
        _ => reconcile::blind(&plan),
    };
    confirm_deletes(args, &plan, &work)?;
    let result = apply(&plan, work, client, executor, report, &stop, options).await?;
    eprintln!("{}", summary(&result, &plan, &report_path, args.dry_run));
    if let Some(connection) = connection {
        shut_down(connection, &plan).await;
    }
    Ok(exit_code(&result, signal.load(Ordering::Relaxed)))
}

/// The run's stop tokens, shared by both phases: a signal stops whichever
/// is going on.
#[derive(Clone, Default)]
struct Stop {
    cancel: CancellationToken,
    force: CancellationToken,
}

impl Stop {
    fn control(&self, progress: &Progress, stats: Arc<executor::events::Stats>) -> RunControl {
        RunControl {
            cancel: self.cancel.clone(),
            force: self.force.clone(),
            stats,
            observer: progress.observer(),
        }
    }
}

/// The refresh phase, with its own progress (buckets read).
async fn refresh(
    args: &ApplyArgs,
    plan: &Arc<Plan>,
    client: &CosClient,
    config: &ExecutorConfig,
    stop: &Stop,
    options: ProgressOptions,
) -> Refreshed {
    let stats = Arc::default();
    let progress = Progress::new(
        options.counting(Counting::BUCKETS),
        Arc::clone(&stats),
        plan.bucket_count() as u64,
    );
    let prune = PruneRule {
        enabled: args.reconcile.prune && !args.dry_run,
        prefix: args.reconcile.prune_prefix.clone(),
    };
    progress.start();
    let refreshed = executor::refresh(
        plan.clone(),
        client.clone(),
        prune,
        config.clone(),
        stop.control(&progress, stats),
    )
    .await;
    progress.finish();
    if args.display.verbose > 0 {
        super::plan::print_ignored(plan, &refreshed.buckets);
    }
    refreshed
}

/// The apply phase, with its own progress (jobs).
async fn apply(
    plan: &Arc<Plan>,
    work: Vec<BucketWork>,
    client: Option<CosClient>,
    config: ExecutorConfig,
    report: ReportWriter,
    stop: &Stop,
    options: ProgressOptions,
) -> Result<RunResult, ExecuteError> {
    let stats = Arc::default();
    let progress = Progress::new(options, Arc::clone(&stats), plan.jobs().len() as u64);
    progress.start();
    let control = stop.control(&progress, stats);
    let result = executor::execute(plan.clone(), work, client, config, report, control).await;
    progress.finish();
    result
}

/// With `--prune` and ids to delete: asks on the terminal, unless `--yes`.
fn confirm_deletes(args: &ApplyArgs, plan: &Plan, work: &[BucketWork]) -> Result<(), ApplyError> {
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
    eprintln!(
        "cosinv apply: --prune would delete {} inventory {} not in the manifests, e.g.:",
        deletes.len(),
        super::plural(deletes.len(), "job", "jobs")
    );
    for (bucket, id) in deletes.iter().take(10) {
        eprintln!("  - {bucket} {id}");
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
async fn shut_down(connection: Connection, plan: &Plan) {
    let Some(sandbox) = connection.sandbox else {
        return;
    };
    let buckets: Vec<&str> = plan
        .buckets()
        .map(|jobs| jobs[0].bucket().as_str())
        .collect();
    let stored: usize = buckets
        .iter()
        .map(|bucket| sandbox.emulator.inventory_ids(bucket).len())
        .sum();
    let saved = sandbox.emulator.shutdown().await;
    eprintln!(
        "sandbox: the emulator holds {stored} inventory configurations on {} buckets; \
         state kept in {} (delete it to start empty)",
        buckets.len(),
        sandbox.state.display()
    );
    if let Err(err) = saved {
        eprintln!("sandbox: cannot save the state: {err}");
    }
}

/// SIGINT and SIGTERM: the first stops dispatching, the second stops
/// waiting for requests on the wire. Returns the exit code of the first
/// signal, 0 while none has come.
fn watch_signals(stop: &Stop, options: ProgressOptions) -> Arc<AtomicU8> {
    let received = Arc::new(AtomicU8::new(0));
    let Ok(mut signals) = StopSignals::watch() else {
        if !options.quiet {
            eprintln!("cosinv: cannot watch signals; Ctrl-C will stop at once");
        }
        return received;
    };
    let first = received.clone();
    let stop = stop.clone();
    tokio::spawn(async move {
        loop {
            let code = signals.next().await.exit_code();
            if first
                .compare_exchange(0, code, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
            {
                eprintln!(
                    "cosinv: stopping: no new requests; waiting for those in flight \
                     (signal again to stop at once)"
                );
                stop.cancel.cancel();
            } else {
                stop.force.cancel();
            }
        }
    });
    received
}

/// The signal's code when a signal stopped the run; 1 when any job did not
/// end as wanted; 0 otherwise.
fn exit_code(result: &RunResult, signal_code: u8) -> u8 {
    if signal_code != 0 {
        return signal_code;
    }
    let stats = &result.stats;
    if stats.failed + stats.skipped + stats.cancelled > 0 || result.aborted.is_some() {
        exit::JOBS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// The last line of a run, printed even with `--quiet`.
fn summary(result: &RunResult, plan: &Plan, report: &std::path::Path, dry_run: bool) -> String {
    let stats = &result.stats;
    let jobs = plan.jobs().len();
    let buckets = plan.bucket_count();
    let scope = format!(
        "{jobs} {} on {buckets} {}",
        super::plural(jobs, "job", "jobs"),
        super::plural(buckets, "bucket", "buckets")
    );
    let elapsed = human_duration(result.elapsed);
    let report = report.display();
    if dry_run {
        return format!(
            "cosinv: dry run: {scope} would be put; nothing was sent; report: {report}"
        );
    }
    let seconds = result.elapsed.as_secs_f64().max(0.001);
    let mut line = format!(
        "cosinv: applied {}, unchanged {}, deleted {}, failed {}, skipped {}, cancelled {} of \
         {scope} in {elapsed} ({:.0} jobs/s, {} requests); report: {report}",
        stats.applied,
        stats.unchanged,
        stats.deleted,
        stats.failed,
        stats.skipped,
        stats.cancelled,
        stats.done() as f64 / seconds,
        stats.attempts,
    );
    if let Some(reason) = &result.aborted {
        line.push_str(&format!("\ncosinv: stopped early: {reason}"));
    }
    if result.clock_offset != 0 {
        line.push_str(&clock_note(result.clock_offset));
    }
    line
}

fn clock_note(offset: i64) -> String {
    let direction = if offset > 0 { "behind" } else { "ahead of" };
    format!(
        "\ncosinv: this host's clock is {} s {direction} COS's; requests were signed \
         with COS's time instead. Fix the clock (NTP) so that other tools work too.",
        offset.unsigned_abs()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::StatsSnapshot;
    use std::time::Duration;

    fn result(applied: u64, failed: u64, cancelled: u64) -> RunResult {
        RunResult {
            stats: StatsSnapshot {
                total: applied + failed + cancelled,
                applied,
                failed,
                cancelled,
                attempts: applied + failed,
                ..StatsSnapshot::default()
            },
            elapsed: Duration::from_secs(2),
            aborted: None,
            clock_offset: 0,
        }
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(exit_code(&result(10, 0, 0), 0), exit::SUCCESS);
        assert_eq!(exit_code(&result(9, 1, 0), 0), exit::JOBS_FAILED);
        assert_eq!(
            exit_code(&result(5, 0, 5), exit::INTERRUPTED),
            exit::INTERRUPTED
        );
        assert_eq!(
            exit_code(&result(5, 0, 5), exit::TERMINATED),
            exit::TERMINATED
        );
        let mut aborted = result(0, 0, 0);
        aborted.aborted = Some("credentials rejected".into());
        assert_eq!(exit_code(&aborted, 0), exit::JOBS_FAILED);
    }

    #[test]
    fn summary_names_counts_and_the_report() {
        let line = summary(
            &result(9, 1, 0),
            &Plan::default(),
            std::path::Path::new("r.csv"),
            false,
        );
        assert_eq!(
            line,
            "cosinv: applied 9, unchanged 0, deleted 0, failed 1, skipped 0, cancelled 0 of \
             0 jobs on 0 buckets in 2.0s (5 jobs/s, 10 requests); report: r.csv"
        );
        let mut slow_clock = result(10, 0, 0);
        slow_clock.clock_offset = 3_600;
        let line = summary(&slow_clock, &Plan::default(), "r.csv".as_ref(), false);
        assert!(
            line.ends_with(
                "this host's clock is 3600 s behind COS's; requests were signed with \
                 COS's time instead. Fix the clock (NTP) so that other tools work too."
            ),
            "{line}"
        );
    }
}
