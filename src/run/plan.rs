//! The plan pipeline: what apply would do. Online (the default) it reaches
//! COS, chooses the jobs (`discover:`, the shard, the destination check)
//! and reads what is on every bucket; offline every job is a blind put.

use std::path::Path;
use std::sync::Arc;

use super::error::RunError;
use super::observe::{Caller, Deletion, Level, RunObserver};
use super::plan_text::ignored_lines;
use super::saved::{inputs_for_save, save};
use super::settings::{Control, RunSettings};
use super::stages::{choose, connect_to, read_buckets};
use crate::plan::reconcile::{self, BucketWork};
use crate::plan::{LoadSummary, Plan};

/// A plan and what would be done on each of its buckets.
pub struct Planned {
    pub plan: Arc<Plan>,
    pub work: Vec<BucketWork>,
    /// With the destination check: a warning or none per job.
    pub warnings: Option<Vec<Option<String>>>,
}

/// A plan asks nothing: it neither holds COS nor deletes.
struct NoQuestions;

impl Caller for NoQuestions {
    fn confirm_deletes<'a>(
        &'a mut self,
        _: &'a [Deletion],
    ) -> futures_util::future::LocalBoxFuture<'a, bool> {
        Box::pin(async { false })
    }
}

/// Offline: every job of `loaded` (of the shard) a blind put.
pub fn offline(settings: &RunSettings, (plan, _): (Plan, LoadSummary)) -> Planned {
    let plan = match settings.shard {
        Some(shard) => plan.shard(shard),
        None => plan,
    };
    let plan = Arc::new(plan);
    let work = reconcile::blind(&plan);
    Planned {
        plan,
        work,
        warnings: None,
    }
}

/// Online: connects, resolves `discover:` jobs, checks destinations when
/// asked, and reads every bucket's inventory; with `out`, saves the plan
/// there for a later apply (the manifests hashed before anything is sent).
pub async fn online(
    settings: &RunSettings,
    observer: &dyn RunObserver,
    loaded: (Plan, LoadSummary),
    out: Option<&Path>,
) -> Result<Planned, RunError> {
    let inputs = match out {
        Some(out) => Some(inputs_for_save(&loaded.1, out)?),
        None => None,
    };
    let accounts = loaded.1.accounts.clone();
    let mut connection = connect_to(settings, observer, &mut NoQuestions).await?;
    let client = connection.client.clone();
    connection.client = super::accounts::attach(client, &accounts, &settings.accounts).await?;
    let chosen = choose(settings, observer, loaded, Some(&connection)).await?;
    super::accounts::first_fetch(&connection.client, &chosen.plan, observer).await;
    let plan = Arc::new(chosen.plan);
    let config = settings.connect.executor_config();
    let control = Control::new(&settings.stop);
    let client = &connection.client;
    let refreshed = read_buckets(settings, observer, &plan, client, &config, &control).await;
    let _ = connection.shut_down().await;
    if let Some(reason) = refreshed.result.stopped {
        return Err(RunError::Reading(reason));
    }
    for line in ignored_lines(&plan, &refreshed.buckets) {
        observer.log(Level::Detail, &line);
    }
    let planned = Planned {
        plan,
        work: refreshed.buckets,
        warnings: chosen.warnings,
    };
    if let (Some(out), Some(inputs)) = (out, &inputs) {
        let warnings = planned.warnings.as_deref();
        save(
            out,
            settings,
            (inputs, &accounts),
            (&planned.plan, &planned.work),
            warnings,
        )?;
        let line = format!(
            "cosinv plan: saved to {}, to apply once reviewed",
            out.display()
        );
        observer.log(Level::Summary, &line);
    }
    Ok(planned)
}
