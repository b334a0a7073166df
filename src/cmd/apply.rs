//! `cosinv apply`: load and check the manifests (and, with
//! `--from-report`, keep only the jobs that did not apply last time), find
//! the credentials and the route to COS, take the run lock, open the
//! report and its sidecar, then hand the plan to the [`executor`] with a
//! progress display and signal handling, and turn the result into an exit
//! code a cron job can act on (see [`exit`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::args::{ApplyArgs, LogFormat, OutputFormat};
use super::connect::{ConnectError, Route};
use super::exit;
use super::lock::{LockError, RunLock};
use super::log::Log;
use super::progress::{Progress, ProgressOptions};
use super::runtime;
use super::signals::StopSignals;
use super::summary;
use super::text::count;
use crate::cos::client::{ClientConfig, CosClient, Endpoint, EndpointError};
use crate::cos::credentials::{CredentialSource, Credentials, SharedCredentials};
use crate::cos::http::HttpOptions;
use crate::cos::tls::{Trust, TrustError, TrustRoots};
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::executor::retry::RetryPolicy;
use crate::executor::{self, ExecuteError, ExecutorConfig, RunControl};
use crate::plan::{self, ManifestErrors, Plan};
use crate::report::previous::{PreviousReport, PreviousReportError};
use crate::report::run::{
    ManifestDigest, RecordError, RunOptions, RunRecord, SCHEMA_VERSION, Target, new_run_id,
    sidecar_path,
};
use crate::report::{self, ReportError, ReportWriter};

/// The longest a connection attempt may take, whatever `--request-timeout`.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
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
    #[error("cannot start the sandbox emulator on 127.0.0.1: {0}")]
    Sandbox(std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "--output json and --report - would both write to stdout; give the report a file \
         (or drop --output json)"
    )]
    StdoutTwice,
    #[error(transparent)]
    Execute(#[from] ExecuteError),
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

impl From<EndpointError> for ApplyError {
    fn from(err: EndpointError) -> Self {
        ApplyError::Connect(err.into())
    }
}

/// `cosinv apply`: the exit code.
pub fn run(args: &ApplyArgs) -> u8 {
    let log = Log::new(args.log_format);
    let outcome = if args.output == OutputFormat::Json && writes_report_to_stdout(args) {
        Err(ApplyError::StdoutTwice)
    } else {
        runtime::block_on(apply(args, &log)).unwrap_or_else(|err| Err(ApplyError::Runtime(err)))
    };
    match outcome {
        Ok(code) => code,
        Err(ApplyError::Manifest(errors)) => problems(&log, &errors),
        Err(err) => {
            log.error(&format!("cosinv apply: {err}"));
            err.exit_code()
        }
    }
}

/// `--report -`: the report on stdout.
fn writes_report_to_stdout(args: &ApplyArgs) -> bool {
    args.report.as_deref() == Some(Path::new("-"))
}

/// Every manifest problem, then a count; exit code 2.
fn problems(log: &Log, errors: &ManifestErrors) -> u8 {
    if log.format() == LogFormat::Text {
        return super::validate::print_problems("apply", errors, "; nothing was sent");
    }
    for problem in &errors.problems {
        log.error(&problem.to_string());
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
    client: ClientSetup,
    record: RunRecord,
    record_path: PathBuf,
    _lock: RunLock,
}

/// Where requests go and with which credentials.
enum ClientSetup {
    /// `--dry-run`: nothing is sent.
    None,
    /// A real or rehearsal endpoint.
    Remote(CosClient),
    /// `--sandbox`: an emulator in this process; the endpoint is known
    /// once it listens.
    Sandbox(Box<ClientConfig>),
}

async fn prepare(args: &ApplyArgs, log: &Log) -> Result<Prepared, ApplyError> {
    let started = jiff::Timestamp::now();
    let plan = select_jobs(args, log)?;
    let client = client_setup(args, log).await?;
    let lock = RunLock::acquire(&args.files, args.shard)?;
    let report_path = args
        .report
        .clone()
        .unwrap_or_else(|| report::default_report_path(started));
    let report = ReportWriter::create(&report_path)?;
    let record = new_record(args, started, &report_path, target(args))?;
    let record_path = sidecar_path(&report_path);
    record.write(&record_path)?;
    Ok(Prepared {
        plan: Arc::new(plan),
        report,
        executor: executor_config(args),
        client,
        record,
        record_path,
        _lock: lock,
    })
}

/// The manifests' jobs; with `--from-report`, only those that did not
/// apply there; with `--shard`, only the shard's.
fn select_jobs(args: &ApplyArgs, log: &Log) -> Result<Plan, ApplyError> {
    let mut plan = plan::load(&args.files)?;
    if let Some(path) = &args.from_report {
        let previous = PreviousReport::read(path)?;
        plan = rerun_only(plan, &previous, path, log, args.quiet);
    }
    if let Some(shard) = args.shard {
        plan = plan.shard(shard);
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

/// The client's timeouts and pool, from the flags.
fn tuned(args: &ApplyArgs) -> impl Fn(ClientConfig) -> ClientConfig + '_ {
    move |config| ClientConfig {
        request_timeout: args.request_timeout,
        connect_timeout: args.request_timeout.min(MAX_CONNECT_TIMEOUT),
        max_idle_per_host: args.concurrency.get(),
        ..config
    }
}

async fn client_setup(args: &ApplyArgs, log: &Log) -> Result<ClientSetup, ApplyError> {
    if args.dry_run {
        return Ok(ClientSetup::None);
    }
    if args.sandbox {
        return Ok(ClientSetup::Sandbox(Box::new(sandbox_config(args)?)));
    }
    let route = Route::from_args(&args.connection)?;
    let credentials = route.credentials().await?;
    if args.verbose > 0 && !args.quiet {
        for line in route.describe(&credentials) {
            log.info(&line);
        }
    }
    Ok(ClientSetup::Remote(route.client(credentials, tuned(args))?))
}

/// The sandbox: its fixed credentials, no proxy (it is on 127.0.0.1).
fn sandbox_config(args: &ApplyArgs) -> Result<ClientConfig, ApplyError> {
    let credentials = SharedCredentials::fixed(sandbox_credentials(), CredentialSource::Explicit);
    let trust = TrustRoots::load(&Trust::System)
        .map_err(|err: TrustError| ApplyError::Connect(ConnectError::Trust(err)))?;
    let http = HttpOptions {
        trust: Some(trust),
        ..HttpOptions::default()
    };
    Ok(tuned(args)(ClientConfig {
        http,
        ..ClientConfig::new(Endpoint::Cos, credentials)
    }))
}

fn sandbox_credentials() -> Credentials {
    Credentials::new(
        emulator::SANDBOX_SECRET_ID,
        emulator::SANDBOX_SECRET_KEY,
        None,
    )
}

fn target(args: &ApplyArgs) -> Target {
    match (&args.connection.endpoint, args.dry_run, args.sandbox) {
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
            concurrency: args.concurrency.get(),
            bucket_concurrency: args.bucket_concurrency.get(),
            rate: args.rate.map(|rate| rate.get()),
            bucket_rate: args.bucket_rate.map(|rate| rate.get()),
            max_attempts: args.max_attempts.get(),
            request_timeout_secs: args.request_timeout.as_secs_f64(),
            dry_run: args.dry_run,
        },
        stopped: None,
        exit_code: None,
        counts: None,
    })
}

async fn execute(args: &ApplyArgs, log: &Log, prepared: Prepared) -> Result<u8, ApplyError> {
    let Prepared {
        plan,
        report,
        executor,
        client,
        mut record,
        record_path,
        _lock,
    } = prepared;
    let (client, sandbox) = start_client(client).await?;
    let control = RunControl::default();
    let bar =
        args.log_format == LogFormat::Text && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let progress = Progress::new(
        ProgressOptions::detect(args.quiet, args.verbose, bar),
        control.stats.clone(),
        plan.jobs().len() as u64,
        log.clone(),
    );
    let control = RunControl {
        observer: progress.observer(),
        ..control
    };
    let signal = watch_signals(control.cancel.clone(), control.force.clone(), log.clone());
    if let Some(emulator) = &sandbox
        && !args.quiet
    {
        log.info(&format!(
            "sandbox: an in-process COS emulator on {} (nothing leaves this machine)",
            emulator.endpoint()
        ));
    }
    progress.start();
    let result = executor::execute(plan.clone(), client, executor, report, control).await;
    progress.finish();
    let result = result?;
    let signal = signal.load(Ordering::Relaxed);
    let code = summary::exit_code(&result, signal);
    summary::finish_record(&mut record, &result, signal, code);
    if let Err(err) = record.write(&record_path) {
        log.error(&format!("cosinv apply: {err}"));
    }
    for line in summary::lines(&result, &plan, &record) {
        log.info(&line);
    }
    if let Some(emulator) = sandbox {
        log.info(&summary::sandbox(&emulator, &plan));
        // The sandbox has no state file: nothing to save, nothing to fail.
        let _ = emulator.shutdown().await;
    }
    if args.output == OutputFormat::Json {
        summary::print_json(&record, log);
    }
    Ok(code)
}

async fn start_client(
    setup: ClientSetup,
) -> Result<(Option<CosClient>, Option<Emulator>), ApplyError> {
    match setup {
        ClientSetup::None => Ok((None, None)),
        ClientSetup::Remote(client) => Ok((Some(client), None)),
        ClientSetup::Sandbox(mut config) => {
            let emulator = Emulator::start(
                EmulatorConfig::new(sandbox_credentials()),
                ([127, 0, 0, 1], 0).into(),
            )
            .await
            .map_err(ApplyError::Sandbox)?;
            config.endpoint = Endpoint::parse(&emulator.endpoint(), false)?;
            let client = CosClient::new(*config).map_err(ConnectError::from)?;
            Ok((Some(client), Some(emulator)))
        }
    }
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
