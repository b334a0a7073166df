//! The report row each way a job can end.

use std::time::Duration;

use super::Attempt;
use crate::cos::client::TransportErrorKind;
use crate::plan::Job;
use crate::report::{self, Outcome, ReportRow};

/// One line about an attempt's outcome.
pub(crate) fn describe(outcome: &Attempt) -> String {
    match outcome {
        Ok(response) => response.describe(),
        Err(err) => err.message.clone(),
    }
}

fn transport_code(kind: TransportErrorKind) -> &'static str {
    match kind {
        TransportErrorKind::Timeout => "Timeout",
        TransportErrorKind::Connect => "ConnectError",
        TransportErrorKind::Connection => "ConnectionError",
        TransportErrorKind::TooLarge => "ResponseTooLarge",
    }
}

fn base_row(job: &Job, outcome: Outcome, attempts: u32, elapsed: Duration) -> ReportRow {
    ReportRow {
        bucket: job.bucket().to_string(),
        region: job.region().to_string(),
        id: job.id().to_string(),
        action: "put",
        outcome,
        http_status: None,
        error_code: String::new(),
        message: String::new(),
        request_id: String::new(),
        attempts,
        elapsed_ms: elapsed.as_millis() as u64,
        finished_at: report::timestamp(jiff::Timestamp::now()),
    }
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

pub(crate) fn applied(job: &Job, attempts: u32, elapsed: Duration, outcome: &Attempt) -> ReportRow {
    with_attempt(
        base_row(job, Outcome::Applied, attempts, elapsed),
        Some(outcome),
    )
}

pub(crate) fn failed(
    job: &Job,
    attempts: u32,
    elapsed: Duration,
    outcome: &Attempt,
    why: Option<String>,
) -> ReportRow {
    let mut row = with_attempt(
        base_row(job, Outcome::Failed, attempts, elapsed),
        Some(outcome),
    );
    if let Some(why) = why {
        row.message = format!("{why}: {}", row.message);
    }
    row
}

pub(crate) fn skipped(
    job: &Job,
    attempts: u32,
    elapsed: Duration,
    last: Option<&Attempt>,
    reason: &str,
) -> ReportRow {
    let mut row = with_attempt(base_row(job, Outcome::Skipped, attempts, elapsed), last);
    row.message = reason.to_string();
    row
}

pub(crate) fn cancelled(
    job: &Job,
    attempts: u32,
    elapsed: Duration,
    last: Option<&Attempt>,
) -> ReportRow {
    let mut row = with_attempt(base_row(job, Outcome::Cancelled, attempts, elapsed), last);
    row.message = if row.message.is_empty() {
        "not finished: the run was interrupted".to_string()
    } else {
        format!(
            "not finished: the run was interrupted; last attempt: {}",
            row.message
        )
    };
    row
}

pub(crate) fn dry_run(job: &Job) -> ReportRow {
    let mut row = base_row(job, Outcome::DryRun, 0, Duration::ZERO);
    row.message = format!(
        "not sent (dry run); reports would go to {}",
        job.config().destination.report_location()
    );
    row
}
