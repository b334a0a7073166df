//! Org-wide discovery and the destination check, against the emulator:
//! GET Service paged with the real client, `cosinv buckets`, `discover:`
//! jobs resolved by `plan` and `apply` through the real binary (and left
//! unresolved, with a note, offline), bucket policies read once per
//! destination, and the flags that let a manifest read beyond the
//! defaults.

use std::collections::BTreeSet;
use std::path::Path;

use cosinv::account::{self, FetchSettings};
use cosinv::cos::request::InventoryRequest;
use cosinv::cos::xml::BucketEntry;
use cosinv::credentials::{CredentialSource, Credentials, SharedCredentials};
use cosinv::emulator::{Emulator, EmulatorConfig};
use cosinv::model::{BucketName, Region};
use cosinv::send::client::{ClientConfig, CosClient, Endpoint};

use crate::support::{SECRET_ID, SECRET_KEY, read_report, run, stderr, subcommand};

/// The account: 14 buckets in three regions (fixed: any other is 404).
fn account() -> Vec<BucketEntry> {
    let entry = |name: &str, region: &str| BucketEntry {
        name: name.to_string(),
        location: region.to_string(),
        creation_date: "2024-01-01T00:00:00Z".to_string(),
    };
    let mut buckets = Vec::new();
    for n in 1..=6 {
        buckets.push(entry(&format!("media-{n:02}-1250000000"), "ap-guangzhou"));
    }
    for n in 7..=9 {
        buckets.push(entry(&format!("media-{n:02}-1250000000"), "ap-shanghai"));
    }
    buckets.push(entry("media-test-1250000000", "ap-guangzhou"));
    buckets.push(entry("logs-1250000000", "ap-guangzhou"));
    buckets.push(entry("logs-bj-1250000000", "ap-beijing"));
    buckets.push(entry("inventory-1250000000", "ap-guangzhou"));
    buckets.push(entry("audit-1250000000", "ap-guangzhou"));
    buckets
}

/// An emulator holding [`account`] whose GET Service pages hold at most
/// `page` buckets, whatever the client asks.
async fn account_emulator(page: usize) -> Emulator {
    let emulator = crate::local_emulator(EmulatorConfig {
        buckets: Some(account()),
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await;
    emulator.set_max_buckets_per_page(page);
    emulator
}

fn client(emulator: &Emulator) -> CosClient {
    let credentials = SharedCredentials::fixed(
        Credentials::new(SECRET_ID, SECRET_KEY, None),
        CredentialSource::Explicit,
    );
    let endpoint = Endpoint::parse(&emulator.endpoint(), false).unwrap();
    CosClient::new(ClientConfig::new(endpoint, credentials)).unwrap()
}

/// GET Service requests the emulator answered 200 (bucket requests aside).
fn service_pages(emulator: &Emulator) -> u64 {
    let counters = emulator.counters();
    let gets = counters
        .requests
        .get(&("GET".to_string(), "200".to_string()))
        .copied()
        .unwrap_or(0);
    let bucket_requests: u64 = counters.buckets.values().map(|b| b.requests).sum();
    gets - bucket_requests
}

fn names(entries: &[BucketEntry]) -> Vec<&str> {
    entries.iter().map(|entry| entry.name.as_str()).collect()
}

#[tokio::test]
async fn the_real_client_pages_through_get_service() {
    let emulator = account_emulator(2000).await;
    let client = client(&emulator);
    let mut settings = FetchSettings::default();
    let all = account::list_buckets(&client, None, 3, &mut settings)
        .await
        .unwrap();
    let mut expected: Vec<String> = account().into_iter().map(|e| e.name).collect();
    expected.sort();
    assert_eq!(names(&all), expected);
    assert_eq!(service_pages(&emulator), 5, "14 buckets, 3 a page");
    let region = Region::parse("ap-shanghai").unwrap();
    let shanghai = account::list_buckets(&client, Some(&region), 2, &mut settings)
        .await
        .unwrap();
    assert_eq!(
        names(&shanghai),
        [
            "media-07-1250000000",
            "media-08-1250000000",
            "media-09-1250000000"
        ]
    );
    assert!(shanghai.iter().all(|entry| entry.location == "ap-shanghai"));
    assert_eq!(service_pages(&emulator), 7, "3 buckets, 2 a page");
    // The emulator's own cap pages a client that asks for COS's 2,000.
    emulator.set_max_buckets_per_page(4);
    let again = account::list_buckets(&client, None, 2000, &mut settings)
        .await
        .unwrap();
    assert_eq!(names(&again), expected);
    assert_eq!(service_pages(&emulator), 11);
}

#[tokio::test]
async fn a_bad_page_size_is_refused_as_cos_does() {
    let emulator = account_emulator(2000).await;
    let mut request = InventoryRequest::list_buckets("service.cos.myqcloud.com".into(), None, 1);
    request.params[0].1 = "2001".into();
    let answer = client(&emulator)
        .send(&request, crate::now())
        .await
        .unwrap();
    assert_eq!(
        (answer.status, answer.code()),
        (400, Some("InvalidArgument"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosinv_buckets_lists_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = account_emulator(3).await;
    let args = [
        "--endpoint",
        &emulator.endpoint(),
        "--match",
        "media-*",
        "--exclude",
        "media-test-*",
        "--exclude",
        "media-0[12]-*",
        "--region",
        "ap-guangzhou",
        "--region",
        "ap-shanghai",
        "--output",
        "csv",
    ];
    let output = run(subcommand(dir.path(), "buckets", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("bucket,region,creation_date"));
    let listed: Vec<&str> = lines.map(|line| line.split(',').next().unwrap()).collect();
    assert_eq!(
        listed,
        [
            "media-03-1250000000",
            "media-04-1250000000",
            "media-05-1250000000",
            "media-06-1250000000",
            "media-07-1250000000",
            "media-08-1250000000",
            "media-09-1250000000"
        ]
    );
    assert_eq!(
        service_pages(&emulator),
        5,
        "two regions: the account is asked"
    );
    let one = [
        "--endpoint",
        &emulator.endpoint(),
        "--region",
        "ap-beijing",
        "--output",
        "json",
    ];
    let output = run(subcommand(dir.path(), "buckets", &one)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    crate::support::schema::assert_matches_schema("buckets", &value);
    assert_eq!(
        value,
        serde_json::json!({"schema_version": 1, "buckets": [{"bucket": "logs-bj-1250000000",
            "region": "ap-beijing", "creation_date": "2024-01-01T00:00:00Z"}]})
    );
    assert_eq!(
        service_pages(&emulator),
        6,
        "one region: its endpoint, one page"
    );
}

const DISCOVER_MANIFEST: &str = "version: 1
policies:
  base:
    schedule: Daily
    destination:
      bucket: inventory-1250000000
      # no region: the destination is in each bucket's own (COS's rule)
      prefix: \"inv/{bucket}\"
jobs:
  - id: media-daily
    policy: base
    discover:
      regions: [ap-guangzhou, ap-shanghai]
      match: \"media-*\"
      exclude: [\"media-test-*\", \"media-02-*\"]
  - id: logs-weekly
    policy: base
    set: { schedule: Weekly }
    discover: { match: \"logs-*\" }
";

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// (bucket, region, id) of every job of a JSON plan.
fn planned_jobs(plan: &serde_json::Value) -> BTreeSet<(String, String, String)> {
    let mut jobs = BTreeSet::new();
    for bucket in plan["buckets"].as_array().unwrap() {
        for job in bucket["jobs"].as_array().unwrap() {
            jobs.insert((
                bucket["bucket"].as_str().unwrap().to_string(),
                bucket["region"].as_str().unwrap().to_string(),
                job["id"].as_str().unwrap().to_string(),
            ));
        }
    }
    jobs
}

fn job(bucket: &str, region: &str, id: &str) -> (String, String, String) {
    (bucket.into(), region.into(), id.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_selects_exactly_the_matching_buckets_across_pages() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "org.yaml", DISCOVER_MANIFEST);
    let emulator = account_emulator(4).await;
    let endpoint = emulator.endpoint();
    let plan = [
        manifest.as_str(),
        "--endpoint",
        &endpoint,
        "--output",
        "json",
    ];
    let output = run(subcommand(dir.path(), "plan", &plan)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut expected: BTreeSet<_> = [1, 3, 4, 5, 6]
        .iter()
        .map(|n| {
            job(
                &format!("media-{n:02}-1250000000"),
                "ap-guangzhou",
                "media-daily",
            )
        })
        .collect();
    for n in 7..=9 {
        expected.insert(job(
            &format!("media-{n:02}-1250000000"),
            "ap-shanghai",
            "media-daily",
        ));
    }
    expected.insert(job("logs-1250000000", "ap-guangzhou", "logs-weekly"));
    expected.insert(job("logs-bj-1250000000", "ap-beijing", "logs-weekly"));
    assert_eq!(planned_jobs(&value), expected);
    assert_eq!(service_pages(&emulator), 4, "14 buckets, 4 a page");
    let source = value["buckets"][0]["jobs"][0]["source"].as_str().unwrap();
    assert!(source.ends_with("org.yaml:19"), "{source}");
    let notes = stderr(&output);
    assert!(
        notes.contains("org.yaml:12: discover: (media-daily) selected 8 buckets"),
        "{notes}"
    );

    // apply puts exactly those jobs, each in its bucket's own region.
    let report = dir.path().join("r.csv");
    let report_arg = report.to_str().unwrap();
    let apply = [
        manifest.as_str(),
        "--endpoint",
        &endpoint,
        "--report",
        report_arg,
    ];
    let output = run(subcommand(dir.path(), "apply", &apply)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows: BTreeSet<_> = read_report(&report)
        .into_iter()
        .map(|row| job(&row["bucket"], &row["region"], &row["id"]))
        .collect();
    assert_eq!(rows, expected);
    assert_eq!(
        emulator.inventory_ids("media-02-1250000000"),
        Vec::<String>::new()
    );
    assert_eq!(
        emulator.inventory_ids("logs-bj-1250000000"),
        ["logs-weekly"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_commands_leave_discovery_unresolved_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = write(dir.path(), "org.yaml", DISCOVER_MANIFEST);
    let output = run(subcommand(dir.path(), "validate", &[manifest.as_str()])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "ok: 0 jobs on 0 buckets from 1 policy in 1 file\n"
    );
    let notes = stderr(&output);
    assert!(
        notes.contains("org.yaml:12: discover: (media-daily) not resolved")
            && notes.contains("org.yaml:19: discover: (logs-weekly) not resolved"),
        "{notes}"
    );
    let output = run(subcommand(
        dir.path(),
        "plan",
        &[manifest.as_str(), "--no-refresh"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("--no-refresh stays offline"),
        "{}",
        stderr(&output)
    );
    let check = [manifest.as_str(), "--no-refresh", "--check-destinations"];
    let output = run(subcommand(dir.path(), "plan", &check)).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let bad = write(
        dir.path(),
        "bad.yaml",
        "version: 1\njobs:\n  - id: a\n    discover: {regions: [ap-guangzho], match: \"[a\"}\n",
    );
    let output = run(subcommand(dir.path(), "validate", &[bad.as_str()])).await;
    assert_eq!(output.status.code(), Some(2));
    let problems = stderr(&output);
    assert!(
        problems.contains("bad.yaml:4: discover.regions: \"ap-guangzho\""),
        "{problems}"
    );
    assert!(
        problems.contains("bad.yaml:4: discover.match: \"[a\" is not a valid pattern"),
        "{problems}"
    );
}

const GOOD_POLICY: &str = r#"{"version":"2.0","Statement":[{"Effect":"allow",
  "Principal":{"qcs":["qcs::cam::uin/100000000001:service/cos"]},
  "Action":["name/cos:PutObject"],
  "Resource":["qcs::cos:ap-guangzhou:uid/1250000000:inventory-1250000000/inv/*"]}]}"#;

const OTHER_PREFIX_POLICY: &str = r#"{"version":"2.0","Statement":[{"Effect":"allow",
  "Principal":{"qcs":["qcs::cam::uin/100000000001:service/cos"]},
  "Action":["name/cos:PutObject"],
  "Resource":["qcs::cos:ap-guangzhou:uid/1250000000:audit-1250000000/elsewhere/*"]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destinations_are_checked_once_each_and_warned_about_per_job() {
    let dir = tempfile::tempdir().unwrap();
    let emulator = account_emulator(2000).await;
    let client = client(&emulator);
    let region = Region::parse("ap-guangzhou").unwrap();
    for (bucket, policy) in [
        ("inventory-1250000000", GOOD_POLICY),
        ("audit-1250000000", OTHER_PREFIX_POLICY),
    ] {
        let bucket = BucketName::parse(bucket).unwrap();
        let put = InventoryRequest::put_policy(&bucket, &region, policy);
        let answer = client.send(&put, crate::now()).await.unwrap();
        assert_eq!(answer.status, 204, "{answer:?}");
    }
    assert_eq!(
        emulator.bucket_policy("inventory-1250000000").as_deref(),
        Some(GOOD_POLICY)
    );
    let manifest = write(
        dir.path(),
        "m.yaml",
        "version: 1\ndefaults:\n  region: ap-guangzhou\npolicies:\n  p:\n    schedule: Daily\n\
         jobs:\n  - id: good\n    policy: p\n    buckets: [media-01-1250000000, media-02-1250000000]\n    \
         set: {destination: {bucket: inventory-1250000000, prefix: \"inv/{bucket}\"}}\n  \
         - id: none\n    policy: p\n    bucket: media-01-1250000000\n    \
         set: {destination: {bucket: logs-1250000000, prefix: inv}}\n  \
         - id: other\n    policy: p\n    bucket: media-01-1250000000\n    \
         set: {destination: {bucket: audit-1250000000, prefix: inv}}\n",
    );
    let endpoint = emulator.endpoint();
    let args = [
        manifest.as_str(),
        "--endpoint",
        &endpoint,
        "--check-destinations",
        "--output",
        "json",
    ];
    let policies_before = policy_reads(&emulator);
    let output = run(subcommand(dir.path(), "plan", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        policy_reads(&emulator) - policies_before,
        3,
        "one read per destination"
    );
    let value: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut warnings = std::collections::BTreeMap::new();
    for bucket in value["buckets"].as_array().unwrap() {
        for job in bucket["jobs"].as_array().unwrap() {
            let key = format!(
                "{} {}",
                bucket["bucket"].as_str().unwrap(),
                job["id"].as_str().unwrap()
            );
            warnings.insert(key, job["destination_warning"].as_str().map(str::to_string));
        }
    }
    assert_eq!(warnings["media-01-1250000000 good"], None);
    assert_eq!(warnings["media-02-1250000000 good"], None);
    let none = warnings["media-01-1250000000 none"].clone().unwrap();
    assert!(
        none.contains("logs-1250000000 has no bucket policy (NoSuchBucketPolicy)"),
        "{none}"
    );
    let other = warnings["media-01-1250000000 other"].clone().unwrap();
    assert!(
        other.contains("lets COS write no reports under cos://audit-1250000000/inv/"),
        "{other}"
    );
    let said = stderr(&output);
    // One line per destination, with how many jobs are behind it.
    assert!(
        said.contains("warning: destination logs-1250000000 has no bucket policy"),
        "{said}"
    );
    assert!(
        said.contains("(e.g. media-01-1250000000 none; 1 job behind it)"),
        "{said}"
    );
    assert!(said.contains("3 bucket policies read"), "{said}");
    assert!(said.contains("2 of 4 jobs have a warning"), "{said}");

    // apply warns the same way and goes on.
    let report = dir.path().join("r.csv");
    let apply = [
        manifest.as_str(),
        "--endpoint",
        &endpoint,
        "--check-destinations",
        "--report",
        report.to_str().unwrap(),
    ];
    let output = run(subcommand(dir.path(), "apply", &apply)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("2 of 4 jobs have a warning"),
        "{}",
        stderr(&output)
    );
    assert_eq!(read_report(&report).len(), 4);
    let dry = [
        manifest.as_str(),
        "--check-destinations",
        "--dry-run",
        "--report",
        report.to_str().unwrap(),
    ];
    let output = run(subcommand(dir.path(), "apply", &dry)).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

/// GET Bucket policy requests the emulator saw (200 or 404).
fn policy_reads(emulator: &Emulator) -> u64 {
    let counters = emulator.counters();
    [
        "inventory-1250000000",
        "logs-1250000000",
        "audit-1250000000",
    ]
    .iter()
    .map(|bucket| counters.buckets.get(*bucket).map_or(0, |b| b.requests))
    .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_region_and_a_shared_buckets_file_are_allowed_by_flag() {
    let root = tempfile::tempdir().unwrap();
    let folder = root.path().join("m");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(root.path().join("shared.txt"), "a-1250000000\n").unwrap();
    let manifest = write(
        &folder,
        "m.yaml",
        "version: 1\njobs:\n  - id: a\n    region: ap-newplace\n    buckets_file: ../shared.txt\n    \
         set: {schedule: Daily, destination: {bucket: inventory-1250000000}}\n",
    );
    let output = run(subcommand(root.path(), "validate", &[manifest.as_str()])).await;
    assert_eq!(output.status.code(), Some(2));
    let problems = stderr(&output);
    assert!(
        problems.contains("allow it explicitly with --allow-region ap-newplace)"),
        "{problems}"
    );
    assert!(
        problems.contains("allow reading outside it explicitly with --allow-buckets-file-outside"),
        "{problems}"
    );
    let allowed = [
        manifest.as_str(),
        "--allow-region",
        "ap-newplace",
        "--allow-buckets-file-outside",
    ];
    let output = run(subcommand(root.path(), "validate", &allowed)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let mut offline = allowed.to_vec();
    offline.push("--no-refresh");
    let output = run(subcommand(root.path(), "plan", &offline)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("a-1250000000 (ap-newplace)"));
    let report = root.path().join("r.csv");
    let mut dry = allowed.to_vec();
    dry.extend(["--dry-run", "--report", report.to_str().unwrap()]);
    let output = run(subcommand(root.path(), "apply", &dry)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
