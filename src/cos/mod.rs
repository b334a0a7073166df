//! The wire: everything COS defines about one request and its answer.
//!
//! - [`sign`]: the COS request signature, a pure function.
//! - [`xml`]: the XML bodies (inventory configurations, list pages, errors,
//!   bucket lists) and their conversion to and from [`crate::model`].
//! - [`live`]: what is on a bucket, read faithfully whatever made it.
//! - [`request`]: one call described without sending it (the inventory
//!   calls, GET Service, GET and PUT Bucket policy, GET Bucket, GET and HEAD
//!   Object).
//! - [`listing`]: GET Bucket pages, the keys and folders under a prefix.
//! - [`report`]: where COS delivers inventory reports, and their
//!   manifest.json and checksum.
//! - [`policy`]: bucket policies, and whether one lets COS write the
//!   inventory reports under a prefix.
//! - [`error`]: COS's error codes and what each says about the next request.
//! - [`text`]: the server's text (messages, codes, ids) made safe to show.
//!
//! Nothing here sends, retries or waits: sending is [`crate::send`]'s job,
//! the HTTP plumbing [`crate::http`]'s, credentials [`crate::credentials`]'.

pub mod error;
pub mod listing;
pub mod live;
pub mod policy;
pub mod report;
pub mod request;
pub mod sign;
pub mod text;
pub mod xml;
