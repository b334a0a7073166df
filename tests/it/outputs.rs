//! What a platform team builds on, through the binary: every JSON
//! document and JSON log line checked against its schema under
//! `docs/schemas/`, dry runs that leave no file, the folder of the
//! reports cosinv names itself, and a missing bucket's row naming the
//! region it is really in.

use std::path::Path;
use std::process::{Command, Output};

use cosinv::cos::xml::BucketEntry;
use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig};
use serde_json::Value;

use crate::fixtures::write_manifest;
use crate::support::schema::assert_matches_schema;
use crate::support::{
    SECRET_ID, SECRET_KEY, Scenario, bare_cosinv, cosinv, fill_to_the_limit, read_report, run,
    stderr, subcommand,
};

/// The files of `dir`, by name.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs `command` from the folder `work`, with `reports` as
/// `COSINV_REPORT_DIR`; it must succeed and leave `work` empty.
async fn run_from(mut command: Command, work: &Path, reports: &Path) -> Output {
    command.current_dir(work).env("COSINV_REPORT_DIR", reports);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(files_in(work).is_empty(), "{:?}", files_in(work));
    output
}

/// stdout as one JSON document.
fn document(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{err}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// stderr as JSON lines, each checked against the log-line schema.
fn log_lines(output: &Output) -> Vec<Value> {
    let lines: Vec<Value> = stderr(output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    for line in &lines {
        assert_matches_schema("log-line", line);
    }
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_leaves_no_file_behind() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let work = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let before = files_in(dir.path());
    let args = [manifest.to_str().unwrap(), "--dry-run", "--output", "json"];
    let output = run_from(cosinv(dir.path(), &args), work.path(), reports.path()).await;
    assert!(files_in(reports.path()).is_empty());
    assert_eq!(files_in(dir.path()), before);
    let json = document(&output);
    assert_matches_schema("run", &json);
    assert!(json["report"].is_null(), "{json}");
    assert_eq!(json["options"]["dry_run"], true);
    assert_eq!(json["counts"]["by_outcome"]["dry-run"], 6);
    assert!(stderr(&output).contains("no report written"));
    // Asked for, a dry run's report is written as before.
    let report = work.path().join("dry.csv");
    let args = [manifest.to_str().unwrap(), "--dry-run", "--report"];
    let mut command = cosinv(dir.path(), &args);
    command.arg(&report);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read_report(&report).len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_cosinv_names_go_to_cosinv_report_dir_and_match_the_run_schema() {
    let scenario = Scenario::plain(3, 2).await;
    let work = tempfile::tempdir().unwrap();
    let reports = tempfile::tempdir().unwrap();
    let endpoint = scenario.emulator.endpoint();
    let args = [
        scenario.manifest.to_str().unwrap(),
        "--endpoint",
        &endpoint,
        "--output",
        "json",
    ];
    let output = run_from(cosinv(scenario.path(), &args), work.path(), reports.path()).await;
    let names = files_in(reports.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].starts_with("cosinv-report-") && names[0].ends_with(".csv"));
    assert_eq!(names[1], format!("{}.json", names[0]));
    let report = reports.path().join(&names[0]);
    assert_eq!(read_report(&report).len(), 6);
    // The sidecar and the JSON result are one document.
    let sidecar: Value =
        serde_json::from_str(&std::fs::read_to_string(reports.path().join(&names[1])).unwrap())
            .unwrap();
    assert_matches_schema("run", &sidecar);
    let json = document(&output);
    assert_eq!(json, sidecar);
    assert_eq!(json["report"], report.to_str().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bucket_list_matches_its_schema() {
    let scenario = Scenario::plain(2, 1).await;
    let template = cosinv::plan::load(std::slice::from_ref(&scenario.manifest))
        .unwrap()
        .jobs()[0]
        .config();
    for bucket in ["b00000-1250000000", "b00001-1250000000"] {
        scenario.emulator.insert_inventory(bucket, template.clone());
    }
    let endpoint = scenario.emulator.endpoint();
    let args = ["--endpoint", endpoint.as_str(), "--output", "json"];
    let output = run(subcommand(scenario.path(), "buckets", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json = document(&output);
    assert_matches_schema("buckets", &json);
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["buckets"].as_array().unwrap().len(), 2, "{json}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_match_their_schema_failed_jobs_warn_and_the_summary_has_counts() {
    let scenario = Scenario::plain(4, 2).await;
    // One bucket is full: its two new jobs fail.
    fill_to_the_limit(&scenario.emulator, &scenario.manifest, "b00002-1250000000");
    let ran = scenario
        .apply(&["--log-format", "json", "-v", "--output", "json"])
        .await;
    assert_eq!(ran.code(), Some(1), "{}", ran.stderr());
    assert_matches_schema("run", &document(&ran.output));
    assert_matches_schema("run", &ran.sidecar());
    let lines = log_lines(&ran.output);
    let failed: Vec<&Value> = lines
        .iter()
        .filter(|line| line["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 2, "{lines:?}");
    assert!(
        failed.iter().all(|line| line["level"] == "warn"),
        "{failed:?}"
    );
    let summary: Vec<&Value> = lines
        .iter()
        .filter(|line| line["summary"] == true)
        .collect();
    assert_eq!(summary.len(), 1, "{lines:?}");
    let summary = summary[0];
    assert_eq!(summary["level"], "info");
    assert_eq!(
        (&summary["applied"], &summary["failed"], &summary["rows"]),
        (&6.into(), &2.into(), &8.into()),
        "{summary}"
    );
    assert_eq!(summary["by_error_code"]["InventoryLimit"], 2);
    assert!(
        lines.iter().all(|line| line["level"] != "error"),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_stops_says_why_at_error() {
    let scenario = Scenario::plain(2, 1).await;
    let endpoint = scenario.emulator.endpoint();
    let report = scenario.file("r.csv");
    let mut command = bare_cosinv(scenario.path(), SECRET_ID, "not-the-key");
    command.arg("apply").arg(&scenario.manifest).args([
        "--endpoint",
        &endpoint,
        "--log-format",
        "json",
        "--report",
    ]);
    command.arg(&report);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    let lines = log_lines(&output);
    let errors: Vec<&Value> = lines
        .iter()
        .filter(|line| line["level"] == "error")
        .collect();
    assert!(
        errors.iter().any(|line| line["message"]
            .as_str()
            .unwrap()
            .starts_with("stopped early")),
        "{lines:?}"
    );
    let summary = lines.iter().find(|line| line["summary"] == true).unwrap();
    assert_eq!(summary["stopped"], "credentials-rejected", "{summary}");
}

/// An emulator holding exactly these buckets (name, region).
async fn account(buckets: &[(&str, &str)]) -> Emulator {
    let entries = buckets
        .iter()
        .map(|(name, region)| BucketEntry {
            name: name.to_string(),
            location: region.to_string(),
            creation_date: "2024-01-01T00:00:00Z".into(),
        })
        .collect();
    crate::local_emulator(EmulatorConfig {
        buckets: Some(entries),
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await
}

/// GET Service requests the emulator answered: those about no bucket.
fn service_requests(emulator: &Emulator) -> u64 {
    let counters = emulator.counters();
    let all: u64 = counters.requests.values().sum();
    let about_a_bucket: u64 = counters.buckets.values().map(|b| b.requests).sum();
    all - about_a_bucket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_in_another_region_gets_a_row_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    // The manifest puts every bucket in ap-guangzhou.
    let manifest = write_manifest(dir.path(), 4, 2);
    let emulator = account(&[
        ("b00000-1250000000", "ap-shanghai"),
        ("b00001-1250000000", "ap-beijing"),
        ("b00002-1250000000", "ap-guangzhou"),
        ("inventory-1250000000", "ap-guangzhou"),
    ])
    .await;
    let report = dir.path().join("r.csv");
    let ran = run(crate::support::apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["-v", "--log-format", "json"],
    ))
    .await;
    assert_eq!(ran.status.code(), Some(1), "{}", stderr(&ran));
    let rows = read_report(&report);
    let message = |bucket: &str| -> Vec<String> {
        rows.iter()
            .filter(|row| row["bucket"] == bucket)
            .map(|row| row["message"].clone())
            .collect()
    };
    for (bucket, real) in [
        ("b00000-1250000000", "ap-shanghai"),
        ("b00001-1250000000", "ap-beijing"),
    ] {
        let hint = format!("{bucket} is in {real}, not ap-guangzhou (fix the manifest's region)");
        let messages = message(bucket);
        assert_eq!(messages.len(), 2);
        assert!(
            messages.iter().all(|m| m.starts_with(&hint)),
            "{messages:?}"
        );
    }
    // Nowhere in the account: COS's words alone.
    let missing = message("b00003-1250000000");
    assert_eq!(missing.len(), 2);
    assert!(
        missing
            .iter()
            .all(|m| m.contains("NoSuchBucket") && !m.contains(" is in ")),
        "{missing:?}"
    );
    assert!(message("b00002-1250000000").iter().all(String::is_empty));
    // The log line of the job says the same.
    let lines = log_lines(&ran);
    assert!(
        lines.iter().any(|line| line["level"] == "warn"
            && line["message"]
                .as_str()
                .unwrap()
                .contains("b00000-1250000000 is in ap-shanghai, not ap-guangzhou")),
        "{lines:?}"
    );
    assert_eq!(service_requests(&emulator), 1, "one GET Service per run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_buckets_all_exist_does_not_list_the_account() {
    let scenario = Scenario::plain(3, 1).await;
    let ran = scenario.apply(&[]).await;
    assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
    assert_eq!(service_requests(&scenario.emulator), 0);
}

/// A JSON log line as `--log-format json` writes one: the three keys
/// every line has, then the line's fields.
fn line_with(fields: serde_json::Map<String, Value>) -> Value {
    let mut line = serde_json::json!({
        "time": "2026-12-07T02:00:00.123Z",
        "level": "info",
        "message": "m",
    });
    line.as_object_mut().unwrap().extend(fields);
    line
}

#[test]
fn every_field_of_progress_and_job_lines_is_in_the_log_line_schema() {
    use cosinv::executor::{Event, StatsSnapshot};
    use cosinv::run::progress::{event_fields, status_fields};
    let stats = StatsSnapshot {
        total: 10,
        applied: 5,
        failed: 1,
        retrying: 2,
        attempts: 9,
        ..StatsSnapshot::default()
    };
    let holding = Some("paced at 40/s (COS's ceiling)");
    assert_matches_schema("log-line", &line_with(status_fields(&stats, holding)));
    let row = cosinv::report::ReportRow {
        bucket: "b-1250000000".into(),
        region: "ap-guangzhou".into(),
        id: "x".into(),
        action: "put",
        outcome: cosinv::report::Outcome::Failed,
        http_status: Some(404),
        error_code: "NoSuchBucket".into(),
        message: "404 NoSuchBucket".into(),
        request_id: String::new(),
        attempts: 1,
        elapsed_ms: 3,
        finished_at: String::new(),
        source: "m.yaml:3".into(),
        account: "1250000000".into(),
    };
    let retry = Event::Retry {
        bucket: "b-1250000000".into(),
        id: "x".into(),
        attempt: 1,
        class: cosinv::send::retry::Class::Throttled,
        delay: std::time::Duration::from_millis(200),
        message: "503 SlowDown".into(),
    };
    let paused = Event::Paused {
        failures: cosinv::pace::outage::FailureCounts {
            service_unavailable: 12,
            ..Default::default()
        },
    };
    let resumed = Event::Resumed {
        paused_for: std::time::Duration::from_secs(3),
    };
    for event in [Event::Finished(&row), retry, paused, resumed] {
        let fields = event_fields(&event);
        assert!(!fields.is_empty());
        assert_matches_schema("log-line", &line_with(fields));
    }
    // The schema refuses what it does not list.
    let mut unknown = serde_json::Map::new();
    unknown.insert("no_such_field".into(), 1.into());
    let refused = std::panic::catch_unwind(|| {
        assert_matches_schema("log-line", &line_with(unknown));
    });
    assert!(refused.is_err(), "an unlisted field was accepted");
}
