//! Why a run could not be made or finished. Messages name no flag: the
//! caller adds the hint that fits its command line.

use std::path::PathBuf;

use super::connect::ConnectError;
use super::observe::CallerError;
use crate::account::ListError;
use crate::executor::{ExecuteError, StopReason};
use crate::plan::ManifestErrors;
use crate::plan::saved::SavedPlanError;
use crate::report::ReportError;
use crate::report::previous::PreviousReportError;
use crate::report::run::RecordError;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The manifests' problems (with the account's buckets, when
    /// `discover:` jobs were resolved: duplicates, the limit).
    #[error(transparent)]
    Manifest(#[from] ManifestErrors),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// The caller refused to let the run connect (another run holds the
    /// manifests).
    #[error(transparent)]
    Caller(CallerError),
    #[error("cannot list the account's buckets for discover: jobs: {0}")]
    List(#[from] ListError),
    /// The earlier report whose unfinished jobs were to be sent again.
    #[error(transparent)]
    Previous(#[from] PreviousReportError),
    #[error(transparent)]
    Report(#[from] ReportError),
    #[error(transparent)]
    Record(#[from] RecordError),
    /// The report would overwrite one of the run's own inputs.
    #[error(
        "the report {} is the same file as {} ({what}); it would be overwritten",
        report.display(),
        input.display()
    )]
    ReportIsInput {
        report: PathBuf,
        input: PathBuf,
        what: &'static str,
    },
    /// A rerun's manifests differ from those of the run that wrote the
    /// earlier report.
    #[error(
        "{} was written by a run of other manifests; these differ: {}",
        report.display(),
        changed.join(", ")
    )]
    ManifestsChanged {
        report: PathBuf,
        changed: Vec<String>,
    },
    /// The earlier report's sidecar, which says what it ran, is missing.
    #[error(
        "{} is missing or unreadable, so whether the manifests are those of the earlier \
         run cannot be checked",
        sidecar.display()
    )]
    PreviousUnrecorded { sidecar: PathBuf },
    /// Reading the buckets stopped before every one was read.
    #[error("stopped while reading the buckets: {0}")]
    Reading(StopReason),
    /// A one-time id (`<job id>-<suffix>`) that is not a valid id.
    #[error(transparent)]
    OneTimeId(#[from] OneTimeIdError),
    #[error("nothing was sent: the deletions were not confirmed")]
    Declined,
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    /// A saved plan that cannot be written, read or trusted.
    #[error(transparent)]
    Saved(#[from] SavedPlanError),
    /// A saved plan made against another COS than this run's.
    #[error(
        "{} was made for {made_for}, and this run would send to {run_on}; nothing was sent: \
         apply it against the target it was made for, or make the plan again",
        plan.display()
    )]
    OtherTarget {
        plan: PathBuf,
        made_for: String,
        run_on: String,
    },
}

/// A suffix that makes some job's one-time id invalid.
#[derive(Debug, thiserror::Error)]
#[error("the one-time id of job {job:?} on {bucket} ({source})")]
pub struct OneTimeIdError {
    pub bucket: String,
    pub job: String,
    pub source: crate::model::InvalidField,
}
