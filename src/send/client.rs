//! The COS HTTP client: sends one [`InventoryRequest`] once.
//!
//! [`CosClient`] asks its [`SharedCredentials`] for the current credentials
//! (refreshed there when temporary ones near their end), signs the request
//! with them for the time it is sent (the signer stays pure), sends it over
//! one pooled reqwest client (keep-alive, rustls with the ring provider,
//! the [`HttpOptions`] of the run: trusted CAs, proxies, fixed addresses)
//! and turns the answer into a [`Response`] or a [`TransportError`]. It
//! does not retry: deciding what to do with an answer is
//! [`crate::send::retry`]'s job. The error's kind says what a retry
//! cannot fix: a refused server certificate
//! ([`TransportErrorKind::TlsVerification`]) or credentials that cannot be
//! had ([`TransportErrorKind::Credentials`]).
//!
//! It trusts no answer: redirects are never followed (a `307` to another
//! host would carry the security token and the body there, and its `200`
//! would pass for COS's), a body is read up to [`MAX_RESPONSE_BODY`] only,
//! and the server's text is made [`printable`] here, once.
//!
//! Against COS each bucket is its own host name, so its connections serve
//! no other bucket: [`CosClient::for_bucket`] gives a client with a pool of
//! its own (the TLS settings built once and shared), and dropping it when
//! the bucket is done closes them. Open connections then stay bounded by
//! the concurrency, not by the number of buckets a run has touched. With
//! an endpoint (every bucket on one address), one pool serves them all.
//!
//! Sending is on the path of every job, so the URL is built from a parsed
//! base (no parse of the whole URL, no IDNA per request) and headers go
//! from the request to the wire without intermediate copies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HOST, HeaderMap, HeaderName, HeaderValue};

use crate::cos::request::{InventoryRequest, Operation, bucket_host};
use crate::cos::text::{printable, printable_within};
use crate::cos::xml;
use crate::credentials::SharedCredentials;
use crate::http::tls::tls_failure;
pub use crate::http::{ClientBuildError, HttpOptions};
use crate::model::{BucketName, Region};

/// Largest response body read; inventory answers are far smaller (a full
/// list page of 100 configurations is well under 1 MiB).
pub const MAX_RESPONSE_BODY: usize = 4 * 1024 * 1024;

/// Where requests are sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `https://<bucket>.cos.<region>.myqcloud.com`.
    Cos,
    /// Every request to this base URL, with the virtual-hosted `Host`
    /// header kept (as the SDKs do when given an IP and port).
    Override(reqwest::Url),
}

/// An endpoint address that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("{0:?} is not a URL (expected e.g. http://127.0.0.1:9000)")]
    NotUrl(String),
    #[error("{0:?} must be http:// or https://")]
    Scheme(String),
    #[error(
        "{0:?} is plain http to a non-loopback address: credentials-signed requests would \
         cross the network unencrypted; use https, or allow plain http explicitly"
    )]
    InsecureHttp(String),
    #[error("{0:?} has a path, query or credentials; give only scheme, host and port")]
    NotBase(String),
}

impl Endpoint {
    /// Parses an endpoint address: http only to loopback unless
    /// `allow_http`.
    pub fn parse(text: &str, allow_http: bool) -> Result<Self, EndpointError> {
        let url = reqwest::Url::parse(text).map_err(|_| EndpointError::NotUrl(text.into()))?;
        if url.path() != "/"
            || url.query().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(EndpointError::NotBase(text.into()));
        }
        match url.scheme() {
            "https" => {}
            "http" if allow_http || is_loopback(&url) => {}
            "http" => return Err(EndpointError::InsecureHttp(text.into())),
            _ => return Err(EndpointError::Scheme(text.into())),
        }
        Ok(Endpoint::Override(url))
    }

    fn base_url(&self, host: &str) -> String {
        match self {
            Endpoint::Cos => format!("https://{host}/"),
            Endpoint::Override(url) => url.as_str().to_string(),
        }
    }

    /// The base URL of requests to `host`, parsed.
    fn parsed_base(&self, host: &str) -> Result<reqwest::Url, TransportError> {
        match self {
            Endpoint::Override(url) => Ok(url.clone()),
            Endpoint::Cos => {
                reqwest::Url::parse(&self.base_url(host)).map_err(|err| TransportError {
                    kind: TransportErrorKind::Connect,
                    message: format!("{host} cannot be a URL's host: {err}"),
                })
            }
        }
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// An HTTP answer from COS (any status).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// `x-cos-request-id`, for support tickets.
    pub request_id: Option<String>,
    /// How long `Retry-After` asks to wait, in either form (seconds, or
    /// an HTTP date read against the answer's own `Date`), when present.
    pub retry_after: Option<Duration>,
    /// The server's clock (`Date`), Unix seconds, to correct our own after
    /// `RequestTimeTooSkewed`.
    pub server_time: Option<u64>,
    /// The parsed `<Error>` of a non-2xx answer; `None` on success or when
    /// the body was not a COS error document.
    pub error: Option<xml::CosErrorBody>,
    /// For a non-2xx answer without a COS error document, or a 2xx that
    /// does not look like COS's ([`not_from_cos`]): what the body looked
    /// like (an HTML page from a proxy, say).
    pub unparsed_error: Option<String>,
    /// For a 3xx: where the server said to go (the `Location` header's
    /// host, or the header itself when it names no host). Never followed.
    pub redirect_to: Option<String>,
    /// `Content-Length` as announced: an object's size for HEAD Object.
    pub content_length: Option<u64>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The COS error code, if any.
    pub fn code(&self) -> Option<&str> {
        self.error.as_ref().map(|error| error.code.as_str())
    }

    pub fn is_redirect(&self) -> bool {
        (300..400).contains(&self.status)
    }

    /// A one-line description of a failed answer.
    pub fn describe(&self) -> String {
        if self.is_redirect() {
            let to = self
                .redirect_to
                .as_deref()
                .unwrap_or("nowhere (no Location)");
            return format!(
                "COS answered {} redirect to {to}; cosinv never follows redirects (the \
                 signed request would go to another server): check the endpoint",
                self.status
            );
        }
        match (&self.error, &self.unparsed_error) {
            (Some(error), _) if error.message.is_empty() => {
                format!("HTTP {} {}", self.status, error.code)
            }
            (Some(error), _) => format!("HTTP {} {}: {}", self.status, error.code, error.message),
            (None, Some(detail)) => format!("HTTP {} ({detail})", self.status),
            (None, None) => format!("HTTP {}", self.status),
        }
    }
}

/// What kind of network failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportErrorKind {
    /// No answer within the request timeout.
    Timeout,
    /// Could not connect.
    Connect,
    /// The connection broke (reset, closed early, truncated body).
    Connection,
    /// The server's certificate was refused (unknown CA, another name,
    /// expired, a CA certificate as the server's): no retry can succeed.
    TlsVerification,
    /// No credentials to sign with: temporary ones expired and could not
    /// be refreshed, or they hold a value no HTTP header can carry. The
    /// request was not sent.
    Credentials,
    /// The bucket's account (its APPID under `accounts:`) has no
    /// credentials: its role could not be assumed. The request was not
    /// sent; the other accounts go on.
    AccountUnavailable,
    /// The answer's body is larger than [`MAX_RESPONSE_BODY`]; it was not
    /// read. Asking again would get the same answer.
    TooLarge,
}

/// A request that got no complete HTTP answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TransportError {
    pub kind: TransportErrorKind,
    pub message: String,
}

impl TransportError {
    fn from_reqwest(err: &reqwest::Error, host: &str) -> Self {
        if let Some(failure) = tls_failure(err) {
            return TransportError {
                kind: TransportErrorKind::TlsVerification,
                message: format!(
                    "TLS: the certificate of {host} was refused: {}",
                    failure.reason
                ),
            };
        }
        let kind = if err.is_timeout() {
            TransportErrorKind::Timeout
        } else if err.is_connect() {
            TransportErrorKind::Connect
        } else {
            TransportErrorKind::Connection
        };
        // reqwest's message names the URL (no secrets: signing is in
        // headers); the source chain says what actually broke.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        TransportError {
            kind,
            message: printable(&message),
        }
    }

    fn too_large(status: u16) -> Self {
        TransportError {
            kind: TransportErrorKind::TooLarge,
            message: format!(
                "the HTTP {status} answer's body is larger than {MAX_RESPONSE_BODY} bytes, the \
                 most cosinv reads; not retried, as the same request would get the same answer"
            ),
        }
    }
}

/// Settings of the HTTP client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub endpoint: Endpoint,
    pub credentials: SharedCredentials,
    /// Whole-request timeout (connect, send, answer).
    pub request_timeout: Duration,
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per host.
    pub max_idle_per_host: usize,
    /// Trusted CAs, proxies and fixed addresses.
    pub http: HttpOptions,
}

impl ClientConfig {
    /// `endpoint` and `credentials` with the defaults of `cosinv apply`:
    /// 30 s per request, 10 s to connect, 64 idle connections per host,
    /// [`HttpOptions::default`].
    pub fn new(endpoint: Endpoint, credentials: SharedCredentials) -> Self {
        ClientConfig {
            endpoint,
            credentials,
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 64,
            http: HttpOptions::default(),
        }
    }
}

/// A pooled, signing COS client. Cheap to clone.
#[derive(Clone)]
pub struct CosClient {
    http: reqwest::Client,
    endpoint: Endpoint,
    credentials: SharedCredentials,
    /// Member accounts' credentials by APPID; buckets of other APPIDs are
    /// signed with `credentials`.
    accounts: Arc<HashMap<String, SharedCredentials>>,
    /// The proxies and CAs the client was made with, for STS calls made
    /// on its behalf.
    http_options: Arc<HttpOptions>,
    /// For a client of one bucket: its host and base URL, parsed once.
    bucket: Option<Arc<(String, reqwest::Url)>>,
    /// With COS's host names: how a client of one bucket is made.
    per_bucket: Option<Arc<BucketClients>>,
}

/// What a client of one bucket is made of: the run's HTTP settings and
/// TLS configuration (root store built once), the pool and timeouts.
struct BucketClients {
    http: HttpOptions,
    tls: rustls::ClientConfig,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_idle_per_host: usize,
}

impl BucketClients {
    fn build(&self) -> Result<reqwest::Client, ClientBuildError> {
        let builder = self.http.builder_with_tls(self.tls.clone());
        Ok(tuned(
            builder,
            self.request_timeout,
            self.connect_timeout,
            self.max_idle_per_host,
        )
        .build()?)
    }
}

/// Timeouts, the pool, no Nagle.
fn tuned(
    builder: reqwest::ClientBuilder,
    request_timeout: Duration,
    connect_timeout: Duration,
    max_idle_per_host: usize,
) -> reqwest::ClientBuilder {
    builder
        .timeout(request_timeout)
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(max_idle_per_host)
        .pool_idle_timeout(Duration::from_secs(50))
        .tcp_nodelay(true)
        // A redirect is answered to us, never followed: see the module
        // documentation.
        .redirect(reqwest::redirect::Policy::none())
        // Retries are the executor's (classified, paced, reported); reqwest's
        // own layer would copy every request in case it retried.
        .retry(reqwest::retry::never().max_retries_per_request(0))
}

impl std::fmt::Debug for CosClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosClient")
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .finish()
    }
}

impl CosClient {
    pub fn new(config: ClientConfig) -> Result<Self, ClientBuildError> {
        let http_options = Arc::new(config.http.clone());
        let http = tuned(
            config.http.builder()?,
            config.request_timeout,
            config.connect_timeout,
            config.max_idle_per_host,
        )
        .build()?;
        // Without a TLS configuration of its own (reqwest's platform
        // verifier), every bucket shares the one pool.
        let tls = match (&config.endpoint, &config.http.trust) {
            (Endpoint::Cos, Some(trust)) => trust.rustls_config().ok(),
            _ => None,
        };
        let per_bucket = match tls {
            Some(tls) => Some(Arc::new(BucketClients {
                tls,
                http: config.http,
                request_timeout: config.request_timeout,
                connect_timeout: config.connect_timeout,
                max_idle_per_host: config.max_idle_per_host,
            })),
            _ => None,
        };
        Ok(CosClient {
            http,
            endpoint: config.endpoint,
            credentials: config.credentials,
            accounts: Arc::default(),
            http_options,
            bucket: None,
            per_bucket,
        })
    }

    /// The credentials' source, for `-v`.
    pub fn http_options(&self) -> &HttpOptions {
        &self.http_options
    }

    pub fn credentials(&self) -> &SharedCredentials {
        &self.credentials
    }

    /// A client for the requests to one bucket, with connections of its
    /// own that close when it is dropped; `None` when one pool serves
    /// every bucket (an endpoint), or when one could not be made (the
    /// shared pool then serves).
    pub fn for_bucket(&self, bucket: &BucketName, region: &Region) -> Option<CosClient> {
        let clients = self.per_bucket.as_ref()?;
        let host = bucket_host(bucket, region);
        let base = self.endpoint.parsed_base(&host).ok()?;
        let http = clients.build().ok()?;
        Some(CosClient {
            http,
            bucket: Some(Arc::new((host, base))),
            ..self.clone()
        })
    }

    /// This client, signing the requests to the buckets of each APPID in
    /// `accounts` with that account's credentials.
    pub fn with_accounts(self, accounts: HashMap<String, SharedCredentials>) -> CosClient {
        CosClient {
            accounts: Arc::new(accounts),
            ..self
        }
    }

    /// Each member account's APPID and credentials.
    pub fn accounts(&self) -> &HashMap<String, SharedCredentials> {
        &self.accounts
    }

    /// A client signing everything with each member account's
    /// credentials (for account-wide reads such as GET Service), by APPID.
    pub fn account_clients(&self) -> Vec<(String, CosClient)> {
        let mut clients: Vec<(String, CosClient)> = self
            .accounts
            .iter()
            .map(|(appid, credentials)| {
                let client = CosClient {
                    credentials: credentials.clone(),
                    accounts: Arc::default(),
                    ..self.clone()
                };
                (appid.clone(), client)
            })
            .collect();
        clients.sort_by(|a, b| a.0.cmp(&b.0));
        clients
    }

    /// The credentials for the bucket `host` names (its first label ends
    /// in the APPID), and whether they are a member account's.
    fn signer_for(&self, host: &str) -> (&SharedCredentials, bool) {
        let bucket = host.split('.').next().unwrap_or_default();
        match self.accounts.get(crate::model::appid_of(bucket)) {
            Some(member) => (member, true),
            None => (&self.credentials, false),
        }
    }

    /// Signs `request` for `now` (Unix seconds) with the current
    /// credentials of its bucket's account and sends it once.
    pub async fn send(
        &self,
        request: &InventoryRequest,
        now: u64,
    ) -> Result<Response, TransportError> {
        let (signer, member) = self.signer_for(&request.host);
        let credentials = signer.current().await.map_err(|err| TransportError {
            kind: match member {
                true => TransportErrorKind::AccountUnavailable,
                false => TransportErrorKind::Credentials,
            },
            message: err.to_string(),
        })?;
        let mut url = match self.bucket.as_deref() {
            Some((host, base)) if *host == request.host => base.clone(),
            _ => self.endpoint.parsed_base(&request.host)?,
        };
        if request.path != "/" {
            url.set_path(&request.path);
        }
        let query = request.query();
        url.set_query((!query.is_empty()).then_some(query.as_str()));
        let mut headers = HeaderMap::with_capacity(request.headers.len() + 3);
        for (name, value) in &request.headers {
            headers.insert(
                HeaderName::from_static(name),
                self.header_value(name, value)?,
            );
        }
        headers.insert(HOST, self.header_value("host", &request.host)?);
        if let Some(token) = credentials.security_token() {
            headers.insert(
                HeaderName::from_static("x-cos-security-token"),
                self.header_value("x-cos-security-token", token)?,
            );
        }
        let authorization = request.authorization(&credentials, now);
        headers.insert(
            AUTHORIZATION,
            self.header_value("authorization", &authorization)?,
        );
        let answer = self
            .http
            .request(request.method(), url)
            .headers(headers)
            .body(request.body.clone())
            .send()
            .await
            .map_err(|err| TransportError::from_reqwest(&err, self.url_host(request)))?;
        // GET Bucket policy's answer is JSON and an object's body is
        // whatever it holds (its reader checks it); every other 2xx body
        // is XML.
        let any_body = matches!(
            request.operation,
            Operation::GetPolicy | Operation::GetObject | Operation::HeadObject
        );
        read_response(answer, self.url_host(request), any_body).await
    }

    /// The host the URL names, for messages: the endpoint's, else the
    /// bucket's.
    fn url_host<'a>(&'a self, request: &'a InventoryRequest) -> &'a str {
        match &self.endpoint {
            Endpoint::Override(url) => url.host_str().unwrap_or(&request.host),
            Endpoint::Cos => &request.host,
        }
    }

    /// A signed header's value; one no header can carry comes from the
    /// credentials (the SecretId in `Authorization`, the token), which
    /// the chain checks, so this is a last line of defence.
    fn header_value(&self, name: &str, value: &str) -> Result<HeaderValue, TransportError> {
        HeaderValue::from_str(value).map_err(|_| TransportError {
            kind: TransportErrorKind::Credentials,
            message: format!(
                "the {name} header cannot carry the credentials from {}: \
                 a value has a character no HTTP header may hold (a newline?)",
                self.credentials.source()
            ),
        })
    }
}

async fn read_response(
    answer: reqwest::Response,
    host: &str,
    json: bool,
) -> Result<Response, TransportError> {
    let status = answer.status().as_u16();
    let header = |name: &str| {
        answer
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_string)
    };
    let request_id = header("x-cos-request-id").map(|id| printable(&id));
    let server_time = header("date").and_then(|value| parse_http_date(&value));
    let retry_after = header("retry-after").and_then(|value| {
        // A date is in the server's clock: measure it from the answer's
        // `Date`, so a skewed local clock does not stretch or cancel it.
        let now = server_time.map_or_else(SystemTime::now, |secs| {
            SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
        });
        parse_retry_after(&value, now, MAX_RETRY_AFTER)
    });
    // HEAD Object's answer: the object's size, announced with no body.
    let content_length = header("content-length").and_then(|value| value.parse().ok());
    let redirect_to = (300..400)
        .contains(&status)
        .then(|| header("location").map(|location| redirect_target(&location)))
        .flatten();
    let body = read_body(answer, status, host).await?;
    let (error, unparsed_error) = if (200..300).contains(&status) {
        let stranger = not_from_cos(request_id.is_some(), &body, json);
        (
            None,
            stranger.map(|why| format!("{why}; body starts with {}", xml::snippet(&body))),
        )
    } else {
        match xml::error_from_xml(&body) {
            Ok(error) => (Some(error), None),
            Err(_) => (
                None,
                Some(format!(
                    "not a COS error document; body starts with {}",
                    xml::snippet(&body)
                )),
            ),
        }
    };
    Ok(Response {
        status,
        request_id,
        retry_after,
        server_time,
        error,
        unparsed_error,
        redirect_to,
        content_length,
        body,
    })
}

/// Why a 2xx answer does not look like COS's, if it does not. COS sends
/// `x-cos-request-id` with every answer, and its 2xx bodies are empty or
/// XML (JSON for GET Bucket policy, `json`, which its parser then checks);
/// a captive portal's page, a misrouted proxy's JSON or an HTML 200 is not
/// a COS that accepted the request, whatever its status says.
pub fn not_from_cos(has_request_id: bool, body: &[u8], json: bool) -> Option<&'static str> {
    if !has_request_id {
        return Some("not COS's answer: no x-cos-request-id");
    }
    if json {
        return None;
    }
    let text = body.trim_ascii_start();
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let html = text.len() >= 5
        && (text[..5].eq_ignore_ascii_case(b"<html") || text[..2].eq_ignore_ascii_case(b"<!"));
    match text.first() {
        None => None,
        Some(b'<') if !html => None,
        Some(_) => Some("not COS's answer: a 2xx body that is not XML"),
    }
}

/// The body, up to [`MAX_RESPONSE_BODY`]: an announced length over the cap
/// is refused before reading, a stream that grows past it is cut off.
async fn read_body(
    mut answer: reqwest::Response,
    status: u16,
    host: &str,
) -> Result<Vec<u8>, TransportError> {
    if answer
        .content_length()
        .is_some_and(|length| length > MAX_RESPONSE_BODY as u64)
    {
        return Err(TransportError::too_large(status));
    }
    let mut body = Vec::new();
    while let Some(chunk) = answer
        .chunk()
        .await
        .map_err(|err| TransportError::from_reqwest(&err, host))?
    {
        if body.len() + chunk.len() > MAX_RESPONSE_BODY {
            return Err(TransportError::too_large(status));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Where a redirect points, for the message: the host (and port) of an
/// absolute `Location`, else the header itself; printable and short.
fn redirect_target(location: &str) -> String {
    let named = reqwest::Url::parse(location).ok().and_then(|url| {
        let host = url.host_str()?.to_string();
        Some(match url.port() {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
    });
    printable_within(named.as_deref().unwrap_or(location), 256)
}

#[cfg(test)]
impl Response {
    /// An answer with `status` and, for an error, COS's `code`: for tests.
    pub(crate) fn canned(status: u16, code: Option<&str>) -> Response {
        Response {
            status,
            request_id: None,
            retry_after: None,
            server_time: None,
            error: code.map(|code| xml::CosErrorBody {
                code: code.into(),
                ..Default::default()
            }),
            unparsed_error: None,
            redirect_to: None,
            content_length: None,
            body: Vec::new(),
        }
    }
}

/// The longest wait a `Retry-After` is read as; the retry policy caps it
/// again, lower.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How long a `Retry-After` header asks us to wait, capped at `max`.
///
/// Both forms of RFC 9110 §10.2.3: delta-seconds (`120`) and an HTTP date
/// (`Wed, 21 Oct 2015 07:28:00 GMT`), the latter relative to `now` (a date
/// already past means no wait). `None` when the value is neither.
pub fn parse_retry_after(value: &str, now: SystemTime, max: Duration) -> Option<Duration> {
    let value = value.trim();
    let asked = if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // All digits but too long for a u64 is still "a very long time".
        value.parse().map_or(max, Duration::from_secs)
    } else {
        let date = httpdate::parse_http_date(value).ok()?;
        date.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(asked.min(max))
}

/// Parses an HTTP `Date` (`Tue, 24 Nov 2026 03:30:00 GMT`).
pub fn parse_http_date(value: &str) -> Option<u64> {
    let time = httpdate::parse_http_date(value.trim()).ok()?;
    Some(time.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cos::request::bucket_host;
    use crate::credentials::{CredentialSource, Credentials};
    use crate::model::{BucketName, Region};

    #[test]
    fn retry_after_reads_seconds_and_dates_capped() {
        let secs = Duration::from_secs;
        let now = SystemTime::UNIX_EPOCH + secs(1_445_412_400); // 2015-10-21 07:26:40 UTC
        let max = secs(60);
        let parse = |value| parse_retry_after(value, now, max);
        assert_eq!(parse("3"), Some(secs(3)));
        assert_eq!(parse(" 0 "), Some(Duration::ZERO));
        assert_eq!(parse("86400"), Some(max));
        assert_eq!(parse("99999999999999999999999"), Some(max));
        assert_eq!(parse("Wed, 21 Oct 2015 07:27:00 GMT"), Some(secs(20)));
        assert_eq!(parse("Wed, 21 Oct 2015 09:00:00 GMT"), Some(max));
        // Already past: no wait.
        assert_eq!(parse("Wed, 21 Oct 2015 07:00:00 GMT"), Some(Duration::ZERO));
        // The two obsolete date forms RFC 9110 still asks recipients to accept.
        assert_eq!(parse("Wednesday, 21-Oct-15 07:27:00 GMT"), Some(secs(20)));
        assert_eq!(parse("Wed Oct 21 07:27:00 2015"), Some(secs(20)));
        for bad in ["", "-1", "1.5", "soon", "Wed, 32 Oct 2015 07:27:00 GMT"] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn endpoints_allow_http_only_to_loopback() {
        assert!(Endpoint::parse("http://127.0.0.1:9000", false).is_ok());
        assert!(Endpoint::parse("http://localhost:9000/", false).is_ok());
        assert!(Endpoint::parse("http://[::1]:9000", false).is_ok());
        assert!(Endpoint::parse("https://cos.example.com", false).is_ok());
        assert_eq!(
            Endpoint::parse("http://10.0.0.5:9000", false),
            Err(EndpointError::InsecureHttp("http://10.0.0.5:9000".into()))
        );
        assert!(Endpoint::parse("http://10.0.0.5:9000", true).is_ok());
        assert!(matches!(
            Endpoint::parse("ftp://x", false),
            Err(EndpointError::Scheme(_))
        ));
        assert!(matches!(
            Endpoint::parse("nonsense", false),
            Err(EndpointError::NotUrl(_))
        ));
        assert!(matches!(
            Endpoint::parse("http://127.0.0.1/x", false),
            Err(EndpointError::NotBase(_))
        ));
    }

    #[test]
    fn requests_go_to_the_bucket_host_or_the_override() {
        let bucket = BucketName::parse("examplebucket-1250000000").unwrap();
        let region = Region::parse("ap-guangzhou").unwrap();
        let host = bucket_host(&bucket, &region);
        assert_eq!(Endpoint::Cos.base_url(&host), format!("https://{host}/"));
        let local = Endpoint::parse("http://127.0.0.1:9000", false).unwrap();
        assert_eq!(local.base_url(&host), "http://127.0.0.1:9000/");
    }

    #[test]
    fn http_dates_parse_to_unix_seconds() {
        assert_eq!(
            parse_http_date("Tue, 28 Aug 2018 02:53:38 GMT"),
            Some(1_535_424_818)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }

    #[test]
    fn a_redirect_names_where_it_points_and_is_never_followed() {
        assert_eq!(
            redirect_target("http://evil.example:8080/x?y"),
            "evil.example:8080"
        );
        assert_eq!(redirect_target("https://other.example/"), "other.example");
        assert_eq!(redirect_target("/elsewhere\u{1b}[2J"), "/elsewhere[2J");
        let answer = Response {
            status: 307,
            request_id: None,
            retry_after: None,
            server_time: None,
            error: None,
            unparsed_error: None,
            redirect_to: Some("evil.example:8080".into()),
            content_length: None,
            body: Vec::new(),
        };
        assert_eq!(
            answer.describe(),
            "COS answered 307 redirect to evil.example:8080; cosinv never follows redirects \
             (the signed request would go to another server): check the endpoint"
        );
    }

    #[test]
    fn client_debug_hides_the_secret() {
        let credentials = SharedCredentials::fixed(
            Credentials::new("AKIDshown", "hidden-secret", Some("hidden-token".into())),
            CredentialSource::Explicit,
        );
        let client = CosClient::new(ClientConfig::new(Endpoint::Cos, credentials)).unwrap();
        let text = format!("{client:?}");
        assert!(
            text.contains("AKIDshown") && !text.contains("hidden"),
            "{text}"
        );
    }

    #[test]
    fn a_2xx_is_cos_s_only_with_a_request_id_and_an_empty_or_xml_body() {
        assert_eq!(not_from_cos(true, b"", false), None);
        assert_eq!(
            not_from_cos(true, b"\n <?xml version=\"1.0\"?><A/>", false),
            None
        );
        assert_eq!(
            not_from_cos(true, b"<ListInventoryConfigurationResult/>", false),
            None
        );
        assert!(
            not_from_cos(false, b"", false)
                .unwrap()
                .contains("x-cos-request-id")
        );
        for stranger in [
            &b"<html><body>log in</body></html>"[..],
            b"<!DOCTYPE html><html></html>",
            b"{\"ok\":true}",
            b"OK",
        ] {
            assert!(
                not_from_cos(true, stranger, false).is_some(),
                "{stranger:?}"
            );
        }
        assert_eq!(not_from_cos(true, b"{\"Statement\":[]}", true), None);
    }
}
