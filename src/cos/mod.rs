//! The wire: everything COS defines about one request and its answer.
//!
//! - [`credentials`]: SecretId, SecretKey and token, never shown.
//! - [`sign`]: the COS request signature, a pure function.
//! - [`xml`]: the XML bodies (inventory configurations, list pages, errors,
//!   bucket lists) and their conversion to and from [`crate::model`].
//! - [`live`]: what is on a bucket, read faithfully whatever made it.
//! - [`request`]: one call described without sending it (the inventory
//!   calls, GET Service, GET and PUT Bucket policy).
//! - [`policy`]: bucket policies, and whether one lets COS write the
//!   inventory reports under a prefix.
//! - [`client`]: the pooled HTTP client that signs and sends a request once.
//! - [`http`]: what every HTTPS client of a run shares (trusted CAs,
//!   proxies, names resolved to fixed addresses); [`tls`] loads the CAs
//!   and recognises a refused certificate; [`proxy`] reads the proxy
//!   variables.
//! - [`error`]: COS's error codes and what each says about the next request.
//! - [`text`]: the server's text (messages, codes, ids) made safe to show.
//!
//! Nothing here retries, waits or decides what to do next: that is
//! [`crate::executor`]'s job.

pub mod client;
pub mod credentials;
pub mod error;
pub mod http;
pub mod live;
pub mod policy;
pub mod proxy;
pub mod request;
pub mod sign;
pub mod text;
pub mod tls;
pub mod xml;
