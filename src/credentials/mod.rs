//! COS credentials and where they come from.
//!
//! The secret key and the security token are held as [`SecretString`]s, the
//! one type for secrets in cosinv: they leave it in text form only to the
//! signer and the `x-cos-security-token` header. `Debug` and `Display`
//! print `******`, so a credential that ends up in a log line, an error or
//! a panic message does not leak. The SecretId is an identifier, sent in
//! every `Authorization` header, and is shown.
//!
//! [`CredentialChain`] finds them as Tencent's SDKs do (environment,
//! profile file, CVM instance role, TKE OIDC role) and hands out a
//! [`SharedCredentials`] that keeps temporary ones fresh.

pub mod assume_role;
mod chain;
mod cvm;
mod profile;
mod remote;
mod shared;
mod source;
pub mod tc3;
mod tke;

pub use chain::{ChainOptions, CredentialChain};
pub use profile::{CREDENTIALS_FILE_VAR, DEFAULT_PROFILE, SYSTEM_PROFILE_FILE};
pub use remote::{METADATA_ENDPOINT_VAR, STS_ENDPOINT_VAR};
pub use shared::SharedCredentials;
pub use source::{CredentialSource, RemoteFailure, SourceError};

use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// Environment variables read, in order of preference.
pub const SECRET_ID_VARS: [&str; 2] = ["COS_SECRET_ID", "TENCENTCLOUD_SECRET_ID"];
pub const SECRET_KEY_VARS: [&str; 2] = ["COS_SECRET_KEY", "TENCENTCLOUD_SECRET_KEY"];
pub const TOKEN_VARS: [&str; 2] = ["COS_SECURITY_TOKEN", "TENCENTCLOUD_SESSION_TOKEN"];

const REDACTED: &str = "******";

/// A SecretId, a SecretKey and, for temporary credentials, a security token.
#[derive(Clone)]
pub struct Credentials {
    secret_id: String,
    secret_key: SecretString,
    security_token: Option<SecretString>,
}

/// One of the three values of [`Credentials`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialPart {
    SecretId,
    SecretKey,
    SecurityToken,
}

impl CredentialPart {
    pub fn as_str(self) -> &'static str {
        match self {
            CredentialPart::SecretId => "SecretId",
            CredentialPart::SecretKey => "SecretKey",
            CredentialPart::SecurityToken => "security token",
        }
    }
}

impl fmt::Display for CredentialPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a value cannot be sent, said without the value.
pub const UNSENDABLE: &str = "has a character no HTTP header may carry, or leading or trailing \
     whitespace (a trailing newline is common in files written by echo or \
     mounted from Kubernetes secrets); remove it";

/// Credentials were needed but not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error(
        "no COS credentials: set {id_vars} and {key_vars} \
         (and {token_vars} for temporary credentials)",
        id_vars = SECRET_ID_VARS.join(" or "),
        key_vars = SECRET_KEY_VARS.join(" or "),
        token_vars = TOKEN_VARS.join(" or ")
    )]
    Missing,
    #[error(
        "COS credentials are incomplete: {missing} is not set \
         (set {missing} or its fallback; {present} is set)"
    )]
    Incomplete {
        missing: &'static str,
        present: &'static str,
    },
    /// A variable holds a value that cannot be sent; the value is not
    /// shown.
    #[error("{variable} {UNSENDABLE}")]
    Unsendable { variable: &'static str },
    /// Another source of the chain failed; the error says which.
    #[error(transparent)]
    Source(#[from] SourceError),
}

impl Credentials {
    pub fn new(
        secret_id: impl Into<String>,
        secret_key: impl Into<String>,
        security_token: Option<String>,
    ) -> Self {
        Credentials {
            secret_id: secret_id.into(),
            secret_key: SecretString::from(secret_key.into()),
            security_token: security_token
                .filter(|token| !token.is_empty())
                .map(SecretString::from),
        }
    }

    /// Credentials from secrets already held as such (parsed arguments).
    pub fn from_secrets(
        secret_id: impl Into<String>,
        secret_key: SecretString,
        security_token: Option<SecretString>,
    ) -> Self {
        Credentials {
            secret_id: secret_id.into(),
            secret_key,
            security_token: security_token.filter(|token| !token.expose_secret().is_empty()),
        }
    }

    /// Reads the process environment (see the `*_VARS` constants).
    pub fn from_env() -> Result<Self, CredentialsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Credentials::from_env`] with a lookup function, so tests do not
    /// touch the process environment.
    /// Every value must be one an HTTP header can carry
    /// ([`CredentialsError::Unsendable`] names the variable).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let first = |names: &[&'static str]| -> Result<Option<String>, CredentialsError> {
            let found = names.iter().find_map(|name| {
                lookup(name)
                    .filter(|value| !value.is_empty())
                    .map(|value| (*name, value))
            });
            match found {
                Some((variable, value)) if !header_safe(&value) => {
                    Err(CredentialsError::Unsendable { variable })
                }
                found => Ok(found.map(|(_, value)| value)),
            }
        };
        match (first(&SECRET_ID_VARS)?, first(&SECRET_KEY_VARS)?) {
            (Some(id), Some(key)) => Ok(Credentials::new(id, key, first(&TOKEN_VARS)?)),
            (None, None) => Err(CredentialsError::Missing),
            (Some(_), None) => Err(CredentialsError::Incomplete {
                missing: SECRET_KEY_VARS[0],
                present: SECRET_ID_VARS[0],
            }),
            (None, Some(_)) => Err(CredentialsError::Incomplete {
                missing: SECRET_ID_VARS[0],
                present: SECRET_KEY_VARS[0],
            }),
        }
    }

    pub fn secret_id(&self) -> &str {
        &self.secret_id
    }

    /// The first value no HTTP header can carry, if any. The SecretKey is
    /// never sent but is held to the same rule: a stray newline in it
    /// would only show as `SignatureDoesNotMatch` from COS.
    pub fn unsendable_part(&self) -> Option<CredentialPart> {
        if !header_safe(&self.secret_id) {
            return Some(CredentialPart::SecretId);
        }
        if !header_safe(self.secret_key.expose_secret()) {
            return Some(CredentialPart::SecretKey);
        }
        match &self.security_token {
            Some(token) if !header_safe(token.expose_secret()) => {
                Some(CredentialPart::SecurityToken)
            }
            _ => None,
        }
    }

    /// The secret key, for the signer only.
    pub(crate) fn secret_key(&self) -> &str {
        self.secret_key.expose_secret()
    }

    /// The security token of temporary credentials, sent as
    /// `x-cos-security-token`.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token
            .as_ref()
            .map(|token| token.expose_secret())
    }
}

/// Visible ASCII and inner spaces or tabs only: what an HTTP header value
/// may hold, without the whitespace a server would strip.
fn header_safe(value: &str) -> bool {
    value.trim() == value && reqwest::header::HeaderValue::from_str(value).is_ok()
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &REDACTED)
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| REDACTED),
            )
            .finish()
    }
}

impl fmt::Display for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretId {} (SecretKey {REDACTED})", self.secret_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn debug_and_display_never_show_the_secret_or_token() {
        let creds = Credentials::new("AKIDvisible", "topsecretkey", Some("tokentoken".into()));
        for text in [
            format!("{creds:?}"),
            format!("{creds:#?}"),
            creds.to_string(),
        ] {
            assert!(!text.contains("topsecretkey"), "{text}");
            assert!(!text.contains("tokentoken"), "{text}");
            assert!(text.contains("AKIDvisible"), "{text}");
            assert!(text.contains(REDACTED), "{text}");
        }
    }

    #[test]
    fn cos_variables_win_over_tencentcloud_ones() {
        let creds = Credentials::from_lookup(lookup(&[
            ("COS_SECRET_ID", "cos-id"),
            ("COS_SECRET_KEY", "cos-key"),
            ("TENCENTCLOUD_SECRET_ID", "tc-id"),
            ("TENCENTCLOUD_SECRET_KEY", "tc-key"),
            ("TENCENTCLOUD_SESSION_TOKEN", "tc-token"),
        ]))
        .unwrap();
        assert_eq!(creds.secret_id(), "cos-id");
        assert_eq!(creds.secret_key(), "cos-key");
        assert_eq!(creds.security_token(), Some("tc-token"));
    }

    #[test]
    fn falls_back_to_tencentcloud_variables() {
        let creds = Credentials::from_lookup(lookup(&[
            ("TENCENTCLOUD_SECRET_ID", "tc-id"),
            ("TENCENTCLOUD_SECRET_KEY", "tc-key"),
        ]))
        .unwrap();
        assert_eq!(creds.secret_id(), "tc-id");
        assert_eq!(creds.security_token(), None);
    }

    #[test]
    fn missing_credentials_name_the_variables() {
        let err = Credentials::from_lookup(lookup(&[])).unwrap_err();
        let text = err.to_string();
        for var in SECRET_ID_VARS
            .iter()
            .chain(&SECRET_KEY_VARS)
            .chain(&TOKEN_VARS)
        {
            assert!(text.contains(var), "{text} should name {var}");
        }
        let err = Credentials::from_lookup(lookup(&[("COS_SECRET_ID", "x")])).unwrap_err();
        assert!(err.to_string().contains("COS_SECRET_KEY"));
    }

    #[test]
    fn values_no_header_can_carry_name_the_variable_not_the_value() {
        let err = Credentials::from_lookup(lookup(&[
            ("COS_SECRET_ID", "AKIDok"),
            ("COS_SECRET_KEY", "key"),
            ("COS_SECURITY_TOKEN", "token-from-a-secret-file\n"),
        ]))
        .unwrap_err();
        assert_eq!(
            err,
            CredentialsError::Unsendable {
                variable: "COS_SECURITY_TOKEN"
            }
        );
        assert!(!err.to_string().contains("token-from"), "{err}");
        for (name, value) in [
            ("TENCENTCLOUD_SECRET_ID", " AKIDspace"),
            ("TENCENTCLOUD_SECRET_KEY", "k\u{7f}"),
        ] {
            let mut pairs = vec![
                ("TENCENTCLOUD_SECRET_ID", "AKIDok"),
                ("TENCENTCLOUD_SECRET_KEY", "key"),
            ];
            pairs.retain(|(n, _)| *n != name);
            pairs.push((name, value));
            let err = Credentials::from_lookup(lookup(&pairs)).unwrap_err();
            assert_eq!(err, CredentialsError::Unsendable { variable: name });
        }
    }

    #[test]
    fn unsendable_parts_are_found_in_any_credentials() {
        assert_eq!(Credentials::new("a", "b", None).unsendable_part(), None);
        assert_eq!(
            Credentials::new("a", "b", Some("t\r\n".into())).unsendable_part(),
            Some(CredentialPart::SecurityToken)
        );
        assert_eq!(
            Credentials::new("a\n", "b", None).unsendable_part(),
            Some(CredentialPart::SecretId)
        );
        assert_eq!(
            Credentials::new("a", "b\t", None).unsendable_part(),
            Some(CredentialPart::SecretKey)
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let err =
            Credentials::from_lookup(lookup(&[("COS_SECRET_ID", ""), ("COS_SECRET_KEY", "")]));
        assert!(matches!(err, Err(CredentialsError::Missing)), "{err:?}");
    }
}
