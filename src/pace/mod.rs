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
//! `rate_cuts`, `paced_at`, `estimated_ceiling`, `outages`) and the docs;
//! [`PaceReason`] says in one line why the run goes at its pace.
//!
//! # What the ceiling controller guarantees
//!
//! Each is a test in `tests.rs`, run over hundreds of seeded
//! simulated servers (`sim.rs`: a token-bucket ceiling holding 0 to 2 s of
//! burst, latency, `SlowDown`s at random or every k-th request whatever the
//! rate, errors that are not throttling, ceilings that step down and up,
//! and several processes sharing one ceiling) on virtual time:
//!
//! - **Every answer is heard, and only throttling slows.** A 404, a 500 or
//!   a reset is an answer ([`ceiling::CeilingController::on_error`]): it
//!   closes its wave and counts in its round, and never cuts the pace; a
//!   turn that was not used is given back
//!   ([`ceiling::CeilingController::on_unsent`]). Missing buckets do not
//!   leave the controller waiting for answers that never come.
//! - **A cut stands only while slowing lowered the rejected share.** After
//!   a cut, the share is compared with the share over the whole stretch at
//!   the pace before (not with the round picked for its throttles): not
//!   lowered, it is throttling that is not ours, learned as noise, and the
//!   cuts are undone; most answers throttled is a ceiling whatever was
//!   learned. A cut after which the server accepts about as much as before
//!   is a ceiling too, whatever the share did: noise takes its share of
//!   whatever is sent, a ceiling what exceeds it.
//! - **The floor follows what the server has been seen to accept.** No
//!   cut takes the pace, or the estimate its curve regrows toward, below a
//!   share of the answers the server gave per second over the last
//!   seconds (or the least rate, 1/s), so cuts judged wrong cannot
//!   compound down to 1/s while the server answers.
//! - **Recovery is bounded in time.** A pace from the start's guess (which
//!   cannot know the server's burst) grows exponentially until a round is
//!   congested, doubling per answer below a request per round trip, so even
//!   1/s is left in a second or two; after a cut the cubic curve regains the
//!   ceiling in [`ceiling::CeilingConfig::regain`].

pub mod ceiling;
pub mod limits;
pub mod outage;
pub mod shared;

// Public only for `benches/ceiling.rs`, a crate of its own that cannot
// see test code; hidden, as it is no part of the library's interface.
#[doc(hidden)]
pub mod sim;
#[cfg(test)]
mod tests;

pub use shared::{OutageGate, Pacer};

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ceiling::CeilingConfig;
use outage::{Outage, OutageConfig};

/// A run's pacing, created by the first phase that uses it and shared by
/// every clone: hand the same one to `refresh` and `execute` (through
/// [`crate::executor::RunControl`]) to carry what was learned across.
///
/// COS throttles each account on its own, so each account (the APPID a
/// bucket's name ends in) has its own ceiling and outage guard: one
/// account's `SlowDown`s do not slow the others. The first account seen
/// is the one the report's overall fields describe, and each account's
/// pace is in its `by_account`; the operator's `--rate` is a limit of its
/// own, over all accounts.
#[derive(Debug, Clone, Default)]
pub struct Pacing {
    first: Arc<OnceLock<(String, Arc<Parts>)>>,
    others: Arc<parking_lot::RwLock<std::collections::HashMap<String, Arc<Parts>>>>,
}

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
    /// Why the run goes at the pace it does at the end.
    pub reason: PaceReason,
    /// Each account's pace (by APPID), so that a run over several says
    /// why each went as it did: the fields above describe the first only.
    pub by_account: BTreeMap<String, AccountPacing>,
}

/// One account's pace at the end of a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountPacing {
    /// Times its rate was cut because COS throttled it.
    pub rate_cuts: u64,
    /// Its pace at the end, if COS's throttling still held it.
    pub paced_at: Option<f64>,
    /// The ceiling last measured on it, if it met one.
    pub estimated_ceiling: Option<f64>,
    pub reason: PaceReason,
}

impl AccountPacing {
    fn of(controller: &ceiling::CeilingController) -> Self {
        AccountPacing {
            rate_cuts: controller.cuts(),
            paced_at: controller.current_rate(),
            estimated_ceiling: controller.estimated_ceiling(),
            reason: PaceReason::of(controller),
        }
    }
}

/// Why a run sends at the pace it does, in words for the summary and the
/// progress line (`Display`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub enum PaceReason {
    /// Nothing throttled: as fast as the workers and the operator's limits
    /// allow.
    #[default]
    NotPaced,
    /// A share of answers throttled whatever the pace: learned, and not
    /// paced for.
    Noise { share: f64 },
    /// Held at `rate` by COS's throttling ceiling.
    Ceiling { rate: f64 },
    /// Climbing back toward the ceiling last measured (`ceiling`), now at
    /// `rate`.
    Recovering { rate: f64, ceiling: f64 },
    /// Climbed past the ceiling last measured (`ceiling`) with nothing
    /// throttled: growing until COS throttles again, now at `rate`.
    Probing { rate: f64, ceiling: f64 },
}

impl PaceReason {
    pub(crate) fn of(controller: &ceiling::CeilingController) -> Self {
        match (controller.current_rate(), controller.estimated_ceiling()) {
            (None, _) if controller.noise_share() > 0.0 => PaceReason::Noise {
                share: controller.noise_share(),
            },
            (None, _) => PaceReason::NotPaced,
            (Some(rate), Some(ceiling)) if controller.is_recovering() && rate > ceiling => {
                PaceReason::Probing { rate, ceiling }
            }
            (Some(rate), Some(ceiling)) if controller.is_recovering() => {
                PaceReason::Recovering { rate, ceiling }
            }
            (Some(rate), _) => PaceReason::Ceiling { rate },
        }
    }
}

impl std::fmt::Display for PaceReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            PaceReason::NotPaced => write!(f, "not paced"),
            PaceReason::Noise { share } => write!(
                f,
                "not paced: {:.0}% of answers throttled whatever the pace (noise learned)",
                100.0 * share
            ),
            PaceReason::Ceiling { rate } => write!(f, "paced at {rate:.0}/s (COS's ceiling)"),
            PaceReason::Recovering { rate, ceiling } => {
                write!(f, "paced at {rate:.0}/s, recovering toward {ceiling:.0}/s")
            }
            PaceReason::Probing { rate, ceiling } => write!(
                f,
                "paced at {rate:.0}/s, probing past the {ceiling:.0}/s COS last held it to"
            ),
        }
    }
}

impl Pacing {
    /// What holds the run back at this moment, in words, for progress
    /// lines: a pause while COS fails, or the pace and its reason; `None`
    /// while nothing does. Cheap: nothing is copied.
    pub fn holding(&self) -> Option<String> {
        let parts = &self.first.get()?.1;
        if parts.gate.is_paused() {
            return Some("paused: COS failed every request lately, probing".into());
        }
        match parts.pacer.reason() {
            PaceReason::NotPaced => None,
            reason => Some(reason.to_string()),
        }
    }

    /// The parts of `account` (an APPID; `""` for requests to no bucket),
    /// created on first use with `give_up_after` and an outage guard tuned
    /// to `concurrency`.
    pub fn parts(&self, account: &str, concurrency: usize, give_up_after: Duration) -> Arc<Parts> {
        let make = || {
            Arc::new(Parts {
                pacer: Pacer::new(CeilingConfig::default()),
                gate: OutageGate::new(OutageConfig {
                    give_up_after,
                    ..OutageConfig::for_concurrency(concurrency)
                }),
            })
        };
        let (first_account, first) = self.first.get_or_init(|| (account.to_string(), make()));
        if first_account == account {
            return first.clone();
        }
        if let Some(parts) = self.others.read().get(account) {
            return parts.clone();
        }
        self.others
            .write()
            .entry(account.to_string())
            .or_insert_with(make)
            .clone()
    }

    /// What pacing did so far; all zero if no phase has run.
    pub fn report(&self) -> PacingReport {
        let Some((first_account, parts)) = self.first.get() else {
            return PacingReport::default();
        };
        let controller = parts.pacer.snapshot();
        let guard = parts.gate.snapshot();
        let first = AccountPacing::of(&controller);
        let mut by_account = BTreeMap::new();
        by_account.insert(first_account.clone(), first.clone());
        for (account, parts) in self.others.read().iter() {
            by_account.insert(account.clone(), AccountPacing::of(&parts.pacer.snapshot()));
        }
        // Every account's cuts count, those of requests to no bucket (GET
        // Service) too; but those are no account's pace.
        let rate_cuts = by_account.values().map(|account| account.rate_cuts).sum();
        by_account.remove("");
        PacingReport {
            rate_cuts,
            paced_at: first.paced_at,
            estimated_ceiling: first.estimated_ceiling,
            noise_share: controller.noise_share(),
            outages: guard.outages().to_vec(),
            brief_pauses: guard.brief_pauses(),
            reason: first.reason,
            by_account,
        }
    }
}
