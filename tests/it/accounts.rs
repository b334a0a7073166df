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
