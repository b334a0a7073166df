//! The tokio side of the pace: the pure [`CeilingController`] and
//! [`OutageGuard`] behind locks, shared by a run's tasks, on tokio's clock
//! (so tests on a paused clock run instantly).

use std::time::{Duration, Instant};

use super::ceiling::{CeilingConfig, CeilingController};
use super::outage::{Admission, FailureCounts, GiveUp, OutageConfig, OutageGuard, OutcomeKind};

/// [`CeilingController`] shared by the executor's tasks.
///
/// Waiters queue on a fair turnstile, so only the first in line sleeps on
/// the bucket: no thundering herd at thousands per second, and a cut takes
/// effect for everyone still waiting. While not paced, the first in line
/// also wakes on every answer: a lock-step wave ends with its last answer,
/// not at a time. The clock is tokio's, so tests on a paused clock run
/// instantly.
#[derive(Debug)]
pub struct Pacer {
    core: parking_lot::Mutex<CeilingController>,
    turn: tokio::sync::Mutex<()>,
    answered: tokio::sync::Notify,
}

impl Pacer {
    /// Why the pace is what it is now.
    pub fn reason(&self) -> super::PaceReason {
        super::PaceReason::of(&self.core.lock())
    }

    pub fn new(config: CeilingConfig) -> Self {
        Pacer {
            core: parking_lot::Mutex::new(CeilingController::new(config, now())),
            turn: tokio::sync::Mutex::new(()),
            answered: tokio::sync::Notify::new(),
        }
    }

    /// Waits for the right to send, and returns the send time to hand
    /// back with the answer. Cancel-safe: nothing is taken until it
    /// returns.
    pub async fn acquire(&self) -> Instant {
        let _turn = self.turn.lock().await;
        loop {
            // Registered before asking, so an answer in between is not
            // missed.
            let answered = self.answered.notified();
            let now = now();
            let (ready, on_answers) = {
                let mut core = self.core.lock();
                (core.try_acquire(now), core.waits_for_answers(now))
            };
            let sleep = tokio::time::sleep_until(match ready {
                Ok(()) => return now,
                Err(at) => at.into(),
            });
            if on_answers {
                tokio::select! {
                    _ = sleep => {}
                    _ = answered => {}
                }
            } else {
                sleep.await;
            }
        }
    }

    pub fn on_success(&self, sent_at: Instant) {
        self.on_answer(|core, now| core.on_success(now, sent_at));
    }

    pub fn on_throttle(&self, sent_at: Instant) {
        self.on_answer(|core, now| core.on_throttle(now, sent_at));
    }

    /// An answer that is neither success nor throttling: see
    /// [`CeilingController::on_error`].
    pub fn on_error(&self, sent_at: Instant) {
        self.on_answer(|core, now| core.on_error(now, sent_at));
    }

    /// A turn that was not used: see [`CeilingController::on_unsent`].
    pub fn on_unsent(&self, sent_at: Instant) {
        self.on_answer(|core, now| core.on_unsent(now, sent_at));
    }

    fn on_answer(&self, feed: impl FnOnce(&mut CeilingController, Instant)) {
        let waiting = {
            let mut core = self.core.lock();
            let now = now();
            let waiting = core.waits_for_answers(now);
            feed(&mut core, now);
            waiting
        };
        if waiting {
            self.answered.notify_waiters();
        }
    }

    pub fn current_rate(&self) -> Option<f64> {
        self.core.lock().current_rate()
    }

    /// A copy of the controller, for the summary and tests.
    pub fn snapshot(&self) -> CeilingController {
        self.core.lock().clone()
    }
}

/// [`OutageGuard`] shared by the executor's tasks, on tokio's clock (so
/// tests on a paused clock run instantly). Waiters wake at their time or
/// as soon as a live answer resumes a paused run.
#[derive(Debug)]
pub struct OutageGate {
    core: parking_lot::Mutex<OutageGuard>,
    resumed: tokio::sync::Notify,
}

/// A pause or a resume, for the run's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Failures in a row paused the run; these are they.
    Paused { failures: FailureCounts },
    /// A live answer ended a pause that lasted this long.
    Resumed { paused_for: Duration },
}

/// A request that may start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admitted {
    Go,
    Probe,
}

impl OutageGate {
    /// Whether sending is paused behind a probe now.
    pub fn is_paused(&self) -> bool {
        self.core.lock().paused_since().is_some()
    }

    /// Whether recent failures are single requests failing while COS
    /// answers most others (see [`OutageGuard::failures_are_isolated`]).
    pub fn failures_are_isolated(&self) -> bool {
        self.core.lock().failures_are_isolated(now())
    }

    pub fn new(config: OutageConfig) -> Self {
        OutageGate {
            core: parking_lot::Mutex::new(OutageGuard::new(config, now())),
            resumed: tokio::sync::Notify::new(),
        }
    }

    /// Waits until a request may start; `Err` when the run must end.
    /// Cancel-safe: nothing is taken until it returns.
    pub async fn admit(&self) -> Result<Admitted, GiveUp> {
        loop {
            // Listening before asking, so a resume in between is not lost.
            let resumed = self.resumed.notified();
            let admission = self.core.lock().admit(now());
            match admission {
                Admission::Go => return Ok(Admitted::Go),
                Admission::Probe => return Ok(Admitted::Probe),
                Admission::GiveUp(reason) => return Err(reason),
                Admission::Wait(until) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until.into()) => {}
                        _ = resumed => {}
                    }
                }
            }
        }
    }

    /// Records how a request ended; says whether that paused or resumed
    /// the run.
    pub fn on_outcome(&self, kind: OutcomeKind) -> Option<Change> {
        let now = now();
        let mut core = self.core.lock();
        let paused_since = core.paused_since();
        core.on_outcome(now, kind);
        match (paused_since, core.paused_since()) {
            (Some(since), None) => {
                self.resumed.notify_waiters();
                Some(Change::Resumed {
                    paused_for: now.saturating_duration_since(since),
                })
            }
            (None, Some(_)) => Some(Change::Paused {
                failures: core.streak_failures(),
            }),
            _ => None,
        }
    }

    /// A copy of the guard, for the summary and tests.
    pub fn snapshot(&self) -> OutageGuard {
        self.core.lock().clone()
    }
}

fn now() -> Instant {
    tokio::time::Instant::now().into_std()
}
