//! The report row for each way a job (or a pruned id) ends.

use std::time::Duration;

use super::Attempt;
use crate::model::{BucketName, InventoryId, Region};
use crate::plan::Job;
use crate::plan::reconcile::{JobAction, Unreadable, UnreadableEnd};
use crate::report::{self, Action, Outcome, ReportRow};
use crate::send::client::TransportErrorKind;
use crate::send::{End, Ended};

fn transport_code(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::Timeout => "Timeout",
        TransportErrorKind::Connect => "ConnectError",
        TransportErrorKind::Connection => "ConnectionError",
        TransportErrorKind::TlsVerification => "TlsCertificateRefused",
        TransportErrorKind::Credentials => "NoCredentials",
        TransportErrorKind::AccountUnavailable => "AccountUnavailable",
        TransportErrorKind::TooLarge => "ResponseTooLarge",
    }
}

/// The report's `action` for what the plan decided. The plan names its
/// actions itself (it may not import the report), so this match, with no
/// wildcard arm, keeps the two vocabularies in step.
pub(super) fn action(planned: &JobAction) -> &'static str {
    let action = match planned {
        JobAction::Put => Action::Put,
        JobAction::Create => Action::Create,
        JobAction::Update(_) => Action::Update,
        JobAction::Unchanged => Action::Unchanged,
        JobAction::RunNow(_) => Action::RunNow,
    };
    action.as_str()
}

/// A one-time job's row names the id it was submitted under (the `id`
/// column keeps the job's, which `--from-report` matches on) and, when
/// COS gave one, its JobId.
pub(super) fn one_time(row: &mut ReportRow, id: &InventoryId, ended: &Ended) {
    let mut words = format!("one-time id {id}");
    if matches!(ended.end, End::Succeeded)
        && let Some(job_id) = crate::cos::xml::post_result_job_id(ended.body())
    {
        words.push_str(&format!("; JobId {job_id}"));
    }
    row.message = match row.message.is_empty() {
        true => words,
        false => format!("{words}: {}", row.message),
    };
}

/// What a row is about.
pub(super) struct Target<'a> {
    pub bucket: &'a BucketName,
    pub region: &'a Region,
    pub id: &'a str,
    /// The report's `action` column.
    pub action: &'static str,
    /// The job's `file:line`; none for a pruned id (no manifest has it).
    pub job: Option<&'a Job>,
}

impl<'a> Target<'a> {
    pub fn job(job: &'a Job, action: &'static str) -> Self {
        Target {
            bucket: job.bucket(),
            region: job.region(),
            id: job.id().as_str(),
            action,
            job: Some(job),
        }
    }
}

fn base_row(target: &Target<'_>, outcome: Outcome, attempts: u32, elapsed: Duration) -> ReportRow {
    ReportRow {
        bucket: target.bucket.to_string(),
        region: target.region.to_string(),
        id: target.id.to_string(),
        action: target.action,
        outcome,
        http_status: None,
        error_code: String::new(),
        message: String::new(),
        request_id: String::new(),
        attempts,
        elapsed_ms: elapsed.as_millis() as u64,
        finished_at: finished_at(),
        source: target.job.map(Job::source_text).unwrap_or_default(),
        account: target.bucket.appid().to_string(),
    }
}

/// Now, as [`report::timestamp`] writes it; formatted once per
/// millisecond per thread (rows end thousands a second).
fn finished_at() -> String {
    thread_local! {
        static LAST: std::cell::RefCell<(i64, String)> =
            const { std::cell::RefCell::new((i64::MIN, String::new())) };
    }
    let now = jiff::Timestamp::now();
    let millisecond = now.as_millisecond();
    LAST.with_borrow_mut(|(last, text)| {
        if *last != millisecond {
            *last = millisecond;
            *text = report::timestamp(now);
        }
        text.clone()
    })
}

/// Fills status, code, request id and message from an attempt.
fn with_attempt(mut row: ReportRow, attempt: Option<&Attempt>) -> ReportRow {
    match attempt {
        Some(Ok(response)) => {
            row.http_status = Some(response.status);
            row.request_id = response.request_id.clone().unwrap_or_default();
            if !response.is_success() {
                row.error_code = response.code().unwrap_or_default().to_string();
                row.message = response.describe();
            } else if response.unparsed_error.is_some() {
                row.error_code = "NotCosAnswer".into();
                row.message = response.describe();
            }
        }
        Some(Err(err)) => {
            row.error_code = transport_code(err.kind).to_string();
            row.message = err.message.clone();
        }
        None => {}
    }
    row
}

/// Whether an attempt may have reached COS without its answer reaching
/// us: a timeout, or a connection that broke after the request went out
/// (refused connections and refused certificates sent nothing).
fn answer_lost(attempt: Option<&Attempt>) -> bool {
    matches!(
        attempt,
        Some(Err(err)) if matches!(err.kind, TransportErrorKind::Timeout | TransportErrorKind::Connection)
    )
}

/// Whether the last answer was a 2xx that COS did not send.
fn answered_by_a_stranger(attempt: Option<&Attempt>) -> bool {
    matches!(attempt, Some(Ok(response)) if response.is_success() && response.unparsed_error.is_some())
}

/// The row of a request that ended; `success` is the outcome of a 2xx.
pub(super) fn ended(target: &Target<'_>, ended: &Ended, success: Outcome) -> ReportRow {
    // Whatever stopped the retries, a last attempt whose answer was lost
    // leaves the change undecided, and so does a 2xx COS did not send.
    let stranger = answered_by_a_stranger(ended.last.as_ref());
    let outcome = match &ended.end {
        End::Succeeded => success,
        _ if stranger || answer_lost(ended.last.as_ref()) => Outcome::Unknown,
        End::Failed { .. } => Outcome::Failed,
        End::Skipped(_) => Outcome::Skipped,
        End::Cancelled => Outcome::Cancelled,
    };
    let base = base_row(target, outcome, ended.attempts, ended.elapsed);
    let mut row = with_attempt(base, ended.last.as_ref());
    let last = std::mem::take(&mut row.message);
    row.message = match &ended.end {
        End::Succeeded | End::Failed { why: None, .. } => last,
        End::Failed { why: Some(why), .. } => format!("{why}: {last}"),
        End::Skipped(reason) if last.is_empty() => reason.clone(),
        End::Skipped(reason) => format!("{reason}; last attempt: {last}"),
        End::Cancelled => interrupted(&last),
    };
    let read = target.action == READ_ACTION;
    let note = match (stranger, read) {
        (true, false) => STRANGER_NOTE,
        (true, true) => STRANGER_READ_NOTE,
        (false, _) if outcome != Outcome::Unknown => return row,
        (false, false) => UNKNOWN_NOTE,
        (false, true) => UNKNOWN_READ_NOTE,
    };
    row.message = format!("{note}; {}", row.message);
    row
}

/// A bucket COS does not have where the manifest puts it, but has in
/// another region: the row says where, and what to fix, before what COS
/// said. A bucket the account does not hold anywhere keeps COS's words.
pub(super) fn region_hint(row: &mut ReportRow, found: Option<&str>) {
    let Some(real) = found.filter(|real| !real.eq_ignore_ascii_case(&row.region)) else {
        return;
    };
    row.message = format!(
        "{} is in {real}, not {} (fix the manifest's region); {}",
        row.bucket, row.region, row.message
    );
}

/// The action of a refresh's read of a bucket: nothing is changed by it,
/// so its notes speak of the read.
pub(super) const READ_ACTION: &str = "list";

/// What a read without an answer says.
const UNKNOWN_READ_NOTE: &str = "no answer came to the read of the bucket's inventory";

/// What a read answered by something other than COS says.
const STRANGER_READ_NOTE: &str = "the answer to the read did not come from COS (check the \
                                  endpoint and any proxy)";

fn interrupted(last: &str) -> String {
    if last.is_empty() {
        "not finished: the run was interrupted".to_string()
    } else {
        format!("not finished: the run was interrupted; last attempt: {last}")
    }
}

/// What an `unknown` row says: the change may or may not have been made.
const UNKNOWN_NOTE: &str = "no answer came: COS may or may not have made the change (a rerun \
                            settles it)";

/// What a row answered by something other than COS says.
const STRANGER_NOTE: &str = "the answer did not come from COS: COS may or may not have made the \
                             change (check the endpoint and any proxy; a rerun settles it)";

/// A job without a row when the run ended: `cancelled` if nothing of it
/// was on the wire, `unknown` if a request was (its answer never came).
pub(super) fn unfinished(target: &Target<'_>, attempts: u32, on_wire: bool) -> ReportRow {
    let outcome = if on_wire {
        Outcome::Unknown
    } else {
        Outcome::Cancelled
    };
    let mut row = base_row(target, outcome, attempts, Duration::ZERO);
    row.message = if on_wire {
        format!("{UNKNOWN_NOTE}; the run was stopped while the request was on the wire")
    } else {
        interrupted("")
    };
    row
}

/// A job whose configuration is already on the bucket.
pub(super) fn unchanged(target: &Target<'_>) -> ReportRow {
    let mut row = base_row(target, Outcome::Unchanged, 0, Duration::ZERO);
    row.message = "already on the bucket as the manifest says; nothing sent".to_string();
    row
}

/// A job that fails without a request of its own, for `reason`.
pub(super) fn refused(target: &Target<'_>, code: &str, reason: String) -> ReportRow {
    let mut row = base_row(target, Outcome::Failed, 0, Duration::ZERO);
    row.error_code = code.to_string();
    row.message = reason;
    row
}

/// A job on a bucket whose live state could not be read: the refresh's
/// last answer, no request of its own.
pub(super) fn unreadable(target: &Target<'_>, refresh: &Unreadable) -> ReportRow {
    let outcome = match refresh.end {
        UnreadableEnd::Failed => Outcome::Failed,
        UnreadableEnd::Skipped => Outcome::Skipped,
        UnreadableEnd::Cancelled => Outcome::Cancelled,
    };
    let mut row = base_row(target, outcome, 0, Duration::ZERO);
    row.http_status = refresh.http_status;
    row.error_code = refresh.error_code.clone();
    row.request_id = refresh.request_id.clone();
    row.message = match refresh.end {
        UnreadableEnd::Failed => format!(
            "not sent: the bucket's inventory could not be read: {}",
            refresh.message
        ),
        _ => refresh.message.clone(),
    };
    row
}

pub(super) fn dry_run(job: &Job, action: &'static str) -> ReportRow {
    let mut row = base_row(
        &Target::job(job, action),
        Outcome::DryRun,
        0,
        Duration::ZERO,
    );
    row.message = format!(
        "not sent (dry run); reports would go to {}",
        job.report_location()
    );
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_s_actions_are_the_report_s() {
        for planned in [
            JobAction::Put,
            JobAction::Create,
            JobAction::Update(Vec::new()),
            JobAction::Unchanged,
        ] {
            assert_eq!(action(&planned), planned.as_str(), "{planned:?}");
        }
    }

    #[test]
    fn a_read_without_an_answer_speaks_of_the_read_not_of_a_change() {
        let bucket = BucketName::parse("a-1250000000").unwrap();
        let region = Region::parse("ap-guangzhou").unwrap();
        let timeout = Err(crate::send::client::TransportError {
            kind: TransportErrorKind::Timeout,
            message: "timed out".into(),
        });
        let ended = Ended {
            end: End::Failed { why: None },
            attempts: 3,
            last: Some(timeout),
            elapsed: Duration::ZERO,
        };
        let target = |action| Target {
            bucket: &bucket,
            region: &region,
            id: "x",
            action,
            job: None,
        };
        let read = super::ended(&target(READ_ACTION), &ended, Outcome::Applied);
        assert!(
            read.message.starts_with(UNKNOWN_READ_NOTE),
            "{}",
            read.message
        );
        assert!(
            !read.message.contains("made the change"),
            "{}",
            read.message
        );
        let write = super::ended(&target("update"), &ended, Outcome::Applied);
        assert!(
            write.message.contains("made the change"),
            "{}",
            write.message
        );
    }

    #[test]
    fn a_bucket_in_another_region_names_the_fix() {
        let bucket = BucketName::parse("acme-logs-1300000000").unwrap();
        let region = Region::parse("ap-shanghai").unwrap();
        let target = Target {
            bucket: &bucket,
            region: &region,
            id: "x",
            action: "put",
            job: None,
        };
        let plain = refused(&target, "NoSuchBucket", "404 NoSuchBucket".into());
        let mut row = plain.clone();
        region_hint(&mut row, Some("ap-guangzhou"));
        assert_eq!(
            row.message,
            "acme-logs-1300000000 is in ap-guangzhou, not ap-shanghai (fix the manifest's \
             region); 404 NoSuchBucket"
        );
        for found in [None, Some("ap-shanghai")] {
            let mut row = plain.clone();
            region_hint(&mut row, found);
            assert_eq!(row.message, plain.message, "{found:?}");
        }
    }
}
