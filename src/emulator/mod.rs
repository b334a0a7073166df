//! A local COS-compatible server for the inventory APIs.
//!
//! SKELETON: the public API below is the contract tests, benches and the
//! executor build on. Issue #3 fills it in (and may add to it, but not
//! change these names).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::credentials::Credentials;
use crate::model::InventoryConfiguration;
use crate::xml::BucketEntry;

/// The SecretId `apply --sandbox` signs with and its emulator accepts.
pub const SANDBOX_SECRET_ID: &str = "AKIDcosinvSandbox";
/// The matching SecretKey; a fixed, public value for local use only.
pub const SANDBOX_SECRET_KEY: &str = "cosinv-sandbox-secret";

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
    pub bucket_rate_limit: Option<f64>,
    /// Seconds sent as `Retry-After` on throttling answers.
    pub retry_after: Option<u64>,
    pub seed: u64,
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
}

/// Requests seen, for tests and rehearsals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// (method, outcome) → count; outcome is the status code or a fault
    /// name such as `reset` or `hang`.
    pub requests: BTreeMap<(String, String), u64>,
    pub buckets: BTreeMap<String, BucketCounters>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BucketCounters {
    pub requests: u64,
    /// The most requests to this bucket in flight at one moment.
    pub max_in_flight: u64,
}

/// A running emulator.
pub struct Emulator {
    addr: SocketAddr,
}

impl Emulator {
    /// Binds `listen` (use `127.0.0.1:0` in tests) and serves on the
    /// current tokio runtime until [`Emulator::shutdown`] or drop.
    pub async fn start(_config: EmulatorConfig, _listen: SocketAddr) -> std::io::Result<Emulator> {
        unimplemented!("issue #3")
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    /// `http://ADDR`, for `--endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
    pub fn set_faults(&self, _faults: Faults) {
        unimplemented!("issue #3")
    }
    pub fn counters(&self) -> Counters {
        unimplemented!("issue #3")
    }
    /// The configurations stored on `bucket`, sorted by id.
    pub fn inventory(&self, _bucket: &str) -> Vec<InventoryConfiguration> {
        unimplemented!("issue #3")
    }
    /// Stores a configuration directly, bypassing HTTP (test set-up).
    pub fn insert_inventory(&self, _bucket: &str, _config: InventoryConfiguration) {
        unimplemented!("issue #3")
    }
    pub async fn shutdown(self) {
        unimplemented!("issue #3")
    }
}

/// `cosinv emulate`: serves until SIGINT/SIGTERM.
pub fn run_command(_args: &crate::cli::EmulateArgs) -> u8 {
    eprintln!("cosinv emulate: not implemented yet in this version");
    crate::exit::USAGE
}
