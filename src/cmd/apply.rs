//! `cosinv apply`: load and check the manifests, take the run lock, open
//! the report, then hand the plan to the [`executor`] with a progress
//! display and signal handling, and turn the result into an exit code a
//! cron job can act on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::args::ApplyArgs;
use super::exit;
use super::lock::{LockError, RunLock};
use super::progress::{Progress, ProgressOptions, human_duration};
use super::runtime;
use super::signals::StopSignals;
use super::validate::print_problems;
use crate::cos::client::{ClientBuildError, ClientConfig, CosClient, Endpoint, EndpointError};
use crate::cos::credentials::{Credentials, CredentialsError};
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::executor::retry::RetryPolicy;
use crate::executor::{self, ExecuteError, ExecutorConfig, RunControl, RunResult};
use crate::plan::{self, ManifestErrors, Plan};
use crate::report::{self, ReportError, ReportTarget, ReportWriter};

/// Where requests go when `--endpoint` is not given. `--sandbox` wins over
/// it (a shell that exports it for real runs can still rehearse).
pub const ENDPOINT_VAR: &str = "COS_ENDPOINT";

/// The longest a connection attempt may take, whatever `--request-timeout`.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `apply` could not run.
#[derive(Debug, thiserror::Error)]
enum ApplyError {
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("--endpoint (or {ENDPOINT_VAR}) {0}{hint}", hint = endpoint_hint(.0))]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("{0}; choose another place with --report")]
    Report(#[from] ReportError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("cannot start the sandbox emulator on 127.0.0.1: {0}")]
    Sandbox(std::io::Error),
    #[error("{0} would all write to standard output; send one of them elsewhere")]
    StdoutShared(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Execute(#[from] ExecuteError),
}

/// The flag that lifts an endpoint refusal, when there is one.
fn endpoint_hint(err: &EndpointError) -> &'static str {
    match err {
        EndpointError::InsecureHttp(_) => " (--allow-http)",
        _ => "",
    }
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
    client: ClientSetup,
    /// `None` for a dry run or a sandbox: they change nothing on COS, so
    /// there is nothing to race.
    _lock: Option<RunLock>,
}

/// Where requests go and with which credentials.
enum ClientSetup {
    /// `--dry-run`: nothing is sent.
    None,
    /// A real or rehearsal endpoint.
    Remote(ClientConfig),
    /// `--sandbox`: an emulator in this process; the endpoint is known
    /// once it listens.
    Sandbox(ClientConfig),
}

fn prepare(args: &ApplyArgs) -> Result<Prepared, ApplyError> {
    let mut plan = plan::load(&args.files)?;
    if let Some(shard) = args.shard {
        plan = plan.shard(shard);
    }
    let client = client_setup(args)?;
    let lock = match client {
        ClientSetup::Remote(_) => Some(RunLock::acquire(&args.files, args.shard)?),
        ClientSetup::None | ClientSetup::Sandbox(_) => None,
    };
    let report = open_report(args)?;
    Ok(Prepared {
        plan: Arc::new(plan),
        report,
        executor: executor_config(args),
        client,
        _lock: lock,
    })
}

/// `--report -` is standard output (progress and the summary stay on
/// stderr); any other path is the library's to open or refuse, before the
/// first request.
fn open_report(args: &ApplyArgs) -> Result<ReportWriter, ApplyError> {
    let claims = stdout_claims(args);
    if claims.len() > 1 {
        return Err(ApplyError::StdoutShared(claims.join(" and ")));
    }
    Ok(match args.report.as_deref() {
        Some(path) if is_stdout(path) => ReportWriter::stdout()?,
        Some(path) => ReportWriter::create(path)?,
        None => ReportWriter::create(&report::default_report_path(jiff::Timestamp::now()))?,
    })
}

fn is_stdout(path: &Path) -> bool {
    path == Path::new("-")
}

/// What wants this process's standard output; each may have it only
/// alone. Today only the report can; a machine-readable result on stdout
/// (`--output json`) must add itself here, so that it is refused beside
/// `--report -` before anything runs.
fn stdout_claims(args: &ApplyArgs) -> Vec<&'static str> {
    let mut claims = Vec::new();
    if args.report.as_deref().is_some_and(is_stdout) {
        claims.push("--report -");
    }
    claims
}

fn executor_config(args: &ApplyArgs) -> ExecutorConfig {
    ExecutorConfig {
        concurrency: args.concurrency,
        bucket_concurrency: args.bucket_concurrency,
        rate: args.rate,
        bucket_rate: args.bucket_rate,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            ..RetryPolicy::default()
        },
        seed: fastrand::u64(..),
        ..ExecutorConfig::default()
    }
}

fn client_setup(args: &ApplyArgs) -> Result<ClientSetup, ApplyError> {
    if args.dry_run {
        return Ok(ClientSetup::None);
    }
    let config = |endpoint, credentials| ClientConfig {
        endpoint,
        credentials,
        request_timeout: args.request_timeout,
        connect_timeout: args.request_timeout.min(MAX_CONNECT_TIMEOUT),
        max_idle_per_host: args.concurrency.get(),
    };
    if args.sandbox {
        if env_endpoint().is_some() && !args.quiet {
            eprintln!("cosinv apply: sandbox: the endpoint from {ENDPOINT_VAR} is ignored");
        }
        let credentials = Credentials::new(
            emulator::SANDBOX_SECRET_ID,
            emulator::SANDBOX_SECRET_KEY,
            None,
        );
        return Ok(ClientSetup::Sandbox(config(Endpoint::Cos, credentials)));
    }
    let endpoint = match args.endpoint.clone().or_else(env_endpoint) {
        Some(text) => Endpoint::parse(&text, args.allow_http)?,
        None => Endpoint::Cos,
    };
    Ok(ClientSetup::Remote(config(
        endpoint,
        Credentials::from_env()?,
    )))
}

/// `COS_ENDPOINT`, when set and not empty.
fn env_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|text| !text.trim().is_empty())
}

async fn execute(args: &ApplyArgs, prepared: Prepared) -> Result<u8, ApplyError> {
    let Prepared {
        plan,
        report,
        executor,
        client,
        _lock,
    } = prepared;
    let report_target = report.target().clone();
    let (client, sandbox) = start_client(client).await?;
    let control = RunControl::default();
    let progress = Progress::new(
        ProgressOptions::detect(args.quiet, args.verbose),
        control.stats.clone(),
        plan.jobs().len() as u64,
    );
    let control = RunControl {
        observer: progress.observer(),
        ..control
    };
    let signal = watch_signals(control.cancel.clone(), control.force.clone(), &progress);
    if let Some(emulator) = &sandbox
        && !args.quiet
    {
        progress.println(&format!(
            "sandbox: an in-process COS emulator on {} (nothing leaves this machine)",
            emulator.endpoint()
        ));
    }
    progress.start();
    let result = executor::execute(plan.clone(), client, executor, report, control).await;
    progress.finish();
    let result = result?;

    eprintln!("{}", summary(&result, &plan, &report_target, args.dry_run));
    if let Some(emulator) = sandbox {
        eprintln!("{}", sandbox_summary(&emulator, &plan));
        // The sandbox has no state file: nothing to save, nothing to fail.
        let _ = emulator.shutdown().await;
    }
    Ok(exit_code(&result, signal.load(Ordering::Relaxed)))
}

async fn start_client(
    setup: ClientSetup,
) -> Result<(Option<CosClient>, Option<Emulator>), ApplyError> {
    match setup {
        ClientSetup::None => Ok((None, None)),
        ClientSetup::Remote(config) => Ok((Some(CosClient::new(config)?), None)),
        ClientSetup::Sandbox(mut config) => {
            let emulator = Emulator::start(
                EmulatorConfig {
                    credentials: config.credentials.clone(),
                    buckets: None,
                    faults: Default::default(),
                    state_file: None,
                },
                ([127, 0, 0, 1], 0).into(),
            )
            .await
            .map_err(ApplyError::Sandbox)?;
            config.endpoint = Endpoint::parse(&emulator.endpoint(), false)?;
            Ok((Some(CosClient::new(config)?), Some(emulator)))
        }
    }
}

/// SIGINT and SIGTERM: the first stops dispatching, the second stops
/// waiting for requests on the wire. Returns the exit code of the first
/// signal, 0 while none has come.
fn watch_signals(
    cancel: CancellationToken,
    force: CancellationToken,
    progress: &Progress,
) -> Arc<AtomicU8> {
    let received = Arc::new(AtomicU8::new(0));
    let Ok(mut signals) = StopSignals::watch() else {
        progress.println("cosinv: cannot watch signals; Ctrl-C will stop at once");
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
                eprintln!(
                    "cosinv: stopping: no new requests; waiting for those in flight \
                     (signal again to stop at once)"
                );
                cancel.cancel();
            } else {
                force.cancel();
            }
        }
    });
    received
}

/// The signal's code when a signal stopped the run; 1 when any job did not
/// apply; 0 otherwise.
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
fn summary(result: &RunResult, plan: &Plan, report: &ReportTarget, dry_run: bool) -> String {
    let stats = &result.stats;
    let scope = format!("{} jobs on {} buckets", stats.total, plan.bucket_count());
    let elapsed = human_duration(result.elapsed);
    if dry_run {
        return format!(
            "cosinv: dry run: {scope} would be put; nothing was sent; report: {report}"
        );
    }
    let seconds = result.elapsed.as_secs_f64().max(0.001);
    let mut line = format!(
        "cosinv: applied {}, failed {}, skipped {}, cancelled {} of {scope} in {elapsed} \
         ({:.0} jobs/s, {} requests); report: {report}",
        stats.applied,
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

fn sandbox_summary(emulator: &Emulator, plan: &Plan) -> String {
    let buckets: Vec<&str> = plan
        .buckets()
        .map(|jobs| jobs[0].bucket().as_str())
        .collect();
    let stored: usize = buckets
        .iter()
        .map(|bucket| emulator.inventory(bucket).len())
        .sum();
    format!(
        "sandbox: the emulator holds {stored} inventory configurations on {} buckets; \
         its state ends with this run",
        buckets.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::StatsSnapshot;

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
            &ReportTarget::File("r.csv".into()),
            false,
        );
        assert_eq!(
            line,
            "cosinv: applied 9, failed 1, skipped 0, cancelled 0 of 10 jobs on 0 buckets \
             in 2.0s (5 jobs/s, 10 requests); report: r.csv"
        );
        let mut slow_clock = result(10, 0, 0);
        slow_clock.clock_offset = 3_600;
        let line = summary(&slow_clock, &Plan::default(), &ReportTarget::Stdout, false);
        assert!(
            line.ends_with(
                "this host's clock is 3600 s behind COS's; requests were signed with \
                 COS's time instead. Fix the clock (NTP) so that other tools work too."
            ),
            "{line}"
        );
    }
}
