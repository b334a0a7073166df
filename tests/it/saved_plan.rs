//! Saved plans through the real binary against the emulator: `plan --out`
//! then `apply --plan` sends exactly what was planned; a bucket changed
//! behind cosinv's back is skipped; a plan for another target, edited,
//! cut short or of another version is refused; `show` prints it; the JSON
//! matches its schema.

use std::path::Path;

use cosinv::emulator::Emulator;
use cosinv::model::{Frequency, InventoryConfiguration, InventoryId};
use sha2::Digest;

use crate::support::schema::assert_matches_schema;
use crate::support::{Scenario, outcomes, read_report, read_sidecar, run, stderr, subcommand};

/// Requests the emulator saw with `method`, whatever the answer.
fn sent(emulator: &Emulator, method: &str) -> u64 {
    let counters = emulator.counters();
    let requests = counters.requests.iter();
    requests
        .filter(|((seen, _), _)| seen == method)
        .map(|(_, count)| count)
        .sum()
}

/// The manifest's configuration of `id` on `bucket`, as `new_id`.
fn config_of(manifest: &Path, bucket: &str, id: &str, new_id: &str) -> InventoryConfiguration {
    let plan = cosinv::plan::load(&[manifest.to_path_buf()]).unwrap();
    let job = plan
        .jobs()
        .iter()
        .find(|job| job.bucket().as_str() == bucket && job.id().as_str() == id)
        .unwrap();
    let mut config = job.config();
    config.id = InventoryId::parse(new_id).unwrap();
    config
}

/// `cosinv plan MANIFEST --endpoint EMULATOR --out PLAN EXTRA…`, which
/// must succeed.
async fn plan_out(scenario: &Scenario, plan: &Path, extra: &[&str]) {
    let endpoint = scenario.emulator.endpoint();
    let mut args = vec![
        scenario.manifest.to_str().unwrap(),
        "--endpoint",
        &endpoint,
        "--out",
        plan.to_str().unwrap(),
    ];
    args.extend(extra);
    let output = run(subcommand(scenario.path(), "plan", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// `cosinv apply --plan PLAN --endpoint ENDPOINT --report REPORT --yes`.
async fn apply_plan(
    dir: &Path,
    plan: &Path,
    endpoint: &str,
    report: &Path,
) -> std::process::Output {
    let args = [
        "--plan",
        plan.to_str().unwrap(),
        "--endpoint",
        endpoint,
        "--report",
        report.to_str().unwrap(),
        "--yes",
    ];
    run(subcommand(dir, "apply", &args)).await
}

const B0: &str = "b00000-1250000000";
const B1: &str = "b00001-1250000000";
const B2: &str = "b00002-1250000000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_applies_exactly_the_planned_requests_without_the_manifests() {
    let scenario = Scenario::plain(3, 2).await;
    let (emulator, manifest) = (&scenario.emulator, &scenario.manifest);
    // What the plan finds: an id the manifest does not list (pruned), and
    // a job whose schedule drifted (updated); the rest is created.
    emulator.insert_inventory(B0, config_of(manifest, B0, "job-0", "old"));
    let mut weekly = config_of(manifest, B1, "job-0", "job-0");
    weekly.frequency = Frequency::Weekly;
    emulator.insert_inventory(B1, weekly);
    let plan = scenario.file("change.plan");
    plan_out(&scenario, &plan, &["--prune"]).await;

    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_matches_schema("plan", &saved);
    assert_eq!(saved["schema_version"], 3);
    assert_eq!(saved["saved"]["target"]["endpoint"], emulator.endpoint());
    assert_eq!(saved["saved"]["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(saved["summary"]["create"], 5);
    assert_eq!(saved["summary"]["update"], 1);
    let update = &saved["buckets"][1]["jobs"][0];
    assert_eq!(update["changes"][0]["field"], "schedule");
    assert_eq!(saved["buckets"][0]["deletes"], serde_json::json!(["old"]));
    assert!(saved["buckets"][2]["fingerprint"].as_str().unwrap().len() == 64);

    // The manifests are gone: apply reads only the plan.
    std::fs::remove_file(manifest).unwrap();
    let (puts, deletes) = (sent(emulator, "PUT"), sent(emulator, "DELETE"));
    let report = scenario.file("r.csv");
    let output = apply_plan(scenario.path(), &plan, &emulator.endpoint(), &report).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(sent(emulator, "PUT") - puts, 6, "5 creates and 1 update");
    assert_eq!(sent(emulator, "DELETE") - deletes, 1);
    assert_eq!(emulator.inventory(B1)[0].frequency, Frequency::Daily);
    assert!(!emulator.inventory_ids(B0).contains(&"old".to_string()));
    let rows = read_report(&report);
    assert_eq!(rows.len(), 7);
    let sidecar = read_sidecar(&report);
    let digest = hex::encode(sha2::Sha256::digest(std::fs::read(&plan).unwrap()));
    assert_eq!(sidecar["manifests"][0]["sha256"], digest);

    // show prints it as plan does, text and JSON.
    let output = run(subcommand(
        scenario.path(),
        "show",
        &[plan.to_str().unwrap()],
    ))
    .await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("update job-0") && text.contains("schedule: Weekly → Daily"),
        "{text}"
    );
    let args = [plan.to_str().unwrap(), "--output", "json"];
    let output = run(subcommand(scenario.path(), "show", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let shown: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_matches_schema("plan", &shown);
    assert_eq!(shown["buckets"], saved["buckets"]);
    assert_eq!(shown["saved"], saved["saved"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_changed_since_the_plan_is_skipped_and_the_others_applied() {
    let scenario = Scenario::plain(3, 2).await;
    let (emulator, manifest) = (&scenario.emulator, &scenario.manifest);
    let plan = scenario.file("change.plan");
    plan_out(&scenario, &plan, &[]).await;
    // Behind cosinv's back, after the review.
    emulator.insert_inventory(B1, config_of(manifest, B1, "job-1", "console"));
    let puts = sent(emulator, "PUT");
    let report = scenario.file("r.csv");
    let output = apply_plan(scenario.path(), &plan, &emulator.endpoint(), &report).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert_eq!(sent(emulator, "PUT") - puts, 4, "only B0 and B2");
    let rows = read_report(&report);
    for row in &rows {
        let stale = row["bucket"] == B1;
        let expected = if stale { "skipped" } else { "applied" };
        assert_eq!(row["outcome"], expected, "{row:?}");
        assert_eq!(
            stale,
            row["message"].contains("changed since the plan"),
            "{row:?}"
        );
    }
    assert_eq!(outcomes(&rows)["skipped"], 2);
    assert_eq!(emulator.inventory_ids(B1), ["console"]);
    assert_eq!(emulator.inventory(B2).len(), 2);
    assert_eq!(emulator.inventory(B0).len(), 2);
}

/// `cosinv CMD PLAN ARGS…`: its exit code and stderr.
async fn refused(dir: &Path, command: &str, plan: &Path, args: &[&str]) -> (Option<i32>, String) {
    let mut all = vec![plan.to_str().unwrap()];
    all.extend(args);
    if command == "apply" {
        all.insert(0, "--plan");
    }
    let output = run(subcommand(dir, command, &all)).await;
    (output.status.code(), stderr(&output))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_for_another_target_or_not_as_written_is_refused_before_anything_is_sent() {
    let scenario = Scenario::plain(2, 1).await;
    let (dir, emulator) = (scenario.path(), &scenario.emulator);
    let plan = scenario.file("change.plan");
    plan_out(&scenario, &plan, &[]).await;
    let text = std::fs::read_to_string(&plan).unwrap();
    let report = scenario.file("r.csv");
    let report = report.to_str().unwrap();
    let puts = sent(emulator, "PUT");

    // Another endpoint (nothing listens there: it is never asked).
    let other = ["--endpoint", "http://127.0.0.1:9", "--report", report];
    let (code, err) = refused(dir, "apply", &plan, &other).await;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("was made for the endpoint"), "{err}");
    let sandbox = ["--sandbox", "--report", report];
    let (code, err) = refused(dir, "apply", &plan, &sandbox).await;
    assert_eq!((code, err.contains("made for")), (Some(2), true), "{err}");

    let here = emulator.endpoint();
    let args = ["--endpoint", here.as_str(), "--report", report];
    let cases = [
        // Edited after review: the digest no longer matches.
        (
            text.replace("\"Daily\"", "\"Weekly\""),
            "changed after it was written",
        ),
        (text[..text.len() / 2].to_string(), "not a saved plan"),
        ("not json".to_string(), "not a saved plan"),
        (
            text.replace("\"schema_version\":3", "\"schema_version\":2"),
            "schema version 2",
        ),
        // A plan printed, not saved.
        (
            text.replace(",\"saved\":", ",\"kept\":"),
            "not a saved plan",
        ),
    ];
    for (content, why) in cases {
        std::fs::write(&plan, &content).unwrap();
        let (code, err) = refused(dir, "apply", &plan, &args).await;
        assert_eq!(code, Some(2), "{why}: {err}");
        assert!(err.contains(why), "{why}: {err}");
        let (code, err) = refused(dir, "show", &plan, &[]).await;
        assert_eq!((code, err.contains(why)), (Some(2), true), "{why}: {err}");
    }
    // The wrong file, too large to be a plan, is refused before it is
    // read (a sparse file: its size costs no disk).
    let huge = std::fs::File::create(&plan).unwrap();
    huge.set_len(cosinv::plan::saved::MAX_PLAN_BYTES + 1)
        .unwrap();
    let limit = format!("larger than {} bytes", cosinv::plan::saved::MAX_PLAN_BYTES);
    for (command, args) in [("apply", &args[..]), ("show", &[])] {
        let (code, err) = refused(dir, command, &plan, args).await;
        assert_eq!((code, err.contains(&limit)), (Some(2), true), "{err}");
    }
    assert_eq!(sent(emulator, "PUT"), puts, "a refused plan sent something");
    assert!(!Path::new(report).exists());

    // A plan needs live state.
    let args = [
        scenario.manifest.to_str().unwrap(),
        "--no-refresh",
        "--out",
        "p.json",
    ];
    let output = run(subcommand(dir, "plan", &args)).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_plan_has_a_schema_version_and_sets_as_arrays() {
    let scenario = Scenario::plain(1, 1).await;
    let (emulator, manifest) = (&scenario.emulator, &scenario.manifest);
    let mut fewer = config_of(manifest, B0, "job-0", "job-0");
    fewer.optional_fields.pop();
    emulator.insert_inventory(B0, fewer);
    let endpoint = emulator.endpoint();
    let args = [
        manifest.to_str().unwrap(),
        "--endpoint",
        &endpoint,
        "--output",
        "json",
    ];
    let output = run(subcommand(scenario.path(), "plan", &args)).await;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_matches_schema("plan", &plan);
    assert!(plan.get("version").is_none() && plan.get("saved").is_none());
    let change = &plan["buckets"][0]["jobs"][0]["changes"][0];
    assert_eq!(change["field"], "optional_fields");
    assert_eq!(change["live"], serde_json::json!(["Size"]));
    assert_eq!(change["desired"], serde_json::json!(["ETag", "Size"]));
    let offline = [
        manifest.to_str().unwrap(),
        "--no-refresh",
        "--output",
        "json",
    ];
    let output = run(subcommand(scenario.path(), "plan", &offline)).await;
    let plan: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_matches_schema("plan", &plan);
}
