//! Saved plans for change control: a plan written to a file after it was
//! read from COS ([`save`]), reviewed, then applied exactly as saved
//! ([`apply_saved`]) on the buckets whose live inventory is still what it
//! was; the others are skipped as changed since the plan.
//!
//! Applying a saved plan is apply's pipeline with the saved plan in place
//! of "load the manifests, choose the jobs": the same lock, report,
//! sidecar, pacing and refresh, then the saved work where each bucket's
//! fingerprint matches ([`crate::plan::saved::unless_changed`]).

use std::path::Path;

use super::apply::{Executed, Work, execute, prepared};
use super::connect::Destination;
use super::error::RunError;
use super::inputs::Inputs;
use super::observe::{Caller, RunObserver};
use super::settings::{ReportTo, RunSettings};
use super::stages::reach;
use crate::manifest::AccountSpec;
use crate::plan::json::PlanDocument;
use crate::plan::reconcile::BucketWork;
use crate::plan::rollup::Rollup;
use crate::plan::saved::{self, InputDigest, SavedAccount, SavedHeader, SavedPlan, SavedTarget};
use crate::plan::{LoadSummary, Plan};

/// The target a run with `settings` reaches, as a saved plan records it.
pub fn target_of(settings: &RunSettings) -> SavedTarget {
    let (endpoint, sandbox) = match &settings.connect.destination {
        Destination::Sandbox { .. } => (None, true),
        Destination::Remote(remote) => (
            remote.endpoint.clone().or(remote.default_endpoint.clone()),
            false,
        ),
    };
    SavedTarget {
        endpoint,
        sandbox,
        account_id: None,
    }
}

/// Before a plan is made to be saved at `out`: the manifests and buckets
/// files, hashed; a plan file that would overwrite one of them is refused.
pub fn inputs_for_save(summary: &LoadSummary, out: &Path) -> Result<Inputs, RunError> {
    let inputs = Inputs::of(summary, None);
    inputs.refuse_as_report(out)?;
    Ok(inputs)
}

/// Writes the plan and its work (read from COS, never blind) to `out` as
/// a saved plan, with where, from what and when it was made; `warnings`
/// from the destination check, one per job.
pub fn save(
    out: &Path,
    settings: &RunSettings,
    (inputs, accounts): (&Inputs, &[AccountSpec]),
    (plan, work): (&Plan, &[BucketWork]),
    warnings: Option<&[Option<String>]>,
) -> Result<(), RunError> {
    let digests = |files: &[crate::report::run::ManifestDigest]| {
        files
            .iter()
            .map(|file| InputDigest {
                path: file.path.clone(),
                sha256: file.sha256.clone(),
            })
            .collect()
    };
    let header = SavedHeader {
        cosinv_version: env!("CARGO_PKG_VERSION").to_string(),
        created_at: crate::report::timestamp(jiff::Timestamp::now()),
        target: target_of(settings),
        manifests: digests(&inputs.manifests),
        buckets_files: digests(&inputs.buckets_files),
        accounts: accounts.iter().map(SavedAccount::of).collect(),
    };
    let rollup = Rollup::of(plan, work);
    let mut document = PlanDocument::new(plan, work, true, settings.shard, &rollup);
    if let Some(warnings) = warnings {
        document = document.with_destination_warnings(warnings);
    }
    Ok(saved::write(out, &document.with_saved(&header))?)
}

/// A saved plan read back for `cosinv show`, checked as apply checks it.
pub fn show(path: &Path) -> Result<SavedPlan, RunError> {
    Ok(saved::read(path)?)
}

/// Applies the saved plan at `path`: refused when it was made for another
/// target; else the buckets are read again and each gets its saved work
/// unless its live inventory changed since the plan.
pub async fn apply_saved(
    settings: &RunSettings,
    path: &Path,
    observer: &dyn RunObserver,
    caller: &mut dyn Caller,
) -> Result<Executed, RunError> {
    let started = jiff::Timestamp::now();
    let SavedPlan {
        file,
        header,
        plan,
        work,
        ..
    } = saved::read(path)?;
    let here = target_of(settings);
    if !header.target.same_as(&here) {
        return Err(RunError::OtherTarget {
            plan: path.to_path_buf(),
            made_for: header.target.describe(),
            run_on: here.describe(),
        });
    }
    let inputs = Inputs::of_saved_plan(&file);
    if let ReportTo::File(report) = &settings.report {
        inputs.refuse_as_report(report)?;
    }
    // Each member account's buckets signed as when the plan was made.
    let accounts: Vec<AccountSpec> = (header.accounts.iter())
        .filter_map(|account| account.spec(path))
        .collect();
    let connection = reach(settings, observer, caller).await?;
    let connection = super::accounts::connect(connection, &accounts, &settings.accounts).await?;
    if let Some(connection) = &connection {
        super::accounts::first_fetch(&connection.client, &plan, observer).await;
    }
    let prepared = prepared(settings, plan, connection, started, &inputs)?;
    execute(settings, observer, caller, prepared, Work::Saved(work)).await
}
