//! How a run reaches COS: the endpoint, the CAs it trusts, the proxies,
//! names resolved to fixed addresses, the credentials and the executor's
//! settings, from typed [`ConnectSettings`]; or an emulator in this
//! process (the sandbox) whose state is kept between runs. The
//! environment is read only where the settings say so (credentials and
//! proxies); the caller resolves everything else.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use super::observe::{Level, RunObserver};
use crate::credentials::{
    ChainOptions, CredentialChain, CredentialSource, Credentials, CredentialsError,
    SharedCredentials,
};
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::executor::ExecutorConfig;
use crate::http::proxy::{Proxies, ProxyError};
use crate::http::tls::{Trust, TrustError, TrustRoots};
use crate::http::{HttpOptions, ResolveRule};
use crate::pace::limits::Rate;
use crate::send::client::{ClientBuildError, ClientConfig, CosClient, Endpoint, EndpointError};
use crate::send::fetch::FetchSettings;
use crate::send::retry::RetryPolicy;

/// The longest a connection attempt may take, whatever the request timeout.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where requests go and how fast.
#[derive(Debug, Clone)]
pub struct ConnectSettings {
    pub destination: Destination,
    /// Requests in flight at once, across all buckets.
    pub concurrency: NonZeroUsize,
    /// Requests in flight at once on one bucket.
    pub bucket_concurrency: NonZeroUsize,
    pub rate: Option<Rate>,
    pub bucket_rate: Option<Rate>,
    /// Attempts per request, the first included.
    pub max_attempts: NonZeroU32,
    pub request_timeout: Duration,
    /// With no answer from COS for this long, the run stops.
    pub give_up_after: Duration,
    /// Seeds the backoff jitter.
    pub seed: u64,
}

/// COS (or an address standing in for it), or the sandbox.
#[derive(Debug, Clone)]
pub enum Destination {
    Remote(RemoteSettings),
    Sandbox {
        /// Where the emulator's state is read from and kept.
        state: PathBuf,
        /// An endpoint the caller found but the sandbox ignores (named in
        /// a notice), e.g. the endpoint variable.
        ignored_endpoint: Option<String>,
    },
}

/// The route to COS.
#[derive(Debug, Clone, Default)]
pub struct RemoteSettings {
    /// The endpoint asked for explicitly (recorded in the sidecar).
    pub endpoint: Option<String>,
    /// The endpoint to use when none is asked for explicitly.
    pub default_endpoint: Option<String>,
    /// Allow a plain http:// endpoint that is not a loopback address.
    pub allow_http: bool,
    /// Trust only the CA certificates of this PEM file.
    pub ca_bundle: Option<PathBuf>,
    pub resolve: Vec<ResolveRule>,
    /// Read the proxies from this process's environment.
    pub proxies_from_environment: bool,
    pub credentials: CredentialsFrom,
}

/// Where the credentials come from.
#[derive(Debug, Clone, Default)]
pub enum CredentialsFrom {
    /// The provider chain: this process's environment, the profile file,
    /// the TKE and CVM roles.
    #[default]
    Environment,
    Given(SharedCredentials),
}

/// Why a run cannot reach COS.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{0}")]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error("cannot start the sandbox emulator (state {}): {source}", path.display())]
    Sandbox {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl ConnectSettings {
    /// The executor's settings.
    pub fn executor_config(&self) -> ExecutorConfig {
        ExecutorConfig {
            concurrency: self.concurrency,
            bucket_concurrency: self.bucket_concurrency,
            rate: self.rate,
            bucket_rate: self.bucket_rate,
            retry: RetryPolicy {
                max_attempts: self.max_attempts,
                ..RetryPolicy::default()
            },
            give_up_after: self.give_up_after,
            seed: self.seed,
            ..ExecutorConfig::default()
        }
    }

    /// How account-level reads (GET Service, policies) are sent.
    pub fn fetch_settings(&self) -> FetchSettings {
        let executor = self.executor_config();
        FetchSettings {
            retry: executor.retry,
            seed: executor.seed,
            concurrency: self.concurrency.get().min(16),
            ..FetchSettings::default()
        }
    }

    /// The client's timeouts and pool.
    fn tune(&self, config: ClientConfig) -> ClientConfig {
        ClientConfig {
            request_timeout: self.request_timeout,
            connect_timeout: self.request_timeout.min(MAX_CONNECT_TIMEOUT),
            max_idle_per_host: self.concurrency.get(),
            ..config
        }
    }

    /// Whether a run with these settings changes COS itself (not the
    /// sandbox's emulator).
    pub fn is_remote(&self) -> bool {
        matches!(self.destination, Destination::Remote(_))
    }
}

/// What a run talks to: a client for COS (or a rehearsal endpoint), or
/// the sandbox's, started later because it needs the runtime.
pub enum Target {
    Remote(CosClient),
    Sandbox(Box<ClientConfig>, PathBuf),
}

/// Checks the route and finds the credentials, before anything else is
/// opened; the route and the credentials' source (never secrets) are
/// told as detail. `command` names the caller in its notices.
pub async fn target(
    settings: &ConnectSettings,
    command: &str,
    observer: &dyn RunObserver,
) -> Result<Target, ConnectError> {
    let remote = match &settings.destination {
        Destination::Sandbox {
            state,
            ignored_endpoint,
        } => {
            if let Some(ignored) = ignored_endpoint {
                let line =
                    format!("cosinv {command}: sandbox: the endpoint from {ignored} is ignored");
                observer.log(Level::Notice, &line);
            }
            let config = settings.tune(sandbox_config()?);
            return Ok(Target::Sandbox(Box::new(config), state.clone()));
        }
        Destination::Remote(remote) => remote,
    };
    let endpoint = match remote.endpoint.clone().or(remote.default_endpoint.clone()) {
        Some(text) => Endpoint::parse(&text, remote.allow_http)?,
        None => Endpoint::Cos,
    };
    let trust = match &remote.ca_bundle {
        Some(path) => Trust::Bundle(path.clone()),
        None => Trust::System,
    };
    let http = HttpOptions {
        trust: Some(TrustRoots::load(&trust)?),
        proxies: match remote.proxies_from_environment {
            true => Proxies::from_env()?,
            false => Proxies::default(),
        },
        resolve: remote.resolve.clone(),
    };
    let credentials = match &remote.credentials {
        CredentialsFrom::Environment => {
            let options = ChainOptions {
                http: http.clone(),
                ..ChainOptions::default()
            };
            CredentialChain::from_env(&options).await?
        }
        CredentialsFrom::Given(credentials) => credentials.clone(),
    };
    for line in describe(&http, &credentials) {
        observer.log(Level::Detail, &line);
    }
    let config = ClientConfig {
        http,
        ..ClientConfig::new(endpoint, credentials)
    };
    Ok(Target::Remote(CosClient::new(settings.tune(config))?))
}

/// The route and the credentials' source, in words (no secrets).
fn describe(http: &HttpOptions, credentials: &SharedCredentials) -> Vec<String> {
    let mut lines = vec![format!("cosinv: credentials: {}", credentials.source())];
    if let Some(trust) = &http.trust {
        lines.push(format!("cosinv: TLS: trusting {}", trust.origin()));
    }
    if let Some(proxies) = http.proxies.describe() {
        lines.push(format!("cosinv: proxy: {proxies}"));
    }
    for rule in &http.resolve {
        lines.push(format!("cosinv: resolve: {rule}"));
    }
    lines
}

/// The sandbox: its fixed credentials, no proxy (it is on 127.0.0.1).
fn sandbox_config() -> Result<ClientConfig, ConnectError> {
    let credentials = SharedCredentials::fixed(sandbox_credentials(), CredentialSource::Explicit);
    let http = HttpOptions {
        trust: Some(TrustRoots::load(&Trust::System)?),
        ..HttpOptions::default()
    };
    Ok(ClientConfig {
        http,
        ..ClientConfig::new(Endpoint::Cos, credentials)
    })
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

impl Connection {
    /// Stops the sandbox, if any, saving its state.
    pub async fn shut_down(self) -> std::io::Result<()> {
        match self.sandbox {
            Some(sandbox) => sandbox.emulator.shutdown().await,
            None => Ok(()),
        }
    }
}

/// The client of `target`; for the sandbox, starts the emulator on
/// 127.0.0.1 first, its state read from (and kept in) the state file.
pub async fn connect(target: Target) -> Result<Connection, ConnectError> {
    let (mut config, state) = match target {
        Target::Remote(client) => {
            return Ok(Connection {
                client,
                sandbox: None,
            });
        }
        Target::Sandbox(config, state) => (*config, state),
    };
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
