//! How fast a run sends, in one vocabulary:
//!
//! - **limits** ([`limits`]): the operator's caps, `--rate` overall and
//!   `--bucket-rate` per bucket (governor); fixed for the run.
//! - **ceiling** ([`ceiling`]): the rate COS's throttling allows, found as
//!   the run goes from `SlowDown`s alone; the pure controller, on times
//!   its caller passes.
//! - **outage** ([`outage`]): COS failing (5xx, resets, timeouts): the run
//!   slows, pauses and probes, and gives up when COS stays down; the pure
//!   guard, on times its caller passes.
//! - the **pace**: what the run sends at, the lowest of the three; the
//!   shared, tokio-side wrappers ([`Pacer`] for the ceiling, [`OutageGate`]
//!   for outages) live in [`shared`], and [`Pacing`] carries both across a
//!   run's phases so that what the refresh learned is not learned again.
//!
//! The same words are used in the summary, the sidecar (`pacing`:
//! `rate_cuts`, `paced_at`, `estimated_ceiling`, `outages`) and the docs.

pub mod ceiling;
pub mod limits;
pub mod outage;
pub mod shared;

pub use shared::{OutageGate, Pacer};

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ceiling::CeilingConfig;
use outage::{Outage, OutageConfig};

/// A run's pacing, created by the first phase that uses it and shared by
/// every clone: hand the same one to `refresh` and `execute` (through
/// [`crate::executor::RunControl`]) to carry what was learned across.
#[derive(Debug, Clone, Default)]
pub struct Pacing(Arc<OnceLock<Parts>>);

#[derive(Debug)]
pub struct Parts {
    pub pacer: Pacer,
    pub gate: OutageGate,
}

/// What pacing did during a run, for its summary.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PacingReport {
    /// Times the rate was cut because COS throttled.
    pub rate_cuts: u64,
    /// The pace at the end of the run, if COS's throttling still held it.
    pub paced_at: Option<f64>,
    /// The ceiling the controller last measured, if it met one.
    pub estimated_ceiling: Option<f64>,
    /// The share of answers throttled whatever the pace (background noise
    /// the controller learned to ignore).
    pub noise_share: f64,
    /// Stretches of the run that were slowed or paused, oldest first;
    /// times are counted from the start of the first phase.
    pub outages: Vec<Outage>,
    /// Pauses too short to be outages (failures lining up for a moment).
    pub brief_pauses: u32,
}

impl Pacing {
    /// The parts, created on first use with `give_up_after` and an outage
    /// guard tuned to `concurrency`.
    pub(super) fn parts(&self, concurrency: usize, give_up_after: Duration) -> &Parts {
        self.0.get_or_init(|| Parts {
            pacer: Pacer::new(CeilingConfig::default()),
            gate: OutageGate::new(OutageConfig {
                give_up_after,
                ..OutageConfig::for_concurrency(concurrency)
            }),
        })
    }

    /// What pacing did so far; all zero if no phase has run.
    pub fn report(&self) -> PacingReport {
        let Some(parts) = self.0.get() else {
            return PacingReport::default();
        };
        let controller = parts.pacer.snapshot();
        let guard = parts.gate.snapshot();
        PacingReport {
            rate_cuts: controller.cuts(),
            paced_at: controller.current_rate(),
            estimated_ceiling: controller.estimated_ceiling(),
            noise_share: controller.noise_share(),
            outages: guard.outages().to_vec(),
            brief_pauses: guard.brief_pauses(),
        }
    }
}
