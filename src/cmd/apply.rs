//! `cosinv apply` (and run-now's run): refuses what cannot work together,
//! runs the library's [`Pipeline`] with the terminal as its observer,
//! answers its questions (the run lock, signals, `--prune`'s confirmation
//! unless `--yes`), prints the summary and returns an [`exit`] code.

use std::io::IsTerminal;
use std::path::Path;

use super::args::{ApplyArgs, LogFormat, OutputFormat, RunArgs};
use super::connect;
use super::exit;
use super::log::{Level, Log};
use super::questions::Questions;
use super::runtime;
use super::summary;
use super::terminal::Terminal;
use super::validate::{print_problems, with_flag_hint};
use crate::plan::ManifestErrors;
use crate::plan::reconcile::PruneRule;
use crate::run::error::RunError;
use crate::run::run_now::Pipeline;
use crate::run::settings::{ReportTo, RunSettings, StopTokens};

/// The folder of reports cosinv names itself (default: the working one).
const REPORT_DIR_VAR: &str = "COSINV_REPORT_DIR";

/// Why `apply` (or `run-now`) could not run.
#[derive(Debug, thiserror::Error)]
pub(super) enum ApplyError {
    #[error("{}", connect::run_message(.0))]
    Run(#[from] RunError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "{0} would all write to standard output; give the report a file (or drop \
         --output json)"
    )]
    StdoutShared(String),
    #[error(
        "--prune deletes inventory jobs and asks first; there is no terminal to ask on, so \
         nothing was sent: pass --yes to delete without asking"
    )]
    PruneNeedsConfirmation,
    #[error(
        "--check-destinations reads each destination bucket's policy, and --dry-run sends \
         nothing; drop one of them (cosinv plan --check-destinations checks without applying)"
    )]
    CheckOffline,
}

/// `cosinv apply`: the exit code.
pub fn run(args: &ApplyArgs) -> u8 {
    let pipeline = args.plan.clone().map_or(Pipeline::Apply, Pipeline::Saved);
    run_pipeline(&args.run, Some(args), pipeline)
}

/// What apply's own flags refuse before anything runs.
fn refusal(args: &ApplyArgs) -> Option<ApplyError> {
    let (dry_run, prune) = (args.run.dry_run, args.reconcile.prune);
    let unasked = prune && !dry_run && !args.yes && !std::io::stdin().is_terminal();
    let offline = (args.check_destinations && dry_run).then_some(ApplyError::CheckOffline);
    offline.or(unasked.then_some(ApplyError::PruneNeedsConfirmation))
}

/// Runs `pipeline` (with apply's own flags, for apply); the exit code.
pub(super) fn run_pipeline(args: &RunArgs, apply: Option<&ApplyArgs>, pipeline: Pipeline) -> u8 {
    let log = Log::new(args.log_format);
    let claims = stdout_claims(args);
    let command = pipeline.command();
    let outcome = if claims.len() > 1 {
        Err(ApplyError::StdoutShared(claims.join(" and ")))
    } else if let Some(refused) = apply.and_then(refusal) {
        Err(refused)
    } else {
        let run = run_async(args, &log, pipeline, apply);
        runtime::block_on(run).unwrap_or_else(|err| Err(ApplyError::Runtime(err)))
    };
    match outcome {
        Ok(code) => code,
        Err(ApplyError::Run(RunError::Manifest(errors))) => problems(&log, &errors, command),
        Err(err) => {
            log.error(&format!("cosinv {command}: {err}"));
            match err {
                // The run itself broke: the report says how far it got.
                ApplyError::Run(RunError::Execute(_)) => exit::JOBS_FAILED,
                _ => exit::USAGE,
            }
        }
    }
}

/// `--report -`: the report on standard output (progress and the summary
/// stay on stderr).
fn writes_report_to_stdout(args: &RunArgs) -> bool {
    args.report.as_deref() == Some(Path::new("-"))
}

/// What wants this process's standard output; each may have it only
/// alone, refused together before anything runs.
fn stdout_claims(args: &RunArgs) -> Vec<&'static str> {
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
fn problems(log: &Log, errors: &ManifestErrors, command: &str) -> u8 {
    if log.format() == LogFormat::Text {
        return print_problems(command, errors, "; nothing was sent");
    }
    for problem in &errors.problems {
        log.error(&with_flag_hint(problem));
    }
    log.error(&format!("cosinv {command}: {errors}; nothing was sent"));
    exit::USAGE
}

/// The run the flags ask for; without apply's own, no refresh, prune or
/// destination check.
fn settings(args: &RunArgs, command: &'static str, apply: Option<&ApplyArgs>) -> RunSettings {
    let report = match &args.report {
        _ if writes_report_to_stdout(args) => ReportTo::Stdout,
        Some(path) => ReportTo::File(path.clone()),
        None => match std::env::var_os(REPORT_DIR_VAR) {
            Some(dir) if !dir.is_empty() => ReportTo::Folder(dir.into()),
            _ => ReportTo::Default,
        },
    };
    RunSettings {
        command,
        files: args.files.clone(),
        read: args.read.options(),
        connect: connect::settings(&args.connect),
        shard: args.select.shard,
        accounts: args.select.account.clone(),
        from_report: args.from_report.clone(),
        allow_changed_manifests: args.allow_changed_manifests,
        refresh: apply.is_some_and(|apply| apply.reconcile.refreshes()),
        prune: PruneRule {
            enabled: apply.is_some_and(|apply| apply.reconcile.prune),
            prefix: apply.and_then(|apply| apply.reconcile.prune_prefix.clone()),
        },
        dry_run: args.dry_run,
        check_destinations: apply.is_some_and(|apply| apply.check_destinations),
        report,
        offline_reason: "--dry-run sends nothing, GET Service included".into(),
        stop: StopTokens::default(),
    }
}

async fn run_async(
    args: &RunArgs,
    log: &Log,
    pipeline: Pipeline,
    apply: Option<&ApplyArgs>,
) -> Result<u8, ApplyError> {
    let settings = settings(args, pipeline.command(), apply);
    let bar = args.log_format == LogFormat::Text && std::io::stderr().is_terminal();
    let terminal = Terminal::new(log, &args.display, bar);
    let yes = apply.is_some_and(|apply| apply.yes);
    let plan = apply.and_then(|apply| apply.plan.as_ref());
    let locked = plan.map_or(&args.files[..], std::slice::from_ref);
    let mut caller = Questions::new(args, locked, yes, log, settings.stop.clone());
    let executed = pipeline.run(&settings, &terminal, &mut caller).await;
    let signal = caller.signal();
    let mut executed = match executed {
        // Ctrl-C at the question: nothing was sent, no file was left.
        Err(RunError::Declined) if signal != 0 => {
            log.warn("cosinv apply: stopped at the question; nothing was sent");
            return Ok(signal);
        }
        other => other?,
    };
    let code = summary::exit_code(&executed.result, signal);
    if let Err(err) = executed.finish(summary::interruption(signal), code) {
        log.error(&format!("cosinv {}: {err}", settings.command));
    }
    let (result, plan, record) = (&executed.result, &executed.plan, &executed.record);
    // The first line carries the counts as fields (JSON logs); a stop is an error.
    let mut fields = Some(crate::run::summary::fields(result, record));
    for line in crate::run::summary::lines(result, plan, record) {
        log.line(Level::Info, &line, fields.take().unwrap_or_default());
    }
    if let Some(reason) = &result.stopped {
        log.error(&summary::stopped_line(reason, &record.options));
    }
    executed.shut_down(&terminal).await;
    if args.output == OutputFormat::Json {
        summary::print_json(&executed.record, log);
    }
    Ok(code)
}
