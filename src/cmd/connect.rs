//! Talking to COS, for every command that does: the client (a real
//! endpoint, a rehearsal endpoint, or the sandbox emulator in this
//! process) and the executor's settings, from the connection flags.

use std::path::PathBuf;
use std::time::Duration;

use super::args::ConnectArgs;
use crate::cos::client::{ClientBuildError, ClientConfig, CosClient, Endpoint, EndpointError};
use crate::cos::credentials::{Credentials, CredentialsError};
use crate::emulator::{self, Emulator, EmulatorConfig};
use crate::executor::ExecutorConfig;
use crate::executor::retry::RetryPolicy;

/// The longest a connection attempt may take, whatever `--request-timeout`.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a command could not connect.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("--endpoint {0}{hint}", hint = endpoint_hint(.0))]
    Endpoint(#[from] EndpointError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
    #[error(
        "cannot start the sandbox emulator (state {path}): {source}; --sandbox-state FILE \
             chooses another state file"
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
        seed: fastrand::u64(..),
        ..ExecutorConfig::default()
    }
}

/// Checks everything that can be checked before the runtime starts:
/// credentials and the endpoint. The sandbox needs neither.
pub fn client_config(args: &ConnectArgs) -> Result<ClientConfig, ConnectError> {
    let (endpoint, credentials) = if args.sandbox {
        let credentials = Credentials::new(
            emulator::SANDBOX_SECRET_ID,
            emulator::SANDBOX_SECRET_KEY,
            None,
        );
        (Endpoint::Cos, credentials)
    } else {
        let endpoint = match &args.endpoint {
            Some(text) => Endpoint::parse(text, args.allow_http)?,
            None => Endpoint::Cos,
        };
        (endpoint, Credentials::from_env()?)
    };
    Ok(ClientConfig {
        endpoint,
        credentials,
        request_timeout: args.request_timeout,
        connect_timeout: args.request_timeout.min(MAX_CONNECT_TIMEOUT),
        max_idle_per_host: args.concurrency.get(),
    })
}

/// Builds the client; with `--sandbox`, starts the emulator on 127.0.0.1
/// first (its state read from, and kept in, the sandbox state file).
pub async fn connect(
    args: &ConnectArgs,
    mut config: ClientConfig,
) -> Result<Connection, ConnectError> {
    if !args.sandbox {
        return Ok(Connection {
            client: CosClient::new(config)?,
            sandbox: None,
        });
    }
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
            credentials: config.credentials.clone(),
            buckets: None,
            faults: Default::default(),
            state_file: Some(state.clone()),
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
