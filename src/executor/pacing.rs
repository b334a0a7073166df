//! What a run learns about how fast COS lets it go: the rate controller
//! ([`super::rate_control`]) and the storm guard ([`super::storm`]),
//! shared by a run's phases so that what the refresh learned about COS's
//! ceiling, or an outage it ran into, is not learned again by the apply.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::rate_control::{Pacer, RateConfig};
use super::storm::{Episode, StormConfig, StormGate};

/// A run's pacing, created by the first phase that uses it and shared by
/// every clone: hand the same one to `refresh` and `execute` (through
/// [`super::RunControl`]) to carry what was learned across.
#[derive(Debug, Clone, Default)]
pub struct Pacing(Arc<OnceLock<Parts>>);

#[derive(Debug)]
pub(super) struct Parts {
    pub pacer: Pacer,
    pub gate: StormGate,
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
    pub episodes: Vec<Episode>,
    /// Pauses too short to be episodes (failures lining up for a moment).
    pub brief_pauses: u32,
}

impl Pacing {
    /// The parts, created on first use with `give_up_after` and a storm
    /// guard tuned to `concurrency`.
    pub(super) fn parts(&self, concurrency: usize, give_up_after: Duration) -> &Parts {
        self.0.get_or_init(|| Parts {
            pacer: Pacer::new(RateConfig::default()),
            gate: StormGate::new(StormConfig {
                give_up_after,
                ..StormConfig::for_concurrency(concurrency)
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
            episodes: guard.episodes().to_vec(),
            brief_pauses: guard.brief_pauses(),
        }
    }
}
