//! Organisations with many accounts, against the emulator on 127.0.0.1:
//! STS `AssumeRole` signed TC3-HMAC-SHA256 with the caller's credentials,
//! the emulator's trust rules and signature checks, and COS refusing a
//! member's bucket to any other account's signature.

use std::collections::HashMap;

use cosinv::cos::request::InventoryRequest;
use cosinv::credentials::assume_role::{RoleSpec, assumed_role};
use cosinv::credentials::tc3::{self, Tc3Request};
use cosinv::credentials::{CredentialSource, Credentials, STS_ENDPOINT_VAR, SharedCredentials};
use cosinv::emulator::{Emulator, EmulatorConfig, MemberAccount, MemberRole, Organisation};
use cosinv::http::HttpOptions;
use cosinv::model::{BucketName, Region};
use cosinv::send::client::{ClientConfig, CosClient, Endpoint};

use crate::now;

const CALLER_ID: &str = "AKIDorgcaller";
const CALLER_KEY: &str = "org-caller-secret-canary";
const CALLER_UIN: &str = "100000000000";
const ROLE: &str = "cosinv-inventory";

/// Member `n` (1-based): APPID 125000000n, UIN 10000000000n, a role
/// trusting the caller (with `external_id` if given).
fn member(n: u32, external_id: Option<&str>) -> MemberAccount {
    MemberAccount {
        appid: format!("125000000{n}"),
        uin: format!("10000000000{n}"),
        credentials: Credentials::new(format!("AKIDmember{n}"), format!("member-{n}-secret"), None),
        roles: vec![MemberRole {
            name: ROLE.into(),
            trusted_uins: vec![CALLER_UIN.into()],
            external_id: external_id.map(str::to_string),
        }],
        sts_throttled: false,
    }
}

async fn start(members: Vec<MemberAccount>) -> Emulator {
    crate::local_emulator(EmulatorConfig {
        organisation: Some(Organisation {
            caller_uin: CALLER_UIN.into(),
            members,
        }),
        ..EmulatorConfig::new(caller())
    })
    .await
}

fn caller() -> Credentials {
    Credentials::new(CALLER_ID, CALLER_KEY, None)
}

fn spec(n: u32, external_id: Option<&str>) -> RoleSpec {
    RoleSpec {
        role_arn: Organisation::role_arn(&format!("10000000000{n}"), ROLE),
        external_id: external_id.map(str::to_string),
        session_name: format!("cosinv-125000000{n}"),
        duration_seconds: 7200,
    }
}

fn role(emulator: &Emulator, spec: RoleSpec) -> SharedCredentials {
    let vars: HashMap<&str, String> = [(STS_ENDPOINT_VAR, emulator.sts_endpoint())].into();
    let caller = SharedCredentials::fixed(caller(), CredentialSource::Explicit);
    assumed_role(
        caller,
        spec,
        "ap-guangzhou",
        &HttpOptions::default(),
        &|name| vars.get(name).cloned(),
    )
    .unwrap()
}

/// The status and code of a List of `bucket` signed with `credentials`.
async fn list(
    emulator: &Emulator,
    credentials: &Credentials,
    bucket: &str,
) -> (u16, Option<String>) {
    let shared = SharedCredentials::fixed(credentials.clone(), CredentialSource::Explicit);
    let client = CosClient::new(ClientConfig::new(
        Endpoint::parse(&emulator.endpoint(), false).unwrap(),
        shared,
    ))
    .unwrap();
    let bucket = BucketName::parse(bucket).unwrap();
    let region = Region::parse("ap-guangzhou").unwrap();
    let request = InventoryRequest::list(&bucket, &region, None);
    let answer = client.send(&request, now()).await.unwrap();
    (answer.status, answer.code().map(str::to_string))
}

#[tokio::test]
async fn an_assumed_role_signs_for_its_account_only_and_is_fetched_once() {
    let emulator = start(vec![member(1, None), member(2, None)]).await;
    let shared = role(&emulator, spec(1, None));
    // Many tasks ask at once: one AssumeRole.
    let asks: Vec<_> = (0..20)
        .map(|_| {
            let shared = shared.clone();
            tokio::spawn(async move { shared.current().await.unwrap() })
        })
        .collect();
    let mut ids = Vec::new();
    for ask in asks {
        ids.push(ask.await.unwrap().secret_id().to_string());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let arn = spec(1, None).role_arn;
    assert_eq!(emulator.counters().assume_role.get(&arn), Some(&1));

    let assumed = shared.current().await.unwrap();
    assert!(assumed.security_token().is_some());
    assert_eq!(
        list(&emulator, &assumed, "photos-1250000001").await,
        (200, None)
    );
    let denied = (403, Some("AccessDenied".to_string()));
    // Another member's bucket, and the caller's own.
    assert_eq!(list(&emulator, &assumed, "photos-1250000002").await, denied);
    assert_eq!(list(&emulator, &assumed, "photos-1250000000").await, denied);
    // The caller's credentials reach its own buckets, not a member's.
    assert_eq!(
        list(&emulator, &caller(), "photos-1250000001").await,
        denied
    );
    assert_eq!(
        list(&emulator, &caller(), "photos-1250000000").await,
        (200, None)
    );
    assert_eq!(emulator.counters().assume_role.get(&arn), Some(&1));
}

#[tokio::test]
async fn trust_rules_and_external_ids_are_enforced_and_a_refusal_is_final() {
    let mut untrusting = member(2, None);
    untrusting.roles[0].trusted_uins = vec!["100000000999".into()];
    let emulator = start(vec![member(1, Some("ext-1")), untrusting]).await;

    assert!(
        role(&emulator, spec(1, Some("ext-1")))
            .current()
            .await
            .is_ok()
    );
    let wrong_id = role(&emulator, spec(1, Some("ext-2"))).current().await;
    let text = wrong_id.unwrap_err().to_string();
    assert!(text.contains("AuthFailure.UnauthorizedOperation"), "{text}");
    assert!(text.contains(&spec(1, None).role_arn), "{text}");
    assert!(!text.contains(CALLER_KEY), "{text}");

    let refused = role(&emulator, spec(2, None));
    let first = refused.current().await.unwrap_err().to_string();
    assert!(first.contains("UnauthorizedOperation"), "{first}");
    // Asked again: the same answer, without asking STS again.
    let requests_before = emulator.counters().requests.clone();
    let again = refused.current().await.unwrap_err().to_string();
    assert_eq!(first, again);
    assert_eq!(emulator.counters().requests, requests_before);

    let missing = RoleSpec {
        role_arn: Organisation::role_arn("100000000001", "no-such-role"),
        ..spec(1, None)
    };
    let text = role(&emulator, missing)
        .current()
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("InvalidParameter.RoleNotExist"), "{text}");
}

/// A raw AssumeRole call signed at `timestamp` with `key`.
async fn raw_assume(emulator: &Emulator, timestamp: u64, key: &str) -> serde_json::Value {
    let url = reqwest::Url::parse(&emulator.sts_endpoint()).unwrap();
    let host = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let body = serde_json::to_vec(&serde_json::json!({
        "RoleArn": spec(1, None).role_arn, "RoleSessionName": "raw-call"}))
    .unwrap();
    let signed = tc3::sign(
        &Tc3Request {
            method: "POST",
            host: &host,
            content_type: "application/json",
            query: "",
            payload: &body,
            service: "sts",
            timestamp,
        },
        &Credentials::new(CALLER_ID, key, None),
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let answer = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", signed.authorization)
        .header("x-tc-action", "AssumeRole")
        .header("x-tc-version", "2018-08-13")
        .header("x-tc-region", "ap-guangzhou")
        .header("x-tc-timestamp", timestamp.to_string())
        .body(body)
        .send()
        .await
        .unwrap();
    serde_json::from_slice(&answer.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn sts_checks_the_tc3_signature_and_its_time() {
    let emulator = start(vec![member(1, None)]).await;
    let at = now();
    emulator.set_clock(Some(at));
    let ok = raw_assume(&emulator, at, CALLER_KEY).await;
    assert!(
        ok["Response"]["Credentials"]["TmpSecretId"].is_string(),
        "{ok}"
    );
    let code = |answer: &serde_json::Value| answer["Response"]["Error"]["Code"].clone();
    let bad_key = raw_assume(&emulator, at, "not-the-key").await;
    assert_eq!(code(&bad_key), "AuthFailure.SignatureFailure");
    let stale = raw_assume(&emulator, at - 301, CALLER_KEY).await;
    assert_eq!(code(&stale), "AuthFailure.SignatureExpire");
    let early = raw_assume(&emulator, at + 301, CALLER_KEY).await;
    assert_eq!(code(&early), "AuthFailure.SignatureExpire");
    assert!(raw_assume(&emulator, at + 299, CALLER_KEY).await["Response"]["Error"].is_null());
}

/// Through the binary: `accounts:` in the manifest, STS and COS on the
/// emulator.
mod runs {
    use super::*;
    use crate::support::{self, Ran, SECRET_ID, SECRET_KEY};
    use cosinv::emulator::RoleConfig;

    const MEMBERS: u32 = 3;

    /// `buckets` buckets in each of the members' APPIDs, one job each,
    /// and an `accounts:` entry per member.
    fn manifest(dir: &std::path::Path, buckets: usize) -> std::path::PathBuf {
        let mut names = String::new();
        let mut accounts = String::from("accounts:\n");
        for n in 1..=MEMBERS {
            for i in 0..buckets {
                names.push_str(&format!("m{n}b{i:04}-125000000{n}\n"));
            }
            accounts.push_str(&format!(
                "  \"125000000{n}\":\n    role_arn: {}\n",
                Organisation::role_arn(&format!("10000000000{n}"), ROLE)
            ));
        }
        std::fs::write(dir.join("buckets.txt"), names).unwrap();
        let yaml = format!(
            "version: 1\ndefaults:\n  region: ap-guangzhou\n  require_accounts: true\n{accounts}\
             policies:\n  base:\n    schedule: Daily\n    destination:\n      \
             bucket: inventory-1250000000\n\
             jobs:\n  - id: daily\n    policy: base\n    buckets_file: buckets.txt\n"
        );
        let path = dir.join("org.yaml");
        std::fs::write(&path, yaml).unwrap();
        path
    }

    /// Members 1..=3, the caller being the tests' usual credentials.
    async fn organisation(members: Vec<MemberAccount>) -> Emulator {
        crate::local_emulator(EmulatorConfig {
            organisation: Some(Organisation {
                caller_uin: CALLER_UIN.into(),
                members,
            }),
            ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
        })
        .await
    }

    async fn apply(
        emulator: &Emulator,
        buckets: usize,
        extra: &[&str],
    ) -> (Ran, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest(dir.path(), buckets);
        let report = dir.path().join("report.csv");
        let mut command = support::apply_to(dir.path(), &manifest, emulator, &report, extra);
        command.env(STS_ENDPOINT_VAR, emulator.sts_endpoint());
        let output = support::run(command).await;
        (Ran { output, report }, dir)
    }

    fn arn(n: u32) -> String {
        Organisation::role_arn(&format!("10000000000{n}"), ROLE)
    }

    /// Starts every member's temporary SecretKey and token.
    const MEMBER_CANARY: &str = "CanaryMember-5e0b";

    /// No output, report or file of the run holds a member's secret.
    fn assert_no_member_secret(ran: &Ran, dir: &std::path::Path) {
        let mut texts = vec![ran.stderr(), ran.stdout()];
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_file() {
                texts.push(String::from_utf8_lossy(&std::fs::read(&path).unwrap()).into_owned());
            }
        }
        for text in texts {
            assert!(!text.contains(MEMBER_CANARY), "{text}");
            assert!(!text.contains(SECRET_KEY), "{text}");
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn three_accounts_each_signed_by_its_own_role() {
        let emulator = organisation((1..=MEMBERS).map(|n| member(n, None)).collect()).await;
        emulator.set_roles(RoleConfig {
            secret_prefix: MEMBER_CANARY.into(),
            ..RoleConfig::default()
        });
        let (ran, dir) = apply(&emulator, 100, &["-v"]).await;
        assert_no_member_secret(&ran, dir.path());
        assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
        let rows = ran.rows();
        assert_eq!(rows.len(), 300);
        for row in &rows {
            let appid = row["bucket"].rsplit_once('-').unwrap().1;
            assert_eq!(row["account"], appid, "{row:?}");
        }
        let by_account = |appid: &str| rows.iter().filter(|r| r["account"] == appid).count();
        assert_eq!(
            (
                by_account("1250000001"),
                by_account("1250000002"),
                by_account("1250000003")
            ),
            (100, 100, 100)
        );
        assert!(
            rows.iter().all(|row| row["outcome"] == "applied"),
            "{rows:?}"
        );
        // The emulator refuses a member's bucket to any other signature, so
        // every applied row was signed by its account's role: one
        // AssumeRole per account for the whole run.
        let counts = emulator.counters().assume_role;
        for n in 1..=MEMBERS {
            let calls = counts.get(&arn(n)).copied().unwrap_or(0);
            assert!((1..=2).contains(&calls), "{}: {calls} calls", arn(n));
        }
        assert!(!ran.stderr().contains(CALLER_KEY));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_saved_plan_is_applied_with_each_member_s_role_without_the_manifests() {
        let emulator = organisation((1..=MEMBERS).map(|n| member(n, None)).collect()).await;
        let dir = tempfile::tempdir().unwrap();
        let manifest = manifest(dir.path(), 5);
        let (plan, report) = (dir.path().join("change.plan"), dir.path().join("r.csv"));
        let endpoint = emulator.endpoint();
        let ran = |args: Vec<&str>| {
            let mut command = support::subcommand(dir.path(), args[0], &args[1..]);
            command.env(STS_ENDPOINT_VAR, emulator.sts_endpoint());
            support::run(command)
        };
        let (manifest_arg, plan_arg) = (manifest.to_str().unwrap(), plan.to_str().unwrap());
        let planned = ran(vec![
            "plan",
            manifest_arg,
            "--endpoint",
            &endpoint,
            "--out",
            plan_arg,
        ])
        .await;
        assert_eq!(
            planned.status.code(),
            Some(0),
            "{}",
            support::stderr(&planned)
        );
        let saved: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
        crate::support::schema::assert_matches_schema("plan", &saved);
        assert_eq!(saved["saved"]["accounts"][0]["role_arn"], arn(1));
        // The plan alone: the manifests and buckets file are gone.
        std::fs::remove_file(&manifest).unwrap();
        std::fs::remove_file(dir.path().join("buckets.txt")).unwrap();
        let report_arg = report.to_str().unwrap();
        let args = vec![
            "apply",
            "--plan",
            plan_arg,
            "--endpoint",
            &endpoint,
            "--report",
            report_arg,
        ];
        let applied = ran(args).await;
        assert_eq!(
            applied.status.code(),
            Some(0),
            "{}",
            support::stderr(&applied)
        );
        let rows = support::read_report(&report);
        assert_eq!(rows.len(), 15);
        assert!(
            rows.iter().all(|row| row["outcome"] == "applied"),
            "{rows:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_role_that_cannot_be_assumed_skips_only_its_account() {
        let mut untrusting = member(2, None);
        untrusting.roles[0].trusted_uins = vec!["100000000999".into()];
        let emulator = organisation(vec![member(1, None), untrusting, member(3, None)]).await;
        let (ran, _dir) = apply(&emulator, 10, &[]).await;
        assert_eq!(ran.code(), Some(1), "{}", ran.stderr());
        let sidecar = ran.sidecar();
        let by_account = &sidecar["counts"]["by_account"];
        assert_eq!(by_account["1250000002"]["skipped"], 10, "{sidecar}");
        assert_eq!(by_account["1250000001"]["applied"], 10, "{sidecar}");
        assert!(
            ran.stderr()
                .contains("by account: 1250000001 applied 10; 1250000002 skipped 10"),
            "{}",
            ran.stderr()
        );
        for row in ran.rows() {
            let expected = match row["bucket"].ends_with("-1250000002") {
                true => "skipped",
                false => "applied",
            };
            assert_eq!(row["outcome"], expected, "{row:?}");
        }
        let stderr = ran.stderr();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.contains("account 1250000002"))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains("UnauthorizedOperation"), "{stderr}");
        assert!(!stderr.contains("account 1250000001"), "{stderr}");
        // One refused AssumeRole, not one per job.
        assert_eq!(emulator.counters().assume_role.get(&arn(2)), None);
        let calls = emulator.counters().assume_role_calls;
        assert_eq!(calls.get(&arn(2)), Some(&1), "{calls:?}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn account_selects_the_buckets_of_some_accounts() {
        let emulator = organisation((1..=MEMBERS).map(|n| member(n, None)).collect()).await;
        let selected = ["--account", "1250000002", "--account", "1250000003"];
        let (ran, _dir) = apply(&emulator, 5, &selected).await;
        assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
        let rows = ran.rows();
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|row| row["account"] != "1250000001"));
        // The account left out is not even assumed.
        let counts = emulator.counters().assume_role;
        assert_eq!(counts.get(&arn(1)), None, "{counts:?}");
        assert_eq!(counts.get(&arn(2)), Some(&1), "{counts:?}");
        let (bad, _dir) = apply(&emulator, 5, &["--account", "12x"]).await;
        assert_eq!(bad.code(), Some(2), "{}", bad.stderr());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_throttled_sts_is_tried_a_few_times_then_the_account_skipped() {
        let mut throttled = member(3, None);
        throttled.sts_throttled = true;
        let emulator = organisation(vec![member(1, None), member(2, None), throttled]).await;
        let (ran, _dir) = apply(&emulator, 3, &[]).await;
        assert_eq!(ran.code(), Some(1), "{}", ran.stderr());
        let stderr = ran.stderr();
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| line.contains("account 1250000003"))
            .collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains("RequestLimitExceeded"), "{stderr}");
        let skipped = ran
            .rows()
            .iter()
            .filter(|r| r["outcome"] == "skipped")
            .count();
        assert_eq!(skipped, 3);
        // A few tries, not one per job.
        let calls = emulator.counters().assume_role_calls;
        assert_eq!(calls.get(&arn(3)), Some(&3), "{calls:?}");
        assert_eq!(calls.get(&arn(1)), Some(&1), "{calls:?}");
    }

    /// The members' credentials last 2 s of real time; paced at 20
    /// requests a second the run lasts a few seconds, so each account's
    /// credentials are refreshed while jobs go on, and none fails.
    #[tokio::test(flavor = "multi_thread")]
    async fn short_lived_role_credentials_are_refreshed_mid_run() {
        let emulator = organisation((1..=MEMBERS).map(|n| member(n, None)).collect()).await;
        emulator.set_roles(RoleConfig {
            lifetime: std::time::Duration::from_secs(2),
            ..RoleConfig::default()
        });
        let (ran, _dir) = apply(&emulator, 20, &["--rate", "20"]).await;
        assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
        assert!(ran.rows().iter().all(|row| row["outcome"] == "applied"));
        let counts = emulator.counters().assume_role;
        let refreshed = (1..=MEMBERS).filter(|n| counts.get(&arn(*n)).copied().unwrap_or(0) >= 2);
        assert!(refreshed.count() >= 1, "{counts:?}");
    }
}

/// COS throttles each account on its own, and so does cosinv's pace.
mod pacing {
    use crate::support::{self, Ran, SECRET_ID, SECRET_KEY};
    use cosinv::credentials::Credentials;
    use cosinv::emulator::{EmulatorConfig, Faults};

    const BUCKETS: usize = 30;

    /// `buckets` buckets in each of two accounts, one daily job each, no
    /// `accounts:` (the tests' credentials sign for both).
    fn two_accounts(dir: &std::path::Path, buckets: usize) -> std::path::PathBuf {
        let mut names = String::new();
        for account in ["1250000001", "1250000002"] {
            for i in 0..buckets {
                names.push_str(&format!("b{i:03}-{account}\n"));
            }
        }
        std::fs::write(dir.join("buckets.txt"), names).unwrap();
        let manifest = dir.join("m.yaml");
        std::fs::write(
            &manifest,
            "version: 1\ndefaults:\n  region: ap-guangzhou\njobs:\n  - id: daily\n    \
             set: {schedule: Daily, destination: {bucket: inventory-1250000002}}\n    \
             buckets_file: buckets.txt\n",
        )
        .unwrap();
        manifest
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn one_throttled_account_does_not_slow_the_others() {
        let faults = Faults {
            account_rate_limit: [("1250000001".to_string(), 20.0)].into(),
            ..Faults::default()
        };
        let emulator = crate::local_emulator(EmulatorConfig {
            faults,
            ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
        })
        .await;
        let dir = tempfile::tempdir().unwrap();
        let manifest = two_accounts(dir.path(), BUCKETS);
        let report = dir.path().join("report.csv");
        let command = support::apply_to(
            dir.path(),
            &manifest,
            &emulator,
            &report,
            &["--concurrency", "64"],
        );
        let ran = Ran {
            output: support::run(command).await,
            report,
        };
        assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
        // Rows are written in the order jobs end. The throttled account
        // needs seconds for its requests; the other, paced on its own,
        // ends all of its jobs while the throttled one has ended at most
        // half of its own. A shared pace would hold both at the throttled
        // account's rate, and their rows would interleave.
        let rows = ran.rows();
        assert_eq!(rows.len(), 2 * BUCKETS);
        let last_free = rows
            .iter()
            .rposition(|row| row["account"] == "1250000002")
            .unwrap();
        let throttled_before = rows[..last_free]
            .iter()
            .filter(|row| row["account"] == "1250000001")
            .count();
        assert!(
            throttled_before <= BUCKETS / 2,
            "{throttled_before} of the throttled account's jobs ended before the other's last"
        );
        assert!(rows.iter().all(|row| row["outcome"] == "applied"));
        // The throttled account was throttled: the test would prove
        // nothing otherwise.
        let requests = emulator.counters().requests;
        let slowed: u64 = requests
            .iter()
            .filter(|((_, outcome), _)| outcome == "503")
            .map(|(_, count)| count)
            .sum();
        assert!(slowed > 0, "{requests:?}");

        // The sidecar and the summary say each account's pace: the
        // throttled one by its pace, the other as not paced.
        let sidecar = support::read_sidecar(&ran.report);
        crate::support::schema::assert_matches_schema("run", &sidecar);
        let by_account = &sidecar["pacing"]["by_account"];
        let throttled = &by_account["1250000001"];
        assert!(throttled["rate_cuts"].as_u64() > Some(0), "{by_account}");
        let pace = throttled["paced_at"].as_f64().expect("paced");
        let reason = throttled["reason"].as_str().unwrap();
        assert!(reason.starts_with("paced at "), "{by_account}");
        let free = &by_account["1250000002"];
        assert_eq!(free["rate_cuts"], 0, "{by_account}");
        assert_eq!(free["paced_at"], serde_json::Value::Null, "{by_account}");
        assert_eq!(free["reason"], "not paced", "{by_account}");
        let stderr = ran.stderr();
        let line = format!("cosinv: account 1250000001: paced at {pace:.0}/s");
        assert!(stderr.contains(&line), "{stderr}");
        assert!(!stderr.contains("account 1250000002:"), "{stderr}");
    }

    /// The unthrottled account's jobs, on the test's clock: how long its
    /// writes took, with the other account at `limit` requests a second
    /// (or free), each account 200 buckets with a job each, 20 ms latency.
    async fn free_account_done_after(limit: Option<f64>) -> std::time::Duration {
        let dir = tempfile::tempdir().unwrap();
        let manifest = two_accounts(dir.path(), 200);
        let faults = Faults {
            latency: std::time::Duration::from_millis(20),
            account_rate_limit: limit
                .map(|limit| ("1250000001".to_string(), limit))
                .into_iter()
                .collect(),
            ..Faults::default()
        };
        let emulator = support::emulator(faults).await;
        let config = cosinv::executor::ExecutorConfig::default();
        let run = support::library::apply(dir.path(), &manifest, &emulator, config).await;
        assert_eq!(run.rows.len(), 400);
        assert!(run.rows.iter().all(|row| row["outcome"] == "applied"));
        // Rows end in the apply phase, which starts once every bucket is
        // read (the throttled account's too): from the first row's end.
        let first = run.ended.iter().map(|(_, at)| *at).min().unwrap();
        let last = (run.ended.iter())
            .filter(|(account, _)| account == "1250000002")
            .map(|(_, at)| *at)
            .max()
            .unwrap();
        last - first
    }

    /// On the paused clock (the emulator's ceilings and latency, and the
    /// pace, read it): one account throttled at 20/s leaves the other at
    /// 90% or more of the throughput it has alone. Each account has its
    /// own pace, its requests wait for it without a permit, and its
    /// buckets hold at most their share of the lanes. (The writes start
    /// once every bucket is read, the throttled account's too: that wait
    /// is the phases', not the pace's.)
    #[tokio::test(start_paused = true)]
    async fn the_other_account_keeps_90_percent_of_its_throughput_beside_a_throttled_one() {
        let alone = free_account_done_after(None).await;
        let beside = free_account_done_after(Some(20.0)).await;
        let share = alone.as_secs_f64() / beside.as_secs_f64();
        assert!(
            share >= 0.9,
            "{alone:?} alone, {beside:?} beside a throttled account: {share:.2}"
        );
    }
}

/// `discover:` lists each account's buckets with its own credentials.
mod discovery {
    use super::*;
    use crate::support::{self, Ran, SECRET_ID, SECRET_KEY};
    use cosinv::cos::xml::BucketEntry;

    const NAMES: [&str; 4] = [
        "home-1250000000",
        "logs-1250000001",
        "media-1250000001",
        "logs-1250000002",
    ];

    /// The caller's bucket and members 1 and 2's.
    async fn organisation_with_buckets() -> Emulator {
        let buckets = NAMES
            .iter()
            .map(|name| BucketEntry {
                name: name.to_string(),
                location: "ap-guangzhou".into(),
                creation_date: "2026-01-01T00:00:00Z".into(),
            })
            .collect();
        crate::local_emulator(EmulatorConfig {
            buckets: Some(buckets),
            organisation: Some(Organisation {
                caller_uin: CALLER_UIN.into(),
                members: vec![member(1, None), member(2, None)],
            }),
            ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
        })
        .await
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn discover_finds_every_account_s_buckets() {
        let names = NAMES;
        let emulator = organisation_with_buckets().await;
        let dir = tempfile::tempdir().unwrap();
        let accounts: String = (1..=2)
            .map(|n| {
                format!(
                    "  \"125000000{n}\": {{role_arn: \"{}\"}}\n",
                    Organisation::role_arn(&format!("10000000000{n}"), ROLE)
                )
            })
            .collect();
        let manifest = dir.path().join("org.yaml");
        std::fs::write(
            &manifest,
            format!(
                "version: 1\ndefaults:\n  region: ap-guangzhou\naccounts:\n{accounts}jobs:\n  \
                 - id: daily\n    discover: {{regions: [ap-guangzhou]}}\n    \
                 set: {{schedule: Daily, destination: {{bucket: home-1250000000}}}}\n"
            ),
        )
        .unwrap();
        let report = dir.path().join("report.csv");
        let mut command = support::apply_to(dir.path(), &manifest, &emulator, &report, &[]);
        command.env(STS_ENDPOINT_VAR, emulator.sts_endpoint());
        let ran = Ran {
            output: support::run(command).await,
            report,
        };
        assert_eq!(ran.code(), Some(0), "{}", ran.stderr());
        let mut found: Vec<String> = ran.rows().iter().map(|r| r["bucket"].clone()).collect();
        found.sort();
        let mut expected: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        expected.sort();
        // The caller's GET Service lists only its own bucket: the members'
        // came from their own listings.
        assert_eq!(found, expected, "{}", ran.stderr());
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn buckets_lists_one_account_or_all_with_their_own_credentials() {
        let emulator = organisation_with_buckets().await;
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("accounts.yaml");
        let role = Organisation::role_arn("100000000001", ROLE);
        std::fs::write(
            &manifest,
            format!("version: 1\naccounts:\n  \"1250000001\": {{role_arn: \"{role}\"}}\n"),
        )
        .unwrap();
        let list = |account: &str| {
            let mut command = support::subcommand(
                dir.path(),
                "buckets",
                &[
                    "--endpoint",
                    &emulator.endpoint(),
                    "--output",
                    "csv",
                    "--account",
                    account,
                    "--manifest",
                    manifest.to_str().unwrap(),
                ],
            );
            command.env(STS_ENDPOINT_VAR, emulator.sts_endpoint());
            support::run(command)
        };
        let names = |output: &std::process::Output| -> Vec<String> {
            support::stdout(output)
                .lines()
                .skip(1)
                .map(|line| line.split(',').next().unwrap().to_string())
                .collect()
        };
        let one = list("1250000001").await;
        assert_eq!(one.status.code(), Some(0), "{}", support::stderr(&one));
        assert_eq!(names(&one), ["logs-1250000001", "media-1250000001"]);
        let all = list("all").await;
        assert_eq!(all.status.code(), Some(0), "{}", support::stderr(&all));
        assert_eq!(
            names(&all),
            ["home-1250000000", "logs-1250000001", "media-1250000001"]
        );
        let unknown = list("1250000009").await;
        assert_eq!(unknown.status.code(), Some(2));
        assert!(support::stderr(&unknown).contains("1250000009"));
    }
}
