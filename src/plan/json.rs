//! The plan for programs: one JSON document, streamed bucket by bucket.
//!
//! The schema is documented in docs/manifest.md ("The JSON plan") and only
//! grows: `{"version":1,"shard":"K/N"|null,"buckets":[{"bucket","region",
//! "jobs":[…]}],"summary":{"jobs","buckets"}}`. Each job is serialised as
//! it is reached, so a million-job plan never exists as one value.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};

use super::{Job, Plan, Shard, bucket_runs};

/// The version of this document's schema.
pub const VERSION: u32 = 1;

/// `plan` and `shard` as the JSON plan document.
pub struct PlanDocument<'a> {
    plan: &'a Plan,
    shard: Option<Shard>,
}

impl<'a> PlanDocument<'a> {
    pub fn new(plan: &'a Plan, shard: Option<Shard>) -> Self {
        PlanDocument { plan, shard }
    }
}

impl Serialize for PlanDocument<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut document = serializer.serialize_struct("Plan", 4)?;
        document.serialize_field("version", &VERSION)?;
        document.serialize_field("shard", &self.shard.map(|shard| shard.to_string()))?;
        document.serialize_field("buckets", &Buckets(self.plan))?;
        document.serialize_field(
            "summary",
            &Summary {
                jobs: self.plan.jobs().len(),
                buckets: self.plan.bucket_count(),
            },
        )?;
        document.end()
    }
}

#[derive(Serialize)]
struct Summary {
    jobs: usize,
    buckets: usize,
}

struct Buckets<'a>(&'a Plan);

impl Serialize for Buckets<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(bucket_runs(self.0.jobs()).map(Bucket))
    }
}

/// The jobs of one bucket.
struct Bucket<'a>(&'a [Job]);

impl Serialize for Bucket<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let first = &self.0[0];
        let mut bucket = serializer.serialize_struct("Bucket", 3)?;
        bucket.serialize_field("bucket", first.bucket().as_str())?;
        bucket.serialize_field("region", first.region().as_str())?;
        bucket.serialize_field("jobs", &Jobs(self.0))?;
        bucket.end()
    }
}

struct Jobs<'a>(&'a [Job]);

impl Serialize for Jobs<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(JobView))
    }
}

/// One job, its configuration expanded when it is written.
struct JobView<'a>(&'a Job);

impl Serialize for JobView<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let config = self.0.config();
        let d = &config.destination;
        JsonJob {
            id: config.id.as_str(),
            enabled: config.enabled,
            included_object_versions: config.included_object_versions.as_str(),
            schedule: config.frequency.as_str(),
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
        }
        .serialize(serializer)
    }
}

#[derive(Serialize)]
struct JsonJob<'a> {
    id: &'a str,
    enabled: bool,
    included_object_versions: &'a str,
    schedule: &'a str,
    filter: Option<JsonFilter<'a>>,
    optional_fields: Vec<&'a str>,
    destination: JsonDestination<'a>,
    source: String,
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
        let shard = Some("1/4".parse().unwrap());
        let text = serde_json::to_string(&PlanDocument::new(&plan, shard)).unwrap();
        let value: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["version"], 1);
        assert_eq!(value["shard"], "1/4");
        assert_eq!(value["summary"]["jobs"], 1);
        assert_eq!(value["summary"]["buckets"], 1);
        let bucket = &value["buckets"][0];
        assert_eq!(bucket["bucket"], "a-1250000000");
        assert_eq!(bucket["jobs"][0]["source"], "m.yaml:3");
        assert!(text.starts_with(r#"{"version":1,"shard":"1/4","buckets":[{"bucket":"#));
        let empty = serde_json::to_string(&PlanDocument::new(&Plan::default(), None)).unwrap();
        assert_eq!(
            empty,
            r#"{"version":1,"shard":null,"buckets":[],"summary":{"jobs":0,"buckets":0}}"#
        );
    }
}
