//! How a command reaches COS, from [`ConnectArgs`] and the environment:
//! the typed [`ConnectSettings`] the library connects with, and its
//! errors as messages with the flag or variable that fixes them.

use std::path::PathBuf;

use super::args::ConnectArgs;
use crate::run::connect::{
    ConnectError, ConnectSettings, CredentialsFrom, Destination, RemoteSettings,
};
use crate::run::error::RunError;
use crate::send::client::EndpointError;

/// The endpoint's variable, read here rather than by clap (which would
/// count it as the flag and refuse `--sandbox` beside it).
pub const ENDPOINT_VAR: &str = "COS_ENDPOINT";

/// `COS_ENDPOINT`, when set and not empty.
fn env_endpoint() -> Option<String> {
    std::env::var(ENDPOINT_VAR)
        .ok()
        .filter(|text| !text.trim().is_empty())
}

/// The connection flags, the endpoint variable and the sandbox's default
/// state file, typed; the credentials and the proxies are read from the
/// environment by the library.
pub fn settings(args: &ConnectArgs) -> ConnectSettings {
    let destination = match args.sandbox {
        true => Destination::Sandbox {
            state: args
                .sandbox_state
                .clone()
                .unwrap_or_else(default_sandbox_state),
            ignored_endpoint: env_endpoint().map(|_| ENDPOINT_VAR.to_string()),
        },
        false => Destination::Remote(RemoteSettings {
            endpoint: args.endpoint.clone(),
            default_endpoint: env_endpoint(),
            allow_http: args.allow_http,
            ca_bundle: args.ca_bundle.clone(),
            resolve: args.resolve.clone(),
            proxies_from_environment: true,
            credentials: CredentialsFrom::Environment,
        }),
    };
    ConnectSettings {
        destination,
        concurrency: args.concurrency,
        bucket_concurrency: args.bucket_concurrency,
        rate: args.rate,
        bucket_rate: args.bucket_rate,
        max_attempts: args.max_attempts,
        request_timeout: args.request_timeout,
        give_up_after: args.give_up_after,
        seed: fastrand::u64(..),
    }
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

/// A connection error with the flag that fixes it.
pub fn message(err: &ConnectError) -> String {
    match err {
        ConnectError::Endpoint(err) => {
            let hint = match err {
                EndpointError::InsecureHttp(_) => " (--allow-http)",
                _ => "",
            };
            format!("--endpoint (or {ENDPOINT_VAR}) {err}{hint}")
        }
        ConnectError::Trust(err) => format!("{err} (--ca-bundle)"),
        ConnectError::Sandbox { .. } => {
            format!("{err}; --sandbox-state FILE chooses another state file")
        }
        other => other.to_string(),
    }
}

/// A run error with the flag that fixes it, where one does.
pub fn run_message(err: &RunError) -> String {
    match err {
        RunError::Connect(err) => message(err),
        RunError::Report(_) | RunError::Record(_) | RunError::ReportIsInput { .. } => {
            format!("{err}; choose another place with --report")
        }
        RunError::Previous(err) => format!("--from-report: {err}"),
        RunError::ManifestsChanged { .. } | RunError::PreviousUnrecorded { .. } => format!(
            "--from-report: {err}; nothing was sent (--allow-changed-manifests sends the \
             unfinished jobs of the manifests given anyway)"
        ),
        other => other.to_string(),
    }
}
