//! The run-now pipeline: apply's stages with one in place of refresh and
//! confirm, a one-time inventory per chosen job (POST Bucket inventory)
//! under `<job id>-<suffix>`. Nothing is read first: a POST creates a job
//! that runs once, it never reconciles with what is on the bucket.

use super::apply::{Executed, Work, execute, prepare};
use super::error::{OneTimeIdError, RunError};
use super::observe::{Caller, RunObserver};
use super::settings::RunSettings;
use crate::model::{InvalidField, InventoryId};
use crate::plan::{Job, Plan};

/// The suffix of a run's one-time ids when none is given: the run's start
/// in UTC, `yyyymmddTHHMMSS`, so runs on one day do not collide.
pub fn default_suffix(started: jiff::Timestamp) -> String {
    started.strftime("%Y%m%dT%H%M%S").to_string()
}

/// `<job id>-<suffix>`, checked as any inventory id.
pub fn one_time_id(job: &InventoryId, suffix: &str) -> Result<InventoryId, InvalidField> {
    InventoryId::parse(&format!("{job}-{suffix}"))
}

/// Every chosen job's one-time id is valid, or the first that is not.
fn check_ids(plan: &Plan, suffix: &str) -> Result<(), RunError> {
    for job in plan.jobs() {
        one_time_id(job.id(), suffix).map_err(|source| OneTimeIdError {
            bucket: job.bucket().to_string(),
            job: job.id().to_string(),
            source,
        })?;
    }
    Ok(())
}

/// Which pipeline a run is: apply, apply of a saved plan, or run-now
/// under a suffix (the run's start when `None`).
pub enum Pipeline {
    Apply,
    Saved(std::path::PathBuf),
    RunNow(Option<String>),
}

impl Pipeline {
    /// The command's name, as the lines it speaks name it.
    pub fn command(&self) -> &'static str {
        match self {
            Pipeline::Apply | Pipeline::Saved(_) => "apply",
            Pipeline::RunNow(_) => "run-now",
        }
    }

    pub async fn run(
        &self,
        settings: &RunSettings,
        observer: &dyn RunObserver,
        caller: &mut dyn Caller,
    ) -> Result<Executed, RunError> {
        match self {
            Pipeline::Apply => super::apply::apply(settings, observer, caller).await,
            Pipeline::Saved(path) => {
                super::saved::apply_saved(settings, path, observer, caller).await
            }
            Pipeline::RunNow(suffix) => {
                run_now(settings, suffix.as_deref(), observer, caller).await
            }
        }
    }
}

/// Runs run-now from the manifests to the last row of the report: the
/// same selection, lock, pacing, retries, report and sidecar as apply.
/// `suffix`: the one-time ids' (the run's start when `None`).
pub async fn run_now(
    settings: &RunSettings,
    suffix: Option<&str>,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
) -> Result<Executed, RunError> {
    let started = jiff::Timestamp::now();
    let suffix = suffix.map_or_else(|| default_suffix(started), str::to_string);
    let check = |plan: &Plan| check_ids(plan, &suffix);
    let prepared = prepare(settings, observer, caller, started, &check).await?;
    let id_of = |job: &Job| one_time_id(job.id(), &suffix).expect("checked before the run");
    let work = Work::OneTime(crate::plan::reconcile::one_time(&prepared.plan, id_of));
    execute(settings, observer, caller, prepared, work).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_suffix_is_the_start_in_utc_to_the_second() {
        let started: jiff::Timestamp = "2026-12-07T02:03:04.9Z".parse().unwrap();
        assert_eq!(default_suffix(started), "20261207T020304");
    }

    #[test]
    fn a_one_time_id_is_checked_once_combined() {
        let job = InventoryId::parse("daily").unwrap();
        assert_eq!(one_time_id(&job, "x1").unwrap().as_str(), "daily-x1");
        assert!(one_time_id(&job, "bad suffix").is_err());
        assert!(one_time_id(&job, &"a".repeat(64)).is_err());
    }
}
