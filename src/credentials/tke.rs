//! TKE's OIDC role: a pod's service-account token exchanged at STS for
//! temporary credentials.
//!
//! As Tencent's SDKs (`DefaultTkeOIDCRoleArnProvider` /
//! `OIDCRoleArnCredential` in Python, Go and Java), configured by the
//! variables TKE's pod identity webhook sets:
//!
//! - `TKE_REGION`, `TKE_PROVIDER_ID`, `TKE_ROLE_ARN`;
//! - `TKE_WEB_IDENTITY_TOKEN_FILE`, the file holding the token (current
//!   SDKs; older Go SDKs read `TKE_IDENTITY_TOKEN_FILE`, also accepted).
//!
//! None set: not in such a pod, the chain moves on. Some set: all are
//! needed. Each fetch re-reads the token file (Kubernetes rotates it) and
//! POSTs STS's `AssumeRoleWithWebIdentity` (version 2018-08-13) as the
//! SDKs' common client does with `SkipSign`: JSON body `ProviderId`,
//! `WebIdentityToken`, `RoleArn`, `RoleSessionName`, `DurationSeconds`
//! (7200, the SDKs' default); headers `X-TC-Action`, `X-TC-Version`,
//! `X-TC-Region`, `X-TC-Timestamp`, `X-TC-RequestClient` and
//! `Authorization: SKIP`. The answer is
//! `Response.Credentials.{TmpSecretId,TmpSecretKey,Token}` and
//! `Response.ExpiredTime`, or `Response.Error.{Code,Message}`.

use std::path::PathBuf;
use std::time::SystemTime;

use futures_util::future::BoxFuture;
use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::Credentials;
use super::cvm::{MAX_ANSWER, expires_in};
use super::shared::{Issued, Refresh};
use super::source::{RemoteFailure, SourceError};

pub const REGION_VAR: &str = "TKE_REGION";
pub const PROVIDER_ID_VAR: &str = "TKE_PROVIDER_ID";
pub const ROLE_ARN_VAR: &str = "TKE_ROLE_ARN";
pub const TOKEN_FILE_VAR: &str = "TKE_WEB_IDENTITY_TOKEN_FILE";
/// The token file's variable in older Go SDKs.
pub const LEGACY_TOKEN_FILE_VAR: &str = "TKE_IDENTITY_TOKEN_FILE";

const ACTION: &str = "AssumeRoleWithWebIdentity";
const VERSION: &str = "2018-08-13";
const DURATION_SECONDS: u64 = 7200;
/// Followed by the time in microseconds, as the SDKs' session names.
const SESSION_PREFIX: &str = "cosinv-";

/// The pod's TKE role settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TkeConfig {
    pub region: String,
    pub provider_id: String,
    pub role_arn: String,
    pub token_file: PathBuf,
}

impl TkeConfig {
    /// `None` when no TKE variable is set.
    pub fn from_lookup(
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<TkeConfig>, SourceError> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
        let token_file = get(TOKEN_FILE_VAR).or_else(|| get(LEGACY_TOKEN_FILE_VAR));
        let values = [
            (REGION_VAR, get(REGION_VAR)),
            (PROVIDER_ID_VAR, get(PROVIDER_ID_VAR)),
            (TOKEN_FILE_VAR, token_file),
            (ROLE_ARN_VAR, get(ROLE_ARN_VAR)),
        ];
        if values.iter().all(|(_, value)| value.is_none()) {
            return Ok(None);
        }
        if let Some((missing, _)) = values.iter().find(|(_, value)| value.is_none()) {
            return Err(SourceError::TkeIncomplete { missing });
        }
        let [region, provider_id, token_file, role_arn] =
            values.map(|(_, v)| v.unwrap_or_default());
        Ok(Some(TkeConfig {
            region,
            provider_id,
            role_arn,
            token_file: PathBuf::from(token_file),
        }))
    }
}

/// Fetches the role's credentials from STS.
pub(crate) struct TkeRole {
    http: reqwest::Client,
    url: Url,
    config: TkeConfig,
}

/// The request body, in the SDKs' field order.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRequest<'a> {
    provider_id: &'a str,
    web_identity_token: &'a str,
    role_arn: &'a str,
    role_session_name: &'a str,
    duration_seconds: u64,
}

impl TkeRole {
    pub fn new(http: reqwest::Client, url: Url, config: TkeConfig) -> Self {
        TkeRole { http, url, config }
    }

    pub async fn fetch_credentials(&self) -> Result<Issued, SourceError> {
        let token = self.read_token().await?;
        let now = SystemTime::now();
        let since_epoch = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let session = format!("{SESSION_PREFIX}{}", since_epoch.as_micros());
        let body = serde_json::to_vec(&AssumeRequest {
            provider_id: &self.config.provider_id,
            web_identity_token: &token,
            role_arn: &self.config.role_arn,
            role_session_name: &session,
            duration_seconds: DURATION_SECONDS,
        })
        .unwrap_or_default();
        let mut request = self.http.post(self.url.clone()).body(body);
        for (name, value) in request_headers(&self.config.region, since_epoch.as_secs()) {
            request = request.header(name, value);
        }
        let failed = |failure| SourceError::Sts {
            role_arn: self.config.role_arn.clone(),
            endpoint: self.url.to_string(),
            failure,
        };
        let answer = request
            .send()
            .await
            .map_err(|err| failed(RemoteFailure::from_reqwest(&err)))?;
        let status = answer.status().as_u16();
        let body = RemoteFailure::read_capped(answer, MAX_ANSWER)
            .await
            .map_err(failed)?;
        parse_answer(status, &body, SystemTime::now()).map_err(failed)
    }

    async fn read_token(&self) -> Result<String, SourceError> {
        let unreadable = |reason: String| SourceError::TokenFile {
            path: self.config.token_file.clone(),
            reason,
        };
        let text = tokio::fs::read_to_string(&self.config.token_file)
            .await
            .map_err(|err| unreadable(err.to_string()))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(unreadable("the file is empty".into()));
        }
        Ok(token.to_string())
    }
}

impl Refresh for TkeRole {
    fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>> {
        Box::pin(self.fetch_credentials())
    }
}

/// The headers of an unsigned Tencent Cloud API 3.0 call to STS.
pub(crate) fn request_headers(region: &str, timestamp: u64) -> Vec<(&'static str, String)> {
    vec![
        ("content-type", "application/json".into()),
        ("x-tc-action", ACTION.into()),
        ("x-tc-version", VERSION.into()),
        ("x-tc-region", region.into()),
        ("x-tc-timestamp", timestamp.to_string()),
        (
            "x-tc-requestclient",
            concat!("cosinv/", env!("CARGO_PKG_VERSION")).into(),
        ),
        ("authorization", "SKIP".into()),
    ]
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Response")]
    response: Option<StsAnswer>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsAnswer {
    credentials: Option<StsCredentials>,
    expired_time: Option<u64>,
    request_id: Option<String>,
    error: Option<StsError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsCredentials {
    token: Option<String>,
    tmp_secret_id: Option<String>,
    tmp_secret_key: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StsError {
    code: Option<String>,
    message: Option<String>,
}

/// Parses STS's answer (HTTP `status`), received at `now`.
pub(crate) fn parse_answer(
    status: u16,
    body: &[u8],
    now: SystemTime,
) -> Result<Issued, RemoteFailure> {
    let answer = match serde_json::from_slice::<Envelope>(body) {
        Ok(Envelope {
            response: Some(answer),
        }) => answer,
        // A gateway's page rather than STS's JSON: the status says more.
        _ if !(200..300).contains(&status) => return Err(RemoteFailure::Status { status }),
        Ok(Envelope { response: None }) => {
            return Err(RemoteFailure::MissingField { field: "Response" });
        }
        Err(err) => return Err(RemoteFailure::from_json(&err)),
    };
    if let Some(error) = answer.error {
        return Err(RemoteFailure::Refused {
            code: error.code.unwrap_or_default(),
            message: error.message.unwrap_or_default(),
            request_id: answer.request_id,
        });
    }
    let credentials = answer.credentials.ok_or(RemoteFailure::MissingField {
        field: "Response.Credentials",
    })?;
    let field = |value: Option<String>, field| {
        value
            .filter(|v| !v.is_empty())
            .ok_or(RemoteFailure::MissingField { field })
    };
    let id = field(
        credentials.tmp_secret_id,
        "Response.Credentials.TmpSecretId",
    )?;
    let key = field(
        credentials.tmp_secret_key,
        "Response.Credentials.TmpSecretKey",
    )?;
    let token = field(credentials.token, "Response.Credentials.Token")?;
    let expired_time = answer.expired_time.ok_or(RemoteFailure::MissingField {
        field: "Response.ExpiredTime",
    })?;
    Ok(Issued {
        credentials: Credentials::new(id, key, Some(token)),
        expires_in: expires_in(expired_time, now)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::time::Duration;

    const NOW: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn parses_the_documented_answer() {
        let body = format!(
            r#"{{"Response":{{"Credentials":{{"Token":"tok","TmpSecretId":"AKIDsts",
                "TmpSecretKey":"stskey"}},"ExpiredTime":{},"Expiration":"2023-11-15T00:13:20Z",
                "RequestId":"r-1"}}}}"#,
            NOW + 7200
        );
        let issued = parse_answer(200, body.as_bytes(), at(NOW)).unwrap();
        assert_eq!(issued.credentials.secret_id(), "AKIDsts");
        assert_eq!(issued.credentials.secret_key(), "stskey");
        assert_eq!(issued.credentials.security_token(), Some("tok"));
        assert_eq!(issued.expires_in, Duration::from_secs(7200));
    }

    #[test]
    fn errors_carry_code_message_and_request_id() {
        let body = br#"{"Response":{"Error":{"Code":"InvalidParameter.WebIdentityTokenError",
            "Message":"token expired"},"RequestId":"r-2"}}"#;
        let failure = parse_answer(200, body, at(NOW)).unwrap_err();
        assert_eq!(
            failure.to_string(),
            "InvalidParameter.WebIdentityTokenError: token expired (RequestId r-2)"
        );
        assert_eq!(
            parse_answer(502, b"<html>bad gateway</html>", at(NOW)).unwrap_err(),
            RemoteFailure::Status { status: 502 }
        );
        assert!(matches!(
            parse_answer(200, b"<html>", at(NOW)).unwrap_err(),
            RemoteFailure::Malformed { .. }
        ));
        assert_eq!(
            parse_answer(200, br#"{"Response":{"RequestId":"r"}}"#, at(NOW)).unwrap_err(),
            RemoteFailure::MissingField {
                field: "Response.Credentials"
            }
        );
    }

    #[test]
    fn the_request_is_the_sdks() {
        let body = serde_json::to_value(AssumeRequest {
            provider_id: "p",
            web_identity_token: "jwt",
            role_arn: "qcs::cam::uin/1:roleName/r",
            role_session_name: "cosinv-1",
            duration_seconds: 7200,
        })
        .unwrap();
        assert_eq!(
            body,
            serde_json::json!({"ProviderId": "p", "WebIdentityToken": "jwt",
                "RoleArn": "qcs::cam::uin/1:roleName/r", "RoleSessionName": "cosinv-1",
                "DurationSeconds": 7200})
        );
        let headers = request_headers("ap-guangzhou", NOW);
        let get = |name| {
            headers
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("x-tc-action"), Some("AssumeRoleWithWebIdentity"));
        assert_eq!(get("x-tc-version"), Some("2018-08-13"));
        assert_eq!(get("x-tc-region"), Some("ap-guangzhou"));
        assert_eq!(get("x-tc-timestamp"), Some("1700000000"));
        assert_eq!(get("authorization"), Some("SKIP"));
        assert_eq!(get("content-type"), Some("application/json"));
    }

    #[test]
    fn configuration_is_all_or_nothing() {
        assert_eq!(TkeConfig::from_lookup(&lookup(&[])).unwrap(), None);
        let err = TkeConfig::from_lookup(&lookup(&[(REGION_VAR, "ap-guangzhou")])).unwrap_err();
        assert_eq!(
            err,
            SourceError::TkeIncomplete {
                missing: PROVIDER_ID_VAR
            }
        );
        let full = [
            (REGION_VAR, "ap-guangzhou"),
            (PROVIDER_ID_VAR, "cls-abc"),
            (ROLE_ARN_VAR, "qcs::cam::uin/1:roleName/r"),
            (LEGACY_TOKEN_FILE_VAR, "/old/token"),
        ];
        let config = TkeConfig::from_lookup(&lookup(&full)).unwrap().unwrap();
        assert_eq!(config.token_file, PathBuf::from("/old/token"));
        let mut newer = full.to_vec();
        newer.push((TOKEN_FILE_VAR, "/new/token"));
        let config = TkeConfig::from_lookup(&lookup(&newer)).unwrap().unwrap();
        assert_eq!(config.token_file, PathBuf::from("/new/token"));
        assert_eq!(config.region, "ap-guangzhou");
    }
}
