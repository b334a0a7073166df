//! What a run tells its caller while it works: live counters and events.
//!
//! The executor only counts and notifies; showing any of it (a bar, log
//! lines, `-v` detail) is the command layer's business.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::RunControl;
use crate::pace::outage::FailureCounts;
use crate::pace::shared::Change;
use crate::report::{Outcome, ReportRow};
use crate::send::retry::Class;
use crate::send::{Retry, Watcher};

/// Live counters, read by a progress display.
#[derive(Debug, Default)]
pub struct Stats {
    pub total: AtomicU64,
    pub applied: AtomicU64,
    pub unchanged: AtomicU64,
    pub deleted: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    pub cancelled: AtomicU64,
    pub unknown: AtomicU64,
    pub dry_run: AtomicU64,
    /// Requests sent, retries included.
    pub attempts: AtomicU64,
    /// Answers that asked us to slow down (503 `SlowDown`, 429).
    pub throttled: AtomicU64,
    /// Retries scheduled so far.
    pub retries: AtomicU64,
    /// Jobs now waiting out a backoff.
    pub retrying: AtomicU64,
    /// Requests now on the wire.
    pub in_flight: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub total: u64,
    pub applied: u64,
    pub unchanged: u64,
    pub deleted: u64,
    pub failed: u64,
    pub skipped: u64,
    pub cancelled: u64,
    pub unknown: u64,
    pub dry_run: u64,
    pub attempts: u64,
    pub throttled: u64,
    pub retries: u64,
    pub retrying: u64,
    pub in_flight: u64,
}

impl StatsSnapshot {
    /// Jobs that have ended.
    pub fn done(&self) -> u64 {
        self.applied
            + self.unchanged
            + self.deleted
            + self.failed
            + self.skipped
            + self.cancelled
            + self.unknown
            + self.dry_run
    }
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        StatsSnapshot {
            total: get(&self.total),
            applied: get(&self.applied),
            unchanged: get(&self.unchanged),
            deleted: get(&self.deleted),
            failed: get(&self.failed),
            skipped: get(&self.skipped),
            cancelled: get(&self.cancelled),
            unknown: get(&self.unknown),
            dry_run: get(&self.dry_run),
            attempts: get(&self.attempts),
            throttled: get(&self.throttled),
            retries: get(&self.retries),
            retrying: get(&self.retrying),
            in_flight: get(&self.in_flight),
        }
    }

    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Applied => &self.applied,
            Outcome::Unchanged => &self.unchanged,
            Outcome::Deleted => &self.deleted,
            Outcome::Failed => &self.failed,
            Outcome::Skipped => &self.skipped,
            Outcome::Cancelled => &self.cancelled,
            Outcome::Unknown => &self.unknown,
            Outcome::DryRun => &self.dry_run,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Something worth telling a user who asked for detail.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// A job will be tried again after `delay`.
    Retry {
        bucket: String,
        id: String,
        attempt: u32,
        class: Class,
        delay: Duration,
        message: String,
    },
    /// A job ended (its row, lent: most observers only count it).
    Finished(&'a ReportRow),
    /// COS failed every request for a while (these, in a row): dispatch is
    /// paused behind a probe.
    Paused { failures: FailureCounts },
    /// A live answer ended a pause that lasted this long.
    Resumed { paused_for: Duration },
}

/// Receives [`Event`]s; must be quick (it runs on the executor's tasks).
pub type Observer = Arc<dyn Fn(&Event) + Send + Sync>;

/// The executor's [`Watcher`]: what the sender reports, counted in
/// [`Stats`] and told to the [`Observer`].
pub struct Watch {
    stats: Arc<Stats>,
    observer: Option<Observer>,
}

impl Watch {
    pub fn new(control: &RunControl) -> Self {
        Watch {
            stats: control.stats.clone(),
            observer: control.observer.clone(),
        }
    }

    fn tell(&self, event: &Event<'_>) {
        if let Some(observer) = &self.observer {
            observer(event);
        }
    }
}

impl Watcher for Watch {
    fn sending(&self) {
        self.stats.attempts.fetch_add(1, Ordering::Relaxed);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
    }

    fn answered(&self) {
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }

    fn throttled(&self) {
        self.stats.throttled.fetch_add(1, Ordering::Relaxed);
    }

    fn retry(&self, retry: &Retry<'_>) {
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        if self.observer.is_none() {
            return;
        }
        self.tell(&Event::Retry {
            bucket: retry
                .subject
                .bucket
                .map(ToString::to_string)
                .unwrap_or_default(),
            id: retry.subject.id.to_string(),
            attempt: retry.attempt,
            class: retry.class,
            delay: retry.delay,
            message: crate::send::describe(retry.outcome),
        });
    }

    fn backing_off(&self, waiting: bool) {
        match waiting {
            true => self.stats.retrying.fetch_add(1, Ordering::Relaxed),
            false => self.stats.retrying.fetch_sub(1, Ordering::Relaxed),
        };
    }

    fn outage(&self, change: Change) {
        self.tell(&match change {
            Change::Paused { failures } => Event::Paused { failures },
            Change::Resumed { paused_for } => Event::Resumed { paused_for },
        });
    }
}
