//! `cosinv deliveries` end to end: reports planted in the emulator (by
//! its own delivery and by hand) read back through the binary with each
//! status, paged listings, the exit code, the JSON schema and the number
//! of requests per job.

use std::path::Path;

use cosinv::credentials::Credentials;
use cosinv::emulator::{Delivery, Emulator, EmulatorConfig, Faults};

use crate::fixtures::write_manifest;
use crate::support::schema::assert_matches_schema;
use crate::support::{
    SECRET_ID, SECRET_KEY, apply_to, bare_cosinv, emulator, on_emulator, requests, run, stderr,
    stdout, subcommand,
};

/// The time the tests judge at: 2026-12-07 09:00 in Beijing.
const NOW: &str = "2026-12-07T01:00:00Z";
const TODAY: &str = "20261207";
/// Ten days before: late for a daily job.
const OLD: &str = "20261127";
const DESTINATION: &str = "inventory-1250000000";

fn date(text: &str) -> jiff::civil::Date {
    jiff::civil::Date::strptime("%Y%m%d", text).unwrap()
}

fn delivery(day: &str, skip: &[&str], corrupt: &[&str]) -> Delivery {
    Delivery {
        date: date(day),
        skip: skip.iter().map(|b| b.to_string()).collect(),
        corrupt: corrupt.iter().map(|b| b.to_string()).collect(),
    }
}

/// `cosinv SUBCOMMAND MANIFEST --endpoint EMULATOR EXTRA...`.
async fn cosinv(
    dir: &Path,
    name: &str,
    manifest: &Path,
    emulator: &Emulator,
    extra: &[&str],
) -> std::process::Output {
    if name == "apply" {
        let report = dir.join("apply.csv");
        return run(apply_to(dir, manifest, emulator, &report, extra)).await;
    }
    run(on_emulator(dir, name, manifest, emulator, extra)).await
}

/// A fleet of `jobs` buckets with one job each, applied to a fresh
/// emulator: its folder, manifest and emulator.
async fn applied(jobs: usize) -> (tempfile::TempDir, std::path::PathBuf, Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), jobs, 1);
    let emulator = emulator(Faults::default()).await;
    let applied = cosinv(dir.path(), "apply", &manifest, &emulator, &[]).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    (dir, manifest, emulator)
}

/// Eight one-bucket jobs (`s0`…`s7`), daily; `s6`'s destination does not
/// exist and `s7` is disabled.
fn write_jobs(dir: &Path) -> std::path::PathBuf {
    let mut yaml = String::from(
        "version: 1\ndefaults:\n  region: ap-guangzhou\npolicies:\n  base:\n    \
         schedule: Daily\n    destination:\n      bucket: inventory-1250000000\n      \
         prefix: \"inventory/{bucket}\"\njobs:\n",
    );
    for n in 0..8 {
        yaml.push_str(&format!(
            "  - id: daily\n    policy: base\n    bucket: s{n}-1250000000\n"
        ));
    }
    yaml = yaml.replace(
        "bucket: s6-1250000000\n",
        "bucket: s6-1250000000\n    set: { destination: { bucket: gone-1250000000 } }\n",
    );
    yaml = yaml.replace(
        "bucket: s7-1250000000\n",
        "bucket: s7-1250000000\n    set: { enabled: false }\n",
    );
    let path = dir.join("org.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// An emulator whose buckets are the eight sources and the destination
/// (`gone-1250000000` does not exist).
async fn fixed_emulator() -> Emulator {
    let mut names: Vec<String> = (0..8).map(|n| format!("s{n}-1250000000")).collect();
    names.push(DESTINATION.into());
    let buckets = names
        .into_iter()
        .map(|name| cosinv::cos::xml::BucketEntry {
            name,
            location: "ap-guangzhou".into(),
            creation_date: "2026-01-01T00:00:00Z".into(),
        })
        .collect();
    crate::local_emulator(EmulatorConfig {
        buckets: Some(buckets),
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await
}

/// The jobs of [`write_jobs`] applied to the emulator on a fixed clock:
/// its folder, manifest and emulator.
async fn applied_jobs() -> (tempfile::TempDir, std::path::PathBuf, Emulator) {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_jobs(dir.path());
    let emulator = fixed_emulator().await;
    let applied = cosinv(dir.path(), "apply", &manifest, &emulator, &[]).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    (dir, manifest, emulator)
}

fn statuses(document: &serde_json::Value) -> Vec<(String, String)> {
    document["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| {
            let bucket = job["bucket"].as_str().unwrap().to_string();
            (bucket, job["status"].as_str().unwrap().to_string())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_reports_give_every_status_through_paged_listings() {
    let (dir, manifest, emulator) = applied_jobs().await;

    // s1's newest report is old (late); s2 never had one (missing); s3's
    // checksum is wrong; s4's data file has another size, s5's is gone.
    emulator.deliver(&delivery(OLD, &["s2-1250000000"], &[]));
    emulator.deliver(&delivery("20261202", &["s2-1250000000"], &[]));
    let skip = ["s1-1250000000", "s2-1250000000"];
    let done = emulator.deliver(&delivery(TODAY, &skip, &["s3-1250000000"]));
    assert_eq!((done.reports, done.corrupted), (4, 1), "{done:?}");
    let folder = |n: usize| format!("inventory/s{n}-1250000000/1250000000/s{n}/daily/{TODAY}/");
    let data = |n: usize| format!("{}data/daily-0.csv.gz", folder(n));
    assert!(emulator.object(DESTINATION, &data(4)).is_some());
    emulator.put_object(DESTINATION, &data(4), b"shorter".to_vec());
    assert!(emulator.remove_object(DESTINATION, &data(5)));
    // Two folders a page: s0's three deliveries take two pages.
    emulator.set_max_objects_per_page(2);

    let before = emulator.counters();
    let output = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW, "--output", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_matches_schema("deliveries", &document);
    let expected = [
        ("s0-1250000000", "delivered"),
        ("s1-1250000000", "late"),
        ("s2-1250000000", "missing"),
        ("s3-1250000000", "corrupt"),
        ("s4-1250000000", "corrupt"),
        ("s5-1250000000", "corrupt"),
        ("s6-1250000000", "unreadable"),
        ("s7-1250000000", "disabled"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(b, s)| (b.to_string(), s.to_string()))
        .collect();
    assert_eq!(statuses(&document), expected, "{document:#}");
    let jobs = &document["jobs"];
    assert_eq!(jobs[0]["latest"], TODAY);
    assert_eq!(jobs[1]["latest"], "20261202", "{document:#}");
    assert!(
        jobs[1]["reason"].as_str().unwrap().contains("48 h"),
        "{}",
        jobs[1]
    );
    assert_eq!(jobs[2]["latest"], serde_json::Value::Null);
    assert!(
        jobs[3]["reason"]
            .as_str()
            .unwrap()
            .contains("manifest.checksum")
    );
    assert!(
        jobs[4]["reason"].as_str().unwrap().contains("7 bytes"),
        "{}",
        jobs[4]
    );
    assert!(
        jobs[5]["reason"].as_str().unwrap().contains("missing"),
        "{}",
        jobs[5]
    );
    assert!(
        jobs[6]["reason"].as_str().unwrap().contains("NoSuchBucket"),
        "{}",
        jobs[6]
    );
    assert_eq!(document["counts"]["corrupt"], 3);

    // No request for the disabled job; a list page per two folders, the
    // manifest and its checksum, and a HEAD per data file otherwise.
    let after = emulator.counters();
    let gets = requests(&after, "GET") - requests(&before, "GET");
    let heads = requests(&after, "HEAD") - requests(&before, "HEAD");
    // Pages: s0 3 folders → 2, s1 2 → 1 (+1 for an empty last page at
    // most), s2 0 → 1 and 1 more for the prefix's other folder
    // (inventory_report), s3..s5 2 → 1 or 2 each, s6 → 1: at most 12; the
    // manifest and checksum of the five with a report: 10.
    assert!(gets <= 12 + 10, "{gets} GETs");
    assert_eq!(heads, 4, "a HEAD per data file of s0, s1, s4, s5");

    let text = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW],
    )
    .await;
    assert_eq!(text.status.code(), Some(1));
    let out = stdout(&text);
    assert!(out.contains("s2-1250000000/daily: missing (latest none): no delivery under cos://inventory-1250000000/inventory/s2-1250000000/1250000000/s2/daily/"), "{out}");
    assert!(!out.contains("s0-1250000000/daily"), "{out}");
    assert!(out.contains("8 jobs as of 2026-12-07T01:00:00Z: 1 delivered, 1 late, 1 missing, 3 corrupt, 1 unreadable, 1 disabled"), "{out}");
    assert!(out.contains("  gone-1250000000: 1 unreadable"), "{out}");

    let csv = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW, "--output", "csv"],
    )
    .await;
    let rows = stdout(&csv);
    assert_eq!(rows.lines().count(), 9, "{rows}");
    assert!(
        rows.lines()
            .nth(8)
            .unwrap()
            .starts_with("s7-1250000000,daily,disabled,,"),
        "{rows}"
    );
}

/// POST /-/cosinv/deliver over a plain socket: (status, body).
async fn deliver_call(emulator: &Emulator, query: &str) -> (u16, String) {
    post_call(emulator, cosinv::emulator::DELIVER_PATH, query).await
}

/// POST `path`?`query` to the emulator over a plain socket: (status, body).
async fn post_call(emulator: &Emulator, path: &str, query: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    let request = format!(
        "POST {path}?{query} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_s_own_deliveries_read_back_as_delivered_in_three_requests_and_a_head() {
    const JOBS: usize = 40;
    let (dir, manifest, emulator) = applied(JOBS).await;

    let (status, body) = deliver_call(&emulator, "date=2026-12-07").await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = deliver_call(&emulator, &format!("date={TODAY}")).await;
    assert_eq!(status, 200, "{body}");
    let done: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(done["reports"], JOBS);
    assert_eq!(emulator.object_count(), JOBS * 3);

    let before = emulator.counters();
    let output = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW, "--output", "json"],
    )
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_matches_schema("deliveries", &document);
    assert_eq!(document["counts"]["delivered"], JOBS);
    assert_eq!(document["now"], NOW);
    let after = emulator.counters();
    let gets = requests(&after, "GET") - requests(&before, "GET");
    let heads = requests(&after, "HEAD") - requests(&before, "HEAD");
    assert_eq!(
        gets,
        3 * JOBS as u64,
        "a list, the manifest and its checksum per job"
    );
    assert_eq!(heads, JOBS as u64, "a HEAD per data file");

    // Three days later the same reports are late: exit 1.
    let later = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", "2026-12-10T01:00:00Z", "--shard", "0/4"],
    )
    .await;
    assert_eq!(later.status.code(), Some(1), "{}", stderr(&later));
    assert!(stdout(&later).contains(" late"), "{}", stdout(&later));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_rehearsal_applies_then_finds_every_report_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let org = examples.join("org.yaml");
    let fleet = examples.join("fleet.csv");
    let state = dir.path().join("sandbox.json");
    let report = dir.path().join("report.csv");
    let sandbox = |name: &str, extra: &[&str]| {
        let mut args = vec![
            org.to_str().unwrap(),
            fleet.to_str().unwrap(),
            "--sandbox",
            "--sandbox-state",
            state.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        subcommand(dir.path(), name, &args)
    };
    let applied = run(sandbox("apply", &["--report", report.to_str().unwrap()])).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    let checked = run(sandbox("deliveries", &[])).await;
    assert_eq!(
        checked.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&checked),
        stderr(&checked)
    );
    assert!(
        stderr(&checked).contains("sandbox: delivered"),
        "{}",
        stderr(&checked)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_time_or_manifest_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 1, 1);
    let emulator = emulator(Faults::default()).await;
    let bad_time = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", "yesterday"],
    )
    .await;
    assert_eq!(bad_time.status.code(), Some(2), "{}", stderr(&bad_time));
    std::fs::write(&manifest, "version: 1\njobs: [{ id: x }]\n").unwrap();
    let bad = cosinv(dir.path(), "deliveries", &manifest, &emulator, &[]).await;
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    assert_eq!(emulator.counters().requests.len(), 0, "nothing asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_file_larger_than_any_answer_cosinv_reads_is_sized_by_head_alone() {
    let (dir, manifest, emulator) = applied(1).await;
    emulator.deliver(&delivery(TODAY, &[], &[]));
    let folder = format!("inventory/b00000-1250000000/1250000000/b00000/job-0/{TODAY}/");
    let manifest_key = format!("{folder}manifest.json");
    let body = emulator.object(DESTINATION, &manifest_key).unwrap();
    let mut report = cosinv::cos::report::ReportManifest::parse(&body).unwrap();
    let big = 6 * 1024 * 1024;
    report.files[0].size = big.to_string();
    emulator.put_object(DESTINATION, &report.files[0].key, vec![b'x'; big]);
    let body = report.to_json();
    let checksum = cosinv::cos::report::md5_hex(&body);
    emulator.put_object(DESTINATION, &manifest_key, body);
    emulator.put_object(
        DESTINATION,
        &format!("{folder}manifest.checksum"),
        checksum.into_bytes(),
    );

    let output = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_now_report_has_its_one_time_jobs_checked_under_their_ids() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 1);
    let emulator = emulator(Faults::default()).await;
    let report = dir.path().join("run-now.csv");
    let report = report.to_str().unwrap();
    let submitted = cosinv(
        dir.path(),
        "run-now",
        &manifest,
        &emulator,
        &["--id-suffix", "t1", "--report", report],
    )
    .await;
    assert_eq!(submitted.status.code(), Some(0), "{}", stderr(&submitted));
    // Nothing delivered yet: every one-time job is missing.
    let early = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--from-report", report, "--output", "json"],
    )
    .await;
    assert_eq!(early.status.code(), Some(1), "{}", stderr(&early));
    let document: serde_json::Value = serde_json::from_str(&stdout(&early)).unwrap();
    assert_eq!(document["counts"]["missing"], 3, "{document:#}");
    assert_eq!(document["jobs"][0]["id"], "job-0-t1");

    // The periodic configurations were never put: only the one-time
    // jobs' reports arrive, under their ids.
    let done = emulator.deliver(&delivery(TODAY, &[], &[]));
    assert_eq!(done.reports, 3);
    let later = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--from-report", report, "--now", "2027-01-07T01:00:00Z"],
    )
    .await;
    assert_eq!(
        later.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&later),
        stderr(&later)
    );
    assert!(
        stderr(&later).contains("3 one-time job(s) submitted"),
        "{}",
        stderr(&later)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_and_server_errors_are_retried_as_for_every_request() {
    let (dir, manifest, emulator) = applied(10).await;
    emulator.deliver(&delivery(TODAY, &[], &[]));
    emulator.set_faults(Faults {
        slow_down: 0.2,
        internal_error: 0.1,
        seed: 7,
        ..Faults::default()
    });
    let output = cosinv(
        dir.path(),
        "deliveries",
        &manifest,
        &emulator,
        &["--now", NOW, "--rate", "200", "--max-attempts", "10"],
    )
    .await;
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    let counters = emulator.counters();
    let refused: u64 = counters
        .requests
        .iter()
        .filter(|((method, outcome), _)| method == "GET" && outcome != "200")
        .map(|(_, n)| n)
        .sum();
    assert!(refused > 0, "faults were drawn: {:?}", counters.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosinv_emulate_deliver_on_delivers_its_state_file_s_configurations_at_start() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 5, 1);
    let state = dir.path().join("state.json");
    let state = state.to_str().unwrap();
    // A first emulator keeps the applied configurations in the state file.
    let first = crate::local_emulator(EmulatorConfig {
        state_file: Some(state.into()),
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await;
    let applied = cosinv(dir.path(), "apply", &manifest, &first, &[]).await;
    assert_eq!(applied.status.code(), Some(0), "{}", stderr(&applied));
    first.shutdown().await.unwrap();

    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_cosinv"))
        .args(["emulate", "--listen", "127.0.0.1:0", "--state", state])
        .args(["--secret-id", SECRET_ID, "--secret-key", SECRET_KEY])
        .args(["--deliver-on", TODAY])
        .env_remove("COS_SECURITY_TOKEN")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first_line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let endpoint = first_line
        .trim()
        .strip_prefix("listening on ")
        .expect(&first_line);
    let path = manifest.to_str().unwrap();
    let args = [path, "--endpoint", endpoint, "--now", NOW];
    let output = run(subcommand(dir.path(), "deliveries", &args)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("5 delivered"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_credentials_stop_the_reads_at_once_with_exit_3() {
    let (dir, manifest, emulator) = applied(20).await;
    let before = emulator.counters().requests.values().sum::<u64>();
    let mut command = bare_cosinv(dir.path(), SECRET_ID, "not-the-key");
    let endpoint = emulator.endpoint();
    let args = ["--endpoint", &endpoint, "--concurrency", "1"];
    command
        .args(["deliveries", manifest.to_str().unwrap()])
        .args(args);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("stopped early"),
        "{}",
        stderr(&output)
    );
    // Not one refused request per job: the first refusal stops the rest.
    let sent = emulator.counters().requests.values().sum::<u64>() - before;
    assert_eq!(sent, 1, "requests after the credentials were refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_under_the_prefix_s_inventory_report_folder_is_found_too() {
    let (dir, manifest, emulator) = applied_jobs().await;
    emulator.deliver(&delivery(TODAY, &[], &[]));
    let under = "1250000000/s0/daily/20261207/";
    let (overview, api) = (
        format!("inventory/s0-1250000000/{under}"),
        format!("inventory/s0-1250000000/inventory_report/{under}"),
    );
    // s0's report moved where some API pages say a prefix sends it, as
    // COS would write it there (its manifest listing the files there).
    let moved = |name: &str| {
        let body = emulator
            .object(DESTINATION, &format!("{overview}{name}"))
            .unwrap();
        assert!(emulator.remove_object(DESTINATION, &format!("{overview}{name}")));
        body
    };
    let data = moved("data/daily-0.csv.gz");
    emulator.put_object(DESTINATION, &format!("{api}data/daily-0.csv.gz"), data);
    let json = String::from_utf8(moved("manifest.json"))
        .unwrap()
        .replace(&overview, &api);
    moved("manifest.checksum");
    let checksum = cosinv::cos::report::md5_hex(json.as_bytes());
    emulator.put_object(
        DESTINATION,
        &format!("{api}manifest.checksum"),
        checksum.into_bytes(),
    );
    emulator.put_object(
        DESTINATION,
        &format!("{api}manifest.json"),
        json.into_bytes(),
    );
    let args = ["--now", NOW, "--output", "json"];
    let output = cosinv(dir.path(), "deliveries", &manifest, &emulator, &args).await;
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let s0 = &document["jobs"][0];
    assert_eq!(
        (s0["bucket"].as_str(), s0["status"].as_str()),
        (Some("s0-1250000000"), Some("delivered")),
        "{document:#}"
    );
    assert_eq!(
        s0["location"],
        format!(
            "cos://{DESTINATION}/inventory/s0-1250000000/inventory_report/1250000000/s0/daily/"
        )
    );
    // With no delivery in either place, the reason names both.
    for name in ["manifest.json", "manifest.checksum", "data/daily-0.csv.gz"] {
        assert!(emulator.remove_object(DESTINATION, &format!("{api}{name}")));
    }
    let output = cosinv(dir.path(), "deliveries", &manifest, &emulator, &args).await;
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    let reason = document["jobs"][0]["reason"].as_str().unwrap();
    assert_eq!(document["jobs"][0]["status"], "missing", "{document:#}");
    assert!(
        reason.contains(" or ") && reason.contains("/inventory_report/"),
        "{reason}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_refusing_the_reads_with_403_makes_its_jobs_unreadable_exit_1() {
    let (dir, manifest, emulator) = applied_jobs().await;
    emulator.deliver(&delivery(TODAY, &[], &[]));
    // As a rehearsal would: the reports are there, cosinv may not read them.
    let path = cosinv::emulator::REFUSE_READS_PATH;
    let (status, body) = post_call(&emulator, path, &format!("buckets={DESTINATION}")).await;
    assert_eq!(status, 204, "{body}");

    let args = ["--now", NOW, "--output", "json"];
    let output = cosinv(dir.path(), "deliveries", &manifest, &emulator, &args).await;
    // 1, as for any unreadable job: not 3, the credentials are fine.
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_matches_schema("deliveries", &document);
    let refused: Vec<&serde_json::Value> = document["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["bucket"] != "s6-1250000000" && job["bucket"] != "s7-1250000000")
        .collect();
    assert_eq!(refused.len(), 6, "{document:#}");
    for job in refused {
        assert_eq!(job["status"], "unreadable", "{job}");
        let reason = job["reason"].as_str().unwrap();
        assert!(reason.contains("AccessDenied"), "{job}");
    }
    assert_eq!(document["counts"]["unreadable"], 7, "{document:#}");
    let denied = emulator
        .counters()
        .requests
        .get(&("GET".into(), "403".into()))
        .copied();
    assert_eq!(denied, Some(6), "one refused listing per job");

    // Readable again, the same reports are delivered.
    emulator.refuse_reads(&[]);
    let output = cosinv(dir.path(), "deliveries", &manifest, &emulator, &args).await;
    let document: serde_json::Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(document["counts"]["delivered"], 6, "{document:#}");
}
