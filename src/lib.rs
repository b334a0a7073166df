//! cosinv provisions Tencent Cloud COS bucket inventory jobs across an
//! organisation from a manifest.
//!
//! Data flows one way: [`manifest`] (files → located entries) → [`plan`]
//! (checked, expanded jobs) → [`executor`] (signed requests through
//! [`cos`]) → [`report`] (one CSV row per job). [`model`] is the inventory
//! configuration and COS's rules for each value; [`emulator`] is a local COS
//! that tests, benchmarks and rehearsals run against. [`account`] reads
//! what the account holds beyond one bucket's inventory (its bucket list
//! for `discover:`, destination buckets' policies) before a plan is made.
//!
//! [`run`] strings these into the pipeline of a plan or apply run (load,
//! reach COS, choose the jobs, refresh, confirm, execute, record), telling
//! its caller what happens through an observer and asking it what only
//! the caller can answer.
//!
//! [`cmd`] is the only module that knows about the command line and the
//! terminal; everything below it takes typed, validated settings and
//! returns typed errors. `docs/ARCHITECTURE.md` is the map.

pub mod account;
pub mod cmd;
pub mod cos;
pub mod credentials;
pub mod emulator;
pub mod executor;
pub mod http;
pub mod manifest;
pub mod model;
pub mod pace;
pub mod plan;
pub mod report;
pub mod run;
pub mod send;
