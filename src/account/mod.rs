//! What cosinv reads about the account rather than about one bucket's
//! inventory: the bucket list (GET Service, every page), for `discover:`
//! jobs and `cosinv buckets`; and the policies of destination buckets, for
//! the destination check. The planner stays offline: the command layer
//! asks here first and hands the planner what came back.
//!
//! - [`buckets`]: GET Service, every page; the bucket filter.
//! - [`destinations`]: each distinct destination's policy read once, and
//!   a warning per job whose reports it does not let COS write.

pub mod buckets;
pub mod destinations;

pub use crate::send::FetchSettings;
pub use buckets::{BucketFilter, ListError, discovered, list_buckets};
pub use destinations::{DestinationCheck, check_destinations};
