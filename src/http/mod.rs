//! What every HTTPS client of a run shares: the CA certificates it
//! trusts, the proxies it goes through, and names it resolves to fixed
//! addresses.
//!
//! [`HttpOptions`] is built once by the caller and handed to the COS
//! client and to the credential chain's STS client, so a private CA or a
//! TLS-inspecting proxy set up for one is set up for both. The CVM
//! metadata service is on the instance's own link and uses none of this.
//!
//! [`ResolveRule`] sends the connections for a name (or every name under a
//! domain, `*.myqcloud.com`) to a fixed address while the URL, the `Host`
//! header, SNI and certificate checks keep the real name, as curl's
//! `--connect-to`. It exists to rehearse, and to test, real virtual-hosted
//! HTTPS against a local emulator (`cosinv emulate --tls`): one TLS
//! connection per bucket host, each verified for its own name. Names no
//! rule matches are resolved by the system as usual.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::Arc;

pub mod proxy;
pub mod tls;

use proxy::Proxies;
use tls::TrustRoots;

pub(crate) use tls::install_ring;

/// Settings shared by the HTTPS clients of a run. `Default`: reqwest's
/// own certificate verification, no proxy, the system's resolver.
#[derive(Debug, Clone, Default)]
pub struct HttpOptions {
    /// The CA certificates to verify servers with; `None`: reqwest's
    /// platform verifier (which needs system certificates).
    pub trust: Option<TrustRoots>,
    pub proxies: Proxies,
    pub resolve: Vec<ResolveRule>,
}

/// The client could not be built with these settings.
#[derive(Debug, thiserror::Error)]
#[error("could not set up the HTTP client: {0}")]
pub struct ClientBuildError(#[from] pub(crate) reqwest::Error);

impl HttpOptions {
    /// A reqwest builder with these settings, http/1.1 only, cosinv's
    /// `User-Agent`, and ring as the crypto provider.
    pub(crate) fn builder(&self) -> Result<reqwest::ClientBuilder, ClientBuildError> {
        install_ring();
        let mut builder = self.common();
        if let Some(trust) = &self.trust {
            builder = builder.tls_certs_only(trust.reqwest_certificates()?);
        }
        Ok(builder)
    }

    /// [`HttpOptions::builder`] with a TLS configuration made beforehand
    /// ([`TrustRoots::rustls_config`]): building a client then parses no
    /// certificate, so a client per bucket is cheap.
    pub(crate) fn builder_with_tls(&self, tls: rustls::ClientConfig) -> reqwest::ClientBuilder {
        self.common().tls_backend_preconfigured(tls)
    }

    /// Everything but the trusted CAs.
    fn common(&self) -> reqwest::ClientBuilder {
        let mut builder = reqwest::Client::builder()
            .http1_only()
            .user_agent(concat!("cosinv/", env!("CARGO_PKG_VERSION")));
        builder = self.proxies.apply(builder);
        if !self.resolve.is_empty() {
            builder = builder.dns_resolver(StaticResolver {
                rules: Arc::new(self.resolve.clone()),
            });
        }
        builder
    }
}

/// Connect to `address` for `name`: an exact host name, or `*.domain` for
/// every name under `domain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveRule {
    /// Lower case; `*.` kept for a domain rule.
    name: String,
    address: SocketAddr,
}

/// A resolve rule that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveRuleError {
    #[error("{0:?} is not NAME=ADDRESS (e.g. *.myqcloud.com=127.0.0.1:9443)")]
    Shape(String),
    #[error("{0:?} is not an IP address with a port (e.g. 127.0.0.1:9443 or [::1]:9443)")]
    Address(String),
    #[error("{0:?} is not a host name or *.domain")]
    Name(String),
}

impl ResolveRule {
    pub fn new(name: &str, address: SocketAddr) -> Result<Self, ResolveRuleError> {
        let name = name.trim().to_ascii_lowercase();
        let domain = name.strip_prefix("*.").unwrap_or(&name);
        let valid = !domain.is_empty()
            && domain
                .split('.')
                .all(|label| !label.is_empty() && label.chars().all(is_name_char));
        if !valid {
            return Err(ResolveRuleError::Name(name));
        }
        Ok(ResolveRule { name, address })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Whether connections to `host` go to this rule's address.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        match self.name.strip_prefix("*.") {
            Some(domain) => host
                .strip_suffix(domain)
                .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
            None => host == self.name,
        }
    }
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

impl FromStr for ResolveRule {
    type Err = ResolveRuleError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, address) = text
            .split_once('=')
            .ok_or_else(|| ResolveRuleError::Shape(text.to_string()))?;
        let address: SocketAddr = address
            .trim()
            .parse()
            .map_err(|_| ResolveRuleError::Address(address.trim().to_string()))?;
        ResolveRule::new(name, address)
    }
}

impl fmt::Display for ResolveRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.address)
    }
}

/// Answers names a rule matches with its address, others from the system.
struct StaticResolver {
    rules: Arc<Vec<ResolveRule>>,
}

impl reqwest::dns::Resolve for StaticResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        let fixed = self
            .rules
            .iter()
            .find(|rule| rule.matches(&host))
            .map(ResolveRule::address);
        Box::pin(async move {
            let addresses: reqwest::dns::Addrs = match fixed {
                Some(address) => Box::new(std::iter::once(address)),
                None => Box::new(
                    tokio::net::lookup_host((host.as_str(), 0))
                        .await?
                        .collect::<Vec<_>>()
                        .into_iter(),
                ),
            };
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_rules_match_names_under_the_domain_only() {
        let rule: ResolveRule = "*.myqcloud.com=127.0.0.1:9443".parse().unwrap();
        assert!(rule.matches("photos-1250000000.cos.ap-guangzhou.myqcloud.com"));
        assert!(rule.matches("service.cos.myqcloud.com."));
        assert!(rule.matches("A.MYQCLOUD.COM"));
        assert!(!rule.matches("myqcloud.com"));
        assert!(!rule.matches("evilmyqcloud.com"));
        assert!(!rule.matches("myqcloud.com.evil.example"));
        assert_eq!(rule.to_string(), "*.myqcloud.com=127.0.0.1:9443");
    }

    #[test]
    fn exact_rules_match_one_name() {
        let rule: ResolveRule = "sts.tencentcloudapi.com=[::1]:8443".parse().unwrap();
        assert!(rule.matches("sts.tencentcloudapi.com"));
        assert!(!rule.matches("x.sts.tencentcloudapi.com"));
        assert_eq!(rule.address(), "[::1]:8443".parse().unwrap());
    }

    #[test]
    fn malformed_rules_say_what_is_wrong() {
        assert!(matches!(
            "myqcloud.com".parse::<ResolveRule>(),
            Err(ResolveRuleError::Shape(_))
        ));
        assert!(matches!(
            "a.com=localhost:1".parse::<ResolveRule>(),
            Err(ResolveRuleError::Address(_))
        ));
        assert!(matches!(
            "*.=127.0.0.1:1".parse::<ResolveRule>(),
            Err(ResolveRuleError::Name(_))
        ));
        assert!(matches!(
            "a b.com=127.0.0.1:1".parse::<ResolveRule>(),
            Err(ResolveRuleError::Name(_))
        ));
    }

    #[tokio::test]
    async fn the_resolver_answers_rules_and_leaves_the_rest_to_the_system() {
        use reqwest::dns::Resolve;
        let resolver = StaticResolver {
            rules: Arc::new(vec!["*.myqcloud.com=127.0.0.1:9443".parse().unwrap()]),
        };
        let name = "b-1250000000.cos.ap-guangzhou.myqcloud.com"
            .parse()
            .unwrap();
        let found: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert_eq!(found, ["127.0.0.1:9443".parse().unwrap()]);
        let name = "localhost".parse().unwrap();
        let found: Vec<SocketAddr> = resolver.resolve(name).await.unwrap().collect();
        assert!(
            found.iter().all(|addr| addr.ip().is_loopback()),
            "{found:?}"
        );
    }
}
