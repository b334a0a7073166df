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

mod chain;
mod cvm;
mod profile;
mod remote;
mod shared;
mod source;
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
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, CredentialsError> {
        let first = |names: &[&str]| {
            names
                .iter()
                .find_map(|name| lookup(name).filter(|value| !value.is_empty()))
        };
        match (first(&SECRET_ID_VARS), first(&SECRET_KEY_VARS)) {
            (Some(id), Some(key)) => Ok(Credentials::new(id, key, first(&TOKEN_VARS))),
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
    fn empty_values_count_as_unset() {
        let err =
            Credentials::from_lookup(lookup(&[("COS_SECRET_ID", ""), ("COS_SECRET_KEY", "")]));
        assert!(matches!(err, Err(CredentialsError::Missing)), "{err:?}");
    }
}
