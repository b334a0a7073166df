//! The run's surroundings: the lock, where the report goes, and
//! `--sandbox` beside `COS_ENDPOINT`. The real binary, in a folder of its
//! own.

use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig};
use cosinv::run::lock::RunLock;

use super::{SECRET_ID, SECRET_KEY, cosinv, read_report, rows_of, run, stderr};
use crate::fixtures::write_manifest;

async fn emulator() -> Emulator {
    crate::local_emulator(EmulatorConfig::new(Credentials::new(
        SECRET_ID, SECRET_KEY, None,
    )))
    .await
}

fn total_requests(emulator: &Emulator) -> u64 {
    emulator.counters().requests.values().sum()
}

fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_and_sandboxes_take_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let manifest_arg = manifest.to_str().unwrap();
    let _held = RunLock::acquire_in(
        &dir.path().join("locks"),
        std::slice::from_ref(&manifest),
        None,
    )
    .unwrap();
    for mode in ["--dry-run", "--sandbox"] {
        let output = run(cosinv(dir.path(), &["apply", manifest_arg, mode, "-q"])).await;
        assert_eq!(output.status.code(), Some(0), "{mode}: {}", stderr(&output));
    }
    let output = run(cosinv(
        dir.path(),
        &["apply", manifest_arg, "--endpoint", "http://127.0.0.1:9"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("still running"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_null_is_a_report_nobody_keeps() {
    let started = std::time::SystemTime::now();
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let output = run(cosinv(
        dir.path(),
        &[
            "apply",
            manifest.to_str().unwrap(),
            "--sandbox",
            "--report",
            "/dev/null",
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("applied 6, unchanged 0, deleted 0, failed 0"),
        "{}",
        stderr(&output)
    );
    // Nothing is written beside a device: no /dev/null.json.
    let modified = std::fs::metadata("/dev/null.json").and_then(|m| m.modified());
    assert!(
        modified.map_or(true, |at| at < started),
        "a sidecar was written as /dev/null.json"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dash_sends_the_report_to_standard_output() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let output = run(cosinv(
        dir.path(),
        &[
            "apply",
            manifest.to_str().unwrap(),
            "--sandbox",
            "--report",
            "-",
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = rows_of(&output.stdout);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|row| row["outcome"] == "applied"));
    assert!(
        stderr(&output).contains("report: standard output"),
        "{}",
        stderr(&output)
    );
    assert!(!dir.path().join("-").exists(), "a file named - was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_that_cannot_be_written_stops_the_run_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let emulator = emulator().await;
    let fifo = dir.path().join("no-reader.fifo");
    mkfifo(&fifo);
    let folder = dir.path().join("a-folder");
    std::fs::create_dir(&folder).unwrap();
    for (report, says) in [(&fifo, "no process is reading"), (&folder, "a-folder")] {
        let output = run(cosinv(
            dir.path(),
            &[
                "apply",
                manifest.to_str().unwrap(),
                "--endpoint",
                &emulator.endpoint(),
                "--report",
                report.to_str().unwrap(),
            ],
        ))
        .await;
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert_eq!(total_requests(&emulator), 0, "a request was sent");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fifo_with_a_reader_gets_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 2);
    let fifo = dir.path().join("report.fifo");
    mkfifo(&fifo);
    let mut reader = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .unwrap();
    let output = run(cosinv(
        dir.path(),
        &[
            "apply",
            manifest.to_str().unwrap(),
            "--sandbox",
            "--report",
            fifo.to_str().unwrap(),
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut text = Vec::new();
    reader.read_to_end(&mut text).unwrap();
    assert_eq!(rows_of(&text).len(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_wins_over_cos_endpoint_but_not_over_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 2, 1);
    let manifest = manifest.to_str().unwrap();
    let mut command = cosinv(dir.path(), &["apply", manifest, "--sandbox"]);
    command.env("COS_ENDPOINT", "http://127.0.0.1:9");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the endpoint from COS_ENDPOINT is ignored"),
        "{}",
        stderr(&output)
    );

    let output = run(cosinv(
        dir.path(),
        &[
            "apply",
            manifest,
            "--sandbox",
            "--endpoint",
            "http://127.0.0.1:9",
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));

    // Without --sandbox, COS_ENDPOINT is where requests go.
    let emulator = emulator().await;
    let report = dir.path().join("env.csv");
    let mut command = cosinv(
        dir.path(),
        &["apply", manifest, "--report", report.to_str().unwrap()],
    );
    command.env("COS_ENDPOINT", emulator.endpoint());
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read_report(&report).len(), 2);
    assert_eq!(emulator.inventory("b00000-1250000000").len(), 1);
}
