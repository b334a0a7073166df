//! `cosinv apply` end to end: the real binary against the emulator, started
//! in this process on 127.0.0.1.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use cosinv::emulator::{Emulator, Faults};

use crate::now;
use crate::support::{
    Scenario, all_applied, apply_to, assert_state_matches, cosinv, emulator, fill_to_the_limit,
    jobs_once, outcomes, read_report, run, stderr, write_manifest,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_jobs_on_500_buckets_are_applied_and_match_the_manifest() {
    let scenario = Scenario::plain(500, 10).await;
    let ran = scenario.apply(&[]).await;
    let rows = ran.expect(0);
    assert_eq!(rows.len(), 5_000);
    assert_eq!(jobs_once(&rows).len(), 5_000);
    assert_eq!(outcomes(&rows), all_applied(5_000));
    assert!(rows.iter().all(|row| row["http_status"] == "200"));
    assert!(rows.iter().all(|row| !row["request_id"].is_empty()));
    scenario.assert_state_matches();
    let counters = scenario.emulator.counters();
    assert_eq!(counters.buckets.len(), 500);
    for (bucket, seen) in &counters.buckets {
        assert!(seen.max_in_flight <= 1, "{bucket}: {}", seen.max_in_flight);
    }
    assert!(
        ran.stderr()
            .contains("applied 5000, unchanged 0, deleted 0, failed 0"),
        "{}",
        ran.stderr()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_server_errors_and_resets_are_retried_until_every_job_applies() {
    let faults = Faults {
        slow_down: 0.20,
        internal_error: 0.05,
        reset: 0.03,
        latency: Duration::from_millis(2),
        latency_jitter: Duration::from_millis(3),
        seed: 7,
        ..Faults::default()
    };
    let scenario = Scenario::new(80, 10, faults).await;
    let ran = scenario
        .apply(&["--bucket-concurrency", "2", "--max-attempts", "20"])
        .await;
    let rows = ran.expect(0);
    assert_eq!(rows.len(), 800);
    assert_eq!(jobs_once(&rows).len(), 800);
    assert_eq!(outcomes(&rows), all_applied(800));
    assert!(
        rows.iter().any(|row| row["attempts"] != "1"),
        "no job was retried: were the faults injected?"
    );
    scenario.assert_state_matches();
    let counters = scenario.emulator.counters();
    let most = counters
        .buckets
        .values()
        .map(|seen| seen.max_in_flight)
        .max()
        .unwrap();
    assert!(most <= 2, "a bucket had {most} requests in flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_error_is_not_retried() {
    let scenario = Scenario::plain(3, 1).await;
    // The first bucket is full: a new id gets 400 InventoryFull, which
    // would fail the same way again.
    let full = "b00000-1250000000";
    fill_to_the_limit(&scenario.emulator, &scenario.manifest, full);
    // Blind: a refresh would see the bucket full and send nothing to it.
    let rows = scenario.apply(&["--no-refresh"]).await.expect(1);
    let failed: Vec<_> = rows
        .iter()
        .filter(|row| row["outcome"] == "failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["bucket"], full);
    assert_eq!(failed[0]["http_status"], "400");
    assert_eq!(failed[0]["error_code"], "InventoryFull");
    assert_eq!(failed[0]["attempts"], "1");
    assert_eq!(scenario.emulator.counters().buckets[full].requests, 1);
    assert_eq!(outcomes(&rows)["applied"], 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_clock_an_hour_off_is_corrected_from_the_server_date() {
    // COS an hour ahead: our signatures look expired ("Request has
    // expired"). COS an hour behind: they have not begun yet
    // (RequestTimeTooSkewed). Either way every job applies, signed again
    // with the server's time, and the summary says to fix the clock.
    // With a refresh the reads learn the clock and the writes use it; blind,
    // the first write of each lane learns it. Correcting takes the binary a
    // second, so the four cases run at once, each on its own emulator.
    let cases = [
        (now() + 3_600, "behind", "--refresh"),
        (now() - 3_600, "ahead of", "--refresh"),
        (now() + 3_600, "behind", "--no-refresh"),
        (now() - 3_600, "ahead of", "--no-refresh"),
    ];
    let runs = cases.map(|(server, direction, mode)| async move {
        let scenario = Scenario::plain(20, 2).await;
        scenario.emulator.set_clock(Some(server));
        let ran = scenario.apply(&[mode]).await;
        (scenario, ran, direction, mode)
    });
    for (_scenario, ran, direction, mode) in futures_util::future::join_all(runs).await {
        let stderr = ran.stderr();
        assert_eq!(ran.code(), Some(0), "{mode}: {stderr}");
        let rows = ran.rows();
        let settled = outcomes(&rows).get("applied").copied().unwrap_or(0)
            + outcomes(&rows).get("unchanged").copied().unwrap_or(0);
        assert_eq!(settled, 40, "{mode}: {stderr}");
        if mode == "--no-refresh" {
            assert!(
                rows.iter().any(|row| row["attempts"] == "2"),
                "no job was refused first: {stderr}"
            );
        }
        assert!(
            stderr.contains(&format!("s {direction} COS's; requests were signed")),
            "{mode}: {stderr}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_stop_the_run_and_every_job_still_has_a_row() {
    let scenario = Scenario::plain(50, 2).await;
    let mut command = scenario.command("report.csv", &["--concurrency", "2"]);
    command.env("COS_SECRET_KEY", "not-the-key");
    let ran = scenario.run("report.csv", command).await;
    let rows = ran.expect(3);
    assert_eq!(jobs_once(&rows).len(), 100);
    let counts = outcomes(&rows);
    assert_eq!(counts.get("applied"), None);
    assert!(counts["skipped"] > 50, "{counts:?}");
    assert!(
        rows.iter()
            .any(|row| row["error_code"] == "SignatureDoesNotMatch")
    );
    assert!(!ran.stderr().contains("not-the-key"), "the secret leaked");
}

/// A run signalled mid-way: its output, its report's rows, and what a
/// rerun needs.
struct Interrupted {
    output: Output,
    rows: Vec<BTreeMap<String, String>>,
    emulator: Emulator,
    dir: tempfile::TempDir,
    manifest: std::path::PathBuf,
}

/// Starts a slow run, waits for a few finished rows, signals it.
async fn interrupt_mid_run(signal: &str) -> (Output, Vec<BTreeMap<String, String>>, Emulator) {
    let run = interrupted(signal).await;
    (run.output, run.rows, run.emulator)
}

async fn interrupted(signal: &str) -> Interrupted {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 100, 10);
    let emulator = emulator(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    })
    .await;
    let report = dir.path().join("report.csv");
    // Blind, so that rows are written from the start (a refresh would
    // read every bucket first).
    let mut command = apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["--concurrency", "4", "--no-refresh"],
    );
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    loop {
        let rows = std::fs::read_to_string(&report)
            .map(|text| text.lines().count())
            .unwrap_or(0);
        if rows > 10 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the run never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let rows = read_report(&report);
    Interrupted {
        output,
        rows,
        emulator,
        dir,
        manifest,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_leaves_whole_rows_only_true_ones_and_a_rerun_converges() {
    let killed = interrupted("-KILL").await;
    assert_eq!(killed.output.status.code(), None, "killed by a signal");
    // read_report parsed every row with all its columns: whole rows only.
    assert!(!killed.rows.is_empty() && killed.rows.len() < 1_000);
    jobs_once(&killed.rows);
    for row in killed.rows.iter().filter(|row| row["outcome"] == "applied") {
        let stored = killed.emulator.inventory(&row["bucket"]);
        assert!(
            stored.iter().any(|config| config.id.as_str() == row["id"]),
            "{row:?} says applied but the server does not have it"
        );
    }
    // The rerun needs no slow answers to show it converges.
    killed.emulator.set_faults(Faults::default());
    let report = killed.dir.path().join("rekilled.csv");
    let output = run(apply_to(
        killed.dir.path(),
        &killed.manifest,
        &killed.emulator,
        &report,
        &["--concurrency", "16"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&report);
    assert_eq!(jobs_once(&rows).len(), 1_000);
    assert!(
        rows.iter()
            .all(|row| row["outcome"] == "applied" || row["outcome"] == "unchanged")
    );
    assert_state_matches(&killed.emulator, &killed.manifest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_run_writes_a_row_for_every_job_and_exits_143() {
    let (output, rows, emulator) = interrupt_mid_run("-TERM").await;
    assert_eq!(output.status.code(), Some(143), "{}", stderr(&output));
    assert_eq!(rows.len(), 1_000);
    assert_eq!(jobs_once(&rows).len(), 1_000);
    let counts = outcomes(&rows);
    assert!(counts["cancelled"] > 0, "{counts:?}");
    let applied = counts.get("applied").copied().unwrap_or(0);
    assert_eq!(applied + counts["cancelled"], 1_000, "{counts:?}");
    // Every job reported applied is on the emulator.
    for row in rows.iter().filter(|row| row["outcome"] == "applied") {
        let stored = emulator.inventory(&row["bucket"]);
        assert!(stored.iter().any(|config| config.id.as_str() == row["id"]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_mid_run_exits_130() {
    let (output, rows, _emulator) = interrupt_mid_run("-INT").await;
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_eq!(jobs_once(&rows).len(), 1_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_sends_nothing_and_reports_every_job() {
    let scenario = Scenario::plain(20, 3).await;
    let rows = scenario.apply(&["--dry-run"]).await.expect(0);
    assert_eq!(outcomes(&rows), BTreeMap::from([("dry-run".into(), 60)]));
    assert!(scenario.emulator.counters().requests.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_manifest_exits_2_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("bad.yaml");
    std::fs::write(
        &manifest,
        "version: 1\njobs:\n  - id: x\n    bucket: photos-1250000000\n    scedule: Daily\n",
    )
    .unwrap();
    let report = dir.path().join("report.csv");
    let output = run(cosinv(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            "http://127.0.0.1:9",
            "--report",
            report.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("bad.yaml:5"),
        "{}",
        stderr(&output)
    );
    assert!(!report.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_name_the_variables_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 1, 1);
    // A metadata service without a role: not a CVM with one.
    let metadata = emulator(Faults::default()).await;
    metadata.set_roles(cosinv::emulator::RoleConfig {
        cvm_role: None,
        ..Default::default()
    });
    let mut command = cosinv(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    );
    command
        .env_remove("COS_SECRET_ID")
        .env_remove("COS_SECRET_KEY")
        .env("COSINV_METADATA_ENDPOINT", metadata.metadata_endpoint());
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("COS_SECRET_ID"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_of_the_same_manifest_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 20, 5);
    let emulator = emulator(Faults {
        latency: Duration::from_millis(100),
        ..Faults::default()
    })
    .await;
    let endpoint = emulator.endpoint();
    let first_report = dir.path().join("first.csv");
    let mut first = cosinv(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            &endpoint,
            "--report",
            first_report.to_str().unwrap(),
            "--concurrency",
            "1",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    // The report exists once the lock is held.
    let started = Instant::now();
    while !first_report.exists() {
        assert!(started.elapsed() < Duration::from_secs(60));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let second = run(cosinv(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            &endpoint,
            "--report",
            dir.path().join("second.csv").to_str().unwrap(),
        ],
    ))
    .await;
    let _ = first.kill();
    let _ = first.wait();
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    assert!(
        stderr(&second).contains("still running"),
        "{}",
        stderr(&second)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_sandbox_run_applies_the_example_organisation_then_leaves_it_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let sandbox_run = |report: &Path| {
        let mut command = cosinv(
            dir.path(),
            &[
                examples.join("org.yaml").to_str().unwrap(),
                examples.join("fleet.csv").to_str().unwrap(),
                "--sandbox",
                "--report",
                report.to_str().unwrap(),
            ],
        );
        // The sandbox keeps its state under XDG_STATE_HOME: here, not ~.
        command.env("XDG_STATE_HOME", dir.path().join("state"));
        command
    };
    let first = dir.path().join("first.csv");
    let output = run(sandbox_run(&first)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&first);
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|row| row["outcome"] == "applied"));
    assert!(rows.iter().all(|row| row["action"] == "create"));
    assert!(stderr(&output).contains("sandbox"), "{}", stderr(&output));
    assert!(dir.path().join("state/cosinv/sandbox.json").exists());

    let second = dir.path().join("second.csv");
    let output = run(sandbox_run(&second)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let again = read_report(&second);
    assert_eq!(again.len(), rows.len());
    assert!(
        again
            .iter()
            .all(|row| row["outcome"] == "unchanged" && row["action"] == "none"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_hang_time_out_and_are_retried() {
    let faults = Faults {
        hang: 0.1,
        seed: 5,
        ..Faults::default()
    };
    let scenario = Scenario::new(50, 2, faults).await;
    let rows = scenario
        .apply(&["--request-timeout", "0.5"])
        .await
        .expect(0);
    assert_eq!(outcomes(&rows), all_applied(100));
    let hangs = scenario.emulator.counters().requests[&("PUT".to_string(), "hang".to_string())];
    assert!(hangs > 0);
    let retries: u64 = rows
        .iter()
        .map(|row| row["attempts"].parse::<u64>().unwrap() - 1)
        .sum();
    assert_eq!(retries, hangs, "each hang cost its job one more attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_applied_one_after_another_cover_the_manifest_once() {
    let scenario = Scenario::plain(60, 3).await;
    let mut reported = 0;
    for shard in ["0/3", "1/3", "2/3"] {
        let report = format!("report-{}.csv", &shard[..1]);
        let rows = scenario
            .apply_to(&report, &["--shard", shard])
            .await
            .expect(0);
        assert!(!rows.is_empty(), "shard {shard} is empty");
        reported += rows.len();
    }
    assert_eq!(reported, 180);
    scenario.assert_state_matches();
    // One list and three PUTs per bucket: no bucket was touched twice.
    assert!(
        scenario
            .emulator
            .counters()
            .buckets
            .values()
            .all(|b| b.requests == 4)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn impossible_settings_are_usage_errors_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 1, 1);
    let report = dir.path().join("report.csv");
    for bad in [
        ["--concurrency", "0"],
        ["--max-attempts", "0"],
        ["--rate", "0"],
        ["--request-timeout", "0"],
        ["--shard", "3/3"],
    ] {
        let mut args = vec![
            manifest.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ];
        args.extend(bad);
        let output = run(cosinv(dir.path(), &args)).await;
        assert_eq!(
            output.status.code(),
            Some(2),
            "{bad:?}: {}",
            stderr(&output)
        );
        assert!(
            stderr(&output).contains(bad[0]),
            "{bad:?}: {}",
            stderr(&output)
        );
        assert!(!report.exists(), "{bad:?} created the report");
    }
}
