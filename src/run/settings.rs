//! What a run is asked to do, typed: built by the caller from its command
//! line (or by a test), checked before it gets here.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::connect::ConnectSettings;
use crate::executor::events::{Observer, Stats};
use crate::executor::{Pacing, RunControl};
use crate::manifest::ReadOptions;
use crate::plan::Shard;
use crate::plan::reconcile::PruneRule;

/// A run of plan or apply.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Names the run in the lines that say which command speaks (`apply`).
    pub command: &'static str,
    /// The manifests; their jobs merge.
    pub files: Vec<PathBuf>,
    pub read: ReadOptions,
    pub connect: ConnectSettings,
    /// Only the buckets of this shard.
    pub shard: Option<Shard>,
    /// Only the buckets of these accounts (APPIDs); empty: every account.
    pub accounts: Vec<String>,
    /// Only the jobs that did not apply in this earlier report.
    pub from_report: Option<PathBuf>,
    /// Rerun `from_report` even when the manifests are not those of the
    /// run that wrote it.
    pub allow_changed_manifests: bool,
    /// Read what is on each bucket first and send only what differs.
    pub refresh: bool,
    /// Which live ids the run may delete.
    pub prune: PruneRule,
    /// Plan and write the report without sending anything.
    pub dry_run: bool,
    /// Read each destination bucket's policy and warn about the jobs
    /// whose reports COS may not write.
    pub check_destinations: bool,
    /// Where the report goes.
    pub report: ReportTo,
    /// The caller's words for why `discover:` jobs stay unresolved on a
    /// run that sends nothing.
    pub offline_reason: String,
    pub stop: StopTokens,
}

impl RunSettings {
    /// A run that only reads (deliveries): the manifests, the selection
    /// and the connection; no report, no prune, no destination check.
    pub fn reading(
        command: &'static str,
        files: Vec<PathBuf>,
        read: ReadOptions,
        connect: ConnectSettings,
        shard: Option<Shard>,
    ) -> Self {
        RunSettings {
            command,
            files,
            read,
            connect,
            shard,
            accounts: Vec::new(),
            from_report: None,
            allow_changed_manifests: false,
            refresh: false,
            prune: PruneRule::default(),
            dry_run: false,
            check_destinations: false,
            report: ReportTo::Default,
            offline_reason: String::new(),
            stop: StopTokens::default(),
        }
    }
}

/// Where the report CSV goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTo {
    /// A file named after the run's start, in the working folder; none
    /// for a dry run.
    Default,
    /// A file named after the run's start, in this folder; none for a
    /// dry run.
    Folder(PathBuf),
    File(PathBuf),
    /// This process's standard output (recorded as `-`).
    Stdout,
}

/// How the caller stops a run: the first token stops dispatching, the
/// second stops waiting for requests on the wire.
#[derive(Debug, Clone, Default)]
pub struct StopTokens {
    pub cancel: CancellationToken,
    pub force: CancellationToken,
}

/// The stop tokens and the pacing shared by both phases of a run: a stop
/// ends whichever is going on, and the apply starts at the pace the
/// refresh found.
#[derive(Clone, Default)]
pub struct Control {
    pub stop: StopTokens,
    pub pacing: Pacing,
}

impl Control {
    pub fn new(stop: &StopTokens) -> Control {
        Control {
            stop: stop.clone(),
            pacing: Pacing::default(),
        }
    }

    /// The executor's control for one phase.
    pub fn phase(&self, stats: std::sync::Arc<Stats>, observer: Option<Observer>) -> RunControl {
        RunControl {
            cancel: self.stop.cancel.clone(),
            force: self.stop.force.clone(),
            stats,
            observer,
            pacing: self.pacing.clone(),
            locator: None,
        }
    }
}
