//! `cosinv plan`: what apply would do, for people (text) or programs (JSON).

use std::io::Write;

use super::args::{OutputFormat, PlanArgs};
use super::exit;
use super::text::count;
use super::validate::print_problems;
use crate::model::InventoryConfiguration;
use crate::plan::json::PlanDocument;
use crate::plan::{self, Plan, Shard};

/// `cosinv plan`.
pub fn run(args: &PlanArgs) -> u8 {
    let shard = args.shard;
    let plan = match plan::load(&args.files) {
        Ok(plan) => plan,
        Err(errors) => return print_problems("plan", &errors, ""),
    };
    let plan = match shard {
        Some(shard) => plan.shard(shard),
        None => plan,
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = match args.output {
        OutputFormat::Text => write_text(&plan, shard, &mut out),
        OutputFormat::Json => write_json(&plan, shard, &mut out),
    };
    match written.and_then(|()| out.flush()) {
        Ok(()) => exit::SUCCESS,
        // A closed pipe (`cosinv plan | head`) is not a failure.
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => exit::SUCCESS,
        Err(err) => {
            eprintln!("cosinv plan: cannot write the plan: {err}");
            exit::USAGE
        }
    }
}

/// The plan for people: per bucket, each job to put in one line.
pub fn write_text(plan: &Plan, shard: Option<Shard>, out: &mut impl Write) -> std::io::Result<()> {
    for run in plan.buckets() {
        writeln!(out, "{} ({})", run[0].bucket(), run[0].region())?;
        for job in run {
            writeln!(out, "  + put {}", describe_config(&job.config()))?;
        }
    }
    let shard = shard.map(|s| format!(" in shard {s}")).unwrap_or_default();
    writeln!(
        out,
        "plan: {} to put on {}{shard}",
        count(plan.jobs().len() as u64, "job", "jobs"),
        count(plan.bucket_count() as u64, "bucket", "buckets"),
    )
}

fn describe_config(config: &InventoryConfiguration) -> String {
    let mut parts = vec![
        config.id.to_string(),
        config.frequency.to_string(),
        format!("{} versions", config.included_object_versions),
    ];
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
    parts.push(to);
    if !config.optional_fields.is_empty() {
        let fields: Vec<&str> = config.optional_fields.iter().map(|f| f.as_str()).collect();
        parts.push(format!("fields {}", fields.join(",")));
    }
    parts.join("  ")
}

/// The plan for programs: [`PlanDocument`] and a newline.
fn write_json(plan: &Plan, shard: Option<Shard>, out: &mut impl Write) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, &PlanDocument::new(plan, shard))?;
    writeln!(out)
}
