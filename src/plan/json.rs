//! The plan for programs: one JSON document, streamed bucket by bucket.
//!
//! The schema is documented in docs/manifest.md ("The JSON plan") and
//! docs/schemas/plan.schema.json: `{"schema_version":3,"refreshed",
//! "shard","saved"?,"buckets":[{"bucket","region","status","error","limit",
//! "fingerprint","jobs":[…],"unmanaged","deletes"}],"summary","by_policy",
//! "by_region"}`; each job ends with `source` and `destination_warning`.
//! A saved plan ([`super::saved`]) is this document with its `saved`
//! header and a trailing `digest`. Each job is serialised as it is
//! reached, so a million-job plan never exists as one value.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};

use super::reconcile::{BucketChanges, BucketWork, JobAction, UnreadableEnd};
use super::rollup::Rollup;
use super::{Job, Plan, Shard};
use crate::manifest::{AccountAccess, AccountSpec, Loc};
use crate::model::live::OTHER_ELEMENTS;

/// The version of this document's schema (3: `schema_version`, sets as
/// arrays, fingerprints, the saved plan's header).
pub const SCHEMA_VERSION: u32 = 3;

/// The changes whose values are sets, written as JSON arrays: their
/// canonical text joins the members with `", "` (see
/// [`crate::model::live::LiveConfiguration::meaning`]).
pub const SET_FIELDS: [&str; 3] = ["filter.tags", "optional_fields", OTHER_ELEMENTS];

/// Where, from what and when a saved plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedHeader {
    pub cosinv_version: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub target: SavedTarget,
    pub manifests: Vec<InputDigest>,
    pub buckets_files: Vec<InputDigest>,
    /// The manifests' `accounts:`, so that the plan is applied with each
    /// member account's own credentials without reading them again.
    #[serde(default)]
    pub accounts: Vec<SavedAccount>,
}

/// One entry of the manifests' `accounts:` as a saved plan keeps it: how
/// the requests to its buckets are signed (a role to assume or a profile's
/// name; never a secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedAccount {
    pub appid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl SavedAccount {
    pub fn of(spec: &AccountSpec) -> Self {
        let mut saved = SavedAccount {
            appid: spec.appid.clone(),
            role_arn: None,
            external_id: None,
            session_name: None,
            duration: None,
            profile: None,
        };
        match &spec.access {
            AccountAccess::Role {
                role_arn,
                external_id,
                session_name,
                duration,
            } => {
                saved.role_arn = Some(role_arn.clone());
                saved.external_id = external_id.clone();
                saved.session_name = session_name.clone();
                saved.duration = *duration;
            }
            AccountAccess::Profile { name } => saved.profile = Some(name.clone()),
        }
        saved
    }

    /// The account as the manifests said it, located in the plan file;
    /// `None` for an entry with neither a role nor a profile.
    pub fn spec(&self, plan_file: &Path) -> Option<AccountSpec> {
        let access = match (&self.role_arn, &self.profile) {
            (Some(role_arn), None) => AccountAccess::Role {
                role_arn: role_arn.clone(),
                external_id: self.external_id.clone(),
                session_name: self.session_name.clone(),
                duration: self.duration,
            },
            (None, Some(name)) => AccountAccess::Profile { name: name.clone() },
            _ => return None,
        };
        Some(AccountSpec {
            appid: self.appid.clone(),
            at: Loc::new(&Arc::from(plan_file), 1),
            access,
        })
    }
}

impl SavedHeader {
    /// When, by which cosinv, for which target and from which files.
    pub fn describe(&self) -> String {
        let files: Vec<String> = (self.manifests.iter().chain(&self.buckets_files))
            .map(|file| format!("{} (sha256 {:.12})", file.path.display(), file.sha256))
            .collect();
        format!(
            "made at {} by cosinv {} for {}, from {}",
            self.created_at,
            self.cosinv_version,
            self.target.describe(),
            files.join(", ")
        )
    }
}

/// The COS a plan was read from, which is the only one it may be applied to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedTarget {
    /// The endpoint every request went to; `None`: COS's own per-region
    /// hosts (`BUCKET.cos.REGION.myqcloud.com`).
    pub endpoint: Option<String>,
    /// The in-process emulator.
    pub sandbox: bool,
    /// The account, when the run learned it.
    pub account_id: Option<String>,
}

impl SavedTarget {
    /// Whether a run against `other` reaches the same COS: the same kind,
    /// and the same endpoint but for a trailing `/` and the case of the
    /// scheme and host.
    pub fn same_as(&self, other: &SavedTarget) -> bool {
        let normal = |endpoint: &Option<String>| {
            endpoint
                .as_deref()
                .map(|url| url.trim_end_matches('/').to_ascii_lowercase())
        };
        self.sandbox == other.sandbox && normal(&self.endpoint) == normal(&other.endpoint)
    }

    /// The target in words, for a refusal.
    pub fn describe(&self) -> String {
        match (self.sandbox, &self.endpoint) {
            (true, _) => "the sandbox".to_string(),
            (false, Some(endpoint)) => format!("the endpoint {endpoint}"),
            (false, None) => "COS (BUCKET.cos.REGION.myqcloud.com)".to_string(),
        }
    }
}

/// A file a plan was made from and its SHA-256 (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputDigest {
    pub path: PathBuf,
    pub sha256: String,
}

/// A plan and what would be done on each bucket, as the JSON document.
pub struct PlanDocument<'a> {
    plan: &'a Plan,
    work: &'a [BucketWork],
    refreshed: bool,
    shard: Option<Shard>,
    rollup: &'a Rollup,
    /// One entry per job of the plan, in its order (the destination check).
    destination_warnings: Option<&'a [Option<String>]>,
    /// A saved plan's header.
    saved: Option<&'a SavedHeader>,
}

impl<'a> PlanDocument<'a> {
    /// `work` has one entry per bucket of `plan`, in its order; `refreshed`
    /// says whether it came from live state.
    pub fn new(
        plan: &'a Plan,
        work: &'a [BucketWork],
        refreshed: bool,
        shard: Option<Shard>,
        rollup: &'a Rollup,
    ) -> Self {
        PlanDocument {
            plan,
            work,
            refreshed,
            shard,
            rollup,
            destination_warnings: None,
            saved: None,
        }
    }

    /// The saved plan's header, written before the buckets.
    pub fn with_saved(mut self, saved: &'a SavedHeader) -> Self {
        self.saved = Some(saved);
        self
    }

    /// Each job's `destination_warning`: `warnings` has one entry per job
    /// of the plan, in its order.
    pub fn with_destination_warnings(mut self, warnings: &'a [Option<String>]) -> Self {
        self.destination_warnings = Some(warnings);
        self
    }
}

impl Serialize for PlanDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut document = serializer.serialize_struct("Plan", 8)?;
        document.serialize_field("schema_version", &SCHEMA_VERSION)?;
        document.serialize_field("refreshed", &self.refreshed)?;
        document.serialize_field("shard", &self.shard.map(|shard| shard.to_string()))?;
        match self.saved {
            Some(saved) => document.serialize_field("saved", saved)?,
            None => document.skip_field("saved")?,
        }
        document.serialize_field("buckets", &Buckets(self))?;
        document.serialize_field("summary", self.rollup)?;
        document.serialize_field("by_policy", &self.rollup.by_policy)?;
        document.serialize_field("by_region", &self.rollup.by_region)?;
        document.end()
    }
}

struct Buckets<'a>(&'a PlanDocument<'a>);

impl Serialize for Buckets<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let document = self.0;
        let mut first = 0;
        serializer.collect_seq(
            document
                .plan
                .buckets()
                .zip(document.work)
                .map(|(jobs, work)| {
                    let range = first..first + jobs.len();
                    first = range.end;
                    let warnings = document.destination_warnings.and_then(|all| all.get(range));
                    Bucket {
                        jobs,
                        work,
                        warnings,
                    }
                }),
        )
    }
}

/// The jobs of one bucket and what would be done there.
struct Bucket<'a> {
    jobs: &'a [Job],
    work: &'a BucketWork,
    /// The destination check's warning for each job, when it was made.
    warnings: Option<&'a [Option<String>]>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    outcome: &'static str,
    http_status: Option<u16>,
    code: &'a str,
    message: &'a str,
    request_id: &'a str,
}

#[derive(Serialize)]
struct JsonLimit {
    planned: usize,
    unmanaged: usize,
    total: usize,
}

impl Serialize for Bucket<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let first = &self.jobs[0];
        let mut bucket = serializer.serialize_struct("Bucket", 9)?;
        bucket.serialize_field("bucket", first.bucket().as_str())?;
        bucket.serialize_field("region", first.region().as_str())?;
        let empty = BucketChanges::default();
        let (status, error, changes) = match self.work {
            BucketWork::Unreadable(failure) => {
                let error = JsonError {
                    outcome: match failure.end {
                        UnreadableEnd::Failed => "failed",
                        UnreadableEnd::Skipped => "skipped",
                        UnreadableEnd::Cancelled => "cancelled",
                    },
                    http_status: failure.http_status,
                    code: &failure.error_code,
                    message: &failure.message,
                    request_id: &failure.request_id,
                };
                ("unreadable", Some(error), &empty)
            }
            BucketWork::Changes(changes) if changes.limit.is_some() => {
                ("over_limit", None, changes)
            }
            BucketWork::Changes(changes) => ("ok", None, changes),
        };
        bucket.serialize_field("status", status)?;
        bucket.serialize_field("error", &error)?;
        let limit = changes.limit.map(|limit| JsonLimit {
            planned: limit.planned,
            unmanaged: limit.unmanaged,
            total: limit.total(),
        });
        bucket.serialize_field("limit", &limit)?;
        bucket.serialize_field("fingerprint", &changes.fingerprint)?;
        let actions: &[JobAction] = &changes.actions;
        bucket.serialize_field("jobs", &Jobs(self.jobs, actions, self.warnings))?;
        bucket.serialize_field("unmanaged", &changes.unmanaged)?;
        bucket.serialize_field("deletes", &changes.deletes)?;
        bucket.end()
    }
}

/// The jobs of a bucket with their actions (none known: an unreadable
/// bucket) and destination warnings (when checked).
struct Jobs<'a>(&'a [Job], &'a [JobAction], Option<&'a [Option<String>]>);

impl Serialize for Jobs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().enumerate().map(|(index, job)| {
            let warning = self
                .2
                .and_then(|all| all.get(index))
                .and_then(Option::as_deref);
            JobView(job, self.1.get(index), warning)
        }))
    }
}

/// One job, its configuration expanded when it is written.
struct JobView<'a>(&'a Job, Option<&'a JobAction>, Option<&'a str>);

#[derive(Serialize)]
struct JsonChange<'a> {
    field: &'a str,
    live: ChangeValue<'a>,
    desired: ChangeValue<'a>,
}

/// A change's value: text, or a set's members.
#[derive(Serialize)]
#[serde(untagged)]
enum ChangeValue<'a> {
    Text(&'a str),
    Set(Vec<&'a str>),
}

impl<'a> ChangeValue<'a> {
    fn of(field: &str, value: &'a str) -> Self {
        match SET_FIELDS.contains(&field) {
            true if value.is_empty() => ChangeValue::Set(Vec::new()),
            true => ChangeValue::Set(value.split(", ").collect()),
            false => ChangeValue::Text(value),
        }
    }
}

impl Serialize for JobView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let config = self.0.config();
        let d = &config.destination;
        let changes = match self.1 {
            Some(JobAction::Update(changes)) => changes
                .iter()
                .map(|change| JsonChange {
                    field: change.field,
                    live: ChangeValue::of(change.field, &change.live),
                    desired: ChangeValue::of(change.field, &change.desired),
                })
                .collect(),
            _ => Vec::new(),
        };
        JsonJob {
            id: config.id.as_str(),
            action: self.1.map(JobAction::as_str),
            policy: self.0.policy(),
            changes,
            enabled: config.enabled,
            included_object_versions: config.included_object_versions.as_str(),
            schedule: config.frequency.as_str(),
            monthly_date: config.monthly_date.map(|day| day.get()),
            filter: config.filter.as_ref().map(|filter| JsonFilter {
                prefix: filter.prefix.as_deref(),
                tags: filter
                    .tags
                    .iter()
                    .map(|tag| (tag.key.as_str(), tag.value.as_str()))
                    .collect(),
                period: filter.period.map(|period| JsonPeriod {
                    start: period.start,
                    end: period.end,
                }),
            }),
            optional_fields: config.optional_fields.iter().map(|f| f.as_str()).collect(),
            destination: JsonDestination {
                bucket: d.bucket.as_str(),
                region: d.region.as_str(),
                arn: d.arn(),
                account_id: d.account_id.as_ref().map(|a| a.as_str()),
                prefix: d.prefix.as_deref(),
                format: d.format.as_str(),
                encryption: if d.sse_cos { "SSE-COS" } else { "none" },
                report_location: d.report_location(),
            },
            source: self.0.source().to_string(),
            destination_warning: self.2,
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct JsonJob<'a> {
    id: &'a str,
    /// `create`, `update`, `none` or `put`; null for an unreadable bucket.
    action: Option<&'static str>,
    policy: Option<&'a str>,
    changes: Vec<JsonChange<'a>>,
    enabled: bool,
    included_object_versions: &'a str,
    schedule: &'a str,
    monthly_date: Option<u8>,
    filter: Option<JsonFilter<'a>>,
    optional_fields: Vec<&'a str>,
    destination: JsonDestination<'a>,
    source: String,
    /// With the destination check: why COS may not write the reports.
    destination_warning: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonFilter<'a> {
    prefix: Option<&'a str>,
    tags: BTreeMap<&'a str, &'a str>,
    period: Option<JsonPeriod>,
}

#[derive(Serialize)]
struct JsonPeriod {
    start: Option<u64>,
    end: Option<u64>,
}

#[derive(Serialize)]
struct JsonDestination<'a> {
    bucket: &'a str,
    region: &'a str,
    arn: String,
    account_id: Option<&'a str>,
    prefix: Option<&'a str>,
    format: &'a str,
    encryption: &'a str,
    report_location: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::sample;
    use crate::model::{BucketName, Region};
    use crate::plan::Source;

    #[test]
    fn the_document_has_the_documented_shape() {
        let job = Job::new(
            BucketName::parse("a-1250000000").unwrap(),
            Region::parse("ap-guangzhou").unwrap(),
            sample(),
            Source {
                file: "m.yaml".into(),
                line: 3,
            },
        );
        let plan = Plan::from_jobs(vec![job]);
        let work = crate::plan::reconcile::blind(&plan);
        let rollup = Rollup::of(&plan, &work);
        let shard = Some("1/4".parse().unwrap());
        let document = PlanDocument::new(&plan, &work, false, shard, &rollup);
        let text = serde_json::to_string(&document).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["schema_version"], 3);
        assert!(value.get("saved").is_none());
        assert_eq!(value["buckets"][0]["fingerprint"], serde_json::Value::Null);
        assert_eq!(value["shard"], "1/4");
        assert_eq!(value["summary"]["jobs"], 1);
        assert_eq!(value["summary"]["put"], 1);
        assert_eq!(value["summary"]["buckets"], 1);
        let bucket = &value["buckets"][0];
        assert_eq!(bucket["bucket"], "a-1250000000");
        assert_eq!(bucket["status"], "ok");
        assert_eq!(bucket["jobs"][0]["source"], "m.yaml:3");
        assert_eq!(bucket["jobs"][0]["action"], "put");
        assert_eq!(
            bucket["jobs"][0]["destination_warning"],
            serde_json::Value::Null
        );
        let warnings = [Some("no policy".to_string())];
        let warned = PlanDocument::new(&plan, &work, false, None, &rollup)
            .with_destination_warnings(&warnings);
        let value = serde_json::to_value(&warned).unwrap();
        assert_eq!(
            value["buckets"][0]["jobs"][0]["destination_warning"],
            "no policy"
        );
        assert!(
            text.starts_with(r#"{"schema_version":3,"refreshed":false,"shard":"1/4","buckets":[{"#)
        );
        let nothing = Plan::default();
        let empty = Rollup::of(&nothing, &[]);
        let none = PlanDocument::new(&nothing, &[], true, None, &empty);
        let value: serde_json::Value = serde_json::to_value(&none).unwrap();
        assert_eq!(value["buckets"], serde_json::json!([]));
        assert_eq!(value["summary"]["jobs"], 0);
    }
}
