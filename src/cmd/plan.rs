//! `cosinv plan`: what apply would do, for people (text) or programs
//! (JSON), from the library's plan pipeline ([`crate::run::plan`]). By
//! default it reads what is on every bucket first (as apply does), after
//! resolving `discover:` jobs and, with `--check-destinations`, reading
//! the destinations' policies; `--no-refresh` stays offline and shows
//! every job as a blind put.

use std::io::Write;

use super::args::{LogFormat, OutputFormat, PlanArgs};
use super::connect;
use super::exit;
use super::log::Log;
use super::runtime;
use super::terminal::Terminal;
use super::validate::print_problems;
use crate::plan::json::PlanDocument;
use crate::plan::reconcile::PruneRule;
use crate::plan::rollup::Rollup;
use crate::plan::saved::SavedHeader;
use crate::plan::{LoadSummary, Plan, Shard};
use crate::run::discover::unresolved_notes;
use crate::run::error::RunError;
use crate::run::plan::{Planned, offline, online};
use crate::run::plan_text::{TextOptions, write_text};
use crate::run::settings::{ReportTo, RunSettings, StopTokens};
use crate::run::stages::load;

/// Text output lists this many changes, then only counts, unless `--detail`.
const MAX_CHANGES_SHOWN: usize = 200;

/// `cosinv plan`.
pub fn run(args: &PlanArgs) -> u8 {
    let settings = settings(args);
    let loaded = match load(&settings) {
        Ok(loaded) => loaded,
        Err(err) => return failed(args, &err),
    };
    let planned = if args.reconcile.refreshes() {
        match plan_online(args, &settings, loaded) {
            Ok(planned) => planned,
            Err(code) => return code,
        }
    } else if args.check_destinations {
        eprintln!(
            "cosinv plan: --check-destinations reads each destination bucket's policy, and \
             --no-refresh stays offline; drop one of them"
        );
        return error_code(args);
    } else {
        plan_offline(&settings, loaded)
    };
    let rollup = Rollup::of(&planned.plan, &planned.work);
    let refreshed = args.reconcile.refreshes();
    let how = (args.output, args.detail, args.select.shard, refreshed);
    if let Err(err) = write_plan(how, &planned, &rollup, None) {
        eprintln!("cosinv plan: cannot write the plan: {err}");
        return error_code(args);
    }
    outcome_code(args, &rollup)
}

/// The run the flags ask for (a plan sends nothing and writes no report).
fn settings(args: &PlanArgs) -> RunSettings {
    RunSettings {
        command: "plan",
        files: args.files.clone(),
        read: args.read.options(),
        connect: connect::settings(&args.connect),
        shard: args.select.shard,
        accounts: args.select.account.clone(),
        from_report: None,
        allow_changed_manifests: false,
        refresh: args.reconcile.refreshes(),
        prune: PruneRule {
            enabled: args.reconcile.prune,
            prefix: args.reconcile.prune_prefix.clone(),
        },
        dry_run: false,
        check_destinations: args.check_destinations,
        report: ReportTo::Default,
        offline_reason: String::new(),
        stop: StopTokens::default(),
    }
}

/// Every manifest problem, or the error; the error's exit code.
fn failed(args: &PlanArgs, err: &RunError) -> u8 {
    match err {
        RunError::Manifest(errors) => {
            print_problems("plan", errors, "");
        }
        other => eprintln!("cosinv plan: {}", connect::run_message(other)),
    }
    error_code(args)
}

/// `--no-refresh`: every job a blind put, `discover:` jobs unresolved.
fn plan_offline(settings: &RunSettings, loaded: (Plan, LoadSummary)) -> Planned {
    let why = "--no-refresh stays offline; plan without it to list the account's buckets";
    for note in unresolved_notes("plan", &loaded.1, why) {
        eprintln!("{note}");
    }
    offline(settings, loaded)
}

/// Connects and reads every bucket; the exit code when that fails.
fn plan_online(
    args: &PlanArgs,
    settings: &RunSettings,
    loaded: (Plan, LoadSummary),
) -> Result<Planned, u8> {
    let log = Log::new(LogFormat::Text);
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let terminal = Terminal::new(&log, &args.display, bar);
    let out = args.out.as_deref();
    match runtime::block_on(online(settings, &terminal, loaded, out)) {
        Ok(Ok(planned)) => Ok(planned),
        Ok(Err(err)) => Err(failed(args, &err)),
        Err(err) => {
            eprintln!("cosinv plan: cannot start the async runtime: {err}");
            Err(error_code(args))
        }
    }
}

/// 1 under `--detailed-exitcode` (2 means "changes pending" there), else 2.
fn error_code(args: &PlanArgs) -> u8 {
    if args.detailed_exitcode {
        exit::JOBS_FAILED
    } else {
        exit::USAGE
    }
}

/// Errors (buckets over the limit or unreadable) are 1; with
/// `--detailed-exitcode`, pending changes are 2 and none 0.
fn outcome_code(args: &PlanArgs, rollup: &Rollup) -> u8 {
    if rollup.errors() > 0 {
        exit::JOBS_FAILED
    } else if args.detailed_exitcode && rollup.totals.changes() > 0 {
        exit::USAGE
    } else {
        exit::SUCCESS
    }
}

/// How a plan is printed: the format, `--detail`, the shard, refreshed.
pub(super) type How = (OutputFormat, bool, Option<Shard>, bool);

/// The plan as text or JSON (with a saved plan's header) on stdout.
pub(super) fn write_plan(
    (output, detail, shard, refreshed): How,
    planned: &Planned,
    rollup: &Rollup,
    saved: Option<&SavedHeader>,
) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let (plan, work) = (&planned.plan, &planned.work);
    let written = match output {
        OutputFormat::Text => {
            let options = TextOptions {
                limit: if detail {
                    usize::MAX
                } else {
                    MAX_CHANGES_SHOWN
                },
                shard,
                more_hint: "; --detail shows them all",
                unmanaged_hint: "; --prune deletes it",
            };
            write_text(&mut out, plan, work, rollup, &options)
        }
        OutputFormat::Json => {
            let mut document = PlanDocument::new(plan, work, refreshed, shard, rollup);
            if let Some(warnings) = &planned.warnings {
                document = document.with_destination_warnings(warnings);
            }
            if let Some(saved) = saved {
                document = document.with_saved(saved);
            }
            serde_json::to_writer(&mut out, &document)
                .map_err(std::io::Error::from)
                .and_then(|()| writeln!(out))
        }
    };
    match written.and_then(|()| out.flush()) {
        // A closed pipe (`cosinv plan | head`) is not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
