//! `cosinv run-now` end to end: one-time inventories (POST Bucket
//! inventory) through the binary against the emulator; and the
//! same-region rule as `validate` reports it.

use std::path::Path;

use cosinv::emulator::{Emulator, Faults};

use crate::fixtures::write_manifest;
use crate::support::{emulator, on_emulator, read_report, requests, run, stderr, subcommand};

const BUCKETS: usize = 1000;

/// `cosinv run-now MANIFEST --endpoint EMULATOR --report REPORT EXTRA...`.
async fn run_now(
    dir: &Path,
    manifest: &Path,
    emulator: &Emulator,
    report: &str,
    extra: &[&str],
) -> std::process::Output {
    let report = dir.join(report);
    let mut args = vec!["--report", report.to_str().unwrap()];
    args.extend_from_slice(extra);
    run(on_emulator(dir, "run-now", manifest, emulator, &args)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_now_posts_one_time_jobs_refuses_a_suffix_used_again_and_dry_runs_send_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), BUCKETS, 1);
    let emulator = emulator(Faults {
        rate_limit: Some(300.0),
        seed: 21,
        ..Faults::default()
    })
    .await;

    let first = run_now(
        dir.path(),
        &manifest,
        &emulator,
        "first.csv",
        &["--id-suffix", "t1"],
    )
    .await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let rows = read_report(&dir.path().join("first.csv"));
    assert_eq!(rows.len(), BUCKETS);
    for row in &rows {
        assert_eq!(row["action"], "run-now", "{row:?}");
        assert_eq!(row["outcome"], "applied", "{row:?}");
        assert_eq!(row["id"], "job-0", "{row:?}");
        assert!(
            row["message"].starts_with("one-time id job-0-t1; JobId "),
            "{row:?}"
        );
    }
    assert_eq!(emulator.one_time_count(), BUCKETS);
    for n in 0..BUCKETS {
        let jobs = emulator.one_time_jobs(&format!("b{n:05}-1250000000"));
        assert_eq!(jobs.len(), 1, "b{n:05}");
        let job = &jobs[0];
        assert_eq!(job.id, "job-0-t1");
        assert!(
            !job.body.contains("IsEnabled") && !job.body.contains("Schedule"),
            "{}",
            job.body
        );
        assert_eq!(
            job.config.destination.prefix.as_deref(),
            Some(&*format!("inventory/b{n:05}-1250000000"))
        );
        assert!(
            emulator.inventory_ids(&job.bucket).is_empty(),
            "no periodic job was put"
        );
    }
    let throttled = emulator
        .counters()
        .requests
        .get(&("POST".into(), "503".into()))
        .copied();
    assert!(
        throttled.unwrap_or(0) > 0,
        "the ceiling was never reached: {:?}",
        emulator.counters().requests
    );
    assert_eq!(requests(&emulator.counters(), "PUT"), 0);
    assert_eq!(
        requests(&emulator.counters(), "GET"),
        0,
        "run-now reads nothing first"
    );

    // Again with the same suffix, no ceiling in the way: each job is
    // refused as a duplicate on its one and only request.
    emulator.set_faults(Faults::default());
    let posts = requests(&emulator.counters(), "POST");
    let again = run_now(
        dir.path(),
        &manifest,
        &emulator,
        "again.csv",
        &["--id-suffix", "t1"],
    )
    .await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let rows = read_report(&dir.path().join("again.csv"));
    assert_eq!(rows.len(), BUCKETS);
    for row in &rows {
        assert_eq!(row["outcome"], "failed", "{row:?}");
        assert_eq!(row["error_code"], "DuplicateInventoryId", "{row:?}");
        assert_eq!(row["attempts"], "1", "{row:?}");
    }
    assert_eq!(
        requests(&emulator.counters(), "POST") - posts,
        BUCKETS as u64
    );
    assert_eq!(emulator.one_time_count(), BUCKETS);

    let before = emulator.counters().requests;
    let dry = run_now(dir.path(), &manifest, &emulator, "dry.csv", &["--dry-run"]).await;
    assert_eq!(dry.status.code(), Some(0), "{}", stderr(&dry));
    let rows = read_report(&dir.path().join("dry.csv"));
    assert_eq!(rows.len(), BUCKETS);
    assert!(
        rows.iter()
            .all(|row| row["outcome"] == "dry-run" && row["action"] == "run-now")
    );
    assert_eq!(
        emulator.counters().requests,
        before,
        "a dry run sends nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_suffix_is_the_start_and_a_periodic_id_or_a_bad_suffix_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write_manifest(dir.path(), 3, 1);
    let emulator = emulator(Faults::default()).await;

    let output = run_now(dir.path(), &manifest, &emulator, "r.csv", &[]).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let job = &emulator.one_time_jobs("b00000-1250000000")[0];
    let suffix = job.id.strip_prefix("job-0-").expect("<job id>-<suffix>");
    assert_eq!(suffix.len(), "20261207T020304".len(), "{suffix}");
    assert_eq!(&suffix[8..9], "T", "{suffix}");

    // An id equal to a periodic job's is a duplicate too.
    let mut periodic = emulator.inventory("b00000-1250000000");
    assert!(periodic.is_empty());
    let output = run(subcommand(
        dir.path(),
        "apply",
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            &emulator.endpoint(),
            "--report",
            "/dev/null",
        ],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    periodic = emulator.inventory("b00000-1250000000");
    let mut copy = periodic[0].clone();
    copy.id = cosinv::model::InventoryId::parse("job-0-p").unwrap();
    emulator.insert_inventory("b00001-1250000000", copy);
    let output = run_now(
        dir.path(),
        &manifest,
        &emulator,
        "p.csv",
        &["--id-suffix", "p"],
    )
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows = read_report(&dir.path().join("p.csv"));
    let refused: Vec<_> = rows
        .iter()
        .filter(|row| row["outcome"] == "failed")
        .collect();
    assert_eq!(refused.len(), 1, "{rows:?}");
    assert_eq!(refused[0]["bucket"], "b00001-1250000000");
    assert_eq!(refused[0]["error_code"], "DuplicateInventoryId");

    // A suffix that makes no valid id: nothing is sent, exit 2.
    let posts = requests(&emulator.counters(), "POST");
    let output = run_now(
        dir.path(),
        &manifest,
        &emulator,
        "bad.csv",
        &["--id-suffix", "a b"],
    )
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("one-time id"),
        "{}",
        stderr(&output)
    );
    assert_eq!(requests(&emulator.counters(), "POST"), posts);
    assert!(!dir.path().join("bad.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_refuses_a_cross_region_destination_and_a_finance_cloud_region() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("org.yaml");
    std::fs::write(
        &manifest,
        "version: 1\n\
         defaults:\n  region: ap-guangzhou\n\
         policies:\n  p:\n    schedule: Daily\n    destination:\n      \
         bucket: inventory-1250000000\n      region: ap-guangzhou\n\
         jobs:\n\
         \x20 - id: a\n    policy: p\n    region: ap-shanghai\n    bucket: logs-1250000000\n\
         \x20 - id: b\n    policy: p\n    region: ap-shenzhen-fsi\n    bucket: fsi-1250000000\n\
         \x20 - id: c\n    policy: p\n    bucket: fine-1250000000\n",
    )
    .unwrap();
    let output = run(subcommand(
        dir.path(),
        "validate",
        &[manifest.to_str().unwrap()],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    let at = |line: u32, field: &str| format!("org.yaml:{line}: {field}: ");
    assert!(text.contains(&at(14, "destination.region")), "{text}");
    assert!(
        text.contains("COS delivers inventory reports only to a bucket in"),
        "{text}"
    );
    assert!(text.contains(&at(17, "region")), "{text}");
    assert!(
        text.contains("ap-shenzhen-fsi is a finance-cloud region"),
        "{text}"
    );
    assert!(text.contains("2 problems in the manifests"), "{text}");
}

/// A one-time body cosinv would send for `id`, before any edit.
fn one_time_body(id: &str) -> String {
    format!(
        "<InventoryConfiguration><Id>{id}</Id><Destination><COSBucketDestination>\
         <Format>CSV</Format><Bucket>qcs::cos:ap-guangzhou::inventory-1250000000</Bucket>\
         </COSBucketDestination></Destination>\
         <IncludedObjectVersions>All</IncludedObjectVersions></InventoryConfiguration>"
    )
}

/// POST Bucket inventory of `body` under `id`, signed with `key`, over a
/// plain socket: (status, body).
async fn post(emulator: &Emulator, id: &str, body: &str, key: &str) -> (u16, String) {
    use base64::Engine as _;
    use md5::{Digest, Md5};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let md5 = base64::engine::general_purpose::STANDARD.encode(Md5::digest(body.as_bytes()));
    let request = cosinv::cos::request::InventoryRequest {
        operation: cosinv::cos::request::Operation::Post,
        host: "photos-1250000000.cos.ap-guangzhou.myqcloud.com".into(),
        path: "/".into(),
        params: vec![
            ("inventory".into(), String::new()),
            ("id".into(), id.into()),
        ],
        headers: vec![
            ("content-type", "application/xml".into()),
            ("content-md5", md5),
            ("content-length", body.len().to_string()),
        ],
        body: body.to_string().into_bytes().into(),
    };
    let credentials = cosinv::credentials::Credentials::new(crate::support::SECRET_ID, key, None);
    let mut text = format!("POST /?{} HTTP/1.1\r\n", request.query());
    for (name, value) in request.signed_headers(&credentials, crate::now()) {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("connection: close\r\n\r\n");
    text.push_str(body);
    let mut stream = tokio::net::TcpStream::connect(emulator.addr())
        .await
        .unwrap();
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string());
    (status, body.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_emulator_checks_one_time_bodies_signatures_and_duplicates() {
    let emulator = emulator(Faults::default()).await;
    let key = crate::support::SECRET_KEY;
    let good = one_time_body("once-1");
    let switched = good.replace("<Destination>", "<IsEnabled>true</IsEnabled><Destination>");
    let (status, body) = post(&emulator, "once-1", &switched, key).await;
    assert_eq!(
        (status, body.contains("<Code>MalformedXML</Code>")),
        (400, true),
        "{body}"
    );
    let scheduled = good.replace(
        "<IncludedObjectVersions>",
        "<Schedule><Frequency>Daily</Frequency></Schedule><IncludedObjectVersions>",
    );
    let (status, body) = post(&emulator, "once-1", &scheduled, key).await;
    assert_eq!(
        (status, body.contains("<Code>MalformedXML</Code>")),
        (400, true),
        "{body}"
    );
    let (status, body) = post(&emulator, "once-1", &good, "not-the-key").await;
    assert_eq!(
        (status, body.contains("SignatureDoesNotMatch")),
        (403, true),
        "{body}"
    );
    assert_eq!(emulator.one_time_count(), 0);

    let (status, body) = post(&emulator, "once-1", &good, key).await;
    assert_eq!(status, 200, "{body}");
    let job_id = cosinv::cos::xml::post_result_job_id(body.as_bytes()).expect("a JobId");
    assert_eq!(
        emulator.one_time_jobs("photos-1250000000")[0].job_id,
        job_id
    );
    let (status, body) = post(&emulator, "once-1", &good, key).await;
    assert_eq!(
        (status, body.contains("DuplicateInventoryId")),
        (409, true),
        "{body}"
    );
    assert_eq!(emulator.one_time_count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sandbox_keeps_one_time_ids_across_runs() {
    let dir = tempfile::tempdir().unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("manifests");
    let sandbox_run = |report: &str| {
        let report = dir.path().join(report);
        let args = [
            examples.join("org.yaml").to_str().unwrap().to_string(),
            examples.join("fleet.csv").to_str().unwrap().to_string(),
            "--sandbox".into(),
            "--id-suffix".into(),
            "s1".into(),
            "--report".into(),
            report.to_str().unwrap().to_string(),
        ];
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        subcommand(dir.path(), "run-now", &args)
    };
    let first = run(sandbox_run("first.csv")).await;
    assert_eq!(first.status.code(), Some(0), "{}", stderr(&first));
    let rows = read_report(&dir.path().join("first.csv"));
    assert!(rows.len() > 50 && rows.iter().all(|row| row["outcome"] == "applied"));
    let again = run(sandbox_run("again.csv")).await;
    assert_eq!(again.status.code(), Some(1), "{}", stderr(&again));
    let again = read_report(&dir.path().join("again.csv"));
    assert_eq!(again.len(), rows.len());
    assert!(
        again
            .iter()
            .all(|row| row["error_code"] == "DuplicateInventoryId")
    );
}
