//! The deliveries as text (a line per job that is not delivered, then
//! counts by status and by destination), CSV (a row per job) or one JSON
//! document (`docs/schemas/deliveries.schema.json`).

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

use super::{Deliveries, JobDelivery, Status};
use crate::report::neutralised;

/// How the deliveries are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveriesFormat {
    Text,
    Csv,
    Json,
}

/// The JSON document's version.
const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Document<'a> {
    schema_version: u32,
    now: String,
    jobs: &'a [JobDelivery],
    counts: BTreeMap<&'static str, u64>,
}

/// `deliveries` in `format`, to `out`.
pub fn write_deliveries(
    out: &mut impl Write,
    format: DeliveriesFormat,
    deliveries: &Deliveries,
) -> std::io::Result<()> {
    match format {
        DeliveriesFormat::Text => write_text(out, deliveries)?,
        DeliveriesFormat::Csv => write_csv(out, deliveries)?,
        DeliveriesFormat::Json => {
            let counts = deliveries.counts();
            let document = Document {
                schema_version: SCHEMA_VERSION,
                now: deliveries.now.to_string(),
                jobs: &deliveries.jobs,
                counts: counts.iter().map(|(s, n)| (s.as_str(), *n)).collect(),
            };
            serde_json::to_writer(&mut *out, &document)?;
            writeln!(out)?;
        }
    }
    out.flush()
}

fn write_csv(out: &mut impl Write, deliveries: &Deliveries) -> std::io::Result<()> {
    let mut csv = csv::Writer::from_writer(&mut *out);
    for job in &deliveries.jobs {
        // Reasons quote the server's text: no cell may start a formula.
        let row = JobDelivery {
            reason: neutralised(&job.reason).into_owned(),
            ..job.clone()
        };
        csv.serialize(row)?;
    }
    if deliveries.jobs.is_empty() {
        let header = ["bucket", "id", "status", "latest", "reason", "destination"];
        csv.write_record(header.iter().chain(&["location", "frequency"]))?;
    }
    csv.flush()?;
    Ok(())
}

fn write_text(out: &mut impl Write, deliveries: &Deliveries) -> std::io::Result<()> {
    for job in &deliveries.jobs {
        if matches!(job.status, Status::Delivered | Status::Disabled) {
            continue;
        }
        let latest = job.latest.as_deref().unwrap_or("none");
        writeln!(
            out,
            "{}/{}: {} (latest {latest}): {}",
            job.bucket,
            job.id,
            job.status.as_str(),
            job.reason
        )?;
    }
    let total = deliveries.jobs.len();
    writeln!(
        out,
        "{total} job{} as of {}: {}",
        if total == 1 { "" } else { "s" },
        deliveries.now,
        counts_words(deliveries.jobs.iter())
    )?;
    let mut by_destination: BTreeMap<&str, Vec<&JobDelivery>> = BTreeMap::new();
    for job in &deliveries.jobs {
        by_destination
            .entry(&job.destination)
            .or_default()
            .push(job);
    }
    for (destination, jobs) in by_destination {
        writeln!(out, "  {destination}: {}", counts_words(jobs.into_iter()))?;
    }
    Ok(())
}

/// `3 delivered, 1 late`: the statuses that occur, in their order.
fn counts_words<'a>(jobs: impl Iterator<Item = &'a JobDelivery>) -> String {
    let mut counts = [0u64; Status::ALL.len()];
    for job in jobs {
        let at = Status::ALL.iter().position(|s| *s == job.status);
        counts[at.unwrap_or(0)] += 1;
    }
    let words: Vec<String> = Status::ALL
        .iter()
        .zip(counts)
        .filter(|(_, n)| *n > 0)
        .map(|(status, n)| format!("{n} {}", status.as_str()))
        .collect();
    match words.is_empty() {
        true => "nothing to check".into(),
        false => words.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(bucket: &str, status: Status, reason: &str) -> JobDelivery {
        JobDelivery {
            bucket: bucket.into(),
            id: "daily".into(),
            status,
            latest: Some("20261206".into()),
            reason: reason.into(),
            destination: "logs-1250000000".into(),
            location: "cos://logs-1250000000/cos_bucket_inventory/".into(),
            frequency: "Daily".into(),
        }
    }

    fn deliveries() -> Deliveries {
        Deliveries {
            stopped: None,
            now: "2026-12-07T01:00:00Z".parse().unwrap(),
            jobs: vec![
                job("a-1250000000", Status::Delivered, ""),
                job("b-1250000000", Status::Corrupt, "=cmd|' /C calc'!A0"),
            ],
        }
    }

    #[test]
    fn text_names_what_is_not_delivered_and_counts_by_destination() {
        let mut out = Vec::new();
        write_deliveries(&mut out, DeliveriesFormat::Text, &deliveries()).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("b-1250000000/daily: corrupt (latest 20261206): "));
        assert_eq!(
            lines[1],
            "2 jobs as of 2026-12-07T01:00:00Z: 1 delivered, 1 corrupt"
        );
        assert_eq!(lines[2], "  logs-1250000000: 1 delivered, 1 corrupt");
    }

    #[test]
    fn csv_rows_cannot_start_a_formula() {
        let mut out = Vec::new();
        write_deliveries(&mut out, DeliveriesFormat::Csv, &deliveries()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.starts_with("bucket,id,status,latest,reason,destination,location,frequency\n")
        );
        assert!(text.contains(",corrupt,20261206,'=cmd"), "{text}");
    }

    #[test]
    fn json_counts_every_status() {
        let mut out = Vec::new();
        write_deliveries(&mut out, DeliveriesFormat::Json, &deliveries()).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(value["schema_version"], 1);
        assert_eq!(value["counts"]["corrupt"], 1);
        assert_eq!(value["counts"]["missing"], 0);
        assert_eq!(value["jobs"][1]["status"], "corrupt");
    }
}
