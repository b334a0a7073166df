//! The CVM instance role: temporary credentials from the metadata service.
//!
//! As Tencent's SDKs (`CvmRoleProvider` in Go, `CVMRoleCredential` in
//! Python, `CvmRoleCredential` in Java): `GET …/cam/security-credentials/`
//! answers the name of the role bound to the instance, then
//! `GET …/cam/security-credentials/<role>` answers
//!
//! ```json
//! {"TmpSecretId": "...", "TmpSecretKey": "...", "Token": "...",
//!  "ExpiredTime": 1700000000, "Expiration": "2023-11-14T22:13:20Z",
//!  "Code": "Success"}
//! ```
//!
//! Any failure to get the role name (no answer, 404 when no role is bound,
//! an empty name) means "not a CVM with a role" and the chain moves on, as
//! in the Go SDK; the probe gives up on connecting after a second
//! ([`super::ChainOptions::metadata_timeout`]) so that elsewhere it costs
//! little. Once the role is known, failures are errors. The role name is
//! read once; refreshes read only the credentials.

use std::time::{Duration, SystemTime};

use futures_util::future::BoxFuture;
use reqwest::Url;
use serde::Deserialize;

use super::Credentials;
use super::shared::{Issued, Refresh};
use super::source::{RemoteFailure, SourceError};

/// Once on a CVM, the metadata service answers within this (the Java COS
/// SDK waits 5 s to connect and 10 s to read; this is local traffic).
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest role name or answer read.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;

/// The instance's role and where to fetch its credentials.
pub(crate) struct CvmRole {
    http: reqwest::Client,
    role: String,
    credentials_url: Url,
}

impl CvmRole {
    /// The role bound to this instance, or `None` when there is no
    /// metadata service or no role. `roles_url` ends with `/`.
    pub async fn discover(
        http: reqwest::Client,
        roles_url: Url,
        probe_timeout: Duration,
    ) -> Option<CvmRole> {
        let answer = http
            .get(roles_url.clone())
            .timeout(probe_timeout)
            .send()
            .await
            .ok()
            .filter(|answer| answer.status().is_success())?;
        let body = RemoteFailure::read_capped(answer, MAX_ANSWER).await.ok()?;
        let role = role_name(&body)?;
        let mut credentials_url = roles_url;
        credentials_url
            .path_segments_mut()
            .ok()?
            .pop_if_empty()
            .push(&role);
        Some(CvmRole {
            http,
            role,
            credentials_url,
        })
    }

    pub fn role(&self) -> &str {
        &self.role
    }

    /// The role's current temporary credentials.
    pub async fn fetch_credentials(&self) -> Result<Issued, SourceError> {
        let failed = |failure| SourceError::Metadata {
            role: self.role.clone(),
            failure,
        };
        let answer = self
            .http
            .get(self.credentials_url.clone())
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|err| failed(RemoteFailure::from_reqwest(&err)))?;
        let status = answer.status();
        if !status.is_success() {
            return Err(failed(RemoteFailure::Status {
                status: status.as_u16(),
            }));
        }
        let body = RemoteFailure::read_capped(answer, MAX_ANSWER)
            .await
            .map_err(failed)?;
        parse_credentials(&body, SystemTime::now()).map_err(failed)
    }
}

impl Refresh for CvmRole {
    fn fetch(&self) -> BoxFuture<'_, Result<Issued, SourceError>> {
        Box::pin(self.fetch_credentials())
    }
}

/// The first line of the answer, trimmed; `None` if empty or absurd.
fn role_name(body: &[u8]) -> Option<String> {
    if body.len() > MAX_ANSWER {
        return None;
    }
    let text = std::str::from_utf8(body).ok()?;
    let role = text.lines().next()?.trim();
    (!role.is_empty()).then(|| role.to_string())
}

/// The metadata answer. Fields are optional so that a missing one is named
/// (serde's own message could quote a value).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RoleAnswer {
    tmp_secret_id: Option<String>,
    tmp_secret_key: Option<String>,
    token: Option<String>,
    expired_time: Option<u64>,
    code: Option<String>,
}

/// Parses the role credentials answer, received at `now`.
pub(crate) fn parse_credentials(body: &[u8], now: SystemTime) -> Result<Issued, RemoteFailure> {
    if body.len() > MAX_ANSWER {
        return Err(RemoteFailure::Malformed { line: 0, column: 0 });
    }
    let answer: RoleAnswer =
        serde_json::from_slice(body).map_err(|err| RemoteFailure::from_json(&err))?;
    let code = answer.code.unwrap_or_default();
    if code != "Success" {
        return Err(RemoteFailure::Refused {
            code: if code.is_empty() {
                "(no Code)".into()
            } else {
                code
            },
            message: "the metadata service did not return credentials".into(),
            request_id: None,
        });
    }
    let field = |value: Option<String>, field| {
        value
            .filter(|v| !v.is_empty())
            .ok_or(RemoteFailure::MissingField { field })
    };
    let id = field(answer.tmp_secret_id, "TmpSecretId")?;
    let key = field(answer.tmp_secret_key, "TmpSecretKey")?;
    let token = field(answer.token, "Token")?;
    let expired_time = answer.expired_time.ok_or(RemoteFailure::MissingField {
        field: "ExpiredTime",
    })?;
    Ok(Issued {
        credentials: Credentials::new(id, key, Some(token)),
        expires_in: expires_in(expired_time, now)?,
    })
}

/// Time left until `expired_time` (Unix seconds) from `now`.
pub(crate) fn expires_in(expired_time: u64, now: SystemTime) -> Result<Duration, RemoteFailure> {
    // A server's number: `UNIX_EPOCH + u64::MAX s` would overflow (panic).
    let end = SystemTime::UNIX_EPOCH
        .checked_add(Duration::from_secs(expired_time))
        .ok_or(RemoteFailure::ImplausibleExpiry { expired_time })?;
    end.duration_since(now)
        .ok()
        .filter(|left| !left.is_zero())
        .ok_or(RemoteFailure::AlreadyExpired { expired_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn parses_the_documented_answer() {
        let body = format!(
            r#"{{"TmpSecretId":"AKIDtmp","TmpSecretKey":"tmpkey","ExpiredTime":{},
                "Expiration":"2023-11-15T00:13:20Z","Token":"tok","Code":"Success"}}"#,
            NOW + 7200
        );
        let issued = parse_credentials(body.as_bytes(), at(NOW)).unwrap();
        assert_eq!(issued.credentials.secret_id(), "AKIDtmp");
        assert_eq!(issued.credentials.secret_key(), "tmpkey");
        assert_eq!(issued.credentials.security_token(), Some("tok"));
        assert_eq!(issued.expires_in, Duration::from_secs(7200));
    }

    #[test]
    fn failures_say_what_without_quoting_values() {
        let failure = |body: &str| parse_credentials(body.as_bytes(), at(NOW)).unwrap_err();
        assert!(matches!(
            failure(r#"{"Code":"Failure"}"#),
            RemoteFailure::Refused { code, .. } if code == "Failure"
        ));
        assert_eq!(
            failure(r#"{"Code":"Success","TmpSecretId":"a","TmpSecretKey":"b","ExpiredTime":1}"#),
            RemoteFailure::MissingField { field: "Token" }
        );
        let wrong_type = failure(r#"{"Code":"Success","TmpSecretId":12345678}"#);
        assert!(matches!(wrong_type, RemoteFailure::Malformed { .. }));
        assert!(!wrong_type.to_string().contains("12345678"));
        assert!(matches!(failure("<html>"), RemoteFailure::Malformed { .. }));
        let late = format!(
            r#"{{"Code":"Success","TmpSecretId":"a","TmpSecretKey":"b","Token":"t","ExpiredTime":{NOW}}}"#
        );
        assert_eq!(
            failure(&late),
            RemoteFailure::AlreadyExpired { expired_time: NOW }
        );
    }

    #[test]
    fn the_role_name_is_the_first_line_trimmed() {
        assert_eq!(role_name(b"cos-writer\n").as_deref(), Some("cos-writer"));
        assert_eq!(role_name(b"  \n"), None);
        assert_eq!(role_name(b""), None);
    }

    #[test]
    fn an_expiry_past_the_end_of_time_is_refused_not_a_panic() {
        let failure = expires_in(u64::MAX, at(NOW)).unwrap_err();
        assert!(
            matches!(failure, RemoteFailure::ImplausibleExpiry { .. }),
            "{failure}"
        );
    }
}
