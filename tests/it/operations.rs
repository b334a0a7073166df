//! Operations, end to end against the emulator on 127.0.0.1: HTTPS with
//! per-bucket host names, a refused certificate, proxies, the JSON result
//! and log lines, the sidecar, reruns from a report, credentials that are
//! refreshed or expire during a run, exit code 3.
//!
//! Runs without `--endpoint` always pass `--resolve '*.myqcloud.com=…'`
//! to an address on this machine, so nothing can reach the real COS.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cosinv::cos::request::InventoryRequest;
use cosinv::credentials::{CredentialSource, Credentials, SharedCredentials};
use cosinv::emulator::{Emulator, EmulatorConfig, Faults, RoleConfig, TlsIdentity};
use cosinv::executor::{self, ExecutorConfig, RunControl};
use cosinv::http::HttpOptions;
use cosinv::http::tls::TrustRoots;
use cosinv::model::{BucketName, Region};
use cosinv::plan::reconcile;
use cosinv::report::ReportWriter;
use cosinv::send::client::{ClientConfig, CosClient, Endpoint, TransportErrorKind};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::fixtures::write_manifest;
use crate::now;
use crate::support::{
    SECRET_ID, SECRET_KEY, Scenario, apply_to, assert_state_matches, cosinv, emulator,
    fill_to_the_limit, outcomes, read_report, run, stderr, stdout,
};

/// An HTTPS emulator and its CA certificate, written to `dir/ca.pem`.
async fn tls_emulator(dir: &Path) -> (Emulator, PathBuf) {
    let emulator = crate::local_emulator(EmulatorConfig {
        tls: true,
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await;
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, emulator.ca_pem().unwrap()).unwrap();
    (emulator, ca)
}

/// `apply MANIFEST --report REPORT --ca-bundle CA --resolve *.myqcloud.com=ADDR EXTRA…`:
/// COS's real host names, connected to `addr`.
fn apply_https(
    dir: &Path,
    manifest: &Path,
    report: &Path,
    ca: &Path,
    addr: SocketAddr,
    extra: &[&str],
) -> Command {
    let resolve = format!("*.myqcloud.com={addr}");
    let mut args = vec![
        manifest.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "--ca-bundle",
        ca.to_str().unwrap(),
        "--resolve",
        &resolve,
    ];
    args.extend_from_slice(extra);
    cosinv(dir, &args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_apply_connects_to_each_bucket_host_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 30, 2);
    let (emulator, ca) = tls_emulator(dir.path()).await;
    let report = dir.path().join("report.csv");
    let command = apply_https(dir.path(), &manifest, &report, &ca, emulator.addr(), &[]);
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&report);
    assert_eq!(outcomes(&rows), BTreeMap::from([("applied".into(), 60)]));
    assert_state_matches(&emulator, &manifest);
    // One TLS connection per bucket host at least, each with its own name.
    let names = emulator.counters().tls_server_names;
    for bucket in 0..30 {
        let host = format!("b{bucket:05}-1250000000.cos.ap-guangzhou.myqcloud.com");
        assert!(names.contains_key(&host), "no SNI {host}: {names:?}");
    }
    assert!(
        !names.contains_key(""),
        "a handshake without SNI: {names:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_from_an_unknown_ca_stops_the_run_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 40, 5);
    let (emulator, _) = tls_emulator(dir.path()).await;
    let other_ca = dir.path().join("other-ca.pem");
    let stranger = TlsIdentity::generate("127.0.0.1".parse().unwrap()).unwrap();
    std::fs::write(&other_ca, stranger.ca_pem()).unwrap();
    let report = dir.path().join("report.csv");
    let command = apply_https(
        dir.path(),
        &manifest,
        &report,
        &other_ca,
        emulator.addr(),
        &["--concurrency", "4"],
    );
    let output = run(command).await;
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("stopped early: TLS: the certificate of b"),
        "{stderr}"
    );
    assert!(
        stderr.contains(".cos.ap-guangzhou.myqcloud.com was refused"),
        "{stderr}"
    );
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    let rows = read_report(&report);
    assert_eq!(rows.len(), 200);
    // Never retried: one attempt at most per job, most never sent.
    assert!(
        rows.iter()
            .all(|row| row["attempts"] == "0" || row["attempts"] == "1")
    );
    let counts = outcomes(&rows);
    assert!(counts["skipped"] > 150, "{counts:?}");
    assert!(
        rows.iter()
            .any(|row| row["error_code"] == "TlsCertificateRefused")
    );
    assert!(
        emulator.counters().requests.is_empty(),
        "a request got through"
    );
}

/// The library: a name the certificate does not have is refused as TLS,
/// and an IP endpoint is verified against the certificate's IP address.
#[tokio::test]
async fn names_outside_the_certificate_are_refused_and_ip_endpoints_verified() {
    let dir = tempfile::tempdir().unwrap();
    let (emulator, ca) = tls_emulator(dir.path()).await;
    let trust = TrustRoots::from_pem(&ca, emulator.ca_pem().unwrap().as_bytes()).unwrap();
    let credentials = SharedCredentials::fixed(
        Credentials::new(SECRET_ID, SECRET_KEY, None),
        CredentialSource::Explicit,
    );
    let client = |endpoint| {
        CosClient::new(ClientConfig {
            http: HttpOptions {
                trust: Some(trust.clone()),
                resolve: vec![
                    format!("*.myqcloud.com={}", emulator.addr())
                        .parse()
                        .unwrap(),
                ],
                ..HttpOptions::default()
            },
            ..ClientConfig::new(endpoint, credentials.clone())
        })
        .unwrap()
    };
    let bucket = BucketName::parse("photos-1250000000").unwrap();
    let nowhere = Region::parse("zz-nowhere").unwrap();
    let request = InventoryRequest::list(&bucket, &nowhere, None);
    let err = client(Endpoint::Cos)
        .send(&request, now())
        .await
        .unwrap_err();
    assert_eq!(err.kind, TransportErrorKind::TlsVerification, "{err}");
    assert!(
        err.message
            .ends_with("not valid for this name (NotValidForName)"),
        "{err}"
    );
    assert!(
        err.message
            .contains("photos-1250000000.cos.zz-nowhere.myqcloud.com"),
        "{err}"
    );
    let guangzhou = Region::parse("ap-guangzhou").unwrap();
    let request = InventoryRequest::list(&bucket, &guangzhou, None);
    let by_ip = Endpoint::parse(&emulator.endpoint(), false).unwrap();
    let answer = client(by_ip).send(&request, now()).await.unwrap();
    assert_eq!(answer.status, 200);
}

/// Against COS's host names a bucket's connection serves its jobs and no
/// other bucket, and is closed when its lane is done with the bucket:
/// connections stay bounded by the lanes, not by the buckets, and none is
/// left open when the run ends though the client lives on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_connection_is_reused_by_its_jobs_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 40, 3);
    let (emulator, ca) = tls_emulator(dir.path()).await;
    let trust = TrustRoots::from_pem(&ca, emulator.ca_pem().unwrap().as_bytes()).unwrap();
    let credentials = SharedCredentials::fixed(
        Credentials::new(SECRET_ID, SECRET_KEY, None),
        CredentialSource::Explicit,
    );
    let client = CosClient::new(ClientConfig {
        http: HttpOptions {
            trust: Some(trust),
            resolve: vec![
                format!("*.myqcloud.com={}", emulator.addr())
                    .parse()
                    .unwrap(),
            ],
            ..HttpOptions::default()
        },
        ..ClientConfig::new(Endpoint::Cos, credentials)
    })
    .unwrap();
    let plan = Arc::new(cosinv::plan::load(&[manifest]).unwrap());
    let config = ExecutorConfig {
        concurrency: NonZeroUsize::new(2).unwrap(),
        ..ExecutorConfig::default()
    };
    let report = ReportWriter::create(&dir.path().join("report.csv")).unwrap();
    let result = executor::execute(
        plan.clone(),
        reconcile::blind(&plan),
        Some(client.clone()),
        config,
        report,
        RunControl::default(),
    )
    .await
    .unwrap();
    assert_eq!(result.stats.applied, 120);
    let counters = emulator.counters();
    assert_eq!(counters.tls_server_names.len(), 40);
    assert!(
        counters.tls_server_names.values().all(|&count| count == 1),
        "one connection per bucket: {:?}",
        counters.tls_server_names
    );
    // 2 permits, 4 lanes (each holds its bucket's connection between
    // jobs), and closes seen a moment after they happen.
    assert!(
        counters.max_open_connections <= 8,
        "{} connections open at once for 40 buckets",
        counters.max_open_connections
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while emulator.counters().open_connections > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(emulator.counters().open_connections, 0);
    drop(client);
}

/// Reads `cosinv emulate`'s first lines: its endpoint and CA file.
fn emulate_address(stdout: std::process::ChildStdout) -> (String, PathBuf) {
    let mut lines = BufReader::new(stdout).lines();
    let first = lines.next().unwrap().unwrap();
    let endpoint = first
        .strip_prefix("listening on ")
        .expect(&first)
        .to_string();
    let second = lines.next().unwrap().unwrap();
    let ca = second
        .strip_prefix("CA certificate: ")
        .and_then(|rest| rest.split(" (").next())
        .expect(&second);
    (endpoint, PathBuf::from(ca))
}

#[test]
fn emulate_tls_writes_its_ca_in_a_private_folder_it_removes_when_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosinv"))
        .args(["emulate", "--tls", "--listen", "127.0.0.1:0"])
        .env("COS_SECRET_ID", SECRET_ID)
        .env("COS_SECRET_KEY", SECRET_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (endpoint, ca) = emulate_address(child.stdout.take().unwrap());
    let port = endpoint.rsplit(':').next().unwrap();
    let folder = ca.parent().unwrap().to_path_buf();
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
    // SIGTERM: the emulator stops as it does on Ctrl-C.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().unwrap();
    assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
    assert!(!ca.to_string_lossy().contains(port), "{}", ca.display());
    assert!(status.success(), "{status:?}");
    assert!(!folder.exists(), "{} left behind", folder.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulate_tls_serves_apply_over_https() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 5, 2);
    let ca_file = dir.path().join("emulator-ca.pem");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cosinv"))
        .args(["emulate", "--tls", "--listen", "127.0.0.1:0", "--ca-file"])
        .arg(&ca_file)
        .env("COS_SECRET_ID", SECRET_ID)
        .env("COS_SECRET_KEY", SECRET_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_stdout = child.stdout.take().unwrap();
    let (endpoint, ca) = tokio::task::spawn_blocking(move || emulate_address(child_stdout))
        .await
        .unwrap();
    assert_eq!(ca, ca_file);
    let addr: SocketAddr = endpoint.strip_prefix("https://").unwrap().parse().unwrap();
    let report = dir.path().join("report.csv");
    let output = run(apply_https(dir.path(), &manifest, &report, &ca, addr, &[])).await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        outcomes(&read_report(&report)),
        BTreeMap::from([("applied".into(), 10)])
    );
}

/// A CONNECT proxy that tunnels every CONNECT to `upstream` whatever host
/// was asked, answers anything else 502, and keeps the request lines.
struct Proxy {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                while let Ok((client, _)) = listener.accept().await {
                    tokio::spawn(tunnel(client, upstream, seen.clone()));
                }
            }
        });
        Proxy { addr, seen, task }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tunnel(mut client: TcpStream, upstream: SocketAddr, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
        match client.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let text = String::from_utf8_lossy(&head);
    let first = text.lines().next().unwrap_or_default().to_string();
    seen.lock().push(first.clone());
    if !first.starts_with("CONNECT ") {
        let _ = client
            .write_all(
                b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            )
            .await;
        return;
    }
    let Ok(mut server) = TcpStream::connect(upstream).await else {
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_goes_through_the_proxy_named_by_https_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 4, 2);
    let (emulator, ca) = tls_emulator(dir.path()).await;
    let proxy = Proxy::start(emulator.addr()).await;
    let report = dir.path().join("report.csv");
    // Were the proxy bypassed, the connection would go to a closed port
    // on this machine, never to COS.
    let closed: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut command = apply_https(dir.path(), &manifest, &report, &ca, closed, &["-v"]);
    command.env("HTTPS_PROXY", format!("http://{}", proxy.addr));
    let output = run(command).await;
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!("proxy: https through http://{}/", proxy.addr)),
        "{stderr}"
    );
    let seen = proxy.seen();
    for bucket in 0..4 {
        let connect =
            format!("CONNECT b{bucket:05}-1250000000.cos.ap-guangzhou.myqcloud.com:443 HTTP/1.1");
        assert!(seen.contains(&connect), "{connect} not in {seen:?}");
    }
    assert_eq!(
        outcomes(&read_report(&report)),
        BTreeMap::from([("applied".into(), 8)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_proxy_keeps_a_loopback_endpoint_direct() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(3, 1).await;
    let proxy = Proxy::start(emulator.addr()).await;
    let report = dir.path().join("direct.csv");
    let mut command = apply_to(dir.path(), &manifest, &emulator, &report, &[]);
    command
        .env("HTTP_PROXY", format!("http://{}", proxy.addr))
        .env("NO_PROXY", "localhost,127.0.0.1");
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(proxy.seen(), Vec::<String>::new());
    // Without NO_PROXY, plain http goes to HTTP_PROXY (which refuses it).
    let report = dir.path().join("proxied.csv");
    let mut command = apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["--max-attempts", "1"],
    );
    command.env("HTTP_PROXY", format!("http://{}", proxy.addr));
    let output = run(command).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let seen = proxy.seen();
    // One list per bucket, each refused by the proxy: nothing more is sent.
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert!(
        seen.iter()
            .all(|line| line.starts_with(&format!("GET {}/?inventory", emulator.endpoint()))),
        "{seen:?}"
    );
}

fn is_rfc3339_utc(text: &str) -> bool {
    text.ends_with('Z') && text.parse::<jiff::Timestamp>().is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_json_is_one_document_on_stdout_and_log_lines_carry_the_time() {
    let scenario = Scenario::plain(10, 2).await;
    // One bucket is full: its new job fails with InventoryFull.
    let full = "b00003-1250000000";
    fill_to_the_limit(&scenario.emulator, &scenario.manifest, full);
    let report = scenario.file("report.csv");
    let ran = scenario.apply(&["--output", "json"]).await;
    let stderr = ran.stderr();
    assert_eq!(ran.code(), Some(1), "{stderr}");
    let json: serde_json::Value = serde_json::from_str(&ran.stdout()).unwrap();
    crate::support::schema::assert_matches_schema("run", &json);
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["report"], report.to_str().unwrap());
    assert_eq!(json["exit_code"], 1);
    assert!(json["run_id"].as_str().unwrap().len() > 16);
    assert!(
        is_rfc3339_utc(json["started_at"].as_str().unwrap()),
        "{json}"
    );
    assert!(
        is_rfc3339_utc(json["finished_at"].as_str().unwrap()),
        "{json}"
    );
    let counts = &json["counts"];
    assert_eq!(counts["jobs"], 20);
    assert_eq!(counts["by_outcome"]["applied"], 18);
    assert_eq!(counts["by_outcome"]["failed"], 2);
    assert_eq!(counts["by_action"]["create"], 20);
    // The full bucket is seen on the refresh: its jobs get no request.
    assert_eq!(counts["by_error_code"]["InventoryLimit"], 2);
    // The summary names what failed; every line starts with the time.
    assert!(
        stderr.contains("cosinv: failed 2: InventoryLimit 2"),
        "{stderr}"
    );
    for line in stderr.lines() {
        let time = line.split(' ').next().unwrap();
        assert!(is_rfc3339_utc(time), "no time on {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_format_json_writes_one_object_per_line() {
    let scenario = Scenario::plain(3, 1).await;
    let ran = scenario.apply(&["--log-format", "json", "-v"]).await;
    let stderr = ran.stderr();
    assert_eq!(ran.code(), Some(0), "{stderr}");
    assert!(ran.stdout().is_empty());
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("{line}")))
        .collect();
    assert!(lines.len() >= 2, "{stderr}");
    for line in &lines {
        crate::support::schema::assert_matches_schema("log-line", line);
        assert!(is_rfc3339_utc(line["time"].as_str().unwrap()), "{line}");
        assert!(
            line["level"].is_string() && line["message"].is_string(),
            "{line}"
        );
    }
    assert!(
        lines
            .iter()
            .any(|line| line["message"] == "credentials: environment (COS_SECRET_ID)"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_and_a_report_on_stdout_are_refused_together() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 1, 1);
    let output = run(cosinv(
        dir.path(),
        &[
            manifest.to_str().unwrap(),
            "--report",
            "-",
            "--output",
            "json",
            "--dry-run",
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("--report - and --output json would all write to standard output"),
        "{said}"
    );
    assert!(stdout(&output).is_empty());
}

fn sha256_hex(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sidecar_records_what_was_run_and_how_it_went() {
    let scenario = Scenario::plain(12, 2).await;
    let ran = scenario
        .apply(&["--shard", "1/2", "--rate", "500", "--max-attempts", "3"])
        .await;
    let rows = ran.expect(0);
    let record = ran.sidecar();
    let manifest = &scenario.manifest;
    assert_eq!(record["schema_version"], 1);
    assert_eq!(record["cosinv_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(record["manifests"][0]["path"], manifest.to_str().unwrap());
    assert_eq!(record["manifests"][0]["sha256"], sha256_hex(manifest));
    // The buckets file the manifest names is an input too.
    let buckets_file = scenario.file("buckets.txt");
    assert_eq!(
        record["buckets_files"][0]["path"],
        buckets_file.to_str().unwrap()
    );
    assert_eq!(
        record["buckets_files"][0]["sha256"],
        sha256_hex(&buckets_file)
    );
    assert_eq!(record["target"]["kind"], "endpoint");
    assert_eq!(record["target"]["url"], scenario.emulator.endpoint());
    assert_eq!(record["shard"], "1/2");
    assert_eq!(record["options"]["rate"], 500.0);
    assert_eq!(record["options"]["max_attempts"], 3);
    assert_eq!(record["exit_code"], 0);
    assert_eq!(record["counts"]["jobs"], rows.len());
    assert!(is_rfc3339_utc(record["finished_at"].as_str().unwrap()));
    // Each row names where its job was defined: the bucket's line of the
    // buckets file.
    let list_path = scenario.file("buckets.txt");
    let list = std::fs::read_to_string(&list_path).unwrap();
    for row in &rows {
        let (file, line) = row["source"].rsplit_once(':').unwrap();
        assert_eq!(file, list_path.to_str().unwrap());
        let line: usize = line.parse().unwrap();
        assert_eq!(list.lines().nth(line - 1), Some(row["bucket"].as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_report_sends_again_the_jobs_a_killed_run_never_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 5, 2);
    let emulator = Emulator::start(
        EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None)),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    let first = dir.path().join("night.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &first, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // As if killed after three rows, the fourth cut short.
    let text = std::fs::read_to_string(&first).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let torn = format!("{}\n{}", lines[..4].join("\n"), &lines[4][..20]);
    std::fs::write(&first, torn).unwrap();
    let again = dir.path().join("again.csv");
    let from = ["--from-report", first.to_str().unwrap()];
    let output = run(apply_to(dir.path(), &manifest, &emulator, &again, &from)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("3 jobs done, 7 jobs to send again (7 without a row)"),
        "{said}"
    );
    assert_eq!(read_report(&again).len(), 7);
    // A report with its header alone: every job again.
    std::fs::write(&first, format!("{}\n", lines[0])).unwrap();
    let output = run(apply_to(dir.path(), &manifest, &emulator, &again, &from)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read_report(&again).len(), 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_started_together_in_one_folder_never_share_a_report() {
    let dir = tempfile::tempdir().unwrap();
    // A dry run writes no report unless asked: these runs send.
    let emulator = emulator(Faults::default()).await;
    let endpoint = emulator.endpoint();
    let mut runs = Vec::new();
    for name in ["a", "b", "c", "d"] {
        let folder = dir.path().join(name);
        std::fs::create_dir(&folder).unwrap();
        let manifest = write_manifest(&folder, 3, 2);
        let args = [manifest.to_str().unwrap(), "--endpoint", &endpoint];
        let mut command = cosinv(dir.path(), &args);
        command.current_dir(dir.path());
        runs.push(run(command));
    }
    for output in futures_util::future::join_all(runs).await {
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    }
    let reports: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "csv"))
        .collect();
    assert_eq!(reports.len(), 4, "{reports:?}");
    for report in reports {
        assert_eq!(read_report(&report).len(), 6, "{}", report.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_path_that_is_an_input_is_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 2, 1);
    let before = std::fs::read(&manifest).unwrap();
    let emulator = Emulator::start(
        EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None)),
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .unwrap();
    for report in [manifest.clone(), dir.path().join("buckets.txt")] {
        let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &[])).await;
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("is the same file as"),
            "{}",
            stderr(&output)
        );
    }
    assert_eq!(std::fs::read(&manifest).unwrap(), before);
    assert!(emulator.counters().buckets.is_empty());
    // The earlier report of a rerun is an input too.
    let first = dir.path().join("first.csv");
    run(apply_to(dir.path(), &manifest, &emulator, &first, &[])).await;
    let kept = std::fs::read(&first).unwrap();
    let from = ["--from-report", first.to_str().unwrap()];
    let output = run(apply_to(dir.path(), &manifest, &emulator, &first, &from)).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(std::fs::read(&first).unwrap(), kept);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_report_sends_again_only_what_did_not_apply() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 10, 2);
    let names: Vec<String> = (0..10).map(|i| format!("b{i:05}-1250000000")).collect();
    // Last night: three buckets did not exist yet.
    let present = |skip: &[usize]| {
        let buckets = names
            .iter()
            .enumerate()
            .filter(|(i, _)| !skip.contains(i))
            .map(|(_, name)| cosinv::cos::xml::BucketEntry {
                name: name.clone(),
                location: "ap-guangzhou".into(),
                creation_date: "2024-01-01T00:00:00Z".into(),
            })
            .collect();
        EmulatorConfig {
            buckets: Some(buckets),
            ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
        }
    };
    let night = Emulator::start(present(&[2, 5, 7]), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let first = dir.path().join("night.csv");
    let output = run(apply_to(dir.path(), &manifest, &night, &first, &[])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let counts = outcomes(&read_report(&first));
    assert_eq!(counts["applied"], 14, "{counts:?}");
    // This morning they exist; one bucket has left the manifest.
    let morning = Emulator::start(present(&[]), ([127, 0, 0, 1], 0).into())
        .await
        .unwrap();
    let list = std::fs::read_to_string(dir.path().join("buckets.txt")).unwrap();
    let list: String = list
        .lines()
        .filter(|l| *l != names[7])
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.path().join("buckets.txt"), list).unwrap();
    let second = dir.path().join("retry.csv");
    // The buckets file changed since: refused, nothing sent, unless asked.
    let from = ["--from-report", first.to_str().unwrap()];
    let output = run(apply_to(dir.path(), &manifest, &morning, &second, &from)).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("buckets.txt"),
        "{}",
        stderr(&output)
    );
    assert!(morning.counters().buckets.is_empty());
    let from = [
        "--from-report",
        first.to_str().unwrap(),
        "--allow-changed-manifests",
    ];
    let output = run(apply_to(dir.path(), &manifest, &morning, &second, &from)).await;
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let rows = read_report(&second);
    assert_eq!(rows.len(), 4);
    let sent: std::collections::BTreeSet<&str> =
        rows.iter().map(|row| row["bucket"].as_str()).collect();
    assert_eq!(
        sent.into_iter().collect::<Vec<_>>(),
        [names[2].as_str(), names[5].as_str()]
    );
    assert!(rows.iter().all(|row| row["outcome"] == "applied"));
    let buckets_asked: Vec<String> = morning.counters().buckets.into_keys().collect();
    assert_eq!(buckets_asked, [names[2].clone(), names[5].clone()]);
    assert!(
        stderr.contains(&format!(
            "2 jobs of {} are no longer in the manifests and are skipped: {}/job-0, {}/job-1",
            first.display(),
            names[7],
            names[7]
        )),
        "{stderr}"
    );
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("retry.csv.json")).unwrap())
            .unwrap();
    assert_eq!(record["from_report"], first.to_str().unwrap());
}

/// A run on the CVM role's short-lived credentials, on an emulator slow
/// enough that the run outlives them.
async fn role_emulator(lifetime: Duration) -> Emulator {
    let emulator = emulator(Faults {
        latency: Duration::from_millis(25),
        ..Faults::default()
    })
    .await;
    emulator.set_roles(RoleConfig {
        cvm_role: Some("cosinv-writer".into()),
        lifetime,
        web_identity_token: None,
        ..RoleConfig::default()
    });
    emulator
}

/// `apply` with the role's credentials only (none in the environment),
/// one request at a time. Blind: the writes start at once, so the run
/// meets the credentials' end while it writes, and takes as long as its
/// jobs (a refresh would read every bucket first, doubling the run).
fn apply_with_role(dir: &Path, manifest: &Path, emulator: &Emulator, report: &Path) -> Command {
    let mut command = apply_to(
        dir,
        manifest,
        emulator,
        report,
        &["--concurrency", "1", "--no-refresh", "-v"],
    );
    command
        .env_remove("COS_SECRET_ID")
        .env_remove("COS_SECRET_KEY")
        .env("COSINV_METADATA_ENDPOINT", emulator.metadata_endpoint());
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_crosses_a_credential_refresh() {
    let dir = tempfile::tempdir().unwrap();
    // 64 requests of 25 ms one at a time: 1.6 s, on credentials of 2 s
    // that are refreshed at half-life.
    let manifest = write_manifest(dir.path(), 64, 1);
    let emulator = role_emulator(Duration::from_secs(2)).await;
    let report = dir.path().join("report.csv");
    let output = run(apply_with_role(dir.path(), &manifest, &emulator, &report)).await;
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("credentials: CVM instance role cosinv-writer"),
        "{stderr}"
    );
    assert_eq!(
        outcomes(&read_report(&report)),
        BTreeMap::from([("applied".into(), 64)])
    );
    assert!(emulator.issued_credentials() >= 2, "never refreshed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_that_expire_unrefreshed_stop_the_run_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 400, 1);
    let emulator = role_emulator(Duration::from_secs(2)).await;
    let report = dir.path().join("report.csv");
    let child = apply_with_role(dir.path(), &manifest, &emulator, &report)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the run has started, the instance loses its role.
    let started = Instant::now();
    while std::fs::read_to_string(&report).map_or(0, |text| text.lines().count()) < 3 {
        assert!(started.elapsed() < Duration::from_secs(60), "never started");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    emulator.set_roles(RoleConfig {
        cvm_role: None,
        ..RoleConfig::default()
    });
    let output = tokio::task::spawn_blocking(move || child.wait_with_output().unwrap())
        .await
        .unwrap();
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("stopped early: no usable credentials: the credentials from CVM instance role cosinv-writer have expired"),
        "{stderr}"
    );
    let rows = read_report(&report);
    assert_eq!(rows.len(), 400);
    let counts = outcomes(&rows);
    assert!(counts["skipped"] > 0 && counts["applied"] > 0, "{counts:?}");
    assert!(rows.iter().any(|row| row["error_code"] == "NoCredentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_ending_in_a_newline_is_refused_by_its_variable() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(1, 1).await;
    let report = dir.path().join("report.csv");
    let mut command = apply_to(dir.path(), &manifest, &emulator, &report, &[]);
    command.env("COS_SECURITY_TOKEN", "token-from-a-secret-file\n");
    let output = run(command).await;
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("COS_SECURITY_TOKEN has a character"),
        "{stderr}"
    );
    assert!(!stderr.contains("token-from"), "{stderr}");
    assert!(emulator.counters().requests.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_the_manual_page_are_printed() {
    for args in [&["completions", "bash"][..], &["man"]] {
        let output = Command::new(env!("CARGO_BIN_EXE_cosinv"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(stdout(&output).contains("apply"), "{args:?}");
    }
}
