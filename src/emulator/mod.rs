//! A local COS-compatible server for the inventory APIs.
//!
//! Tests and benchmarks start it in-process on `127.0.0.1:0`; `cosinv
//! emulate` serves it for rehearsals; a sandbox `cosinv apply` runs one
//! inside the apply. It checks signatures as COS does, keeps inventory
//! configurations per bucket (optionally in a state file), enforces the
//! 1,000-per-bucket limit, answers with COS's XML errors, and injects
//! latency and faults deterministically from a seed.
//!
//! - [`auth`]: signature verification of a received request.
//! - `service`: addressing and the APIs.
//! - `store`: the configurations, and the state file.
//! - `objects`: objects on the buckets (GET Bucket, GET and HEAD Object),
//!   in memory only; `deliver`: COS's overnight delivery of the reports
//!   played on demand ([`Emulator::deliver`], or `POST` [`DELIVER_PATH`]);
//!   reads of a bucket's objects refused on demand
//!   ([`Emulator::refuse_reads`], or `POST` [`REFUSE_READS_PATH`]).
//! - `faults`: injected latency, errors and rate ceilings.
//! - `metadata`, `sts`: the CVM metadata service and STS, handing out
//!   short-lived temporary credentials that the signature check accepts
//!   until they expire (see [`RoleConfig`]).
//! - [`tls`]: HTTPS with a throwaway CA ([`EmulatorConfig::tls`]), so
//!   tests exercise certificate verification and one TLS connection per
//!   bucket host.
//!
//! Its command (`cosinv emulate`) lives in [`crate::cmd::emulate`].

pub mod auth;
mod deliver;
mod faults;
pub mod files;
mod metadata;
mod objects;
mod one_time;
mod org;
mod service;
mod store;
mod sts;
pub mod tls;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::cos::xml::BucketEntry;
use crate::credentials::Credentials;
use crate::model::InventoryConfiguration;

pub use deliver::{Delivered, Delivery, DeliveryError, parse_date as parse_delivery_date};
pub use faults::{Fraction, InvalidFraction, InvalidSchedule, parse_outage, parse_rate_schedule};
pub use metadata::METADATA_PATH;
pub use one_time::OneTimeJob;
pub use org::{MemberAccount, MemberRole, Organisation};
pub use sts::{RoleConfig, STS_PATH};
pub use tls::{TlsIdentity, TlsSetupError};

/// The SecretId a sandbox run signs with and its emulator accepts.
pub const SANDBOX_SECRET_ID: &str = "AKIDcosinvSandbox";
/// The matching SecretKey; a fixed, public value for local use only.
pub const SANDBOX_SECRET_KEY: &str = "cosinv-sandbox-secret";
/// The reserved path of the counters (JSON, no signature needed).
pub const COUNTERS_PATH: &str = "/-/cosinv/counters";
/// The reserved path of the delivery call: `POST` with
/// `?date=YYYYMMDD[&skip=B1,B2][&corrupt=B3]` delivers every enabled
/// configuration's report (no signature needed, as the counters).
pub const DELIVER_PATH: &str = "/-/cosinv/deliver";
/// The reserved path that makes buckets refuse reads of their objects:
/// `POST` with `?buckets=B1,B2` (none: every bucket readable again), so a
/// rehearsal can show what `deliveries` says of a destination cosinv may
/// not read (no signature needed, as the counters).
pub const REFUSE_READS_PATH: &str = "/-/cosinv/refuse-reads";

/// Faults to inject; all off by default. Rates are fractions of requests
/// (0.0 to 1.0), drawn from a generator seeded with `seed`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Faults {
    pub latency: Duration,
    /// Extra latency drawn uniformly from 0 to this.
    pub latency_jitter: Duration,
    pub slow_down: f64,
    pub internal_error: f64,
    pub too_many_requests: f64,
    pub reset: f64,
    pub hang: f64,
    /// Requests per second above which the emulator answers 503 SlowDown.
    pub rate_limit: Option<f64>,
    /// Seconds of requests the ceilings let through at once (their token
    /// buckets' size); one second when unset.
    pub rate_limit_burst: Option<Duration>,
    /// `SlowDown` to every k-th request, whatever the pace.
    pub slow_down_every: Option<u32>,
    /// `500 InternalError` to every k-th request.
    pub internal_error_every: Option<u32>,
    pub bucket_rate_limit: Option<f64>,
    /// Requests per second to each listed account's buckets (by APPID),
    /// above which that account's requests get 503 `SlowDown`.
    pub account_rate_limit: BTreeMap<String, f64>,
    /// Seconds sent as `Retry-After` on throttling answers.
    pub retry_after: Option<u64>,
    /// The global ceiling over time: from each offset (since the faults
    /// were set) on, this many requests per second; before the first,
    /// `rate_limit`.
    pub rate_limit_schedule: Vec<(Duration, f64)>,
    /// A window in which the service is down.
    pub outage: Option<Outage>,
    pub seed: u64,
}

/// A window (offsets since the faults were set) in which every request
/// fails.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outage {
    pub start: Duration,
    pub end: Duration,
    pub mode: OutageMode,
}

/// How the service is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutageMode {
    /// Every answer is 503 ServiceUnavailable.
    Unavailable,
    /// Connections are refused: nothing listens.
    Refuse,
}

#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub credentials: Credentials,
    /// When set, only these buckets exist (others: 404 NoSuchBucket);
    /// otherwise a bucket appears on first use.
    pub buckets: Option<Vec<BucketEntry>>,
    pub faults: Faults,
    /// Keep state in this file across restarts.
    pub state_file: Option<PathBuf>,
    /// Serve HTTPS with a certificate from a CA made at start (see
    /// [`tls`]); [`Emulator::ca_pem`] is the CA to trust.
    pub tls: bool,
    /// Member accounts owning buckets, with roles to assume (see
    /// `org.rs`); `None`: one account, every bucket the caller's.
    pub organisation: Option<Organisation>,
}

impl EmulatorConfig {
    /// An emulator accepting `credentials`: every bucket exists, no
    /// faults, no state file, plain HTTP.
    pub fn new(credentials: Credentials) -> Self {
        EmulatorConfig {
            credentials,
            buckets: None,
            faults: Faults::default(),
            state_file: None,
            tls: false,
            organisation: None,
        }
    }
}

/// Requests seen, for tests and rehearsals.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// (method, outcome) → count; outcome is the status code or a fault
    /// name such as `reset` or `hang`.
    #[serde(serialize_with = "serialize_requests")]
    pub requests: BTreeMap<(String, String), u64>,
    pub buckets: BTreeMap<String, BucketCounters>,
    /// TLS connections by the server name the client sent (SNI); `""`
    /// for a handshake without one (an IP address).
    pub tls_server_names: BTreeMap<String, u64>,
    /// Client connections open now.
    pub open_connections: u64,
    /// The most client connections open at one moment.
    pub max_open_connections: u64,
    /// STS `AssumeRole` calls answered with credentials, by role ARN.
    pub assume_role: org::AssumeRoleCounts,
    /// Every `AssumeRole` call naming an existing role, answered with
    /// credentials or not, by role ARN.
    pub assume_role_calls: org::AssumeRoleCounts,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BucketCounters {
    pub requests: u64,
    /// The most requests to this bucket in flight at one moment.
    pub max_in_flight: u64,
    #[serde(skip)]
    in_flight: u64,
}

/// JSON keys must be strings: `"PUT 200"`.
fn serialize_requests<S: serde::Serializer>(
    requests: &BTreeMap<(String, String), u64>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_map(
        requests
            .iter()
            .map(|((method, outcome), count)| (format!("{method} {outcome}"), count)),
    )
}

/// What the connections share.
pub(crate) struct Inner {
    credentials: Credentials,
    store: store::Store,
    faults: faults::FaultState,
    counters: Mutex<Counters>,
    /// A fixed clock for tests; `None` is the system clock.
    clock: Mutex<Option<u64>>,
    request_ids: AtomicU64,
    shutdown: CancellationToken,
    /// The last failure to write the state file, for whoever stops the
    /// emulator to report (the library does not print).
    save_error: Mutex<Option<std::io::Error>>,
    roles: sts::Roles,
    org: Option<Organisation>,
    /// The most buckets one GET Service page holds, whatever `max-keys`.
    max_buckets_per_page: AtomicUsize,
    /// One-time inventory jobs submitted (kept in memory only).
    one_time: one_time::OneTimeJobs,
    /// The most entries one GET Bucket page holds, whatever `max-keys`.
    max_objects_per_page: AtomicUsize,
    /// Objects on the buckets: delivered reports (kept in memory only).
    objects: objects::Objects,
}

impl Inner {
    fn max_buckets_per_page(&self) -> usize {
        self.max_buckets_per_page.load(Ordering::Relaxed)
    }

    fn max_objects_per_page(&self) -> usize {
        self.max_objects_per_page.load(Ordering::Relaxed)
    }

    fn now(&self) -> u64 {
        let fixed = *self.clock.lock();
        fixed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |elapsed| elapsed.as_secs())
        })
    }

    /// Counts a request to `bucket` as started; the guard counts it done.
    fn begin(self: &Arc<Self>, bucket: Option<&str>) -> InFlight {
        if let Some(bucket) = bucket {
            let mut counters = self.counters.lock();
            // The name is copied once per bucket, not per request.
            if !counters.buckets.contains_key(bucket) {
                counters
                    .buckets
                    .insert(bucket.to_string(), BucketCounters::default());
            }
            let entry = counters.buckets.get_mut(bucket).expect("just made");
            entry.requests += 1;
            entry.in_flight += 1;
            entry.max_in_flight = entry.max_in_flight.max(entry.in_flight);
        }
        InFlight {
            inner: self.clone(),
            bucket: bucket.map(str::to_string),
        }
    }

    fn count_assume_role_call(&self, role_arn: &str) {
        *self
            .counters
            .lock()
            .assume_role_calls
            .entry(role_arn.to_string())
            .or_default() += 1;
    }

    fn count_assume_role(&self, role_arn: &str) {
        *self
            .counters
            .lock()
            .assume_role
            .entry(role_arn.to_string())
            .or_default() += 1;
    }

    fn record(&self, method: &str, outcome: &str) {
        let mut counters = self.counters.lock();
        // A handful of keys: found without copying the strings.
        let known = counters
            .requests
            .iter_mut()
            .find(|((m, o), _)| m == method && o == outcome);
        match known {
            Some((_, count)) => *count += 1,
            None => {
                counters
                    .requests
                    .insert((method.to_string(), outcome.to_string()), 1);
            }
        }
    }
}

/// Ends a request's in-flight count however the request ends (answered,
/// reset, hung up on by the client).
struct InFlight {
    inner: Arc<Inner>,
    bucket: Option<String>,
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(bucket) = &self.bucket {
            let mut counters = self.inner.counters.lock();
            if let Some(entry) = counters.buckets.get_mut(bucket) {
                entry.in_flight = entry.in_flight.saturating_sub(1);
            }
        }
    }
}

/// Counts a connection open while it lives.
struct OpenConnection(Arc<Inner>);

impl OpenConnection {
    fn new(inner: Arc<Inner>) -> Self {
        let mut counters = inner.counters.lock();
        counters.open_connections += 1;
        counters.max_open_connections =
            counters.max_open_connections.max(counters.open_connections);
        drop(counters);
        OpenConnection(inner)
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        let mut counters = self.0.counters.lock();
        counters.open_connections = counters.open_connections.saturating_sub(1);
    }
}

/// A running emulator.
pub struct Emulator {
    addr: SocketAddr,
    tls: Option<TlsIdentity>,
    inner: Arc<Inner>,
    accept: Option<tokio::task::JoinHandle<()>>,
    saver: Option<tokio::task::JoinHandle<()>>,
    stopped: AtomicBool,
}

impl Emulator {
    /// Binds `listen` (use `127.0.0.1:0` in tests) and serves on the
    /// current tokio runtime until [`Emulator::shutdown`] or drop.
    /// With [`EmulatorConfig::tls`], the certificates are made first; a
    /// failure to make them is an `io::Error` of kind `Other`.
    pub async fn start(config: EmulatorConfig, listen: SocketAddr) -> std::io::Result<Emulator> {
        let store = store::Store::open(config.buckets, config.state_file)?;
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let tls = match config.tls {
            true => Some(TlsIdentity::generate(addr.ip()).map_err(std::io::Error::other)?),
            false => None,
        };
        let inner = Arc::new(Inner {
            credentials: config.credentials,
            store,
            faults: faults::FaultState::new(config.faults),
            counters: Mutex::new(Counters::default()),
            clock: Mutex::new(None),
            request_ids: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            save_error: Mutex::new(None),
            roles: sts::Roles::default(),
            org: config.organisation,
            max_buckets_per_page: AtomicUsize::new(crate::cos::request::MAX_SERVICE_PAGE as usize),
            one_time: one_time::OneTimeJobs::default(),
            max_objects_per_page: AtomicUsize::new(crate::cos::request::MAX_OBJECT_PAGE as usize),
            objects: objects::Objects::default(),
        });
        let accept = tokio::spawn(accept_loop(listener, inner.clone(), tls.clone()));
        let saver = inner
            .store
            .has_state_file()
            .then(|| tokio::spawn(store::save_periodically(inner.clone())));
        Ok(Emulator {
            addr,
            tls,
            inner,
            accept: Some(accept),
            saver,
            stopped: AtomicBool::new(false),
        })
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://ADDR` (`https://` with TLS): the endpoint to send requests
    /// to.
    pub fn endpoint(&self) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }
    /// The CA certificate (PEM) that signed the server's, with TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.tls.as_ref().map(TlsIdentity::ca_pem)
    }
    /// `http://ADDR/-/metadata`, for `COSINV_METADATA_ENDPOINT`.
    pub fn metadata_endpoint(&self) -> String {
        format!("{}{METADATA_PATH}", self.endpoint())
    }
    /// `http://ADDR/-/sts`, for `COSINV_STS_ENDPOINT`.
    pub fn sts_endpoint(&self) -> String {
        format!("{}{STS_PATH}", self.endpoint())
    }
    /// Replaces the CVM role and STS settings (see [`RoleConfig`]).
    pub fn set_roles(&self, roles: RoleConfig) {
        self.inner.roles.set(roles);
    }
    /// How many temporary credentials were handed out (and not forgotten).
    pub fn issued_credentials(&self) -> usize {
        self.inner.roles.issued()
    }
    /// Caps GET Service pages at `buckets` (at least 1), below COS's 2,000,
    /// so a test pages through a few buckets as through an account of
    /// thousands.
    pub fn set_max_buckets_per_page(&self, buckets: usize) {
        self.inner
            .max_buckets_per_page
            .store(buckets.max(1), Ordering::Relaxed);
    }
    /// Caps GET Bucket pages at `entries` (at least 1), below COS's
    /// 1,000, so a test pages through a few report folders.
    pub fn set_max_objects_per_page(&self, entries: usize) {
        self.inner
            .max_objects_per_page
            .store(entries.max(1), Ordering::Relaxed);
    }
    /// The bucket's policy (JSON), as PUT Bucket policy left it.
    pub fn bucket_policy(&self, bucket: &str) -> Option<String> {
        self.inner.store.stored_policy(bucket)
    }
    /// Replaces the faults (and reseeds their generator).
    pub fn set_faults(&self, faults: Faults) {
        self.inner.faults.set(faults);
    }
    /// Fixes the emulator's clock at `now` (Unix seconds); `None` returns
    /// to the system clock. For testing signature windows without waiting.
    pub fn set_clock(&self, now: Option<u64>) {
        *self.inner.clock.lock() = now;
    }
    pub fn counters(&self) -> Counters {
        self.inner.counters.lock().clone()
    }
    /// The configurations stored on `bucket`, sorted by id.
    pub fn inventory(&self, bucket: &str) -> Vec<InventoryConfiguration> {
        self.inner.store.configurations(bucket)
    }
    /// How many inventory configurations it holds, on how many buckets.
    pub fn holds(&self) -> (usize, usize) {
        self.inner.store.totals()
    }
    /// The one-time inventory jobs submitted on `bucket`, oldest first.
    pub fn one_time_jobs(&self, bucket: &str) -> Vec<OneTimeJob> {
        self.inner.one_time.on(bucket)
    }
    /// How many one-time inventory jobs were submitted, on every bucket.
    pub fn one_time_count(&self) -> usize {
        self.inner.one_time.count()
    }
    /// Plays COS's delivery of the reports (see [`Delivery`]).
    pub fn deliver(&self, delivery: &Delivery) -> Delivered {
        deliver::deliver(&self.inner, delivery)
    }
    /// Writes an object directly, bypassing HTTP (test set-up: planted
    /// or damaged reports).
    pub fn put_object(&self, bucket: &str, key: &str, body: Vec<u8>) {
        let now = self.inner.now();
        self.inner.objects.put(bucket, key, body.into(), now);
    }
    /// Removes an object; whether there was one.
    pub fn remove_object(&self, bucket: &str, key: &str) -> bool {
        self.inner.objects.remove(bucket, key)
    }
    /// An object's body, if there is one.
    pub fn object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let object = self.inner.objects.get(bucket, key)?;
        Some(object.body.to_vec())
    }

    /// Answers 403 `AccessDenied` to every GET Bucket, GET and HEAD
    /// Object on exactly `buckets` from now on (empty: none), as COS does
    /// when a bucket's policy denies cosinv's reads; deliveries still
    /// write there. Also `POST` [`REFUSE_READS_PATH`].
    pub fn refuse_reads(&self, buckets: &[&str]) {
        let buckets = buckets.iter().map(|bucket| bucket.to_string());
        self.inner.objects.refuse_reads(buckets);
    }

    /// How many objects the buckets hold.
    pub fn object_count(&self) -> usize {
        self.inner.objects.count()
    }
    /// Every inventory id on `bucket`, sorted, raw ones included.
    pub fn inventory_ids(&self, bucket: &str) -> Vec<String> {
        self.inner.store.ids(bucket)
    }
    /// Stores a configuration directly, bypassing HTTP (test set-up).
    pub fn insert_inventory(&self, bucket: &str, config: InventoryConfiguration) {
        let id = config.id.as_str().to_string();
        self.inner
            .store
            .insert_unchecked(bucket, &id, store::Stored::Parsed(Box::new(config)));
    }
    /// Stores an `<InventoryConfiguration>` document as another tool (the
    /// console, a newer API) made it: kept and answered as it is, whatever
    /// cosinv thinks of its values (test set-up).
    pub fn insert_raw_inventory(&self, bucket: &str, id: &str, document: &str) {
        self.inner
            .store
            .insert_unchecked(bucket, id, store::Stored::Raw(document.to_string()));
    }
    /// Stops serving, closes connections and writes the state file; the
    /// last failure to write it, if the last attempt failed.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        self.stop();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        if let Some(saver) = self.saver.take() {
            let _ = saver.await;
        }
        match self.inner.save_error.lock().take() {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            self.inner.shutdown.cancel();
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(mut listener: TcpListener, inner: Arc<Inner>, tls: Option<TlsIdentity>) {
    loop {
        if let Some(down) = inner.faults.refusing() {
            match refuse_for(listener, &inner, down).await {
                Some(again) => listener = again,
                None => break,
            }
        }
        let accepted = tokio::select! {
            _ = inner.shutdown.cancelled() => break,
            accepted = listener.accept() => accepted,
            // Look at the outage window again now and then.
            _ = tokio::time::sleep(Duration::from_millis(100)) => continue,
        };
        let Ok((stream, _)) = accepted else {
            // Out of file descriptors and the like: wait, then go on.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let inner = inner.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let _open = OpenConnection::new(inner.clone());
            let shutdown = inner.shutdown.clone();
            tokio::select! {
                _ = connection(stream, inner, tls) => {}
                _ = shutdown.cancelled() => {}
            }
        });
    }
}

/// An outage that refuses connections: nothing listens for `down`, then
/// the same address is listened on again (`None` when shut down
/// meanwhile, or the address cannot be had back).
async fn refuse_for(listener: TcpListener, inner: &Inner, down: Duration) -> Option<TcpListener> {
    let addr = listener.local_addr().ok()?;
    drop(listener);
    tokio::select! {
        _ = inner.shutdown.cancelled() => return None,
        _ = tokio::time::sleep(down) => {}
    }
    for _ in 0..100 {
        if let Ok(listener) = TcpListener::bind(addr).await {
            return Some(listener);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Serves one connection, after a TLS handshake when there is TLS. A
/// client that refuses the certificate ends the connection here.
async fn connection(stream: tokio::net::TcpStream, inner: Arc<Inner>, tls: Option<TlsIdentity>) {
    match tls {
        Some(tls) => {
            if let Ok(stream) = tls.acceptor().accept(stream).await {
                let name = stream.get_ref().1.server_name().unwrap_or_default();
                *inner
                    .counters
                    .lock()
                    .tls_server_names
                    .entry(name.to_string())
                    .or_default() += 1;
                serve(stream, inner).await;
            }
        }
        None => serve(stream, inner).await,
    }
}

async fn serve<S>(stream: S, inner: Arc<Inner>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |request| {
        let inner = inner.clone();
        async move { service::handle(inner, request).await }
    });
    let _ = http1::Builder::new()
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
