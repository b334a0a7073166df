//! How a command reaches COS: the endpoint, the CAs it trusts, the
//! proxies, names resolved to fixed addresses, and the credentials, from
//! [`ConnectionArgs`] and the environment. Shared by every command that
//! talks to COS; errors carry the flag or variable that fixes them.

use super::args::ConnectionArgs;
use crate::cos::client::{ClientBuildError, ClientConfig, CosClient, Endpoint, EndpointError};
use crate::cos::credentials::{ChainOptions, CredentialChain, CredentialsError, SharedCredentials};
use crate::cos::http::HttpOptions;
use crate::cos::proxy::{Proxies, ProxyError};
use crate::cos::tls::{Trust, TrustError, TrustRoots};

/// Why a command cannot reach COS.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("--endpoint {0}{hint}", hint = endpoint_hint(.0))]
    Endpoint(#[from] EndpointError),
    #[error("{0} (--ca-bundle)")]
    Trust(#[from] TrustError),
    #[error(transparent)]
    Proxy(#[from] ProxyError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Client(#[from] ClientBuildError),
}

/// The flag that lifts an endpoint refusal, when there is one.
fn endpoint_hint(err: &EndpointError) -> &'static str {
    match err {
        EndpointError::InsecureHttp(_) => " (--allow-http)",
        _ => "",
    }
}

/// Where requests go, and what they go through.
pub struct Route {
    pub endpoint: Endpoint,
    pub http: HttpOptions,
}

impl Route {
    /// The endpoint and HTTP settings `args` and the environment ask for.
    pub fn from_args(args: &ConnectionArgs) -> Result<Route, ConnectError> {
        let endpoint = match &args.endpoint {
            Some(text) => Endpoint::parse(text, args.allow_http)?,
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
