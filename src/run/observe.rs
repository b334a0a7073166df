//! What a run tells its caller (lines, progress) and what it asks it
//! (may it write, may it delete). The library never prints and never
//! reads the terminal: the caller decides what is shown and how it is
//! answered.

use std::sync::Arc;

use futures_util::future::LocalBoxFuture;

use crate::executor::events::{Observer, Stats};
use crate::pace::Pacing;

/// How important a line is, and so who sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Detail asked for (where the credentials come from, ignored elements).
    Detail,
    /// What the run is doing; left out when only errors are wanted.
    Info,
    /// A warning that is left out with the info lines.
    Notice,
    /// A warning shown whatever else is left out.
    Warn,
    Error,
    /// How the run ended: shown whatever else is left out.
    Summary,
}

/// What a phase of the run counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading every bucket's inventory: buckets.
    Refresh,
    /// Sending what differs: jobs (and pruned ids).
    Apply,
    /// Checking each job's delivered reports: jobs.
    Deliveries,
}

/// Where a run reports what it does.
pub trait RunObserver: Sync {
    /// One line for the run's log.
    fn log(&self, level: Level, message: &str);

    /// A phase starts with `total` units counted in `stats`, at the pace
    /// `pacing` holds (what holds it back can be asked of it at any time);
    /// the executor observer that should see its events, if any.
    fn phase_started(
        &self,
        phase: Phase,
        stats: Arc<Stats>,
        total: u64,
        pacing: &Pacing,
    ) -> Option<Observer>;

    /// The phase started last has ended.
    fn phase_finished(&self, phase: Phase);
}

/// An inventory id a prune would delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    pub bucket: String,
    pub id: String,
}

/// An error of the caller's own, passed through unchanged.
pub type CallerError = Box<dyn std::error::Error + Send + Sync>;

/// What a run asks whoever started it.
pub trait Caller {
    /// The run is about to connect to COS to change it (neither a dry run
    /// nor the sandbox): hold whatever keeps a second run of the same
    /// manifests out. An error stops the run before anything is sent.
    fn before_connecting(&mut self) -> Result<(), CallerError> {
        Ok(())
    }

    /// The first request is about to go out (the moment to start
    /// watching for stop requests).
    fn before_sending(&mut self) {}

    /// May these ids be deleted? Asked only when there are some, after
    /// the buckets were read and before the report is opened (a "no"
    /// leaves no file behind). A caller that asks a person must not block
    /// the runtime while waiting (read off it), and may answer "no" when
    /// the run is stopped meanwhile.
    fn confirm_deletes<'a>(&'a mut self, deletes: &'a [Deletion]) -> LocalBoxFuture<'a, bool>;
}
