//! A run of plan or apply as a library pipeline, for every command that
//! needs one: typed [`settings`] in; the stages prepare → discover → plan
//! → check destinations → refresh → confirm → execute → record
//! ([`apply`], [`plan`], sharing [`stages`]; [`run_now`] is apply with a
//! one-time job per job in place of refresh and confirm); an [`observe::RunObserver`]
//! out for lines and progress, and an [`observe::Caller`] for what only
//! the caller can answer (may the run connect, may it delete). Nothing
//! here prints, reads the terminal or names a flag: errors
//! ([`error::RunError`]) are typed, and the caller words its hints.
//!
//! [`deliveries`] checks that COS delivered the chosen jobs' reports.
//! [`connect`] reaches COS (or the sandbox), [`discover`] resolves
//! `discover:` jobs and words the destination check, [`locate`] says
//! where a bucket that answered `NoSuchBucket` is, [`record`] is the
//! sidecar, [`summary`] and [`plan_text`] the words a run ends with,
//! [`progress`] what its progress says, [`text`] plurals and durations;
//! [`saved`] writes a plan for review and applies it as it was saved.

pub mod accounts;
pub mod apply;
pub mod buckets;
pub mod connect;
pub mod deliveries;
pub mod discover;
pub mod error;
pub mod inputs;
pub mod locate;
pub mod lock;
pub mod observe;
pub mod plan;
pub mod plan_text;
pub mod progress;
pub mod record;
pub mod run_now;
pub mod saved;
pub mod settings;
pub mod stages;
pub mod summary;
pub mod text;
