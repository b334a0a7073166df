//! The destination check: each distinct destination bucket's policy is
//! read once (GET Bucket policy), and each job whose reports it does not
//! let COS write gets a warning. Warnings never stop a run: a policy may
//! grant in ways cosinv does not read (conditions, an account's own
//! rights), and COS itself is the judge.

use std::collections::HashMap;

use futures_util::StreamExt;

use crate::cos::policy::{BucketPolicy, Grant, PolicyError, ReportTarget};
use crate::cos::request::InventoryRequest;
use crate::model::{BucketName, Destination, Region};
use crate::plan::Plan;
use crate::send::Transport;
use crate::send::{FetchSettings, fetch};

/// COS's answer for a bucket without a policy.
const NO_SUCH_BUCKET_POLICY: &str = "NoSuchBucketPolicy";

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DestinationCheck {
    /// One entry per job of the plan, in its order: the warning, if any.
    pub warnings: Vec<Option<String>>,
    /// How many distinct destination buckets were read.
    pub destinations: usize,
}

impl DestinationCheck {
    /// How many jobs have a warning.
    pub fn warned(&self) -> usize {
        self.warnings.iter().flatten().count()
    }
}

/// A destination's policy, as read.
#[derive(Debug)]
enum PolicyState {
    Read(BucketPolicy),
    None,
    Invalid(PolicyError),
    Unreadable(String),
}

/// Reads the policy of every distinct destination of `plan` (at most
/// `settings.concurrency` at once) and checks each job against its own.
pub async fn check_destinations<T: Transport>(
    transport: &T,
    plan: &Plan,
    settings: &FetchSettings,
) -> DestinationCheck {
    let mut distinct: Vec<(BucketName, Region)> = plan
        .jobs()
        .iter()
        .map(|job| {
            let destination = job.config().destination;
            (destination.bucket, destination.region)
        })
        .collect();
    distinct.sort();
    distinct.dedup();
    let policies: HashMap<(BucketName, Region), PolicyState> = futures_util::stream::iter(distinct)
        .map(|key| async move {
            let state = read_policy(transport, &key.0, &key.1, settings.clone()).await;
            (key, state)
        })
        .buffer_unordered(settings.concurrency.max(1))
        .collect()
        .await;
    let warnings = plan
        .jobs()
        .iter()
        .map(|job| {
            let destination = job.config().destination;
            let key = (destination.bucket.clone(), destination.region.clone());
            policies
                .get(&key)
                .and_then(|state| warning(state, &destination))
        })
        .collect();
    DestinationCheck {
        warnings,
        destinations: policies.len(),
    }
}

async fn read_policy<T: Transport>(
    transport: &T,
    bucket: &BucketName,
    region: &Region,
    mut settings: FetchSettings,
) -> PolicyState {
    let request = InventoryRequest::get_policy(bucket, region);
    let fetched = fetch(transport, &request, Some(bucket), &mut settings).await;
    if let Some(answer) = fetched.success() {
        return match BucketPolicy::parse(&answer.body) {
            Ok(policy) => PolicyState::Read(policy),
            Err(err) => PolicyState::Invalid(err),
        };
    }
    match &fetched.last {
        Ok(answer) if answer.code() == Some(NO_SUCH_BUCKET_POLICY) => PolicyState::None,
        _ => PolicyState::Unreadable(fetched.describe()),
    }
}

/// The warning for a job writing to `destination`, if its policy calls
/// for one.
fn warning(state: &PolicyState, destination: &Destination) -> Option<String> {
    let bucket = &destination.bucket;
    let location = destination.report_location();
    let policy = match state {
        PolicyState::Read(policy) => policy,
        PolicyState::None => {
            return Some(format!(
                "destination {bucket} has no bucket policy ({NO_SUCH_BUCKET_POLICY}): nothing \
                 lets COS write the reports to {location}"
            ));
        }
        PolicyState::Invalid(err) => {
            return Some(format!(
                "the bucket policy of destination {bucket} cannot be read: {err}"
            ));
        }
        PolicyState::Unreadable(why) => {
            return Some(format!(
                "cannot read the bucket policy of destination {bucket}: {why}"
            ));
        }
    };
    let target = ReportTarget {
        bucket,
        region: &destination.region,
        prefix: destination.prefix.as_deref(),
    };
    match policy.report_writes(&target) {
        Grant::Allowed => None,
        Grant::Denied { statement } => Some(format!(
            "the bucket policy of destination {bucket} denies COS name/cos:PutObject under \
             {location} (statement {statement})"
        )),
        Grant::NotGranted => Some(format!(
            "the bucket policy of destination {bucket} lets COS write no reports under \
             {location}: no allow statement for the COS service (qcs::cam::uin/<uin>:service/cos) \
             or everyone with name/cos:PutObject on {}",
            resource_for(destination)
        )),
    }
}

/// The resource a statement may name to cover the reports.
fn resource_for(destination: &Destination) -> String {
    let bucket = &destination.bucket;
    let base = format!(
        "qcs::cos:{}:uid/{}:{bucket}",
        destination.region,
        bucket.appid()
    );
    match &destination.prefix {
        Some(prefix) => format!("{base}/{prefix}/*"),
        None => format!("{base}/*"),
    }
}
