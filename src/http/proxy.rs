//! HTTP proxies, as the environment names them.
//!
//! Tencent's SDKs honour `HTTPS_PROXY`, `HTTP_PROXY` and `NO_PROXY` (the Go
//! SDK through Go's `ProxyFromEnvironment`), and so does cosinv, with the
//! same rules: the upper-case variable wins over the lower-case one; a
//! value without a scheme is `http://`; `NO_PROXY` is a comma-separated
//! list of host names (a leading `.` or none: the name and its
//! subdomains), IP addresses, CIDR ranges, or `*` for every host. Requests
//! to `https://` go through `HTTPS_PROXY` (an HTTP `CONNECT` tunnel: the
//! proxy sees the host name, not the request); requests to `http://`
//! through `HTTP_PROXY`.
//!
//! Loopback addresses are not exempt by themselves: list `127.0.0.1` and
//! `localhost` in `NO_PROXY` to reach a local emulator past a proxy (as
//! with curl and Go).
//!
//! A proxy URL may carry `user:password@`; [`Proxies`]' `Debug` and
//! [`Proxies::describe`] show the user only.

use std::fmt;

use reqwest::Url;

/// `HTTPS_PROXY`, then `https_proxy`.
pub const HTTPS_PROXY_VARS: [&str; 2] = ["HTTPS_PROXY", "https_proxy"];
/// `HTTP_PROXY`, then `http_proxy`.
pub const HTTP_PROXY_VARS: [&str; 2] = ["HTTP_PROXY", "http_proxy"];
/// `NO_PROXY`, then `no_proxy`.
pub const NO_PROXY_VARS: [&str; 2] = ["NO_PROXY", "no_proxy"];

/// The proxies requests go through. `Default`: none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Proxies {
    https: Option<Url>,
    http: Option<Url>,
    no_proxy: Option<String>,
}

/// A proxy variable that cannot be used. The value is shown without its
/// password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{variable}={value:?} is not a usable proxy: {reason}")]
pub struct ProxyError {
    pub variable: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl Proxies {
    /// Reads the process environment (see the `*_VARS` constants).
    pub fn from_env() -> Result<Proxies, ProxyError> {
        Proxies::from_lookup(|name| std::env::var(name).ok())
    }

    /// Like [`Proxies::from_env`] with a lookup function.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Proxies, ProxyError> {
        let first = |names: [&'static str; 2]| {
            names.into_iter().find_map(|name| {
                lookup(name)
                    .map(|value| value.trim().to_string())
                    .filter(|value| !value.is_empty())
                    .map(|value| (name, value))
            })
        };
        let url = |found: Option<(&'static str, String)>| {
            found
                .map(|(variable, value)| parse_proxy(variable, &value))
                .transpose()
        };
        Ok(Proxies {
            https: url(first(HTTPS_PROXY_VARS))?,
            http: url(first(HTTP_PROXY_VARS))?,
            no_proxy: first(NO_PROXY_VARS).map(|(_, value)| value),
        })
    }

    /// Whether any proxy is set.
    pub fn is_empty(&self) -> bool {
        self.https.is_none() && self.http.is_none()
    }

    /// One line for `-v`, passwords left out; `None` without proxies.
    pub fn describe(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        let mut parts = Vec::new();
        if let Some(url) = &self.https {
            parts.push(format!("https through {}", shown(url)));
        }
        if let Some(url) = &self.http {
            parts.push(format!("http through {}", shown(url)));
        }
        if let Some(list) = &self.no_proxy {
            parts.push(format!("not for {list}"));
        }
        Some(parts.join(", "))
    }

    /// Sets these proxies (and no others) on a client.
    pub(crate) fn apply(&self, builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        // Never reqwest's own reading of the environment: the proxies are
        // whatever the caller decided.
        let mut builder = builder.no_proxy();
        let no_proxy = || {
            self.no_proxy
                .as_deref()
                .and_then(reqwest::NoProxy::from_string)
        };
        if let Some(url) = &self.https
            && let Ok(proxy) = reqwest::Proxy::https(url.as_str())
        {
            builder = builder.proxy(proxy.no_proxy(no_proxy()));
        }
        if let Some(url) = &self.http
            && let Ok(proxy) = reqwest::Proxy::http(url.as_str())
        {
            builder = builder.proxy(proxy.no_proxy(no_proxy()));
        }
        builder
    }
}

impl fmt::Debug for Proxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxies")
            .field("https", &self.https.as_ref().map(shown))
            .field("http", &self.http.as_ref().map(shown))
            .field("no_proxy", &self.no_proxy)
            .finish()
    }
}

/// A proxy URL without its password.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    if url.password().is_some() {
        let _ = url.set_password(Some("******"));
    }
    url.to_string()
}

fn parse_proxy(variable: &'static str, value: &str) -> Result<Url, ProxyError> {
    let with_scheme = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let refuse = |reason| ProxyError {
        variable,
        value: Url::parse(&with_scheme).map_or_else(|_| "(not a URL)".into(), |url| shown(&url)),
        reason,
    };
    let url = Url::parse(&with_scheme).map_err(|_| refuse("not a URL"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("only http:// and https:// proxies are supported"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("no host"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn proxies(pairs: &[(&str, &str)]) -> Result<Proxies, ProxyError> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Proxies::from_lookup(|name| map.get(name).map(|v| v.to_string()))
    }

    #[test]
    fn none_set_is_no_proxy() {
        let none = proxies(&[]).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.describe(), None);
        assert_eq!(none, Proxies::default());
    }

    #[test]
    fn upper_case_wins_and_a_bare_host_is_http() {
        let found = proxies(&[
            ("HTTPS_PROXY", "proxy.corp:3128"),
            ("https_proxy", "http://other:1"),
            ("no_proxy", "127.0.0.1,localhost,.internal"),
        ])
        .unwrap();
        assert_eq!(
            found.describe().unwrap(),
            "https through http://proxy.corp:3128/, not for 127.0.0.1,localhost,.internal"
        );
    }

    #[test]
    fn passwords_never_show() {
        let found = proxies(&[("HTTPS_PROXY", "http://ops:hunter2@proxy:3128")]).unwrap();
        let shown = format!("{found:?} {}", found.describe().unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("ops:******@proxy"), "{shown}");
        let err = proxies(&[("HTTP_PROXY", "socks5://ops:hunter2@proxy:1080")]).unwrap_err();
        assert_eq!(err.variable, "HTTP_PROXY");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn empty_values_count_as_unset() {
        assert!(proxies(&[("HTTPS_PROXY", "  ")]).unwrap().is_empty());
    }
}
