//! The addresses of the CVM metadata service and STS, and the HTTP clients
//! that reach them.
//!
//! Both addresses can be moved by an environment variable, so that tests
//! (and rehearsals) point them at the emulator on 127.0.0.1:
//!
//! - [`METADATA_ENDPOINT_VAR`]: base URL of the metadata service, default
//!   `http://metadata.tencentyun.com`; the role is read from
//!   `<base>/latest/meta-data/cam/security-credentials/`.
//! - [`STS_ENDPOINT_VAR`]: base URL of STS, default
//!   `https://sts.tencentcloudapi.com`; a bare host name means https (as
//!   the SDKs' `Endpoint`). Plain http is refused unless it is to a
//!   loopback address: the request carries the web identity token.
//!
//! The metadata service is asked directly, never through a proxy (it is on
//! the instance's own link; the Java COS SDK also bypasses proxies for
//! it). STS is asked with the run's [`HttpOptions`]: through
//! `HTTPS_PROXY` unless `NO_PROXY` says otherwise, as Tencent's SDKs do,
//! and trusting the run's CAs (a TLS-inspecting proxy re-signs STS too).

use std::net::IpAddr;
use std::time::Duration;

use reqwest::Url;

use super::source::{RemoteFailure, SourceError};
use crate::http::HttpOptions;

/// Overrides the metadata service's base URL.
pub const METADATA_ENDPOINT_VAR: &str = "COSINV_METADATA_ENDPOINT";
/// Overrides STS's base URL (or host name).
pub const STS_ENDPOINT_VAR: &str = "COSINV_STS_ENDPOINT";

const DEFAULT_METADATA_ENDPOINT: &str = "http://metadata.tencentyun.com";
const DEFAULT_STS_ENDPOINT: &str = "https://sts.tencentcloudapi.com";
/// The role directory, below the metadata base URL.
const ROLE_PATH: &str = "latest/meta-data/cam/security-credentials/";

/// STS over the internet: as patient as the COS client's defaults.
const STS_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STS_TIMEOUT: Duration = Duration::from_secs(30);

/// The metadata service's role directory URL (ends with `/`).
pub(crate) fn metadata_roles_url(
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Url, SourceError> {
    let value = lookup(METADATA_ENDPOINT_VAR).filter(|v| !v.is_empty());
    let text = value.as_deref().unwrap_or(DEFAULT_METADATA_ENDPOINT);
    let bad = |reason| SourceError::BadEndpoint {
        variable: METADATA_ENDPOINT_VAR,
        value: text.to_string(),
        reason,
    };
    let base = parse_base(text).map_err(bad)?;
    base.join(ROLE_PATH)
        .map_err(|_| bad("cannot append the role path"))
}

/// The URL STS requests are POSTed to.
pub(crate) fn sts_url(lookup: &dyn Fn(&str) -> Option<String>) -> Result<Url, SourceError> {
    let value = lookup(STS_ENDPOINT_VAR).filter(|v| !v.is_empty());
    let text = value.as_deref().unwrap_or(DEFAULT_STS_ENDPOINT);
    let bad = |reason| SourceError::BadEndpoint {
        variable: STS_ENDPOINT_VAR,
        value: text.to_string(),
        reason,
    };
    let with_scheme = if text.contains("://") {
        text.to_string()
    } else {
        format!("https://{text}")
    };
    let url = parse_base(&with_scheme).map_err(bad)?;
    if url.scheme() == "http" && !is_loopback(&url) {
        return Err(bad(
            "plain http to a non-loopback address would send the web identity token \
             unencrypted; use https",
        ));
    }
    Ok(url)
}

/// An http(s) URL without query or credentials, its path ending in `/` so
/// that joining appends.
fn parse_base(text: &str) -> Result<Url, &'static str> {
    let mut url = Url::parse(text).map_err(|_| "not a URL")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be http:// or https://");
    }
    if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err("must not have a query or credentials");
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url)
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// The client for the metadata service: gives up on connecting after
/// `connect_timeout`, so that a machine that is not a CVM learns it fast.
/// Never through a proxy, never to fixed addresses; the same trusted CAs
/// (a bare container has none of its own).
pub(crate) fn metadata_client(
    connect_timeout: Duration,
    http: &HttpOptions,
) -> Result<reqwest::Client, RemoteFailure> {
    let direct = HttpOptions {
        trust: http.trust.clone(),
        ..HttpOptions::default()
    };
    direct
        .builder()
        .map_err(|err| RemoteFailure::from_reqwest(&err.0))?
        .connect_timeout(connect_timeout)
        .build()
        .map_err(|err| RemoteFailure::from_reqwest(&err))
}

/// The client for STS: through the run's proxies, trusting its CAs.
pub(crate) fn sts_client(http: &HttpOptions) -> Result<reqwest::Client, RemoteFailure> {
    http.builder()
        .map_err(|err| RemoteFailure::from_reqwest(&err.0))?
        .connect_timeout(STS_CONNECT_TIMEOUT)
        .timeout(STS_TIMEOUT)
        .build()
        .map_err(|err| RemoteFailure::from_reqwest(&err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_are_tencent_s_addresses() {
        assert_eq!(
            metadata_roles_url(&lookup(&[])).unwrap().as_str(),
            "http://metadata.tencentyun.com/latest/meta-data/cam/security-credentials/"
        );
        assert_eq!(
            sts_url(&lookup(&[])).unwrap().as_str(),
            "https://sts.tencentcloudapi.com/"
        );
    }

    #[test]
    fn overrides_keep_their_path_prefix() {
        let vars = lookup(&[
            (METADATA_ENDPOINT_VAR, "http://127.0.0.1:9000/-/metadata"),
            (STS_ENDPOINT_VAR, "http://127.0.0.1:9000/-/sts/"),
        ]);
        assert_eq!(
            metadata_roles_url(&vars).unwrap().as_str(),
            "http://127.0.0.1:9000/-/metadata/latest/meta-data/cam/security-credentials/"
        );
        assert_eq!(
            sts_url(&vars).unwrap().as_str(),
            "http://127.0.0.1:9000/-/sts/"
        );
    }

    #[test]
    fn a_bare_sts_host_is_https() {
        let vars = lookup(&[(STS_ENDPOINT_VAR, "sts.internal.tencentcloudapi.com")]);
        assert_eq!(
            sts_url(&vars).unwrap().as_str(),
            "https://sts.internal.tencentcloudapi.com/"
        );
    }

    #[test]
    fn bad_overrides_name_the_variable() {
        let err = sts_url(&lookup(&[(STS_ENDPOINT_VAR, "http://10.0.0.1/")])).unwrap_err();
        assert!(err.to_string().contains(STS_ENDPOINT_VAR), "{err}");
        assert!(err.to_string().contains("unencrypted"), "{err}");
        let err = metadata_roles_url(&lookup(&[(METADATA_ENDPOINT_VAR, "ftp://x/")])).unwrap_err();
        assert!(err.to_string().contains(METADATA_ENDPOINT_VAR), "{err}");
        assert!(metadata_roles_url(&lookup(&[(METADATA_ENDPOINT_VAR, "http://x/?a=1")])).is_err());
    }
}
