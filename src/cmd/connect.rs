//! How a command reaches COS: the endpoint, the CAs it trusts, the
//! proxies, names resolved to fixed addresses, the credentials, and the
//! executor's settings, from [`ConnectArgs`] and the environment; or, with
//! `--sandbox`, an emulator in this process whose state is kept between
//! runs. Shared by every command that talks to COS; errors carry the flag
//! or variable that fixes them.

use std::path::PathBuf;
use std::time::Duration;

use super::args::{ConnectArgs, DisplayArgs};
use super::log::Log;
use crate::credentials::{
    ChainOptions, CredentialChain, CredentialSource, Credentials, CredentialsError,
    SharedCredentials,
};
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::executor::ExecutorConfig;
use crate::http::HttpOptions;
use crate::http::proxy::{Proxies, ProxyError};
use crate::http::tls::{Trust, TrustError, TrustRoots};
use crate::send::client::{ClientBuildError, ClientConfig, CosClient, Endpoint, EndpointError};
use crate::send::retry::RetryPolicy;

/// The endpoint's variable, read here rather than by clap (which would
/// count it as the flag and refuse `--sandbox` beside it).
pub const ENDPOINT_VAR: &str = "COS_ENDPOINT";

/// `COS_ENDPOINT`, when set and not empty.
fn env_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|text| !text.trim().is_empty())
}

/// The longest a connection attempt may take, whatever `--request-timeout`.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command cannot reach COS.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--endpoint (or {ENDPOINT_VAR}) {0}{hint}", hint = endpoint_hint(.0))]
    Endpoint(#[from] EndpointError),
    #[error("{0} (--ca-bundle)")]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error(
        "cannot start the sandbox emulator (state {}): {source}; --sandbox-state FILE \
         chooses another state file",
        path.display()
    )]
    Sandbox {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The flag that lifts an endpoint refusal, when there is one.
fn endpoint_hint(err: &EndpointError) -> &'static str {
    match err {
        EndpointError::InsecureHttp(_) => " (--allow-http)",
        _ => "",
    }
}

/// The executor's settings from the connection flags.
pub fn executor_config(args: &ConnectArgs) -> ExecutorConfig {
    ExecutorConfig {
        concurrency: args.concurrency,
        bucket_concurrency: args.bucket_concurrency,
        rate: args.rate,
        bucket_rate: args.bucket_rate,
        retry: RetryPolicy {
            max_attempts: args.max_attempts,
            ..RetryPolicy::default()
        },
        give_up_after: args.give_up_after,
        seed: fastrand::u64(..),
        ..ExecutorConfig::default()
    }
}

/// The client's timeouts and pool, from the flags.
fn tuned(args: &ConnectArgs) -> impl Fn(ClientConfig) -> ClientConfig + '_ {
    move |config| ClientConfig {
        request_timeout: args.request_timeout,
        connect_timeout: args.request_timeout.min(MAX_CONNECT_TIMEOUT),
        max_idle_per_host: args.concurrency.get(),
        ..config
    }
}

/// Where requests go, and what they go through.
pub struct Route {
    pub endpoint: Endpoint,
    pub http: HttpOptions,
}

impl Route {
    /// The endpoint and HTTP settings `args` and the environment ask for.
    pub fn from_args(args: &ConnectArgs) -> Result<Route, ConnectError> {
        let endpoint = match args.endpoint.clone().or_else(env_endpoint) {
            Some(text) => Endpoint::parse(&text, args.allow_http)?,
            None => Endpoint::Cos,
        };
        let trust = match &args.ca_bundle {
            Some(path) => Trust::Bundle(path.clone()),
            None => Trust::System,
        };
        let http = HttpOptions {
            trust: Some(TrustRoots::load(&trust)?),
            proxies: Proxies::from_env()?,
            resolve: args.resolve.clone(),
        };
        Ok(Route { endpoint, http })
    }

    /// Runs the credential chain, reaching STS the way COS is reached.
    pub async fn credentials(&self) -> Result<SharedCredentials, ConnectError> {
        let options = ChainOptions {
            http: self.http.clone(),
            ..ChainOptions::default()
        };
        Ok(CredentialChain::from_env(&options).await?)
    }

    /// What `-v` says about the route and the credentials (no secrets).
    pub fn describe(&self, credentials: &SharedCredentials) -> Vec<String> {
        let mut lines = vec![format!("cosinv: credentials: {}", credentials.source())];
        if let Some(trust) = &self.http.trust {
            lines.push(format!("cosinv: TLS: trusting {}", trust.origin()));
        }
        if let Some(proxies) = self.http.proxies.describe() {
            lines.push(format!("cosinv: proxy: {proxies}"));
        }
        for rule in &self.http.resolve {
            lines.push(format!("cosinv: resolve: {rule}"));
        }
        lines
    }

    /// The client, with the timeouts of `config`.
    pub fn client(
        self,
        credentials: SharedCredentials,
        tune: impl FnOnce(ClientConfig) -> ClientConfig,
    ) -> Result<CosClient, ConnectError> {
        let config = ClientConfig {
            http: self.http,
            ..ClientConfig::new(self.endpoint, credentials)
        };
        Ok(CosClient::new(tune(config))?)
    }
}

/// What a command talks to: a client for COS (or a rehearsal endpoint),
/// or the sandbox's, started later because it needs the runtime.
pub enum Target {
    Remote(CosClient),
    Sandbox(Box<ClientConfig>),
}

/// Checks the route and finds the credentials, before anything else is
/// opened; `say` gets the `-v` lines (never secrets), `warn` what the user
/// should know anyway.
pub async fn target(
    args: &ConnectArgs,
    mut say: impl FnMut(&str),
    mut warn: impl FnMut(&str),
) -> Result<Target, ConnectError> {
    if args.sandbox {
        if env_endpoint().is_some() {
            warn(&format!(
                "sandbox: the endpoint from {ENDPOINT_VAR} is ignored"
            ));
        }
        return Ok(Target::Sandbox(Box::new(sandbox_config(args)?)));
    }
    let route = Route::from_args(args)?;
    let credentials = route.credentials().await?;
    for line in route.describe(&credentials) {
        say(&line);
    }
    Ok(Target::Remote(route.client(credentials, tuned(args))?))
}

/// [`target`], with the `-v` lines and warnings of `command` on `log`.
pub async fn target_logged(
    args: &ConnectArgs,
    display: &DisplayArgs,
    log: &Log,
    command: &str,
) -> Result<Target, ConnectError> {
    let verbose = display.verbose > 0 && !display.quiet;
    let say = |line: &str| {
        if verbose {
            log.info(line)
        }
    };
    let warn = |line: &str| {
        if !display.quiet {
            log.warn(&format!("cosinv {command}: {line}"))
        }
    };
    target(args, say, warn).await
}

/// The sandbox: its fixed credentials, no proxy (it is on 127.0.0.1).
fn sandbox_config(args: &ConnectArgs) -> Result<ClientConfig, ConnectError> {
    let credentials = SharedCredentials::fixed(sandbox_credentials(), CredentialSource::Explicit);
    let http = HttpOptions {
        trust: Some(TrustRoots::load(&Trust::System)?),
        ..HttpOptions::default()
    };
    Ok(tuned(args)(ClientConfig {
        http,
        ..ClientConfig::new(Endpoint::Cos, credentials)
    }))
}

fn sandbox_credentials() -> Credentials {
    Credentials::new(
        emulator::SANDBOX_SECRET_ID,
        emulator::SANDBOX_SECRET_KEY,
        None,
    )
}

/// A client, and the sandbox it talks to when there is one.
pub struct Connection {
    pub client: CosClient,
    pub sandbox: Option<Sandbox>,
}

/// The sandbox emulator of this run and where its state is kept.
pub struct Sandbox {
    pub emulator: Emulator,
    pub state: PathBuf,
}

/// The client of `target`; for the sandbox, starts the emulator on
/// 127.0.0.1 first, its state read from (and kept in) the state file.
pub async fn connect(args: &ConnectArgs, target: Target) -> Result<Connection, ConnectError> {
    let mut config = match target {
        Target::Remote(client) => {
            return Ok(Connection {
                client,
                sandbox: None,
            });
        }
        Target::Sandbox(config) => *config,
    };
    let state = args
        .sandbox_state
        .clone()
        .unwrap_or_else(default_sandbox_state);
    let sandbox_error = |source| ConnectError::Sandbox {
        path: state.clone(),
        source,
    };
    if let Some(folder) = state.parent().filter(|f| !f.as_os_str().is_empty()) {
        std::fs::create_dir_all(folder).map_err(sandbox_error)?;
    }
    let emulator = Emulator::start(
        EmulatorConfig {
            state_file: Some(state.clone()),
            ..EmulatorConfig::new(sandbox_credentials())
        },
        ([127, 0, 0, 1], 0).into(),
    )
    .await
    .map_err(sandbox_error)?;
    config.endpoint = Endpoint::parse(&emulator.endpoint(), false)?;
    Ok(Connection {
        client: CosClient::new(config)?,
        sandbox: Some(Sandbox { emulator, state }),
    })
}

/// `$XDG_STATE_HOME/cosinv/sandbox.json`, else
/// `~/.local/state/cosinv/sandbox.json`, else the temporary folder.
fn default_sandbox_state() -> PathBuf {
    let base = std::env::var_os("XDG_STATE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|value| !value.is_empty())
                .map(|home| PathBuf::from(home).join(".local").join("state"))
        })
        .unwrap_or_else(std::env::temp_dir);
    base.join("cosinv").join("sandbox.json")
}
