//! An organisation in the emulator: member accounts that own buckets, each
//! with keys of its own and roles the caller's account may assume.
//!
//! - A bucket's APPID suffix names its owner. A COS request to a member's
//!   bucket must be signed with that member's credentials (its keys, or
//!   temporary ones issued for one of its roles); any other signer gets
//!   403 `AccessDenied`, as COS answers a stranger. Buckets of APPIDs that
//!   are not members belong to the caller's account, and a member's
//!   credentials get `AccessDenied` there.
//! - STS `AssumeRole` is checked as STS checks it: a TC3-HMAC-SHA256
//!   signature recomputed from the request, a timestamp within five
//!   minutes, a known SecretId (and its `X-TC-Token` for temporary ones),
//!   then the role's trust rule (the caller's UIN) and its `ExternalId`.
//!   The error codes are those of the API's common errors; the ones for a
//!   role that is missing or does not trust the caller are guesses from
//!   the STS error list.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Inner;
use super::auth::Refusal;
use crate::cos::error::ACCESS_DENIED;
use crate::credentials::Credentials;
use crate::credentials::tc3::{self, Tc3Request};

/// STS refuses a timestamp further than this from its clock.
const MAX_SKEW: u64 = 300;
/// `DurationSeconds` STS accepts at most.
const MAX_DURATION: u64 = 43_200;

/// The organisation the emulator plays.
#[derive(Debug, Clone)]
pub struct Organisation {
    /// The UIN of the account cosinv runs as: the emulator's own
    /// credentials and every credential its metadata service or
    /// `AssumeRoleWithWebIdentity` issues belong to it.
    pub caller_uin: String,
    pub members: Vec<MemberAccount>,
}

/// One member account.
#[derive(Debug, Clone)]
pub struct MemberAccount {
    /// The APPID its buckets end in.
    pub appid: String,
    /// Its account UIN, as role ARNs name it.
    pub uin: String,
    /// Its own long-lived keys.
    pub credentials: Credentials,
    pub roles: Vec<MemberRole>,
    /// STS answers `RequestLimitExceeded` to every `AssumeRole` of this
    /// account's roles.
    pub sts_throttled: bool,
}

/// A role in a member account and its trust rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRole {
    pub name: String,
    /// UINs whose credentials may assume it.
    pub trusted_uins: Vec<String>,
    /// When set, `ExternalId` must be this.
    pub external_id: Option<String>,
}

impl Organisation {
    /// `qcs::cam::uin/UIN:roleName/NAME`.
    pub fn role_arn(uin: &str, name: &str) -> String {
        format!("qcs::cam::uin/{uin}:roleName/{name}")
    }

    fn member_by_appid(&self, appid: &str) -> Option<&MemberAccount> {
        self.members.iter().find(|m| m.appid == appid)
    }

    /// The member whose long-lived keys these are.
    pub(crate) fn member_by_secret_id(&self, secret_id: &str) -> Option<&MemberAccount> {
        self.members
            .iter()
            .find(|m| m.credentials.secret_id() == secret_id)
    }

    /// The UIN of a signer: `None` is the caller's account.
    fn uin_of(&self, owner: Option<&str>) -> Option<&str> {
        match owner {
            None => Some(&self.caller_uin),
            Some(appid) => self.member_by_appid(appid).map(|m| m.uin.as_str()),
        }
    }
}

/// The APPID a bucket name ends in.
pub(crate) fn bucket_appid(bucket: &str) -> Option<&str> {
    bucket
        .rsplit_once('-')
        .map(|(_, appid)| appid)
        .filter(|appid| !appid.is_empty() && appid.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether a request signed by `owner`'s credentials (`None`: the
/// caller's account) may touch `bucket`.
pub(crate) fn check_owner(
    org: Option<&Organisation>,
    bucket: Option<&str>,
    owner: Option<&str>,
) -> Result<(), Refusal> {
    let Some(org) = org else {
        return Ok(());
    };
    let bucket_owner = bucket
        .and_then(bucket_appid)
        .and_then(|appid| org.member_by_appid(appid))
        .map(|m| m.appid.as_str());
    if bucket.is_none() || bucket_owner == owner {
        return Ok(());
    }
    Err(Refusal {
        code: ACCESS_DENIED,
        message: "Access Denied: the request is signed by another account's credentials".into(),
    })
}

/// The headers an STS request is checked with.
pub(crate) struct StsHead {
    pub host: String,
    pub content_type: String,
    pub authorization: String,
    pub timestamp: String,
    pub token: Option<String>,
}

/// An STS error: code and message.
pub(crate) type StsError = (&'static str, String);

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AssumeRoleBody {
    role_arn: Option<String>,
    role_session_name: Option<String>,
    duration_seconds: Option<u64>,
    external_id: Option<String>,
}

/// Checks a TC3-signed STS call; returns the signer's account (`None`:
/// the caller's).
pub(crate) fn verify_tc3(
    inner: &Inner,
    head: &StsHead,
    body: &[u8],
) -> Result<Option<String>, StsError> {
    let failure = |code, message: &str| (code, message.to_string());
    let parsed = tc3::parse_authorization(&head.authorization).ok_or_else(|| {
        failure(
            "AuthFailure.InvalidAuthorization",
            "the Authorization header is not TC3-HMAC-SHA256",
        )
    })?;
    let timestamp: u64 = head
        .timestamp
        .parse()
        .map_err(|_| failure("AuthFailure.InvalidAuthorization", "bad X-TC-Timestamp"))?;
    if inner.now().abs_diff(timestamp) > MAX_SKEW {
        return Err(failure(
            "AuthFailure.SignatureExpire",
            "the signature has expired: X-TC-Timestamp is more than 5 minutes from the server's time",
        ));
    }
    let (credentials, owner) = signer(inner, &parsed.secret_id, head.token.as_deref())?;
    let expected = tc3::sign(
        &Tc3Request {
            method: "POST",
            host: &head.host,
            content_type: &head.content_type,
            query: "",
            payload: body,
            service: "sts",
            timestamp,
        },
        &credentials,
    );
    let scope_ok = parsed.date == tc3::utc_date(timestamp) && parsed.service == "sts";
    if !scope_ok
        || parsed.signed_headers != tc3::SIGNED_HEADERS
        || parsed.signature != expected.signature
    {
        return Err(failure(
            "AuthFailure.SignatureFailure",
            "the request signature does not match",
        ));
    }
    Ok(owner)
}

/// Who the SecretId belongs to, and its credentials.
fn signer(
    inner: &Inner,
    secret_id: &str,
    token: Option<&str>,
) -> Result<(Credentials, Option<String>), StsError> {
    if let Some((issued, expired_time, owner)) = inner.roles.lookup(secret_id) {
        if inner.now() >= expired_time || issued.security_token() != token {
            return Err((
                "AuthFailure.TokenFailure",
                "the token is expired or does not match the SecretId".into(),
            ));
        }
        return Ok((issued, owner));
    }
    if inner.credentials.secret_id() == secret_id {
        return Ok((inner.credentials.clone(), None));
    }
    match inner
        .org
        .as_ref()
        .and_then(|org| org.member_by_secret_id(secret_id))
    {
        Some(member) => Ok((member.credentials.clone(), Some(member.appid.clone()))),
        None => Err((
            "AuthFailure.SecretIdNotFound",
            "the SecretId is not known".into(),
        )),
    }
}

/// STS `AssumeRole`, once the signature is checked: the credentials
/// issued and their `ExpiredTime`.
pub(crate) fn assume_role(
    inner: &Inner,
    signer_owner: Option<&str>,
    body: &[u8],
) -> Result<(Credentials, u64), StsError> {
    let request: AssumeRoleBody = serde_json::from_slice(body).map_err(|_| {
        (
            "InvalidParameter",
            "the body is not the expected JSON".into(),
        )
    })?;
    let role_arn = request
        .role_arn
        .filter(|v| !v.is_empty())
        .ok_or(("MissingParameter", "RoleArn is required".to_string()))?;
    let session = request.role_session_name.unwrap_or_default();
    if !valid_session_name(&session) {
        return Err((
            "InvalidParameter",
            "RoleSessionName must be 2 to 128 of letters, digits and +=,.@_-".into(),
        ));
    }
    if request.duration_seconds.is_some_and(|d| d > MAX_DURATION) {
        return Err((
            "InvalidParameter",
            "DurationSeconds is at most 43200".into(),
        ));
    }
    let Some(org) = inner.org.as_ref() else {
        return Err(("InvalidParameter.RoleNotExist", "role not exist".into()));
    };
    let (member, role) = find_role(org, &role_arn)?;
    inner.count_assume_role_call(&role_arn);
    let caller_uin = org.uin_of(signer_owner).unwrap_or_default();
    if !role.trusted_uins.iter().any(|uin| uin == caller_uin) {
        return Err((
            "AuthFailure.UnauthorizedOperation",
            format!("the role's trust policy does not let uin {caller_uin} assume it"),
        ));
    }
    if role.external_id.is_some() && role.external_id != request.external_id {
        return Err((
            "AuthFailure.UnauthorizedOperation",
            "the ExternalId does not match the role's trust policy".into(),
        ));
    }
    if member.sts_throttled {
        return Err((
            "RequestLimitExceeded",
            "the request rate is over the limit".into(),
        ));
    }
    let now = inner.now();
    let (credentials, expired_time) =
        inner
            .roles
            .issue_for(now, request.duration_seconds, Some(member.appid.clone()));
    inner.count_assume_role(&role_arn);
    Ok((credentials, expired_time))
}

fn find_role<'a>(
    org: &'a Organisation,
    role_arn: &str,
) -> Result<(&'a MemberAccount, &'a MemberRole), StsError> {
    let not_found = || {
        (
            "InvalidParameter.RoleNotExist",
            "role not exist".to_string(),
        )
    };
    let (uin, name) = role_arn
        .strip_prefix("qcs::cam::uin/")
        .and_then(|rest| rest.split_once(":roleName/"))
        .ok_or((
            "InvalidParameter",
            "RoleArn is not qcs::cam::uin/UIN:roleName/NAME".to_string(),
        ))?;
    let member = org
        .members
        .iter()
        .find(|m| m.uin == uin)
        .ok_or_else(not_found)?;
    let role = member
        .roles
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(not_found)?;
    Ok((member, role))
}

/// 2–128 of `[\w+=,.@-]`.
pub fn valid_session_name(name: &str) -> bool {
    (2..=128).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// `AssumeRole` calls answered with credentials, by role ARN.
pub(crate) type AssumeRoleCounts = BTreeMap<String, u64>;

#[cfg(test)]
mod tests {
    use super::*;

    fn org() -> Organisation {
        Organisation {
            caller_uin: "100".into(),
            members: vec![MemberAccount {
                appid: "1250000001".into(),
                uin: "101".into(),
                credentials: Credentials::new("AKIDmember1", "k1", None),
                roles: vec![],
                sts_throttled: false,
            }],
        }
    }

    #[test]
    fn a_member_s_bucket_takes_only_its_own_signature() {
        let org = org();
        let mine = Some("bucket-1250000001");
        assert!(check_owner(Some(&org), mine, Some("1250000001")).is_ok());
        assert_eq!(
            check_owner(Some(&org), mine, None).unwrap_err().code,
            ACCESS_DENIED
        );
        // The caller's own buckets: not a member's signature.
        let home = Some("bucket-1250000000");
        assert!(check_owner(Some(&org), home, None).is_ok());
        assert!(check_owner(Some(&org), home, Some("1250000001")).is_err());
        // No organisation: nothing to check; GET Service: no bucket.
        assert!(check_owner(None, mine, None).is_ok());
        assert!(check_owner(Some(&org), None, Some("1250000001")).is_ok());
    }

    #[test]
    fn session_names_and_arns_are_checked() {
        assert!(valid_session_name("cosinv-1250000001"));
        assert!(valid_session_name("a@b,c.d=e+f_g"));
        assert!(!valid_session_name("a"));
        assert!(!valid_session_name("has space"));
        assert!(!valid_session_name(&"x".repeat(129)));
        let org = org();
        assert!(find_role(&org, "qcs::cam::uin/101:roleName/none").is_err());
        assert_eq!(
            find_role(&org, "arn:bad").unwrap_err().0,
            "InvalidParameter"
        );
        assert_eq!(bucket_appid("a-b-1250000001"), Some("1250000001"));
        assert_eq!(bucket_appid("nobucket"), None);
    }
}
