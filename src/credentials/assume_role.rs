//! STS `AssumeRole`: the caller's credentials (whatever the chain found)
//! exchanged for a member account's role, signed TC3-HMAC-SHA256.
//!
//! A POST of JSON `RoleArn`, `RoleSessionName`, `DurationSeconds` and, if
//! given, `ExternalId` to the STS address ([`super::STS_ENDPOINT_VAR`], so
//! tests reach the emulator), with `X-TC-Action: AssumeRole`,
//! `X-TC-Version: 2018-08-13`, `X-TC-Region`, `X-TC-Timestamp` and, when
//! the caller's credentials are temporary, `X-TC-Token`. The answer is read
//! at most 64 KiB, and an API 3.0 error (HTTP 200 with `Response.Error`)
//! is a [`RemoteFailure::Refused`] with its code.
//!
//! STS answers about 600 requests a second per account, so a throttled
//! call (`RequestLimitExceeded`) or one with no answer is tried a few
//! times with a growing pause; a refusal (no such role, not trusted, bad
//! external id) is final at once.

use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use reqwest::Url;
use serde::Serialize;

use super::cvm::MAX_ANSWER;
use super::shared::{Issued, Refresh};
use super::source::{RemoteFailure, SourceError};
use super::tc3::{self, Tc3Request};
use super::tke::parse_answer;
use super::{CredentialSource, SharedCredentials};

const ACTION: &str = "AssumeRole";
const VERSION: &str = "2018-08-13";
const CONTENT_TYPE: &str = "application/json";
/// STS's default and its maximum.
pub const DEFAULT_DURATION_SECONDS: u64 = 7200;
pub const MAX_DURATION_SECONDS: u64 = 43_200;
/// The shortest STS issues.
pub const MIN_DURATION_SECONDS: u64 = 900;
/// Tries of one fetch when STS throttles or does not answer.
const ATTEMPTS: u32 = 3;
const FIRST_PAUSE: Duration = Duration::from_millis(200);

/// One member account's role, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// `qcs::cam::uin/UIN:roleName/NAME`.
    pub role_arn: String,
    pub external_id: Option<String>,
    /// `RoleSessionName`, 2–128 of `[\w+=,.@-]`.
    pub session_name: String,
    /// `DurationSeconds`.
    pub duration_seconds: u64,
}

/// The request body, in the order the API documents the fields.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRequest<'a> {
    role_arn: &'a str,
    role_session_name: &'a str,
    duration_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_id: Option<&'a str>,
}

/// Fetches one role's credentials, signed with the caller's.
pub(crate) struct AssumeRole {
    http: reqwest::Client,
    url: Url,
    region: String,
    spec: RoleSpec,
    caller: SharedCredentials,
}

impl AssumeRole {
    fn failed(&self, failure: RemoteFailure) -> SourceError {
        SourceError::AssumeRole {
            role_arn: self.spec.role_arn.clone(),
            endpoint: self.url.to_string(),
            failure: Box::new(failure),
        }
    }

    /// One call to STS.
    async fn call_once(&self) -> Result<Issued, SourceError> {
        let caller = self.caller.current().await.map_err(|err| {
            self.failed(RemoteFailure::Transport {
                message: format!("no caller credentials to sign with: {err}"),
            })
        })?;
        let now = SystemTime::now();
        let timestamp = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let body = request_body(&self.spec);
        let host = self.url.host_str().unwrap_or_default().to_string();
        let host = match self.url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        };
        let signed = tc3::sign(
            &Tc3Request {
                method: "POST",
                host: &host,
                content_type: CONTENT_TYPE,
                query: "",
                payload: &body,
                service: "sts",
                timestamp,
            },
            &caller,
        );
        let mut request = self
            .http
            .post(self.url.clone())
            .header("host", &host)
            .header("authorization", signed.authorization)
            .body(body);
        for (name, value) in headers(&self.region, timestamp) {
            request = request.header(name, value);
        }
        if let Some(token) = caller.security_token() {
            request = request.header("x-tc-token", token);
        }
        let answer = request
            .send()
            .await
            .map_err(|err| self.failed(RemoteFailure::from_reqwest(&err)))?;
        let status = answer.status().as_u16();
        let body = RemoteFailure::read_capped(answer, MAX_ANSWER)
            .await
            .map_err(|failure| self.failed(failure))?;
        parse_answer(status, &body, now).map_err(|failure| self.failed(failure))
    }

    /// A few tries while STS throttles or does not answer.
    pub async fn fetch_credentials(&self) -> Result<Issued, SourceError> {
        let mut pause = FIRST_PAUSE;
        let mut attempt = 1;
        loop {
            match self.call_once().await {
                Err(SourceError::AssumeRole { failure, .. })
                    if attempt < ATTEMPTS && worth_retrying(&failure) =>
                {
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}

impl Refresh for AssumeRole {
    fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>> {
        Box::pin(self.fetch_credentials())
    }
}

/// Throttling, STS's own trouble and no answer are tried again; a
/// refusal is the answer.
fn worth_retrying(failure: &RemoteFailure) -> bool {
    match failure {
        RemoteFailure::Transport { .. } => true,
        RemoteFailure::Status { status } => *status == 429 || *status >= 500,
        RemoteFailure::Refused { code, .. } => {
            code == "RequestLimitExceeded" || code.starts_with("InternalError")
        }
        _ => false,
    }
}

fn request_body(spec: &RoleSpec) -> Vec<u8> {
    serde_json::to_vec(&AssumeRequest {
        role_arn: &spec.role_arn,
        role_session_name: &spec.session_name,
        duration_seconds: spec.duration_seconds,
        external_id: spec.external_id.as_deref(),
    })
    .unwrap_or_default()
}

/// The API 3.0 headers besides `Authorization`, `Host` and the token.
fn headers(region: &str, timestamp: u64) -> [(&'static str, String); 5] {
    [
        ("content-type", CONTENT_TYPE.into()),
        ("x-tc-action", ACTION.into()),
        ("x-tc-version", VERSION.into()),
        ("x-tc-region", region.into()),
        ("x-tc-timestamp", timestamp.to_string()),
    ]
}

/// A role's credentials for one account, fetched when first needed and
/// refreshed before they expire; signed by `caller`. `http` is the STS
/// client and `url` its address (`credentials::remote`).
pub fn assumed_role(
    caller: SharedCredentials,
    spec: RoleSpec,
    region: &str,
    http: &crate::http::HttpOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<SharedCredentials, SourceError> {
    let url = super::remote::sts_url(lookup)?;
    let source = CredentialSource::AssumedRole {
        role_arn: spec.role_arn.clone(),
    };
    let client = super::remote::sts_client(http).map_err(|failure| SourceError::AssumeRole {
        role_arn: spec.role_arn.clone(),
        endpoint: url.to_string(),
        failure: Box::new(failure),
    })?;
    let role = AssumeRole {
        http: client,
        url,
        region: region.to_string(),
        spec,
        caller,
    };
    Ok(SharedCredentials::lazy(source, Box::new(role)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_the_documented_one() {
        let mut spec = RoleSpec {
            role_arn: "qcs::cam::uin/100000000001:roleName/inv".into(),
            external_id: None,
            session_name: "cosinv-1250000001".into(),
            duration_seconds: 7200,
        };
        let body: serde_json::Value = serde_json::from_slice(&request_body(&spec)).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"RoleArn": "qcs::cam::uin/100000000001:roleName/inv",
                "RoleSessionName": "cosinv-1250000001", "DurationSeconds": 7200})
        );
        spec.external_id = Some("ext".into());
        let body: serde_json::Value = serde_json::from_slice(&request_body(&spec)).unwrap();
        assert_eq!(body["ExternalId"], "ext");
        let headers = headers("ap-guangzhou", 5);
        assert!(headers.contains(&("x-tc-action", "AssumeRole".into())));
        assert!(headers.contains(&("x-tc-version", "2018-08-13".into())));
    }

    #[test]
    fn only_throttling_and_silence_are_tried_again() {
        let refused = |code: &str| RemoteFailure::Refused {
            code: code.into(),
            message: String::new(),
            request_id: None,
        };
        assert!(worth_retrying(&refused("RequestLimitExceeded")));
        assert!(worth_retrying(&RemoteFailure::Transport {
            message: "reset".into()
        }));
        assert!(worth_retrying(&RemoteFailure::Status { status: 503 }));
        assert!(!worth_retrying(&refused("InvalidParameter.RoleNotExist")));
        assert!(!worth_retrying(&refused("AuthFailure.SignatureFailure")));
        assert!(!worth_retrying(&RemoteFailure::Status { status: 404 }));
    }
}
