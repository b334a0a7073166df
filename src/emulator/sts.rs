//! The emulator as STS, and the temporary credentials it hands out (here
//! and through the CVM metadata service, `super::metadata`).
//!
//! STS answers `POST /-/sts/` (a path no COS request has: bucket names do
//! not start with `-`), so `COSINV_STS_ENDPOINT=http://ADDR/-/sts` points
//! cosinv at it. It takes what Tencent's SDKs send for
//! `AssumeRoleWithWebIdentity`: the `X-TC-Action`, `X-TC-Version`
//! (2018-08-13) and `X-TC-Region` headers, `Authorization: SKIP`, and a
//! JSON body with `ProviderId`, `WebIdentityToken`, `RoleArn`,
//! `RoleSessionName` and `DurationSeconds`. Errors are Tencent Cloud API
//! 3.0 errors: HTTP 200 with `Response.Error.{Code,Message}`.
//!
//! Every answer issues new credentials that last [`RoleConfig::lifetime`]
//! (or the `DurationSeconds` asked for, if shorter) by the emulator's
//! clock. The COS signature check accepts them until then and answers
//! 400 `ExpiredToken` after; the static credentials stay accepted too.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde::Deserialize;

use super::Inner;
use super::auth::{self, Received, Refusal};
use crate::credentials::Credentials;

/// The path prefix STS answers under.
pub const STS_PATH: &str = "/-/sts";
/// Issued credentials are forgotten this long after they expire (until
/// then, using them is `ExpiredToken` rather than `InvalidAccessKeyId`).
const REMEMBER_EXPIRED: u64 = 3600;
const MAX_BODY: usize = 64 * 1024;

/// The roles the emulator plays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleConfig {
    /// The CVM instance role the metadata service names; `None`: no role
    /// is bound (404, as on a CVM without one).
    pub cvm_role: Option<String>,
    /// How long issued credentials last; whole seconds, at least one.
    pub lifetime: Duration,
    /// When set, `AssumeRoleWithWebIdentity` accepts only this token.
    pub web_identity_token: Option<String>,
    /// Starts every issued SecretKey and token, so that tests can search
    /// every output for them.
    pub secret_prefix: String,
}

impl Default for RoleConfig {
    fn default() -> Self {
        RoleConfig {
            cvm_role: Some("cosinv-emulator-role".into()),
            lifetime: Duration::from_secs(900),
            web_identity_token: None,
            secret_prefix: String::new(),
        }
    }
}

/// Temporary credentials handed out, by SecretId.
struct Issued {
    credentials: Credentials,
    expired_time: u64,
    /// The member account (APPID) of an assumed role; `None`: the
    /// caller's account.
    owner: Option<String>,
}

/// The role settings and what was issued.
#[derive(Default)]
pub(crate) struct Roles {
    config: Mutex<RoleConfig>,
    issued: Mutex<HashMap<String, Issued>>,
}

impl Roles {
    pub fn set(&self, config: RoleConfig) {
        *self.config.lock().unwrap_or_else(|p| p.into_inner()) = config;
    }

    pub fn config(&self) -> RoleConfig {
        self.config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many credentials were issued (and not yet forgotten).
    pub fn issued(&self) -> usize {
        self.issued.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// New credentials at `now`, lasting the configured lifetime or
    /// `requested` seconds if shorter; returns them and their `ExpiredTime`.
    pub fn issue(&self, now: u64, requested: Option<u64>) -> (Credentials, u64) {
        self.issue_for(now, requested, None)
    }

    /// Like [`Roles::issue`], for a member account's role (`owner`).
    pub fn issue_for(
        &self,
        now: u64,
        requested: Option<u64>,
        owner: Option<String>,
    ) -> (Credentials, u64) {
        let config = self.config();
        let lifetime = config.lifetime.as_secs().max(1);
        let expired_time = now + requested.map_or(lifetime, |r| r.clamp(1, lifetime));
        let random = |n| {
            std::iter::repeat_with(fastrand::alphanumeric)
                .take(n)
                .collect::<String>()
        };
        let prefix = &config.secret_prefix;
        let credentials = Credentials::new(
            format!("AKIDtmp{}", random(24)),
            format!("{prefix}{}", random(32)),
            Some(format!("{prefix}{}", random(64))),
        );
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.retain(|_, old| old.expired_time + REMEMBER_EXPIRED > now);
        issued.insert(
            credentials.secret_id().to_string(),
            Issued {
                credentials: credentials.clone(),
                expired_time,
                owner,
            },
        );
        (credentials, expired_time)
    }

    pub(crate) fn lookup(&self, secret_id: &str) -> Option<(Credentials, u64, Option<String>)> {
        let issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        issued.get(secret_id).map(|found| {
            (
                found.credentials.clone(),
                found.expired_time,
                found.owner.clone(),
            )
        })
    }
}

/// Checks a COS request's signature against the static credentials (the
/// emulator's, or a member account's) or, when it names issued ones,
/// against those while they last; then that the signer's account owns
/// `bucket` (`super::org`).
pub(crate) fn verify(
    inner: &Inner,
    request: &Received<'_>,
    bucket: Option<&str>,
) -> Result<Option<String>, Refusal> {
    let now = inner.now();
    let parsed = auth::authorization(request)?;
    let owner = match inner.roles.lookup(&parsed.secret_id) {
        Some((_, expired_time, _)) if now >= expired_time => {
            return Err(Refusal {
                code: "ExpiredToken",
                message: "The provided token has expired.".into(),
            });
        }
        Some((issued, _, owner)) => {
            auth::verify_parsed(request, &parsed, &issued, now)?;
            owner
        }
        None => {
            let org = inner.org.as_ref();
            match org.and_then(|org| org.member_by_secret_id(&parsed.secret_id)) {
                Some(member) => {
                    auth::verify_parsed(request, &parsed, &member.credentials, now)?;
                    Some(member.appid.clone())
                }
                None => {
                    auth::verify_parsed(request, &parsed, &inner.credentials, now)?;
                    None
                }
            }
        }
    };
    super::org::check_owner(inner.org.as_ref(), bucket, owner.as_deref())?;
    Ok(owner)
}

/// The HTTP status COS answers a refusal with.
pub(crate) fn refusal_status(refusal: &Refusal) -> u16 {
    match refusal.code {
        "ExpiredToken" => 400,
        _ => 403,
    }
}

/// Whether `path` (percent-decoded) is STS's.
pub(crate) fn owns(path: &str) -> bool {
    path == STS_PATH || path.starts_with("/-/sts/")
}

/// The request body, fields as the SDKs send them.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRequest {
    provider_id: Option<String>,
    web_identity_token: Option<String>,
    role_arn: Option<String>,
    role_session_name: Option<String>,
    duration_seconds: Option<u64>,
}

use super::org::{StsError, StsHead};

/// Answers one STS request.
pub(crate) async fn serve(inner: &Inner, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let request_id = format!("emulator-sts-{:x}", fastrand::u64(..));
    let head = sts_head(&request);
    let answer = match check_headers(&request) {
        Err(error) => Err(error),
        Ok(action) => match Limited::new(request.into_body(), MAX_BODY).collect().await {
            Ok(body) if action == ASSUME_ROLE => {
                let body = body.to_bytes();
                super::org::verify_tc3(inner, &head, &body)
                    .and_then(|owner| super::org::assume_role(inner, owner.as_deref(), &body))
                    .map(|(credentials, expired_time)| answer(&credentials, expired_time))
            }
            Ok(body) => assume_role(inner, &body.to_bytes()),
            Err(_) => Err(("InvalidParameter", "the body is too large".into())),
        },
    };
    let body = match answer {
        Ok(mut response) => {
            response["RequestId"] = request_id.into();
            serde_json::json!({ "Response": response })
        }
        Err((code, message)) => serde_json::json!({
            "Response": {
                "Error": { "Code": code, "Message": message },
                "RequestId": request_id,
            }
        }),
    };
    json_response(StatusCode::OK, body.to_string())
}

const ASSUME_ROLE: &str = "AssumeRole";
const WEB_IDENTITY: &str = "AssumeRoleWithWebIdentity";

fn sts_head(request: &Request<Incoming>) -> StsHead {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    StsHead {
        host: header("host").unwrap_or_default(),
        content_type: header("content-type").unwrap_or_default(),
        authorization: header("authorization").unwrap_or_default(),
        timestamp: header("x-tc-timestamp").unwrap_or_default(),
        token: header("x-tc-token"),
    }
}

/// The common headers; returns the action.
fn check_headers(request: &Request<Incoming>) -> Result<&'static str, StsError> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("")
    };
    if request.method() != hyper::Method::POST {
        return Err(("UnsupportedProtocol", "use POST".into()));
    }
    let action = match header("x-tc-action") {
        WEB_IDENTITY => WEB_IDENTITY,
        ASSUME_ROLE => ASSUME_ROLE,
        "" => {
            return Err((
                "MissingParameter",
                "the X-TC-Action header is missing".into(),
            ));
        }
        other => {
            return Err((
                "InvalidAction",
                format!("the emulator's STS has no {other}"),
            ));
        }
    };
    if header("x-tc-version") != "2018-08-13" {
        return Err((
            "InvalidParameterValue",
            "X-TC-Version must be 2018-08-13".into(),
        ));
    }
    if header("x-tc-region").is_empty() || header("x-tc-timestamp").is_empty() {
        return Err((
            "MissingParameter",
            "X-TC-Region and X-TC-Timestamp are required".into(),
        ));
    }
    if action == WEB_IDENTITY && header("authorization") != "SKIP" {
        return Err((
            "AuthFailure.SignatureFailure",
            "AssumeRoleWithWebIdentity is sent unsigned (Authorization: SKIP)".into(),
        ));
    }
    if !header("content-type").starts_with("application/json") {
        return Err((
            "InvalidParameter",
            "the body must be application/json".into(),
        ));
    }
    Ok(action)
}

fn assume_role(inner: &Inner, body: &[u8]) -> Result<serde_json::Value, StsError> {
    let request: AssumeRequest = serde_json::from_slice(body).map_err(|_| {
        (
            "InvalidParameter",
            "the body is not the expected JSON".to_string(),
        )
    })?;
    let required = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ("MissingParameter", format!("{name} is required")))
    };
    required(request.provider_id, "ProviderId")?;
    required(request.role_session_name, "RoleSessionName")?;
    let role_arn = required(request.role_arn, "RoleArn")?;
    let token = required(request.web_identity_token, "WebIdentityToken")?;
    if let Some(expected) = inner.roles.config().web_identity_token
        && token != expected
    {
        return Err((
            "InvalidParameter.WebIdentityTokenError",
            "the web identity token is not valid".into(),
        ));
    }
    let now = inner.now();
    let (credentials, expired_time) = inner.roles.issue(now, request.duration_seconds);
    Ok(serde_json::json!({
        "Credentials": {
            "Token": credentials.security_token(),
            "TmpSecretId": credentials.secret_id(),
            "TmpSecretKey": credentials.secret_key(),
        },
        "ExpiredTime": expired_time,
        "Expiration": expiration(expired_time),
        "RoleArn": role_arn,
    }))
}

/// STS's answer carrying issued credentials.
fn answer(credentials: &Credentials, expired_time: u64) -> serde_json::Value {
    serde_json::json!({
        "Credentials": {
            "Token": credentials.security_token(),
            "TmpSecretId": credentials.secret_id(),
            "TmpSecretKey": credentials.secret_key(),
        },
        "ExpiredTime": expired_time,
        "Expiration": expiration(expired_time),
    })
}

/// `ExpiredTime` as RFC 3339, as the `Expiration` field.
pub(crate) fn expiration(expired_time: u64) -> String {
    i64::try_from(expired_time)
        .ok()
        .and_then(|secs| jiff::Timestamp::from_second(secs).ok())
        .map(|at| at.to_string())
        .unwrap_or_default()
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issues_distinct_credentials_for_the_shorter_lifetime() {
        let roles = Roles::default();
        roles.set(RoleConfig {
            lifetime: Duration::from_secs(10),
            ..RoleConfig::default()
        });
        let (first, first_end) = roles.issue(1000, None);
        let (second, second_end) = roles.issue(1000, Some(7200));
        let (_, third_end) = roles.issue(1000, Some(3));
        assert_ne!(first.secret_id(), second.secret_id());
        assert!(first.secret_id().starts_with("AKIDtmp"));
        assert!(first.security_token().is_some());
        assert_eq!((first_end, second_end, third_end), (1010, 1010, 1003));
        assert_eq!(roles.issued(), 3);
        // Long-expired ones are forgotten at the next issue.
        roles.issue(1010 + REMEMBER_EXPIRED, None);
        assert_eq!(roles.issued(), 1);
    }

    #[test]
    fn expired_token_is_a_400_and_other_refusals_403() {
        let refusal = |code| Refusal {
            code,
            message: String::new(),
        };
        assert_eq!(refusal_status(&refusal("ExpiredToken")), 400);
        assert_eq!(refusal_status(&refusal("InvalidAccessKeyId")), 403);
    }

    #[test]
    fn expiration_is_rfc3339() {
        assert_eq!(expiration(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn owns_only_its_prefix() {
        assert!(owns("/-/sts") && owns("/-/sts/"));
        assert!(!owns("/-/stsx") && !owns("/bucket-1250000000/"));
    }
}
