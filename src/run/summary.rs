//! How a run ends, in words: the line after the refresh, the summary
//! lines (counts, what failed most, what pacing did, why the run stopped,
//! a clock that is off) and what the sandbox holds. Why a run stopped
//! early is worded by the caller, which knows the settings' names.

use std::path::Path;

use serde_json::{Map, Value};

use super::text::{count, human_duration};
use crate::emulator::Emulator;
use crate::executor::RunResult;
use crate::pace::PaceReason;
use crate::plan::Plan;
use crate::report::Outcome;
use crate::report::run::{OutageRecord, PacingRecord, RunRecord};

/// How many error codes the summary names.
const TOP_CODES: usize = 3;

/// The line after a refresh: how many buckets were read, in how long and
/// with how many requests. The apply's own line times only the writes, so
/// without it a nightly run that spent minutes reading and found nothing
/// to change would seem to have taken no time.
pub fn refresh_line(result: &RunResult) -> String {
    let stats = &result.stats;
    let unread = stats.failed + stats.skipped + stats.cancelled + stats.unknown;
    let unread = match unread {
        0 => String::new(),
        n => format!(", {} not read", count(n, "bucket", "buckets")),
    };
    format!(
        "cosinv: read the live inventory of {} in {} ({}){unread}",
        count(stats.applied, "bucket", "buckets"),
        human_duration(result.elapsed),
        count(stats.attempts, "request", "requests"),
    )
}

/// The last lines of a run: the counts, what failed most, what pacing
/// did and a clock that is off. Why the run stopped is the caller's line
/// (in the settings' words, and an error where these are information).
pub fn lines(result: &RunResult, plan: &Plan, record: &RunRecord) -> Vec<String> {
    let counts = &result.counts;
    // Rows for pruned ids are not jobs.
    let deletes = counts.by_action.get("delete").copied().unwrap_or_default();
    let scope = format!(
        "{} on {}",
        count(counts.jobs - deletes, "job", "jobs"),
        count(plan.bucket_count() as u64, "bucket", "buckets")
    );
    let elapsed = human_duration(result.elapsed);
    let report = match record.report.as_deref() {
        None => "no report written".to_string(),
        Some(path) if path == Path::new("-") => "report: standard output".to_string(),
        Some(path) => format!("report: {}", path.display()),
    };
    if record.options.dry_run {
        return vec![format!(
            "cosinv: dry run: {scope} would be put; nothing was sent; {report}"
        )];
    }
    let seconds = result.elapsed.as_secs_f64().max(0.001);
    let unknown = match counts.outcome(Outcome::Unknown) {
        0 => String::new(),
        unknown => format!(", unknown {unknown}"),
    };
    let mut lines = vec![format!(
        "cosinv: applied {}, unchanged {}, deleted {}, failed {}, skipped {}, cancelled {}{unknown} \
         of {scope} in {elapsed} ({:.0} jobs/s, {}); {report}",
        counts.outcome(Outcome::Applied),
        counts.outcome(Outcome::Unchanged),
        counts.outcome(Outcome::Deleted),
        counts.outcome(Outcome::Failed),
        counts.outcome(Outcome::Skipped),
        counts.outcome(Outcome::Cancelled),
        counts.sent as f64 / seconds,
        count(counts.attempts, "request", "requests"),
    )];
    if let Some(line) = failed_codes(result) {
        lines.push(line);
    }
    if let Some(line) = accounts_line(result) {
        lines.push(line);
    }
    if let Some(line) = unmanaged_line(record) {
        lines.push(line);
    }
    lines.extend(pacing_lines(record.pacing.as_ref()));
    if result.clock_offset != 0 {
        lines.push(clock_note(result.clock_offset));
    }
    lines
}

/// The summary's numbers as fields of its first line, for JSON logs: a
/// log shipper counts without parsing the words.
pub fn fields(result: &RunResult, record: &RunRecord) -> Map<String, Value> {
    let counts = &result.counts;
    let mut fields = Map::new();
    fields.insert("summary".into(), true.into());
    fields.insert("run_id".into(), record.run_id.clone().into());
    fields.insert("dry_run".into(), record.options.dry_run.into());
    for (name, value) in [
        ("rows", counts.jobs),
        ("sent", counts.sent),
        ("requests", counts.attempts),
    ] {
        fields.insert(name.into(), value.into());
    }
    for outcome in Outcome::ALL {
        // Field names are identifiers: `dry-run` becomes `dry_run_rows`.
        let name = match outcome {
            Outcome::DryRun => "dry_run_rows",
            other => other.as_str(),
        };
        fields.insert(name.into(), counts.outcome(outcome).into());
    }
    let codes: Map<String, Value> = counts
        .by_error_code
        .iter()
        .map(|(code, n)| (code.clone(), (*n).into()))
        .collect();
    fields.insert("by_error_code".into(), codes.into());
    fields.insert(
        "elapsed_ms".into(),
        (result.elapsed.as_millis() as u64).into(),
    );
    if let Some(stopped) = &record.stopped {
        fields.insert("stopped".into(), stopped.kind.clone().into());
    }
    fields
}

/// Jobs by account, when the run covered more than one.
fn accounts_line(result: &RunResult) -> Option<String> {
    let accounts = &result.counts.by_account;
    if accounts.len() < 2 {
        return None;
    }
    let parts: Vec<String> = accounts
        .iter()
        .map(|(appid, outcomes)| {
            let outcomes: Vec<String> = outcomes
                .iter()
                .map(|(outcome, jobs)| format!("{outcome} {jobs}"))
                .collect();
            format!("{appid} {}", outcomes.join(", "))
        })
        .collect();
    Some(format!("cosinv: by account: {}", parts.join("; ")))
}

/// How many slowed or paused stretches the summary lists.
const EPISODES_SHOWN: usize = 5;

/// Drift: the inventory jobs on the run's buckets that no manifest lists.
fn unmanaged_line(record: &RunRecord) -> Option<String> {
    let unmanaged = record.unmanaged.as_ref().filter(|found| found.jobs > 0)?;
    Some(format!(
        "cosinv: {} on {} kept: not in the manifests (the sidecar and the JSON result list \
         them)",
        count(
            unmanaged.jobs,
            "unmanaged inventory job",
            "unmanaged inventory jobs"
        ),
        count(unmanaged.buckets.len() as u64, "bucket", "buckets"),
    ))
}

/// When and why COS's throttling or failures slowed or paused the run.
fn pacing_lines(pacing: Option<&PacingRecord>) -> Vec<String> {
    let Some(pacing) = pacing else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    // With several accounts, each is paced on its own: the overall reason
    // is the first account's only, so each throttled account gets a line.
    let several = pacing.by_account.len() > 1;
    if pacing.throttled > 0 {
        let share = 100.0 * pacing.throttled as f64 / pacing.requests.max(1) as f64;
        // Why the pace was what it was: a ceiling only when one held it
        // (throttling at random, or missing buckets, is no ceiling).
        let why = if several {
            String::new()
        } else {
            format!("; at the end: {}", pacing.reason)
        };
        lines.push(format!(
            "cosinv: COS asked to slow down {} of {} ({share:.1}%){why}",
            pacing.throttled,
            count(pacing.requests, "request", "requests"),
        ));
    }
    if several {
        lines.extend(account_pacing_lines(pacing));
    }
    for outage in pacing.outages.iter().take(EPISODES_SHOWN) {
        lines.push(outage_line(outage));
    }
    if pacing.outages.len() > EPISODES_SHOWN {
        let more = pacing.outages.len() - EPISODES_SHOWN;
        lines.push(format!("cosinv: … and {more} more (see the sidecar)"));
    }
    if pacing.brief_pauses > 0 {
        lines.push(format!(
            "cosinv: {} of a second or less (failures in a row by chance)",
            count(u64::from(pacing.brief_pauses), "pause", "pauses")
        ));
    }
    lines
}

/// `cosinv: account 1250000001: paced at 20/s (COS's ceiling) at the end;
/// 3 rate cuts`, for each account COS throttled.
fn account_pacing_lines(pacing: &PacingRecord) -> impl Iterator<Item = String> + '_ {
    let not_paced = PaceReason::NotPaced.to_string();
    pacing
        .by_account
        .iter()
        .filter(move |(_, pace)| pace.rate_cuts > 0 || pace.reason != not_paced)
        .map(|(account, pace)| {
            format!(
                "cosinv: account {account}: {} at the end; {}",
                pace.reason,
                count(pace.rate_cuts, "rate cut", "rate cuts")
            )
        })
}

/// `cosinv: paused from 5.0s to 18.1s into the run: COS failed every
/// request (69, mostly connection refused); 6 probes`.
fn outage_line(outage: &OutageRecord) -> String {
    let span = match outage.end_secs {
        Some(end) => format!("from {:.1}s to {end:.1}s", outage.start_secs),
        None => format!("from {:.1}s to the end", outage.start_secs),
    };
    let why = match outage.kind {
        "paused" => "COS failed every request",
        _ => "failures outnumbered answers",
    };
    let reason = outage
        .reason
        .map(|reason| format!(", mostly {reason}"))
        .unwrap_or_default();
    let probes = match outage.probes {
        0 => String::new(),
        probes => format!("; {}", count(u64::from(probes), "probe", "probes")),
    };
    format!(
        "cosinv: {kind} {span} into the run: {why} ({failures}{reason}){probes}",
        kind = outage.kind,
        failures = outage.failures,
    )
}

/// Why the run stopped early, with the flag that decides it when there is
/// `cosinv: failed 500: NoSuchBucket 499, AccessDenied 1`.
fn failed_codes(result: &RunResult) -> Option<String> {
    let failed = result.counts.outcome(Outcome::Failed);
    if failed == 0 {
        return None;
    }
    let (top, rest) = result.counts.top_error_codes(TOP_CODES);
    let mut codes: Vec<String> = top
        .iter()
        .map(|(code, count)| format!("{code} {count}"))
        .collect();
    if rest > 0 {
        codes.push(format!("other {rest}"));
    }
    Some(format!("cosinv: failed {failed}: {}", codes.join(", ")))
}

fn clock_note(offset: i64) -> String {
    let direction = if offset > 0 { "behind" } else { "ahead of" };
    format!(
        "cosinv: this host's clock is {} s {direction} COS's; requests were signed \
         with COS's time instead. Fix the clock (NTP) so that other tools work too.",
        offset.unsigned_abs()
    )
}

/// What the sandbox holds, and where its state is kept.
pub fn sandbox(emulator: &Emulator, state: &Path) -> String {
    // What the state holds, not only what this run touched: a rerun of
    // nothing must not read as an empty sandbox.
    let (stored, buckets) = emulator.holds();
    format!(
        "sandbox: the emulator holds {} on {}; state kept in {} (delete it to start empty)",
        count(
            stored as u64,
            "inventory configuration",
            "inventory configurations"
        ),
        count(buckets as u64, "bucket", "buckets"),
        state.display(),
    )
}

/// The `--output json` document on stdout.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::StatsSnapshot;
    use crate::executor::StopReason;
    use crate::report::run::{AccountPacingRecord, RunOptions, SCHEMA_VERSION, Target};
    use crate::report::{ReportCounts, ReportRow};
    use crate::run::record::{Interruption, finish_record};
    use std::time::Duration;

    fn row(outcome: Outcome, code: &str) -> ReportRow {
        ReportRow {
            bucket: "b-1250000000".into(),
            region: "ap-guangzhou".into(),
            id: "x".into(),
            action: "put",
            outcome,
            http_status: Some(200),
            error_code: code.into(),
            message: String::new(),
            request_id: String::new(),
            attempts: u32::from(outcome != Outcome::Cancelled),
            elapsed_ms: 0,
            finished_at: String::new(),
            source: String::new(),
            account: String::new(),
        }
    }

    fn result(applied: u64, failed: u64, cancelled: u64) -> RunResult {
        let mut counts = ReportCounts::default();
        for _ in 0..applied {
            counts.add(&row(Outcome::Applied, ""));
        }
        for _ in 0..failed {
            counts.add(&row(Outcome::Failed, "InventoryFull"));
        }
        for _ in 0..cancelled {
            counts.add(&row(Outcome::Cancelled, ""));
        }
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
            stopped: None,
            counts,
            clock_offset: 0,
            pacing: Default::default(),
        }
    }

    fn record(dry_run: bool) -> RunRecord {
        RunRecord {
            schema_version: SCHEMA_VERSION,
            cosinv_version: "0",
            run_id: "id".into(),
            started_at: "t".into(),
            finished_at: None,
            report: Some("r.csv".into()),
            manifests: Vec::new(),
            buckets_files: Vec::new(),
            target: Target::Cos,
            shard: None,
            from_report: None,
            options: RunOptions {
                concurrency: 1,
                bucket_concurrency: 1,
                rate: None,
                bucket_rate: None,
                max_attempts: 1,
                request_timeout_secs: 1.0,
                give_up_after_secs: 300.0,
                dry_run,
                refresh: true,
                prune: false,
                prune_prefix: None,
            },
            stopped: None,
            exit_code: None,
            counts: None,
            pacing: None,
            unmanaged: None,
        }
    }

    #[test]
    fn the_refresh_line_says_what_was_read_in_how_long() {
        assert_eq!(
            refresh_line(&result(10, 0, 0)),
            "cosinv: read the live inventory of 10 buckets in 2.0s (10 requests)"
        );
        assert_eq!(
            refresh_line(&result(1, 1, 1)),
            "cosinv: read the live inventory of 1 bucket in 2.0s (2 requests), \
             2 buckets not read"
        );
    }

    #[test]
    fn summary_names_counts_codes_and_the_report() {
        let lines = lines(&result(9, 1, 0), &Plan::default(), &record(false));
        assert_eq!(
            lines,
            [
                "cosinv: applied 9, unchanged 0, deleted 0, failed 1, skipped 0, cancelled 0 of \
                 10 jobs on 0 buckets in 2.0s (5 jobs/s, 10 requests); report: r.csv",
                "cosinv: failed 1: InventoryFull 1",
            ]
        );
        let mut slow_clock = result(10, 0, 0);
        slow_clock.clock_offset = 3_600;
        let lines = super::lines(&slow_clock, &Plan::default(), &record(false));
        assert!(
            lines[1].ends_with(
                "this host's clock is 3600 s behind COS's; requests were signed with \
                 COS's time instead. Fix the clock (NTP) so that other tools work too."
            ),
            "{lines:?}"
        );
    }

    #[test]
    fn jobs_per_second_counts_only_jobs_sent_and_words_agree_with_numbers() {
        // Four applied, six cancelled before they were sent, in 2 s.
        let lines = lines(&result(4, 0, 6), &Plan::default(), &record(false));
        assert!(lines[0].contains("(2 jobs/s, 4 requests)"), "{lines:?}");
        let one = super::lines(&result(1, 0, 0), &Plan::default(), &record(false));
        assert!(one[0].contains("of 1 job on 0 buckets"), "{one:?}");
        assert!(one[0].contains("jobs/s, 1 request)"), "{one:?}");
        let one = super::lines(&result(1, 0, 0), &Plan::default(), &record(true));
        assert_eq!(
            one,
            ["cosinv: dry run: 1 job on 0 buckets would be put; nothing was sent; report: r.csv"]
        );
    }

    #[test]
    fn each_throttled_account_of_several_has_its_pacing_line() {
        let account = |cuts, paced_at: Option<f64>| AccountPacingRecord {
            rate_cuts: cuts,
            estimated_ceiling: paced_at,
            paced_at,
            reason: match paced_at {
                Some(rate) => PaceReason::Ceiling { rate }.to_string(),
                None => PaceReason::NotPaced.to_string(),
            },
        };
        let mut pacing = PacingRecord {
            requests: 100,
            throttled: 10,
            reason: PaceReason::NotPaced.to_string(),
            ..PacingRecord::default()
        };
        pacing
            .by_account
            .insert("1250000001".into(), account(3, Some(20.0)));
        pacing
            .by_account
            .insert("1250000002".into(), account(0, None));
        assert_eq!(
            pacing_lines(Some(&pacing)),
            [
                "cosinv: COS asked to slow down 10 of 100 requests (10.0%)",
                "cosinv: account 1250000001: paced at 20/s (COS's ceiling) at the end; \
                 3 rate cuts",
            ]
        );
        // One account: its reason is the run's, on the one line.
        pacing.by_account.remove("1250000002");
        let lines = pacing_lines(Some(&pacing));
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].ends_with("; at the end: not paced"), "{lines:?}");
    }

    #[test]
    fn the_summary_s_counts_are_fields_too() {
        let result = result(9, 1, 0);
        let fields = fields(&result, &record(false));
        assert_eq!(fields["summary"], true);
        assert_eq!(fields["applied"], 9);
        assert_eq!(fields["failed"], 1);
        assert_eq!(fields["dry_run_rows"], 0);
        assert_eq!(fields["by_error_code"]["InventoryFull"], 1);
        assert!(fields.get("stopped").is_none());
    }

    #[test]
    fn the_record_says_why_the_run_stopped() {
        let mut stopped = result(0, 1, 0);
        stopped.stopped = Some(StopReason::CredentialsUnavailable {
            message: "expired".into(),
        });
        let mut record = record(false);
        finish_record(&mut record, &stopped, None, 3);
        assert_eq!(
            record.stopped.as_ref().unwrap().kind,
            "credentials-unavailable"
        );
        assert_eq!(record.exit_code, Some(3));
        assert_eq!(record.counts.as_ref().unwrap().jobs, 1);
        finish_record(&mut record, &stopped, Some(Interruption::Interrupt), 130);
        assert_eq!(record.stopped.unwrap().kind, "interrupted");
    }

    #[tokio::test]
    async fn the_sandbox_line_counts_what_its_state_holds() {
        let credentials = crate::credentials::Credentials::new("id", "key", None);
        let config = crate::emulator::EmulatorConfig::new(credentials);
        let emulator = Emulator::start(config, ([127, 0, 0, 1], 0).into())
            .await
            .unwrap();
        for (bucket, id) in [
            ("a-1250000000", "x"),
            ("a-1250000000", "y"),
            ("b-1250000000", "x"),
        ] {
            let mut config = crate::model::tests::sample();
            config.id = crate::model::InventoryId::parse(id).unwrap();
            emulator.insert_inventory(bucket, config);
        }
        let line = sandbox(&emulator, Path::new("s.json"));
        assert!(
            line.contains("holds 3 inventory configurations on 2 buckets"),
            "{line}"
        );
    }
}
