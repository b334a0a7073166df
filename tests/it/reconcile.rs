//! Reconciling with live state, through the real binary against the
//! emulator: idempotent reruns, drift found and fixed with one request,
//! prune, the limit with live jobs counted, and `plan`'s exit codes.

use std::collections::BTreeMap;
use std::path::Path;

use cosinv::emulator::Emulator;
use cosinv::model::{Frequency, InventoryConfiguration, InventoryId};

use crate::support::{
    Scenario, apply_to, assert_state_matches, outcomes, read_report, read_sidecar, run, stderr,
    subcommand,
};

/// Requests the emulator saw with `method` and `status` ("PUT", "200").
fn seen(emulator: &Emulator, method: &str, status: &str) -> u64 {
    emulator
        .counters()
        .requests
        .get(&(method.to_string(), status.to_string()))
        .copied()
        .unwrap_or(0)
}

/// The first job's configuration of the manifest, on `bucket`, as `id`.
fn config_like(manifest: &Path, bucket: &str, id: &str) -> InventoryConfiguration {
    let plan = cosinv::plan::load(&[manifest.to_path_buf()]).unwrap();
    let job = plan
        .jobs()
        .iter()
        .find(|job| job.bucket().as_str() == bucket)
        .unwrap();
    let mut config = job.config();
    config.id = InventoryId::parse(id).unwrap();
    config
}

fn actions(rows: &[BTreeMap<String, String>]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for row in rows {
        *counts.entry(row["action"].clone()).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_apply_sends_no_put_and_reports_every_job_unchanged() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(30, 3).await;
    let first = dir.path().join("first.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &first, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&first);
    assert_eq!(actions(&rows), BTreeMap::from([("create".into(), 90)]));
    assert_eq!(outcomes(&rows), BTreeMap::from([("applied".into(), 90)]));
    assert_eq!(seen(&emulator, "PUT", "200"), 90);
    assert_state_matches(&emulator, &manifest);

    let second = dir.path().join("second.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &second, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&second);
    assert_eq!(actions(&rows), BTreeMap::from([("none".into(), 90)]));
    assert_eq!(outcomes(&rows), BTreeMap::from([("unchanged".into(), 90)]));
    assert_eq!(
        seen(&emulator, "PUT", "200"),
        90,
        "the second run sent a PUT"
    );
    assert_eq!(
        seen(&emulator, "GET", "200"),
        60,
        "one list per bucket per run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_is_fixed_with_one_put_and_a_reordered_field_list_is_no_drift() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(5, 2).await;
    let report = dir.path().join("first.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Behind cosinv's back: one schedule changed; another job's optional
    // fields listed in another order, as the console might write them.
    let mut weekly = config_like(&manifest, "b00001-1250000000", "job-0");
    weekly.frequency = Frequency::Weekly;
    emulator.insert_inventory("b00001-1250000000", weekly);
    let mut reordered = config_like(&manifest, "b00002-1250000000", "job-1");
    reordered.optional_fields.reverse();
    emulator.insert_inventory("b00002-1250000000", reordered);
    let puts_before = seen(&emulator, "PUT", "200");

    let plan = subcommand(
        dir.path(),
        "plan",
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            &emulator.endpoint(),
        ],
    );
    let output = run(plan).await;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        text.contains("  ~ update job-0") && text.contains("schedule: Weekly → Daily"),
        "{text}"
    );
    assert!(!text.contains("update job-1"), "{text}");

    let report = dir.path().join("second.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(seen(&emulator, "PUT", "200"), puts_before + 1);
    let rows = read_report(&report);
    let updated: Vec<_> = rows
        .iter()
        .filter(|row| row["action"] == "update")
        .collect();
    assert_eq!(updated.len(), 1);
    assert_eq!(
        (updated[0]["bucket"].as_str(), updated[0]["id"].as_str()),
        ("b00001-1250000000", "job-0")
    );
    let fixed = &emulator.inventory("b00001-1250000000")[0];
    assert_eq!(
        (fixed.id.as_str(), fixed.frequency),
        ("job-0", Frequency::Daily)
    );
    // The reordered list was left as it is: it means the same.
    let kept = &emulator.inventory("b00002-1250000000")[1];
    assert_eq!(
        kept.optional_fields.first().map(|f| f.as_str()),
        Some("ETag")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_exactly_the_unlisted_ids_under_the_prefix() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(3, 1).await;
    let bucket = "b00000-1250000000";
    for id in ["old-1", "old-2", "keep-1"] {
        emulator.insert_inventory(bucket, config_like(&manifest, bucket, id));
    }
    // Unconfirmed deletes without a terminal: refused, nothing sent.
    let report = dir.path().join("refused.csv");
    let output = run(apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["--prune"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(stderr(&output).contains("--yes"), "{}", stderr(&output));
    assert!(emulator.counters().requests.is_empty());

    let report = dir.path().join("prefixed.csv");
    let flags = ["--prune", "--prune-prefix", "old-", "--yes"];
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &flags)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(emulator.inventory_ids(bucket), ["job-0", "keep-1"]);
    let rows = read_report(&report);
    let deleted: Vec<&str> = rows
        .iter()
        .filter(|row| row["outcome"] == "deleted")
        .map(|row| row["id"].as_str())
        .collect();
    assert_eq!(deleted.len(), 2);
    assert!(deleted.contains(&"old-1") && deleted.contains(&"old-2"));
    assert_eq!(rows.len(), 3 + 2, "a row per job and per deleted id");

    let report = dir.path().join("all.csv");
    let output = run(apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["--prune", "--yes"],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(emulator.inventory_ids(bucket), ["job-0"]);
    assert_eq!(seen(&emulator, "DELETE", "204"), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_that_would_go_over_the_limit_gets_no_request_and_the_run_goes_on() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(4, 2).await;
    let full = "b00000-1250000000";
    for n in 0..999 {
        emulator.insert_inventory(full, config_like(&manifest, full, &format!("live-{n}")));
    }
    let report = dir.path().join("report.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &[])).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let rows = read_report(&report);
    for row in rows.iter().filter(|row| row["bucket"] == full) {
        assert_eq!(row["outcome"], "failed");
        assert_eq!(row["error_code"], "InventoryLimit");
        assert_eq!(row["attempts"], "0");
        assert!(
            row["message"].contains("1001 inventory jobs (2 planned, 999"),
            "{row:?}"
        );
    }
    assert_eq!(outcomes(&rows)["applied"], 6);
    let counters = emulator.counters();
    // Its list pages only: 1,000 live ids at 100 a page.
    assert_eq!(counters.buckets[full].requests, 10);
    assert_eq!(emulator.inventory_ids(full).len(), 999);

    let plan = subcommand(
        dir.path(),
        "plan",
        &[
            manifest.to_str().unwrap(),
            "--endpoint",
            &emulator.endpoint(),
        ],
    );
    let output = run(plan).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(text.contains("! over the limit"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_detailed_exitcode_says_nothing_changes_pending_or_error() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(3, 2).await;
    let plan = |manifest: &Path| {
        let endpoint = emulator.endpoint();
        let args = [
            manifest.to_str().unwrap(),
            "--endpoint",
            &endpoint,
            "--detailed-exitcode",
        ];
        run(subcommand(dir.path(), "plan", &args))
    };
    assert_eq!(
        plan(&manifest).await.status.code(),
        Some(2),
        "changes pending"
    );
    let report = dir.path().join("report.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = plan(&manifest).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let broken = dir.path().join("broken.yaml");
    std::fs::write(&broken, "version: 1\njobs: [").unwrap();
    assert_eq!(plan(&broken).await.status.code(), Some(1), "error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_with_250_live_jobs_is_listed_across_three_pages() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(1, 1).await;
    let bucket = "b00000-1250000000";
    for n in 0..250 {
        emulator.insert_inventory(bucket, config_like(&manifest, bucket, &format!("x-{n:03}")));
    }
    let args = [
        manifest.to_str().unwrap(),
        "--endpoint",
        &emulator.endpoint(),
        "--output",
        "json",
    ];
    let output = run(subcommand(dir.path(), "plan", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(seen(&emulator, "GET", "200"), 3);
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let unmanaged = json["buckets"][0]["unmanaged"].as_array().unwrap();
    assert_eq!(unmanaged.len(), 250);
    assert_eq!(json["summary"]["unmanaged"], 250);
    assert_eq!(json["summary"]["create"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_made_configurations_are_read_and_only_managed_ones_rewritten() {
    let Scenario {
        dir,
        manifest,
        emulator,
    } = Scenario::plain(1, 1).await;
    let bucket = "b00000-1250000000";
    let console = |id: &str| {
        format!(
            "<InventoryConfiguration xmlns=\"http://www.qcloud.com/document/product/436/7751\">\
             <Id>{id}</Id><IsEnabled>True</IsEnabled>\
             <Schedule><Frequency>Monthly</Frequency><MonthlyDate>31</MonthlyDate></Schedule>\
             <Filter><And><Prefix>logs/</Prefix><Tag><Key>team</Key><Value>a</Value></Tag></And>\
             <StorageClass>STANDARD</StorageClass></Filter>\
             <IncludedObjectVersions>Current</IncludedObjectVersions>\
             <OptionalFields><Field>Tag</Field><Field>x-cos-meta-*</Field></OptionalFields>\
             <Destination><COSBucketDestination><Format>CSV</Format>\
             <Bucket>qcs::cos:ap-guangzhou::dest-1250000000</Bucket></COSBucketDestination>\
             </Destination></InventoryConfiguration>"
        )
    };
    emulator.insert_raw_inventory(bucket, "job-0", &console("job-0"));
    emulator.insert_raw_inventory(bucket, "console-1", &console("console-1"));
    let report = dir.path().join("report.csv");
    let output = run(apply_to(dir.path(), &manifest, &emulator, &report, &["-v"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let rows = read_report(&report);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["action"], "update");
    assert_eq!(rows[0]["outcome"], "applied");
    assert!(
        stderr(&output).contains("<Filter/StorageClass> is not an element cosinv sends"),
        "{}",
        stderr(&output)
    );
    // The managed one now as the manifest says; the console's untouched.
    assert_state_matches(&emulator, &manifest);
    assert_eq!(emulator.inventory_ids(bucket), ["console-1", "job-0"]);
    // The drift is in every output of the apply: summary, sidecar, JSON.
    assert!(
        stderr(&output).contains("1 unmanaged inventory job on 1 bucket kept"),
        "{}",
        stderr(&output)
    );
    let sidecar = read_sidecar(&report);
    assert_eq!(sidecar["unmanaged"]["jobs"], 1);
    assert_eq!(sidecar["unmanaged"]["buckets"][0]["bucket"], bucket);
    assert_eq!(sidecar["unmanaged"]["buckets"][0]["ids"][0], "console-1");
    let json = run(apply_to(
        dir.path(),
        &manifest,
        &emulator,
        &report,
        &["--output", "json"],
    ))
    .await;
    let result: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(result["unmanaged"]["jobs"], 1, "{result}");
}
