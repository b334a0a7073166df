//! A saved plan: the JSON plan ([`super::json`]) written to a file for a
//! later apply, with a `saved` header (who made it, against what, from
//! which manifests, when), a fingerprint of each bucket's live inventory
//! and a trailing `digest` of everything before it.
//!
//! The digest is of the file's bytes up to `,"digest":`, so a plan edited
//! after review (or cut short) is refused rather than applied: apply must
//! send exactly what was reviewed. The file holds every job's full desired
//! configuration, so applying it never reads the manifests.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use super::json::{InputDigest, SavedAccount, SavedHeader, SavedTarget};
use super::json::{PlanDocument, SCHEMA_VERSION};
use super::reconcile::{
    BucketChanges, BucketWork, JobAction, LimitExceeded, Unreadable, UnreadableEnd,
};
use super::{Job, Plan, Shard, Source};
use crate::manifest::{CappedReadError, read_capped};
use crate::model::live::{COMPARED_FIELDS, FieldChange, OTHER_ELEMENTS};
use crate::model::{
    AccountId, BucketName, Destination, Filter, Format, Frequency, IncludedObjectVersions,
    InvalidField, InventoryConfiguration, InventoryId, MonthDay, OptionalField, Period, Region,
    TagFilter, check_destination_prefix, check_prefix,
};

/// What separates the document from its digest, the last key.
const DIGEST_KEY: &[u8] = br#","digest":""#;

/// Largest saved plan read. A plan is read whole into memory before its
/// digest can be checked, so the wrong file (a disk image, a log) must be
/// refused before it is read, not after it has filled memory. Like the
/// manifests' limits (the same as a buckets file's), a guard against the
/// wrong file, not a size any real plan nears.
pub const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// Why a saved plan cannot be written or used.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("cannot write the plan {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read the plan {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{} is larger than {limit} bytes, more than a saved plan may be; is it the plan?",
        path.display()
    )]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{} is not a saved plan: {why}", path.display())]
    NotSaved { path: PathBuf, why: String },
    #[error(
        "{} was changed after it was written (its digest does not match); make the plan again",
        path.display()
    )]
    Tampered { path: PathBuf },
    #[error(
        "{} is a plan of schema version {found}; this cosinv reads version {SCHEMA_VERSION} \
         only: make the plan again with this cosinv",
        path.display()
    )]
    Version { path: PathBuf, found: u64 },
    #[error("{} holds an invalid job {id:?} on {bucket}: {reason}", path.display())]
    Job {
        path: PathBuf,
        bucket: String,
        id: String,
        reason: String,
    },
}

/// Writes `document` (with its header) to `path` with its digest: into a
/// new temporary file in the same folder, renamed over `path` once whole,
/// so a reader never sees half a plan and a link at `path` is replaced,
/// never written through.
pub fn write(path: &Path, document: &PlanDocument) -> Result<(), SavedPlanError> {
    let failed = |source| SavedPlanError::Write {
        path: path.to_path_buf(),
        source,
    };
    let folder = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let temp = tempfile::Builder::new()
        .prefix(".cosinv-plan-")
        .tempfile_in(folder)
        .map_err(failed)?;
    let mut out = HoldLast::new(std::io::BufWriter::new(temp.as_file()));
    serde_json::to_writer(&mut out, document).map_err(|err| failed(err.into()))?;
    out.finish().map_err(failed)?;
    temp.as_file().sync_all().map_err(failed)?;
    temp.persist(path).map_err(|err| failed(err.error))?;
    Ok(())
}

/// A writer that hashes what it passes on, holding back the last byte
/// (the document's closing `}`) so the digest can go before it.
struct HoldLast<W: Write> {
    inner: W,
    hasher: Sha256,
    held: Option<u8>,
}

impl<W: Write> HoldLast<W> {
    fn new(inner: W) -> Self {
        HoldLast {
            inner,
            hasher: Sha256::new(),
            held: None,
        }
    }

    fn pass(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.hasher.update(bytes);
        self.inner.write_all(bytes)
    }

    /// Writes `,"digest":"HEX"}` and a newline in place of the held `}`.
    fn finish(mut self) -> std::io::Result<()> {
        if self.held != Some(b'}') {
            return Err(std::io::Error::other("the plan document did not end"));
        }
        let digest = hex::encode(self.hasher.finalize_reset());
        self.inner.write_all(DIGEST_KEY)?;
        writeln!(self.inner, "{digest}\"}}")?;
        self.inner.flush()
    }
}

impl<W: Write> Write for HoldLast<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let Some((&last, rest)) = bytes.split_last() else {
            return Ok(0);
        };
        if let Some(held) = self.held.take() {
            self.pass(&[held])?;
        }
        self.pass(rest)?;
        self.held = Some(last);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The saved plan error for a file that could not be read whole.
fn refused(path: &Path, err: CappedReadError) -> SavedPlanError {
    let path = path.to_path_buf();
    match err {
        CappedReadError::TooLarge { limit, .. } => SavedPlanError::TooLarge { path, limit },
        CappedReadError::Io { source, .. } => SavedPlanError::Read { path, source },
        CappedReadError::Folder { .. } => SavedPlanError::Read {
            path,
            source: std::io::Error::new(
                std::io::ErrorKind::IsADirectory,
                "it is a folder, not a file",
            ),
        },
    }
}

/// A saved plan read back: the jobs and the work saved for each bucket.
#[derive(Debug)]
pub struct SavedPlan {
    /// The file as it was read.
    pub file: crate::manifest::FileDigest,
    pub header: SavedHeader,
    pub shard: Option<Shard>,
    pub plan: Plan,
    /// One per bucket of `plan`, in its order; each readable bucket's
    /// changes carry the fingerprint it had when the plan was made.
    pub work: Vec<BucketWork>,
    /// One per job of `plan`: the destination check's warning, if made.
    pub warnings: Option<Vec<Option<String>>>,
}

#[derive(Deserialize)]
struct SavedDocument {
    schema_version: u64,
    shard: Option<String>,
    saved: Option<SavedHeader>,
    buckets: Vec<SavedBucket>,
    digest: Option<String>,
}

#[derive(Deserialize)]
struct SavedBucket {
    bucket: String,
    region: String,
    status: String,
    error: Option<SavedError>,
    limit: Option<SavedLimit>,
    fingerprint: Option<String>,
    jobs: Vec<SavedJob>,
    unmanaged: Vec<String>,
    deletes: Vec<String>,
}

#[derive(Deserialize)]
struct SavedError {
    message: String,
}

#[derive(Deserialize)]
struct SavedLimit {
    planned: usize,
    unmanaged: usize,
}

#[derive(Deserialize)]
struct SavedJob {
    id: String,
    action: Option<String>,
    policy: Option<String>,
    changes: Vec<SavedChange>,
    enabled: bool,
    included_object_versions: String,
    schedule: String,
    monthly_date: Option<u8>,
    filter: Option<SavedFilter>,
    optional_fields: Vec<String>,
    destination: SavedDestination,
    source: String,
    destination_warning: Option<String>,
}

#[derive(Deserialize)]
struct SavedChange {
    field: String,
    live: ChangeValue,
    desired: ChangeValue,
}

/// A change's value as [`super::json`] writes it: text, or a set.
#[derive(Deserialize)]
#[serde(untagged)]
enum ChangeValue {
    Text(String),
    Set(Vec<String>),
}

impl ChangeValue {
    /// The canonical text ([`FieldChange`]'s), sets joined back.
    fn text(self) -> String {
        match self {
            ChangeValue::Text(text) => text,
            ChangeValue::Set(members) => members.join(", "),
        }
    }
}

#[derive(Deserialize)]
struct SavedFilter {
    prefix: Option<String>,
    tags: BTreeMap<String, String>,
    period: Option<SavedPeriod>,
}

#[derive(Deserialize)]
struct SavedPeriod {
    start: Option<u64>,
    end: Option<u64>,
}

#[derive(Deserialize)]
struct SavedDestination {
    bucket: String,
    region: String,
    account_id: Option<String>,
    prefix: Option<String>,
    format: String,
    encryption: String,
}

/// Reads the saved plan at `path`: its digest checked first, then its
/// version and every job's configuration, as the manifests' would be.
pub fn read(path: &Path) -> Result<SavedPlan, SavedPlanError> {
    read_within(path, MAX_PLAN_BYTES)
}

/// [`read`], refusing a file larger than `limit` bytes.
fn read_within(path: &Path, limit: u64) -> Result<SavedPlan, SavedPlanError> {
    let bytes = read_capped(path, limit).map_err(|err| refused(path, err))?;
    let not_saved = |why: &str| SavedPlanError::NotSaved {
        path: path.to_path_buf(),
        why: why.to_string(),
    };
    let document: SavedDocument = serde_json::from_slice(&bytes)
        .map_err(|err| not_saved(&format!("not a whole JSON plan ({err})")))?;
    if document.schema_version != u64::from(SCHEMA_VERSION) {
        return Err(SavedPlanError::Version {
            path: path.to_path_buf(),
            found: document.schema_version,
        });
    }
    let (Some(header), Some(digest)) = (document.saved, document.digest) else {
        return Err(not_saved(
            "it has no saved header and digest (a plan printed, not saved)",
        ));
    };
    let signed = find_last(&bytes, DIGEST_KEY).map(|end| &bytes[..end]);
    if signed.is_none_or(|signed| hex::encode(Sha256::digest(signed)) != digest) {
        return Err(SavedPlanError::Tampered {
            path: path.to_path_buf(),
        });
    }
    let shard = match document.shard {
        Some(text) => Some(
            text.parse()
                .map_err(|_| not_saved("its shard is not K/N"))?,
        ),
        None => None,
    };
    let (plan, work, warnings) = rebuild(path, document.buckets)?;
    Ok(SavedPlan {
        file: crate::manifest::FileDigest::of_bytes(path, &bytes),
        header,
        shard,
        plan,
        work,
        warnings,
    })
}

/// Where the last `needle` in `haystack` starts.
fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .rposition(|window| window == needle)
}

type Rebuilt = (Plan, Vec<BucketWork>, Option<Vec<Option<String>>>);

/// The plan's jobs and each bucket's saved work, in the saved order.
fn rebuild(path: &Path, buckets: Vec<SavedBucket>) -> Result<Rebuilt, SavedPlanError> {
    let mut jobs = Vec::new();
    let mut work = Vec::new();
    let mut warnings = Vec::new();
    for bucket in buckets {
        let SavedBucket {
            bucket: name,
            region,
            status,
            error,
            limit,
            fingerprint,
            jobs: saved_jobs,
            unmanaged,
            deletes,
        } = bucket;
        let invalid = |id: &str, reason: String| SavedPlanError::Job {
            path: path.to_path_buf(),
            bucket: name.clone(),
            id: id.to_string(),
            reason,
        };
        let bucket = BucketName::parse(&name).map_err(|err| invalid("", err.to_string()))?;
        let region = Region::parse(&region).map_err(|err| invalid("", err.to_string()))?;
        if saved_jobs.is_empty() {
            return Err(invalid("", "a bucket without jobs".into()));
        }
        let mut actions = Vec::new();
        for saved in saved_jobs {
            let id = saved.id.clone();
            warnings.push(saved.destination_warning.clone());
            let (job, action) = job_of(&bucket, &region, saved).map_err(|why| invalid(&id, why))?;
            jobs.push(job);
            actions.push(action);
        }
        let changes = BucketChanges {
            unmanaged,
            deletes,
            limit: limit.map(|limit| LimitExceeded {
                planned: limit.planned,
                unmanaged: limit.unmanaged,
            }),
            fingerprint,
            ..BucketChanges::default()
        };
        work.push(work_of(&status, actions, error, changes));
    }
    let saved_order: Vec<(BucketName, InventoryId)> = jobs.iter().map(key).collect();
    let plan = Plan::from_jobs(jobs);
    // The saved order is the planner's order; sorting again must not move
    // a job, or the work would no longer line up with its bucket.
    let moved = plan.jobs().iter().map(key).ne(saved_order);
    if moved || plan.bucket_count() != work.len() {
        return Err(SavedPlanError::NotSaved {
            path: path.to_path_buf(),
            why: "its buckets are not in the planner's order".into(),
        });
    }
    let warned = warnings.iter().any(Option::is_some);
    Ok((plan, work, warned.then_some(warnings)))
}

fn key(job: &Job) -> (BucketName, InventoryId) {
    (job.bucket().clone(), job.id().clone())
}

/// A bucket's saved work: its changes (the actions filled in), or the
/// reason it could not be read when the plan was made.
fn work_of(
    status: &str,
    actions: Vec<Option<JobAction>>,
    error: Option<SavedError>,
    changes: BucketChanges,
) -> BucketWork {
    match (status, actions.into_iter().collect::<Option<Vec<_>>>()) {
        ("ok" | "over_limit", Some(actions)) => {
            BucketWork::Changes(BucketChanges { actions, ..changes })
        }
        _ => BucketWork::Unreadable(Unreadable {
            end: UnreadableEnd::Skipped,
            http_status: None,
            error_code: String::new(),
            message: format!(
                "not read when the plan was made: {}",
                error.map(|error| error.message).unwrap_or_default()
            ),
            request_id: String::new(),
        }),
    }
}

/// One saved job and its action (`None` on an unreadable bucket).
fn job_of(
    bucket: &BucketName,
    region: &Region,
    mut saved: SavedJob,
) -> Result<(Job, Option<JobAction>), String> {
    let changes = std::mem::take(&mut saved.changes);
    let action = match saved.action.as_deref() {
        None => None,
        Some("create") => Some(JobAction::Create),
        Some("none") => Some(JobAction::Unchanged),
        Some("put") => Some(JobAction::Put),
        Some("update") => Some(JobAction::Update(
            changes
                .into_iter()
                .map(change_of)
                .collect::<Result<_, _>>()?,
        )),
        Some(other) => return Err(format!("unknown action {other:?}")),
    };
    let source = match saved.source.rsplit_once(':') {
        Some((file, line)) => Source {
            file: PathBuf::from(file),
            line: line.parse().unwrap_or(0),
        },
        None => Source {
            file: PathBuf::from(&saved.source),
            line: 0,
        },
    };
    let policy = saved.policy.clone();
    let config = config_of(saved).map_err(|err| err.to_string())?;
    let job = Job::new(bucket.clone(), region.clone(), config, source);
    Ok((job.with_policy(policy.as_deref()), action))
}

/// A saved field change, its field one of those the planner names.
fn change_of(change: SavedChange) -> Result<FieldChange, String> {
    let field = COMPARED_FIELDS
        .iter()
        .chain([&OTHER_ELEMENTS])
        .find(|known| **known == change.field)
        .ok_or_else(|| format!("a change of an unknown field {:?}", change.field))?;
    Ok(FieldChange {
        field,
        live: change.live.text(),
        desired: change.desired.text(),
    })
}

/// The configuration a saved job puts, each value checked as a
/// manifest's would be.
fn config_of(saved: SavedJob) -> Result<InventoryConfiguration, InvalidField> {
    let filter = match saved.filter {
        Some(filter) => {
            if let Some(prefix) = &filter.prefix {
                check_prefix("filter.prefix", prefix)?;
            }
            let tags = filter.tags.into_iter();
            Filter::new(
                filter.prefix,
                tags.map(|(key, value)| TagFilter { key, value }).collect(),
                filter.period.map(|period| Period {
                    start: period.start,
                    end: period.end,
                }),
            )
        }
        None => None,
    };
    let d = saved.destination;
    if let Some(prefix) = &d.prefix {
        check_destination_prefix(prefix)?;
    }
    let sse_cos = match d.encryption.as_str() {
        "SSE-COS" => true,
        "none" => false,
        other => return Err(InvalidField::new("destination.encryption", other)),
    };
    Ok(InventoryConfiguration {
        id: InventoryId::parse(&saved.id)?,
        enabled: saved.enabled,
        included_object_versions: IncludedObjectVersions::from_str(
            &saved.included_object_versions,
        )?,
        filter,
        optional_fields: (saved.optional_fields.iter())
            .map(|field| OptionalField::from_str(field))
            .collect::<Result<_, _>>()?,
        frequency: Frequency::from_str(&saved.schedule)?,
        monthly_date: (saved.monthly_date)
            .map(|day| MonthDay::parse_for("monthly_date", &day.to_string()))
            .transpose()?,
        destination: Destination {
            bucket: BucketName::parse_for("destination.bucket", &d.bucket)?,
            region: Region::parse_for("destination.region", &d.region)?,
            account_id: (d.account_id.as_deref())
                .map(|id| AccountId::parse_for("destination.account_id", id))
                .transpose()?,
            prefix: d.prefix,
            format: Format::from_str(&d.format)?,
            sse_cos,
        },
    })
}

/// What a skipped bucket's rows say.
pub const CHANGED: &str = "changed since the plan: the bucket's inventory is not what it was \
                           when the plan was made; nothing was sent to it: make the plan again";

/// Each bucket's saved work where what the refresh found has the saved
/// fingerprint; a bucket that changed since is skipped ([`CHANGED`]), and
/// one the refresh could not read keeps the refresh's answer.
pub fn unless_changed(saved: Vec<BucketWork>, live: Vec<BucketWork>) -> Vec<BucketWork> {
    saved
        .into_iter()
        .zip(live)
        .map(|(saved, live)| match (saved, live) {
            (_, BucketWork::Unreadable(unread)) => BucketWork::Unreadable(unread),
            (BucketWork::Unreadable(then), _) => BucketWork::Unreadable(then),
            (BucketWork::Changes(planned), BucketWork::Changes(now)) => {
                match planned.fingerprint.is_some() && planned.fingerprint == now.fingerprint {
                    true => BucketWork::Changes(planned),
                    false => BucketWork::Unreadable(Unreadable {
                        end: UnreadableEnd::Skipped,
                        http_status: None,
                        error_code: String::new(),
                        message: CHANGED.to_string(),
                        request_id: String::new(),
                    }),
                }
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::live::LiveConfiguration;
    use crate::model::tests::sample;
    use crate::plan::reconcile::{PruneRule, reconcile};
    use crate::plan::rollup::Rollup;

    fn job(bucket: &str, id: &str) -> Job {
        let mut config = sample();
        config.id = InventoryId::parse(id).unwrap();
        let source = Source {
            file: "m.yaml".into(),
            line: 7,
        };
        let (bucket, region) = (
            BucketName::parse(bucket).unwrap(),
            Region::parse("ap-guangzhou").unwrap(),
        );
        Job::new(bucket, region, config, source).with_policy(Some("base"))
    }

    fn header() -> SavedHeader {
        SavedHeader {
            cosinv_version: "0.0.0".into(),
            created_at: "2026-12-07T00:00:00Z".into(),
            target: SavedTarget {
                endpoint: Some("http://127.0.0.1:9000/".into()),
                sandbox: false,
                account_id: None,
            },
            manifests: vec![InputDigest {
                path: "m.yaml".into(),
                sha256: "0".repeat(64),
            }],
            buckets_files: Vec::new(),
            accounts: Vec::new(),
        }
    }

    /// Two buckets: one with a job to update and an id to delete, one empty.
    fn saved_to(path: &Path) -> (Plan, Vec<BucketWork>) {
        let plan = Plan::from_jobs(vec![job("a-1250000000", "x"), job("b-1250000000", "y")]);
        let mut drifted = LiveConfiguration::from(&plan.jobs()[0].config());
        drifted.frequency = Some("Weekly".into());
        let old = LiveConfiguration {
            id: "old".into(),
            ..drifted.clone()
        };
        let prune = PruneRule {
            enabled: true,
            prefix: None,
        };
        let work = vec![
            BucketWork::Changes(reconcile(&plan.jobs()[..1], &[drifted, old], &prune)),
            BucketWork::Changes(reconcile(&plan.jobs()[1..], &[], &prune)),
        ];
        let rollup = Rollup::of(&plan, &work);
        let header = header();
        let document = PlanDocument::new(&plan, &work, true, None, &rollup).with_saved(&header);
        write(path, &document).unwrap();
        (plan, work)
    }

    #[test]
    fn a_saved_plan_reads_back_as_it_was_written_and_an_edit_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("change.plan");
        // A link at the path is replaced, never written through.
        let elsewhere = dir.path().join("elsewhere");
        std::fs::write(&elsewhere, "keep").unwrap();
        std::os::unix::fs::symlink(&elsewhere, &path).unwrap();
        let (plan, work) = saved_to(&path);
        assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "keep");
        let saved = read(&path).unwrap();
        assert_eq!(saved.header, header());
        assert_eq!(saved.work, work);
        let configs = |plan: &Plan| plan.jobs().iter().map(Job::config).collect::<Vec<_>>();
        assert_eq!(configs(&saved.plan), configs(&plan));
        assert_eq!(saved.plan.jobs()[0].policy(), Some("base"));
        assert_eq!(saved.plan.jobs()[0].source_text(), "m.yaml:7");

        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace(r#""old""#, r#""new""#)).unwrap();
        assert!(matches!(read(&path), Err(SavedPlanError::Tampered { .. })));
        std::fs::write(&path, &text[..text.len() - 3]).unwrap();
        assert!(matches!(read(&path), Err(SavedPlanError::NotSaved { .. })));
    }

    #[test]
    fn a_plan_larger_than_the_limit_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("change.plan");
        saved_to(&path);
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(read_within(&path, size).is_ok());
        let refused = read_within(&path, size - 1).unwrap_err();
        assert!(
            matches!(&refused, SavedPlanError::TooLarge { limit, .. } if *limit == size - 1),
            "{refused:?}"
        );
        let folder = read_within(dir.path(), size).unwrap_err();
        assert!(matches!(folder, SavedPlanError::Read { .. }), "{folder:?}");
    }

    #[test]
    fn only_buckets_still_as_they_were_keep_their_saved_work() {
        let dir = tempfile::tempdir().unwrap();
        let (plan, work) = saved_to(&dir.path().join("p"));
        let live = crate::plan::reconcile::blind(&plan);
        let changed = unless_changed(work.clone(), live);
        assert!(changed.iter().all(|bucket| matches!(bucket,
            BucketWork::Unreadable(why) if why.message == CHANGED)));
        let again = unless_changed(work.clone(), work.clone());
        assert_eq!(again, work);
        let target = header().target;
        let same = SavedTarget {
            endpoint: Some("HTTP://127.0.0.1:9000".into()),
            ..target.clone()
        };
        assert!(target.same_as(&same));
        let sandbox = SavedTarget {
            endpoint: None,
            sandbox: true,
            account_id: None,
        };
        assert!(!target.same_as(&sandbox));
    }
}
