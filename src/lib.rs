//! cosinv provisions Tencent Cloud COS bucket inventory jobs across an
//! organisation from a manifest.
//!
//! Data flows one way: [`manifest`] (files) → [`plan`] (validated jobs) →
//! [`executor`] (signed requests through [`client`]) → [`report`] (CSV).
//! [`model`] and [`xml`] describe an inventory configuration and its wire
//! form, [`sign`] computes the COS request signature, and [`emulator`] is a
//! local COS that tests, benchmarks and rehearsals run against.
//!
//! The binary (`src/main.rs`) only parses arguments through [`cli`].

pub mod apply;
pub mod cli;
pub mod client;
pub mod credentials;
pub mod emulator;
pub mod executor;
pub mod lock;
pub mod manifest;
pub mod model;
pub mod plan;
pub mod progress;
pub mod ratelimit;
pub mod report;
pub mod retry;
pub mod sign;
pub mod xml;

/// Exit codes a cron job can act on.
pub mod exit {
    /// Every job done.
    pub const SUCCESS: u8 = 0;
    /// Some jobs failed; the report says which.
    pub const JOBS_FAILED: u8 = 1;
    /// Invalid manifest, usage error, or a command that could not start.
    pub const USAGE: u8 = 2;
    /// Stopped by SIGINT (128 + 2).
    pub const INTERRUPTED: u8 = 130;
    /// Stopped by SIGTERM (128 + 15).
    pub const TERMINATED: u8 = 143;
}
