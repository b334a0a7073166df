//! The sidecar `<report>.json` of a run: written as the run starts (what
//! was asked, the manifests' digests) and again as it ends (how it ended,
//! the counts, what pacing did).

use std::path::PathBuf;

use super::connect::{ConnectSettings, Destination};
use super::inputs::Inputs;
use super::settings::RunSettings;
use crate::executor::RunResult;
use crate::pace::AccountPacing;
use crate::pace::outage::{Outage, OutageKind};
use crate::report;
use crate::report::run::{
    AccountPacingRecord, OutageRecord, PacingRecord, RunOptions, RunRecord, SCHEMA_VERSION,
    Stopped, Target,
};

/// A stop request from outside the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interruption {
    /// SIGINT.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

/// Where the run sends, as the sidecar records it.
fn record_target(settings: &RunSettings) -> Target {
    match (&settings.connect.destination, settings.dry_run) {
        (_, true) => Target::DryRun,
        (Destination::Sandbox { .. }, _) => Target::Sandbox,
        (Destination::Remote(remote), _) => match &remote.endpoint {
            Some(url) => Target::Endpoint { url: url.clone() },
            None => Target::Cos,
        },
    }
}

/// The sidecar as the run starts: what was asked, with the digests of
/// what was read.
pub fn new_record(
    settings: &RunSettings,
    started: jiff::Timestamp,
    run_id: String,
    report: Option<PathBuf>,
    inputs: &Inputs,
) -> RunRecord {
    RunRecord {
        schema_version: SCHEMA_VERSION,
        cosinv_version: env!("CARGO_PKG_VERSION"),
        run_id,
        started_at: report::timestamp(started),
        finished_at: None,
        report,
        manifests: inputs.manifests.clone(),
        buckets_files: inputs.buckets_files.clone(),
        target: record_target(settings),
        shard: settings.shard.map(|shard| shard.to_string()),
        from_report: settings.from_report.clone(),
        options: run_options(settings),
        stopped: None,
        exit_code: None,
        counts: None,
        pacing: None,
        unmanaged: None,
    }
}

fn run_options(settings: &RunSettings) -> RunOptions {
    let connect: &ConnectSettings = &settings.connect;
    RunOptions {
        concurrency: connect.concurrency.get(),
        bucket_concurrency: connect.bucket_concurrency.get(),
        rate: connect.rate.map(|rate| rate.get()),
        bucket_rate: connect.bucket_rate.map(|rate| rate.get()),
        max_attempts: connect.max_attempts.get(),
        request_timeout_secs: connect.request_timeout.as_secs_f64(),
        give_up_after_secs: connect.give_up_after.as_secs_f64(),
        dry_run: settings.dry_run,
        refresh: settings.refresh && !settings.dry_run,
        prune: settings.prune.enabled && !settings.dry_run,
        prune_prefix: settings.prune.prefix.clone(),
    }
}

/// The sidecar as the run ends, with the caller's exit code.
pub fn finish_record(
    record: &mut RunRecord,
    result: &RunResult,
    interruption: Option<Interruption>,
    code: u8,
) {
    record.finished_at = Some(report::timestamp(jiff::Timestamp::now()));
    record.counts = Some(result.counts.clone());
    record.pacing = Some(pacing_record(result));
    record.exit_code = Some(code);
    record.stopped = match (interruption, &result.stopped) {
        (Some(Interruption::Interrupt), _) => Some(Stopped {
            kind: "interrupted".into(),
            message: "SIGINT".into(),
        }),
        (Some(Interruption::Terminate), _) => Some(Stopped {
            kind: "terminated".into(),
            message: "SIGTERM".into(),
        }),
        (None, Some(reason)) => Some(Stopped {
            kind: reason.kind().into(),
            message: reason.to_string(),
        }),
        (None, None) => None,
    };
}

/// What pacing did, for the documents.
fn pacing_record(result: &RunResult) -> PacingRecord {
    let pacing = &result.pacing;
    PacingRecord {
        requests: result.stats.attempts,
        throttled: result.stats.throttled,
        rate_cuts: pacing.rate_cuts,
        estimated_ceiling: pacing.estimated_ceiling,
        paced_at: pacing.paced_at,
        reason: pacing.reason.to_string(),
        outages: pacing.outages.iter().map(outage_record).collect(),
        brief_pauses: pacing.brief_pauses,
        by_account: (pacing.by_account.iter())
            .map(|(account, pace)| (account.clone(), account_pacing_record(pace)))
            .collect(),
    }
}

fn account_pacing_record(pace: &AccountPacing) -> AccountPacingRecord {
    AccountPacingRecord {
        rate_cuts: pace.rate_cuts,
        estimated_ceiling: pace.estimated_ceiling,
        paced_at: pace.paced_at,
        reason: pace.reason.to_string(),
    }
}

fn outage_record(outage: &Outage) -> OutageRecord {
    OutageRecord {
        kind: match outage.kind {
            OutageKind::Slowed => "slowed",
            OutageKind::Paused => "paused",
        },
        start_secs: outage.start.as_secs_f64(),
        end_secs: outage.end.map(|end| end.as_secs_f64()),
        reason: outage.reason().map(|kind| kind.as_str()),
        failures: outage.failures.total(),
        probes: outage.probes,
    }
}
