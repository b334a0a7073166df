//! `cosinv plan`: what apply would do, for people (text) or programs
//! (JSON). By default it reads what is on every bucket first (as apply
//! does), after resolving `discover:` jobs from the account's bucket list
//! and, with `--check-destinations`, reading the destinations' policies;
//! `--no-refresh` stays offline and shows every job as a blind put.

use std::io::Write;
use std::sync::Arc;

use super::args::{LogFormat, OutputFormat, PlanArgs};
use super::connect::{self, ConnectError};
use super::discovery::{
    self, DiscoveryError, destination_lines, fetch_settings, load_offline, unresolved_notes,
};
use super::exit;
use super::log::Log;
use super::progress::{Counting, Progress, ProgressOptions};
use super::runtime;
use super::text::noun;
use super::validate::print_problems;
use crate::account::check_destinations;
use crate::executor::{self, RunControl};
use crate::model::InventoryConfiguration;
use crate::plan::json::PlanDocument;
use crate::plan::reconcile::{self, BucketChanges, BucketWork, JobAction, PruneRule};
use crate::plan::rollup::{Counts, Rollup};
use crate::plan::{Job, LoadSummary, ManifestErrors, Plan, Shard};
use crate::send::client::CosClient;

/// Text output lists this many changes, then only counts, unless `--detail`.
const MAX_CHANGES_SHOWN: usize = 200;

/// `cosinv plan`.
pub fn run(args: &PlanArgs) -> u8 {
    let loaded = match load_offline(&args.files, &args.read) {
        Ok(loaded) => loaded,
        Err(errors) => {
            print_problems("plan", &errors, "");
            return error_code(args);
        }
    };
    let online = args.reconcile.refreshes();
    if args.check_destinations && !online {
        eprintln!(
            "cosinv plan: --check-destinations reads each destination bucket's policy, and \
             --no-refresh stays offline; drop one of them"
        );
        return error_code(args);
    }
    let planned = if online {
        let log = Log::new(LogFormat::Text);
        match runtime::block_on(plan_online(args, loaded, &log)) {
            Ok(Ok(planned)) => planned,
            Ok(Err(OnlineError::Manifest(errors))) => {
                print_problems("plan", &errors, "");
                return error_code(args);
            }
            Ok(Err(OnlineError::Other(message))) => {
                eprintln!("cosinv plan: {message}");
                return error_code(args);
            }
            Err(err) => {
                eprintln!("cosinv plan: cannot start the async runtime: {err}");
                return error_code(args);
            }
        }
    } else {
        plan_offline(args, loaded)
    };
    let rollup = Rollup::of(&planned.plan, &planned.work);
    if let Err(err) = write_plan(args, &planned, &rollup) {
        eprintln!("cosinv plan: cannot write the plan: {err}");
        return error_code(args);
    }
    outcome_code(args, &rollup)
}

/// A plan and what would be done on each of its buckets.
struct Planned {
    plan: Arc<Plan>,
    work: Vec<BucketWork>,
    /// With `--check-destinations`: a warning or none per job.
    warnings: Option<Vec<Option<String>>>,
}

/// Why an online plan could not be made.
enum OnlineError {
    /// The manifests with the account's buckets (duplicates, the limit).
    Manifest(ManifestErrors),
    Other(String),
}

impl From<ConnectError> for OnlineError {
    fn from(err: ConnectError) -> Self {
        OnlineError::Other(err.to_string())
    }
}

impl From<DiscoveryError> for OnlineError {
    fn from(err: DiscoveryError) -> Self {
        match err {
            DiscoveryError::Manifest(errors) => OnlineError::Manifest(errors),
            other => OnlineError::Other(other.to_string()),
        }
    }
}

/// `--no-refresh`: every job a blind put, `discover:` jobs unresolved.
fn plan_offline(args: &PlanArgs, (plan, summary): (Plan, LoadSummary)) -> Planned {
    let why = "--no-refresh stays offline; plan without it to list the account's buckets";
    for note in unresolved_notes("plan", &summary, why) {
        eprintln!("{note}");
    }
    let plan = Arc::new(shard(plan, args.shard));
    let work = reconcile::blind(&plan);
    Planned {
        plan,
        work,
        warnings: None,
    }
}

fn shard(plan: Plan, shard: Option<Shard>) -> Plan {
    match shard {
        Some(shard) => plan.shard(shard),
        None => plan,
    }
}

/// Connects, resolves `discover:` jobs, checks destinations when asked,
/// and reads every bucket's inventory.
async fn plan_online(
    args: &PlanArgs,
    loaded: (Plan, LoadSummary),
    log: &Log,
) -> Result<Planned, OnlineError> {
    let target = connect::target_logged(&args.connect, &args.display, log, "plan").await?;
    let connection = connect::connect(&args.connect, target).await?;
    let mut settings = fetch_settings(&args.connect);
    let options = args.read.options();
    let client = &connection.client;
    let quiet = args.display.quiet;
    let resolved = discovery::resolve(
        &args.files,
        &options,
        loaded,
        client,
        &mut settings,
        log,
        quiet,
    )
    .await;
    let plan = Arc::new(shard(resolved?.0, args.shard));
    let mut warnings = None;
    if args.check_destinations {
        let check = check_destinations(client, &plan, &settings).await;
        for line in destination_lines(&plan, &check) {
            log.warn(&line);
        }
        warnings = Some(check.warnings);
    }
    let refreshed = read_buckets(args, &plan, client.clone(), log).await;
    if let Some(sandbox) = connection.sandbox {
        let _ = sandbox.emulator.shutdown().await;
    }
    if let Some(reason) = &refreshed.result.stopped {
        let message = format!("stopped while reading the buckets: {reason}");
        return Err(OnlineError::Other(message));
    }
    if args.display.verbose > 0 && !args.display.quiet {
        for line in ignored_lines(&plan, &refreshed.buckets) {
            log.info(&line);
        }
    }
    Ok(Planned {
        plan,
        work: refreshed.buckets,
        warnings,
    })
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

/// Reads every bucket's inventory, with progress on stderr.
async fn read_buckets(
    args: &PlanArgs,
    plan: &Arc<Plan>,
    client: CosClient,
    log: &Log,
) -> executor::Refreshed {
    let prune = PruneRule {
        enabled: args.reconcile.prune,
        prefix: args.reconcile.prune_prefix.clone(),
    };
    let bar = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let options = ProgressOptions::detect(args.display.quiet, args.display.verbose, bar)
        .counting(Counting::BUCKETS);
    let control = RunControl::default();
    let total = plan.bucket_count() as u64;
    let progress = Progress::new(options, control.stats.clone(), total, log.clone());
    let control = RunControl {
        observer: progress.observer(),
        ..control
    };
    progress.start();
    let config = connect::executor_config(&args.connect);
    let refreshed = executor::refresh(plan.clone(), client, prune, config, control).await;
    progress.finish();
    refreshed
}

/// `-v`: elements on the buckets that cosinv never sends, ignored when
/// comparing.
pub fn ignored_lines(plan: &Plan, work: &[BucketWork]) -> Vec<String> {
    let mut lines = Vec::new();
    for (jobs, work) in plan.buckets().zip(work) {
        let BucketWork::Changes(changes) = work else {
            continue;
        };
        for (id, path) in &changes.ignored {
            lines.push(format!(
                "cosinv: {} {id}: <{path}> is not an element cosinv sends; kept, as the configuration is not managed",
                jobs[0].bucket()
            ));
        }
    }
    lines
}

fn write_plan(args: &PlanArgs, planned: &Planned, rollup: &Rollup) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let (plan, work) = (&planned.plan, &planned.work);
    let written = match args.output {
        OutputFormat::Text => write_text(&mut out, plan, work, rollup, args.shard, args.detail),
        OutputFormat::Json => {
            let refreshed = args.reconcile.refreshes();
            let mut document = PlanDocument::new(plan, work, refreshed, args.shard, rollup);
            if let Some(warnings) = &planned.warnings {
                document = document.with_destination_warnings(warnings);
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

/// The plan for people: each bucket with something to do, its changes
/// (field by field for updates), then the roll-up.
pub fn write_text(
    out: &mut impl Write,
    plan: &Plan,
    work: &[BucketWork],
    rollup: &Rollup,
    shard: Option<Shard>,
    detail: bool,
) -> std::io::Result<()> {
    let limit = if detail {
        usize::MAX
    } else {
        MAX_CHANGES_SHOWN
    };
    let mut shown = 0;
    for (jobs, work) in plan.buckets().zip(work) {
        if shown >= limit {
            break;
        }
        shown += write_bucket(out, jobs, work, limit - shown)?;
    }
    let hidden = rollup.totals.changes().saturating_sub(shown);
    if hidden > 0 {
        writeln!(out, "… and {hidden} more changes; --detail shows them all")?;
    }
    write_rollup(out, rollup, shard)
}

/// One bucket's lines, at most `budget` of them changes; the number of
/// changes written.
fn write_bucket(
    out: &mut impl Write,
    jobs: &[Job],
    work: &BucketWork,
    budget: usize,
) -> std::io::Result<usize> {
    let changes = match work {
        BucketWork::Unreadable(failure) => {
            writeln!(out, "{} ({})", jobs[0].bucket(), jobs[0].region())?;
            writeln!(out, "  ✗ cannot read its inventory: {}", failure.message)?;
            return Ok(0);
        }
        BucketWork::Changes(changes) => changes,
    };
    if changes.is_empty() && changes.unmanaged.is_empty() && changes.limit.is_none() {
        return Ok(0);
    }
    writeln!(out, "{} ({})", jobs[0].bucket(), jobs[0].region())?;
    if let Some(limit) = changes.limit {
        writeln!(out, "  ! over the limit: {}", limit.message())?;
    }
    let mut shown = 0;
    for id in &changes.deletes {
        if shown < budget {
            writeln!(out, "  - delete {id}")?;
            shown += 1;
        }
    }
    for (job, action) in jobs.iter().zip(&changes.actions) {
        if action.sends() && shown < budget {
            write_job(out, job, action)?;
            shown += 1;
        }
    }
    write_kept(out, changes)?;
    Ok(shown)
}

fn write_job(out: &mut impl Write, job: &Job, action: &JobAction) -> std::io::Result<()> {
    let policy = job
        .policy()
        .map(|name| format!("  (policy {name})"))
        .unwrap_or_default();
    match action {
        JobAction::Update(changes) => {
            writeln!(out, "  ~ update {}{policy}", job.id())?;
            for change in changes {
                writeln!(
                    out,
                    "      {}: {} → {}",
                    change.field,
                    shown_value(&change.live),
                    shown_value(&change.desired)
                )?;
            }
            Ok(())
        }
        JobAction::Create => writeln!(out, "  + create {}{policy}", describe_config(&job.config())),
        _ => writeln!(out, "  + put {}{policy}", describe_config(&job.config())),
    }
}

fn shown_value(value: &str) -> &str {
    if value.is_empty() { "(none)" } else { value }
}

/// Unchanged jobs as a count, unmanaged ids by name.
fn write_kept(out: &mut impl Write, changes: &BucketChanges) -> std::io::Result<()> {
    let unchanged = changes
        .actions
        .iter()
        .filter(|action| !action.sends())
        .count();
    if unchanged > 0 {
        writeln!(out, "    ({unchanged} unchanged)")?;
    }
    for id in &changes.unmanaged {
        writeln!(out, "  ? unmanaged {id} (kept; --prune deletes it)")?;
    }
    Ok(())
}

fn write_rollup(
    out: &mut impl Write,
    rollup: &Rollup,
    shard: Option<Shard>,
) -> std::io::Result<()> {
    let totals = &rollup.totals;
    let shard = shard.map(|s| format!(" in shard {s}")).unwrap_or_default();
    let jobs = noun(rollup.jobs as u64, "job", "jobs");
    let buckets = noun(rollup.buckets as u64, "bucket", "buckets");
    writeln!(
        out,
        "plan: {} {jobs} on {} {buckets}{shard}: {} to create, {} to update, {} to delete, \
         {} unchanged, {} to put; {} unmanaged kept; {} over the limit, {} unreadable",
        rollup.jobs,
        rollup.buckets,
        totals.create,
        totals.update,
        totals.delete,
        totals.none,
        totals.put,
        rollup.unmanaged,
        rollup.over_limit,
        rollup.unreadable
    )?;
    if totals.changes() == 0 {
        return Ok(());
    }
    write_table(out, "policy", &rollup.by_policy)?;
    write_table(out, "region", &rollup.by_region)
}

fn write_table(
    out: &mut impl Write,
    heading: &str,
    rows: &std::collections::BTreeMap<String, Counts>,
) -> std::io::Result<()> {
    let width = rows
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max(heading.len());
    writeln!(
        out,
        "  {heading:<width$}  {:>7} {:>7} {:>7} {:>7} {:>7}",
        "create", "update", "delete", "none", "put"
    )?;
    for (name, counts) in rows {
        writeln!(
            out,
            "  {name:<width$}  {:>7} {:>7} {:>7} {:>7} {:>7}",
            counts.create, counts.update, counts.delete, counts.none, counts.put
        )?;
    }
    Ok(())
}

fn describe_config(config: &InventoryConfiguration) -> String {
    let mut parts = vec![config.id.to_string(), config.frequency.to_string()];
    if let Some(day) = config.monthly_date {
        parts.push(format!("on day {day}"));
    }
    parts.push(format!("{} versions", config.included_object_versions));
    if !config.enabled {
        parts.push("disabled".into());
    }
    if let Some(filter) = &config.filter {
        if let Some(prefix) = &filter.prefix {
            parts.push(format!("prefix {prefix:?}"));
        }
        for tag in &filter.tags {
            parts.push(format!("tag {}={}", tag.key, tag.value));
        }
        if let Some(period) = &filter.period {
            parts.push(format!(
                "created {}..{}",
                period.start.map(|s| s.to_string()).unwrap_or_default(),
                period.end.map(|s| s.to_string()).unwrap_or_default()
            ));
        }
    }
    parts.push(describe_destination(config));
    if !config.optional_fields.is_empty() {
        let fields: Vec<&str> = config.optional_fields.iter().map(|f| f.as_str()).collect();
        parts.push(format!("fields {}", fields.join(",")));
    }
    parts.join("  ")
}

fn describe_destination(config: &InventoryConfiguration) -> String {
    let destination = &config.destination;
    let mut to = format!(
        "→ {} ({}, {}",
        destination.report_location(),
        destination.region,
        destination.format
    );
    if destination.sse_cos {
        to.push_str(", SSE-COS");
    }
    to.push(')');
    to
}
