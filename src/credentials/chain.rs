//! The provider chain: where cosinv looks for credentials, first found
//! wins. The order is Tencent's SDKs' (`DefaultCredentialProvider`) but
//! for one change, made as AWS's SDKs order web identity before instance
//! metadata:
//!
//! 1. **Environment**: `COS_SECRET_ID`/`COS_SECRET_KEY` (and
//!    `COS_SECURITY_TOKEN`), else the `TENCENTCLOUD_*` ones (see
//!    [`Credentials::from_lookup`]). Only one of id and key set is an error;
//!    so is a value no HTTP header can carry (a trailing newline).
//! 2. **Profile file**: `[default]` of `$TENCENTCLOUD_CREDENTIALS_FILE`,
//!    `~/.tencentcloud/credentials` or `/etc/tencentcloud/credentials`
//!    (see the `profile` module). A file that is there but broken is an
//!    error.
//! 3. **TKE OIDC role**, when any `TKE_*` variable is set: STS
//!    `AssumeRoleWithWebIdentity` (see the `tke` module). It comes before
//!    the CVM role because a pod runs on a node that may have a CVM role
//!    of its own: the pod was given its own role, narrower than the
//!    node's, and must get it, not the node's. Where the variables are
//!    set, they are the more specific statement of intent.
//! 4. **CVM instance role**: from the metadata service (see the `cvm`
//!    module); where there is none the probe gives up within
//!    [`ChainOptions::metadata_timeout`].
//!
//! Naming a profile or a profile file in [`ChainOptions`] is an explicit
//! choice: then that profile is read and nothing else is tried.
//!
//! The metadata service and STS can be moved with
//! [`METADATA_ENDPOINT_VAR`](super::METADATA_ENDPOINT_VAR) and
//! [`STS_ENDPOINT_VAR`](super::STS_ENDPOINT_VAR) (tests point them at the
//! emulator). STS is reached with [`ChainOptions::http`] (proxies, CAs).

use std::path::PathBuf;
use std::time::Duration;

use super::cvm::CvmRole;
use super::profile::{self, DEFAULT_PROFILE, SYSTEM_PROFILE_FILE};
use super::remote;
use super::shared::{SharedCredentials, checked};
use super::source::{CredentialSource, SourceError};
use super::tke::{TkeConfig, TkeRole};
use super::{CredentialPart, Credentials, CredentialsError, SECRET_ID_VARS};
use crate::http::HttpOptions;

/// What the caller decides about the chain. `Default` is the SDKs' chain.
#[derive(Debug, Clone)]
pub struct ChainOptions {
    /// Read this section of the profile file, and no other source.
    pub profile: Option<String>,
    /// Read this profile file (section `profile`, else `[default]`), and no
    /// other source.
    pub profile_file: Option<PathBuf>,
    /// Where the system-wide profile file is looked for
    /// (`/etc/tencentcloud/credentials`).
    pub system_profile_file: PathBuf,
    /// How long the CVM metadata probe waits (to connect, and for the
    /// role name) before deciding this is not a CVM.
    pub metadata_timeout: Duration,
    /// Proxies and trusted CAs for STS (and CAs for the metadata service).
    pub http: HttpOptions,
}

impl Default for ChainOptions {
    fn default() -> Self {
        ChainOptions {
            profile: None,
            profile_file: None,
            system_profile_file: PathBuf::from(SYSTEM_PROFILE_FILE),
            metadata_timeout: Duration::from_secs(1),
            http: HttpOptions::default(),
        }
    }
}

/// A lookup of environment variables that a spawned task can hold.
type Lookup<'a> = &'a (dyn Fn(&str) -> Option<String> + Send + Sync);

/// Finds credentials; see the module documentation for the order.
pub struct CredentialChain;

impl CredentialChain {
    /// Runs the chain over the process environment.
    pub async fn from_env(options: &ChainOptions) -> Result<SharedCredentials, CredentialsError> {
        Self::from_lookup(options, |name| std::env::var(name).ok()).await
    }

    /// Runs the chain with `lookup` for environment variables, so tests
    /// need not touch the process environment.
    pub async fn from_lookup(
        options: &ChainOptions,
        lookup: impl Fn(&str) -> Option<String> + Send + Sync,
    ) -> Result<SharedCredentials, CredentialsError> {
        let lookup: Lookup<'_> = &lookup;
        if options.profile.is_some() || options.profile_file.is_some() {
            return Ok(explicit_profile(options, lookup).await?);
        }
        if let Some(found) = environment(lookup)? {
            return Ok(found);
        }
        if let Some(found) = profile_file(options, lookup).await? {
            return Ok(found);
        }
        if let Some(found) = tke_role(options, lookup).await? {
            return Ok(found);
        }
        if let Some(found) = cvm_role(options, lookup).await? {
            return Ok(found);
        }
        Err(SourceError::NotFound.into())
    }
}

fn environment(lookup: Lookup<'_>) -> Result<Option<SharedCredentials>, CredentialsError> {
    let credentials = match Credentials::from_lookup(lookup) {
        Ok(credentials) => credentials,
        Err(CredentialsError::Missing) => return Ok(None),
        Err(err) => return Err(err),
    };
    let variable = SECRET_ID_VARS
        .into_iter()
        .find(|name| lookup(name).is_some_and(|v| !v.is_empty()))
        .unwrap_or(SECRET_ID_VARS[0]);
    Ok(Some(SharedCredentials::fixed(
        credentials,
        CredentialSource::Environment { variable },
    )))
}

async fn explicit_profile(
    options: &ChainOptions,
    lookup: Lookup<'_>,
) -> Result<SharedCredentials, SourceError> {
    let profile = options.profile.as_deref().unwrap_or(DEFAULT_PROFILE);
    let path = profile::locate(
        options.profile_file.as_deref(),
        &options.system_profile_file,
        lookup,
    )?
    .ok_or_else(|| SourceError::NoProfileFile {
        profile: profile.to_string(),
    })?;
    read_profile(path, profile).await
}

async fn profile_file(
    options: &ChainOptions,
    lookup: Lookup<'_>,
) -> Result<Option<SharedCredentials>, SourceError> {
    match profile::locate(None, &options.system_profile_file, lookup)? {
        Some(path) => Ok(Some(read_profile(path, DEFAULT_PROFILE).await?)),
        None => Ok(None),
    }
}

async fn read_profile(path: PathBuf, profile: &str) -> Result<SharedCredentials, SourceError> {
    let credentials = profile::read(&path, profile).await?;
    if let Some(part) = credentials.unsendable_part() {
        return Err(SourceError::ProfileUnsendable {
            path,
            profile: profile.to_string(),
            key: match part {
                CredentialPart::SecretId => "secret_id",
                _ => "secret_key",
            },
        });
    }
    Ok(SharedCredentials::fixed(
        credentials,
        CredentialSource::ProfileFile {
            path,
            profile: profile.to_string(),
        },
    ))
}

async fn cvm_role(
    options: &ChainOptions,
    lookup: Lookup<'_>,
) -> Result<Option<SharedCredentials>, SourceError> {
    let roles_url = remote::metadata_roles_url(lookup)?;
    // Without an HTTP client there is no metadata service to ask.
    let Ok(http) = remote::metadata_client(options.metadata_timeout, &options.http) else {
        return Ok(None);
    };
    let Some(role) = CvmRole::discover(http, roles_url, options.metadata_timeout).await else {
        return Ok(None);
    };
    let source = CredentialSource::CvmRole {
        role: role.role().to_string(),
    };
    let first = checked(role.fetch_credentials().await?, &source)?;
    Ok(Some(SharedCredentials::refreshing(
        source,
        first,
        Box::new(role),
    )))
}

async fn tke_role(
    options: &ChainOptions,
    lookup: Lookup<'_>,
) -> Result<Option<SharedCredentials>, SourceError> {
    let Some(config) = TkeConfig::from_lookup(lookup)? else {
        return Ok(None);
    };
    let url = remote::sts_url(lookup)?;
    let role_arn = config.role_arn.clone();
    let http = remote::sts_client(&options.http).map_err(|failure| SourceError::Sts {
        role_arn: role_arn.clone(),
        endpoint: url.to_string(),
        failure,
    })?;
    let role = TkeRole::new(http, url, config);
    let source = CredentialSource::TkeOidc { role_arn };
    let first = checked(role.fetch_credentials().await?, &source)?;
    Ok(Some(SharedCredentials::refreshing(
        source,
        first,
        Box::new(role),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// Options that find no profile file on this machine and no metadata
    /// service (a port nothing listens on: refused at once).
    fn isolated(dir: &tempfile::TempDir) -> (ChainOptions, Vec<(String, String)>) {
        let options = ChainOptions {
            system_profile_file: dir.path().join("no-such-file"),
            ..ChainOptions::default()
        };
        let vars = vec![
            ("HOME".into(), dir.path().to_string_lossy().into_owned()),
            (
                remote::METADATA_ENDPOINT_VAR.into(),
                "http://127.0.0.1:9/".into(),
            ),
        ];
        (options, vars)
    }

    fn with(base: &[(String, String)], more: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = base.to_vec();
        all.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        all
    }

    async fn chain(
        options: &ChainOptions,
        vars: &[(String, String)],
    ) -> Result<SharedCredentials, CredentialsError> {
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        CredentialChain::from_lookup(options, lookup(&pairs)).await
    }

    /// The chain and the handle are used from spawned tasks.
    #[test]
    fn futures_and_handles_can_cross_tasks() {
        fn send<T: Send>(_: &T) {}
        fn send_sync<T: Send + Sync + Clone>(_: &T) {}
        let options = ChainOptions::default();
        send(&CredentialChain::from_env(&options));
        let shared = SharedCredentials::fixed(
            Credentials::new("AKIDa", "k", None),
            CredentialSource::Explicit,
        );
        send_sync(&shared);
        send(&shared.current());
    }

    #[tokio::test]
    async fn the_environment_comes_first_and_names_its_variable() {
        let dir = tempfile::tempdir().unwrap();
        let (options, vars) = isolated(&dir);
        let vars = with(
            &vars,
            &[
                ("TENCENTCLOUD_SECRET_ID", "AKIDenv"),
                ("TENCENTCLOUD_SECRET_KEY", "k"),
            ],
        );
        let shared = chain(&options, &vars).await.unwrap();
        assert_eq!(
            shared.source().to_string(),
            "environment (TENCENTCLOUD_SECRET_ID)"
        );
        assert_eq!(shared.current().await.unwrap().secret_id(), "AKIDenv");
    }

    #[tokio::test]
    async fn half_set_environments_stop_the_chain() {
        let dir = tempfile::tempdir().unwrap();
        let (options, vars) = isolated(&dir);
        let vars = with(&vars, &[("COS_SECRET_ID", "AKIDenv")]);
        let err = chain(&options, &vars).await.unwrap_err();
        assert!(matches!(err, CredentialsError::Incomplete { .. }), "{err}");
    }

    #[tokio::test]
    async fn nothing_anywhere_names_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let (options, vars) = isolated(&dir);
        let err = chain(&options, &vars).await.unwrap_err();
        assert_eq!(err, CredentialsError::Source(SourceError::NotFound));
        let text = err.to_string();
        for name in [
            "COS_SECRET_ID",
            "~/.tencentcloud/credentials",
            "CVM",
            "TKE_ROLE_ARN",
        ] {
            assert!(text.contains(name), "{text} should name {name}");
        }
    }

    #[tokio::test]
    async fn a_named_profile_is_read_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (mut options, vars) = isolated(&dir);
        let vars = with(
            &vars,
            &[("COS_SECRET_ID", "AKIDenv"), ("COS_SECRET_KEY", "k")],
        );
        let file = dir.path().join("creds.ini");
        std::fs::write(&file, "[prod]\nsecret_id = AKIDprod\nsecret_key = kp\n").unwrap();
        options.profile = Some("prod".into());
        options.profile_file = Some(file.clone());
        let shared = chain(&options, &vars).await.unwrap();
        assert_eq!(shared.current().await.unwrap().secret_id(), "AKIDprod");
        assert_eq!(
            shared.source(),
            &CredentialSource::ProfileFile {
                path: file,
                profile: "prod".into()
            }
        );
        // Asked for, but no file: an error, not the environment.
        options.profile_file = None;
        let err = chain(&options, &vars).await.unwrap_err();
        assert!(err.to_string().contains("profile [prod]"), "{err}");
    }
}
