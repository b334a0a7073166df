//! One request to COS, sent until it ends: the one way cosinv sends.
//!
//! - [`client`]: the pooled HTTP client that signs and sends a request once
//!   ([`client::CosClient`]), never following redirects, capping bodies.
//! - [`Transport`]: one attempt of a request, signed for a given time; the
//!   client is the real one, tests script their own.
//! - [`retry`]: the one classifier of outcomes, and the backoff.
//! - [`stop`]: answers that end a whole run ([`StopReason`]).
//! - [`mod@fetch`]: a request tried until it ends, for the few account-level
//!   reads made before a plan (GET Service pages, bucket policies).
//!
//! Everything that sends (the executor's lanes, the account reads) goes
//! through these pieces, so a request is classified, retried and signed
//! the same way wherever it comes from.

pub mod client;
pub mod fetch;
pub mod retry;
pub mod sender;
pub mod stop;

use std::future::Future;

use crate::cos::request::InventoryRequest;
use crate::model::{BucketName, Region};
use client::{CosClient, Response, TransportError};

pub use fetch::{FetchSettings, Fetched, fetch, fetch_through};
pub use sender::{End, Ended, Retry, SendSettings, Sender, Subject, Unwatched, Watcher};
pub use stop::StopReason;

/// One line about an attempt's outcome.
pub fn describe(outcome: &Attempt) -> String {
    match outcome {
        Ok(response) => response.describe(),
        Err(err) => err.message.clone(),
    }
}

/// What one attempt got: an HTTP answer, or no complete answer.
pub type Attempt = Result<Response, TransportError>;

/// Sends one attempt of a request, signed for `now` (Unix seconds).
/// [`CosClient`] is the real one; tests script their own.
pub trait Transport: Send + Sync + 'static {
    fn send(&self, request: &InventoryRequest, now: u64) -> impl Future<Output = Attempt> + Send;

    /// A transport of its own for the requests to one bucket, dropped when
    /// its lane is done with the bucket; `None` (the default): the shared
    /// one serves every bucket.
    fn for_bucket(&self, _bucket: &BucketName, _region: &Region) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }
}

impl Transport for CosClient {
    fn send(&self, request: &InventoryRequest, now: u64) -> impl Future<Output = Attempt> + Send {
        CosClient::send(self, request, now)
    }

    fn for_bucket(&self, bucket: &BucketName, region: &Region) -> Option<Self> {
        CosClient::for_bucket(self, bucket, region)
    }
}
