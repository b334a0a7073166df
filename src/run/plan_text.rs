//! A plan for people: each bucket with something to do, its changes
//! (field by field for updates), unmanaged ids, then the roll-up by
//! policy and by region. Written to any `Write`; the caller chooses where
//! and supplies the hints that name its settings.

use crate::cos::text::printable;
use std::io::Write;

use super::text::noun;
use crate::model::InventoryConfiguration;
use crate::plan::reconcile::{BucketChanges, BucketWork, JobAction};
use crate::plan::rollup::{Counts, Rollup};
use crate::plan::{Job, Plan, Shard};

/// How much is written, and the caller's words for what is left out.
#[derive(Debug, Clone, Copy)]
pub struct TextOptions<'a> {
    /// Changes listed at most; the rest are only counted.
    pub limit: usize,
    /// The shard the plan is of, named in the roll-up.
    pub shard: Option<Shard>,
    /// Ends the line that counts the changes not listed (e.g. how to see them).
    pub more_hint: &'a str,
    /// Ends the words about a kept unmanaged id (e.g. how to delete it).
    pub unmanaged_hint: &'a str,
}

/// `-v`: elements cosinv never sends on the buckets' unmanaged
/// configurations, which are left as they are (on a managed one they are
/// a change: see `model::live::changes`).
pub fn ignored_lines(plan: &Plan, work: &[BucketWork]) -> Vec<String> {
    let mut lines = Vec::new();
    for (jobs, work) in plan.buckets().zip(work) {
        let BucketWork::Changes(changes) = work else {
            continue;
        };
        for (id, path) in &changes.ignored {
            lines.push(format!(
                "cosinv: {} {}: <{}> is not an element cosinv sends; kept, as the configuration \
                 is not managed",
                jobs[0].bucket(),
                printable(id),
                printable(path)
            ));
        }
    }
    lines
}

/// The plan for people.
pub fn write_text(
    out: &mut impl Write,
    plan: &Plan,
    work: &[BucketWork],
    rollup: &Rollup,
    options: &TextOptions,
) -> std::io::Result<()> {
    let limit = options.limit;
    let mut shown = 0;
    for (jobs, work) in plan.buckets().zip(work) {
        if shown >= limit {
            break;
        }
        shown += write_bucket(out, jobs, work, limit - shown, options.unmanaged_hint)?;
    }
    let hidden = rollup.totals.changes().saturating_sub(shown);
    if hidden > 0 {
        writeln!(out, "… and {hidden} more changes{}", options.more_hint)?;
    }
    write_rollup(out, rollup, options.shard)
}

/// One bucket's lines, at most `budget` of them changes; the number of
/// changes written.
fn write_bucket(
    out: &mut impl Write,
    jobs: &[Job],
    work: &BucketWork,
    budget: usize,
    unmanaged_hint: &str,
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
            writeln!(out, "  - delete {}", printable(id))?;
            shown += 1;
        }
    }
    for (job, action) in jobs.iter().zip(&changes.actions) {
        if action.sends() && shown < budget {
            write_job(out, job, action)?;
            shown += 1;
        }
    }
    write_kept(out, changes, unmanaged_hint)?;
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

/// A value for the terminal: live values are the server's text, kept
/// exact for comparing and sending, made printable only to be shown.
fn shown_value(value: &str) -> std::borrow::Cow<'_, str> {
    if value.is_empty() {
        "(none)".into()
    } else if value.chars().any(|c| c.is_control()) {
        printable(value).into()
    } else {
        value.into()
    }
}

/// Unchanged jobs as a count, unmanaged ids by name.
fn write_kept(
    out: &mut impl Write,
    changes: &BucketChanges,
    unmanaged_hint: &str,
) -> std::io::Result<()> {
    let unchanged = changes
        .actions
        .iter()
        .filter(|action| !action.sends())
        .count();
    if unchanged > 0 {
        writeln!(out, "    ({unchanged} unchanged)")?;
    }
    for id in &changes.unmanaged {
        writeln!(
            out,
            "  ? unmanaged {} (kept{unmanaged_hint})",
            printable(id)
        )?;
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
