//! Words for numbers: "1 job", "2 jobs", "1 policy" (the library's).

pub use crate::run::text::{count, noun};
