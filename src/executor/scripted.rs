//! The executor against a scripted [`Transport`]: every answer chosen by
//! the test, every attempt recorded with the (tokio) time it was sent.
//! Retry timing runs on tokio's paused clock, so nothing sleeps for real.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::time::Instant;

use super::tests::job;
use super::*;
use crate::cos::request::InventoryRequest;
use crate::send::client::Response;
use crate::send::client::{TransportError, TransportErrorKind};
use crate::send::retry::RetryPolicy;

/// Answers per (bucket, id), in order; `200 OK` once a script runs out.
#[derive(Default)]
struct Script {
    answers: Mutex<HashMap<(String, String), VecDeque<Attempt>>>,
    sent: Mutex<Vec<(String, String, Instant)>>,
    /// How long each answer takes (on tokio's clock); none by default.
    latency: Mutex<Duration>,
}

impl Script {
    fn answer(&self, bucket: &str, id: &str, answers: impl IntoIterator<Item = Attempt>) {
        self.answers
            .lock()
            .entry((bucket.to_string(), id.to_string()))
            .or_default()
            .extend(answers);
    }

    /// When each attempt at (bucket, id) was sent.
    fn times(&self, bucket: &str, id: &str) -> Vec<Instant> {
        self.sent
            .lock()
            .iter()
            .filter(|(b, i, _)| b == bucket && i == id)
            .map(|(_, _, at)| *at)
            .collect()
    }

    fn attempts(&self) -> usize {
        self.sent.lock().len()
    }
}

impl Transport for Arc<Script> {
    async fn send(&self, request: &InventoryRequest, _now: u64) -> Attempt {
        let bucket = request
            .host
            .split('.')
            .next()
            .unwrap_or_default()
            .to_string();
        let id = request
            .params
            .iter()
            .find(|(name, _)| name == "id")
            .map(|(_, value)| value.clone())
            .unwrap_or_default();
        self.sent
            .lock()
            .push((bucket.clone(), id.clone(), Instant::now()));
        let latency = *self.latency.lock();
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let next = self
            .answers
            .lock()
            .get_mut(&(bucket, id))
            .and_then(VecDeque::pop_front);
        next.unwrap_or_else(|| status(200, None))
    }
}

fn status(status: u16, code: Option<&str>) -> Attempt {
    Ok(Response {
        request_id: Some("req".into()),
        ..Response::canned(status, code)
    })
}

fn slow_down(retry_after: Option<u64>) -> Attempt {
    let mut answer = status(503, Some("SlowDown"));
    if let Ok(response) = &mut answer {
        response.retry_after = retry_after.map(Duration::from_secs);
    }
    answer
}

fn reset() -> Attempt {
    Err(TransportError {
        kind: TransportErrorKind::Connection,
        message: "connection reset".into(),
    })
}

const A: &str = "a-1250000000";
const B: &str = "b-1250000000";

/// Runs `jobs` against `script`; the outcomes by (bucket, id).
async fn run(
    script: &Arc<Script>,
    jobs: Vec<Job>,
    config: ExecutorConfig,
) -> (RunResult, HashMap<(String, String), ReportRow>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let rows = Arc::new(Mutex::new(HashMap::new()));
    let seen = rows.clone();
    let observer: Observer = Arc::new(move |event: &Event| {
        if let Event::Finished(row) = event {
            seen.lock()
                .insert((row.bucket.clone(), row.id.clone()), (*row).clone());
        }
    });
    let control = RunControl {
        observer: Some(observer),
        ..RunControl::default()
    };
    let plan = Arc::new(Plan::from_jobs(jobs));
    let report = ReportWriter::create(&path).unwrap();
    let work = crate::plan::reconcile::blind(&plan);
    let result = execute(plan, work, Some(script.clone()), config, report, control)
        .await
        .unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text.lines().count() as u64,
        1 + result.stats.total,
        "{text}"
    );
    let rows = std::mem::take(&mut *rows.lock());
    (result, rows)
}

/// No waiting between attempts: the decisions, not the timing.
fn instant_retries() -> ExecutorConfig {
    ExecutorConfig {
        retry: RetryPolicy {
            base_delay: Duration::ZERO,
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    }
}

fn outcome(rows: &HashMap<(String, String), ReportRow>, bucket: &str, id: &str) -> String {
    let row = &rows[&(bucket.to_string(), id.to_string())];
    format!("{} after {}", row.outcome.as_str(), row.attempts)
}

#[tokio::test]
async fn transient_failures_are_retried_until_applied() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [status(500, Some("InternalError")), reset()]);
    script.answer(A, "y", [slow_down(None), status(502, None)]);
    let jobs = vec![job(A, "x"), job(A, "y")];
    let (result, rows) = run(&script, jobs, instant_retries()).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 3");
    assert_eq!(outcome(&rows, A, "y"), "applied after 3");
    assert_eq!(result.stats.retries, 4);
}

#[tokio::test]
async fn a_client_error_is_final_at_once() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [status(400, Some("InvalidArgument"))]);
    let (_, rows) = run(&script, vec![job(A, "x"), job(A, "y")], instant_retries()).await;
    assert_eq!(outcome(&rows, A, "x"), "failed after 1");
    assert_eq!(outcome(&rows, A, "y"), "applied after 1");
    assert_eq!(script.attempts(), 2);
}

#[tokio::test]
async fn a_refused_bucket_skips_the_rest_of_that_bucket_only() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [status(404, Some("NoSuchBucket"))]);
    let jobs = vec![job(A, "x"), job(A, "y"), job(A, "z"), job(B, "x")];
    let (_, rows) = run(&script, jobs, instant_retries()).await;
    assert_eq!(outcome(&rows, A, "x"), "failed after 1");
    assert_eq!(outcome(&rows, A, "y"), "skipped after 0");
    assert_eq!(outcome(&rows, A, "z"), "skipped after 0");
    assert_eq!(outcome(&rows, B, "x"), "applied after 1");
}

#[tokio::test(start_paused = true)]
async fn rejected_credentials_stop_the_whole_run() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [status(403, Some("InvalidAccessKeyId"))]);
    // Whichever bucket goes first, B's job is still waiting to retry when
    // A's refusal comes.
    script.answer(B, "x", [slow_down(Some(1))]);
    let jobs = vec![job(A, "x"), job(A, "y"), job(B, "x")];
    let (result, rows) = run(&script, jobs, ExecutorConfig::default()).await;
    let stopped = result.stopped.unwrap();
    assert_eq!(stopped.kind(), "credentials-rejected");
    assert!(stopped.to_string().contains("InvalidAccessKeyId"));
    assert_eq!(outcome(&rows, A, "x"), "failed after 1");
    assert_eq!(outcome(&rows, A, "y"), "skipped after 0");
    let other = &rows[&(B.to_string(), "x".to_string())];
    assert_eq!(other.outcome, crate::report::Outcome::Skipped, "{other:?}");
    assert!(script.attempts() <= 2, "{}", script.attempts());
}

#[tokio::test(start_paused = true)]
async fn rejected_credentials_stop_requests_already_waiting_for_their_turn() {
    // Ten jobs are throttled, then wait for their turn to retry behind
    // the pace; the first retry's answer refuses the credentials. Whoever's
    // turn comes after it must not be sent (with a wrong key against a
    // slow server, every waiting request used to be answered 403 in turn).
    let script = Arc::new(Script::default());
    let buckets: Vec<String> = (0..10).map(|i| format!("b{i}-1250000000")).collect();
    for bucket in &buckets {
        let refused = status(403, Some("InvalidAccessKeyId"));
        script.answer(bucket, "x", [slow_down(None), refused]);
    }
    let jobs = buckets.iter().map(|bucket| job(bucket, "x")).collect();
    let (result, rows) = run(&script, jobs, ExecutorConfig::default()).await;
    assert_eq!(result.stopped.unwrap().kind(), "credentials-rejected");
    assert_eq!(script.attempts(), 11, "sent after the stop");
    let sent_once = rows.values().filter(|row| row.attempts == 1).count();
    assert_eq!(sent_once, 9, "{rows:?}");
}

#[tokio::test]
async fn attempts_stop_at_the_maximum() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", (0..20).map(|_| reset()));
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: std::num::NonZeroU32::new(4).unwrap(),
            base_delay: Duration::ZERO,
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let (_, rows) = run(&script, vec![job(A, "x")], config).await;
    // A broken connection may have carried the request: unknown, not failed.
    assert_eq!(outcome(&rows, A, "x"), "unknown after 4");
    let row = &rows[&(A.to_string(), "x".to_string())];
    assert_eq!(row.error_code, "ConnectionError");
    assert!(row.message.starts_with("no answer came"), "{row:?}");
    assert!(row.message.contains("gave up after 4 attempts"), "{row:?}");
}

#[tokio::test(start_paused = true)]
async fn backoff_waits_grow_within_their_doubling_caps() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", (0..5).map(|_| status(500, Some("InternalError"))));
    let started = Instant::now();
    let (_, rows) = run(&script, vec![job(A, "x")], ExecutorConfig::default()).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 6");
    let times = script.times(A, "x");
    let policy = RetryPolicy::default();
    for (attempt, pair) in times.windows(2).enumerate() {
        let waited = pair[1] - pair[0];
        let cap = policy.base_delay * (1 << attempt);
        assert!(
            waited <= cap,
            "wait {attempt}: {waited:?} over its cap {cap:?}"
        );
    }
    // Full jitter: the waits are not all at their caps (a fixed pause
    // would be) and not all zero.
    let total = times[5] - times[0];
    assert!(
        total > Duration::ZERO && total < policy.base_delay * 31,
        "{total:?}"
    );
    assert!(times[0] - started < Duration::from_millis(1));
}

#[tokio::test(start_paused = true)]
async fn a_request_failing_while_cos_answers_the_rest_backs_off_at_most_a_second() {
    // Ten buckets of 150 jobs answered in 50 ms each keep COS's answers
    // live for 7.5 s, while one job fails nine times in a row: its
    // backoff cap doubles to the isolated cap, not to 20 s.
    let script = Arc::new(Script::default());
    *script.latency.lock() = Duration::from_millis(50);
    script.answer(A, "x", (0..9).map(|_| status(500, Some("InternalError"))));
    let mut jobs = vec![job(A, "x")];
    for bucket in 0..10 {
        let name = format!("busy{bucket}-1250000000");
        jobs.extend((0..150).map(|id| job(&name, &format!("j{id}"))));
    }
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: std::num::NonZeroU32::new(12).unwrap(),
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let (_, rows) = run(&script, jobs, config).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 10");
    let policy = RetryPolicy::default();
    let latency = Duration::from_millis(50);
    let times = script.times(A, "x");
    for (attempt, pair) in times.windows(2).enumerate() {
        let waited = pair[1] - pair[0] - latency;
        let cap = (policy.base_delay * (1 << attempt)).min(policy.isolated_max_delay);
        assert!(waited <= cap, "wait {attempt}: {waited:?} over {cap:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_failing_alone_backs_off_past_the_isolated_cap() {
    // Nothing else answers: the failures are not isolated, and the cap
    // keeps doubling (the waits add up to well over nine isolated caps).
    let script = Arc::new(Script::default());
    script.answer(A, "x", (0..9).map(|_| status(500, Some("InternalError"))));
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: std::num::NonZeroU32::new(12).unwrap(),
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let (_, rows) = run(&script, vec![job(A, "x")], config).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 10");
    let times = script.times(A, "x");
    let longest = times
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap();
    assert!(
        longest > RetryPolicy::default().isolated_max_delay,
        "{longest:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_waited_out_and_capped() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [slow_down(Some(3)), slow_down(Some(86_400))]);
    let (_, rows) = run(&script, vec![job(A, "x")], ExecutorConfig::default()).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 3");
    let times = script.times(A, "x");
    let policy = RetryPolicy::default();
    assert!(times[1] - times[0] >= Duration::from_secs(3));
    let second = times[2] - times[1];
    assert!(
        second >= policy.max_retry_after && second < policy.max_retry_after * 2,
        "{second:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_during_a_backoff_ends_the_job_cancelled_with_its_last_answer() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", [slow_down(Some(30))]);
    let control = RunControl::default();
    let cancel = control.cancel.clone();
    let dir = tempfile::tempdir().unwrap();
    let report = ReportWriter::create(&dir.path().join("r.csv")).unwrap();
    let plan = Arc::new(Plan::from_jobs(vec![job(A, "x")]));
    let work = crate::plan::reconcile::blind(&plan);
    let run = tokio::spawn(execute(
        plan,
        work,
        Some(script.clone()),
        ExecutorConfig::default(),
        report,
        control,
    ));
    tokio::time::sleep(Duration::from_secs(5)).await;
    cancel.cancel();
    let result = run.await.unwrap().unwrap();
    assert_eq!(result.stats.cancelled, 1);
    assert_eq!(script.attempts(), 1);
    let text = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert!(text.contains("last attempt: HTTP 503 SlowDown"), "{text}");
}

/// Panics on bucket A's requests (a bug in the sending code), answers
/// the others.
struct Panicky;

impl Transport for Panicky {
    async fn send(&self, request: &InventoryRequest, _now: u64) -> Attempt {
        assert!(!request.host.starts_with(A), "the transport broke");
        status(200, None)
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_sending_stops_the_run_with_its_message() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let report = ReportWriter::create(&path).unwrap();
    let jobs = vec![job(A, "x"), job(A, "y")];
    let plan = Arc::new(Plan::from_jobs(jobs));
    let work = crate::plan::reconcile::blind(&plan);
    let config = ExecutorConfig::default();
    let control = RunControl::default();
    let result = execute(plan, work, Some(Panicky), config, report, control)
        .await
        .unwrap();
    let stopped = result.stopped.expect("a stop reason");
    assert_eq!(stopped.kind(), "crashed");
    assert!(
        stopped.to_string().contains("the transport broke"),
        "{stopped}"
    );
    // Every job still has a row.
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 3, "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_full_disk_stops_the_run_with_the_report_whole_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let report = ReportWriter::filling(&path, 1000);
    let jobs: Vec<Job> = (0..40)
        .map(|i| job(&format!("b{i:02}-1250000000"), "x"))
        .collect();
    let plan = Arc::new(Plan::from_jobs(jobs));
    let work = crate::plan::reconcile::blind(&plan);
    let script = Arc::new(Script::default());
    let control = RunControl::default();
    let result = execute(
        plan,
        work,
        Some(script.clone()),
        ExecutorConfig::default(),
        report,
        control,
    )
    .await
    .expect("a full disk is a stop, not an error");
    let stopped = result.stopped.expect("a stop reason");
    assert_eq!(stopped.kind(), "report-unwritable");
    assert!(stopped.to_string().contains("No space left"), "{stopped}");
    // What the file holds reads back whole, and is what was counted.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.ends_with('\n'), "{text}");
    let rows = csv::Reader::from_reader(text.as_bytes()).records().count() as u64;
    // (All 40 may have come in one batch, which did not fit at all.)
    assert!(text.starts_with("bucket,") && rows < 40, "{rows}");
    assert_eq!(result.counts.jobs, rows);
    // Every request sent is either in the report or counted as missing
    // from it, and the stop says how many.
    let &StopReason::ReportUnwritable {
        sent_unrecorded, ..
    } = &stopped
    else {
        unreachable!("checked above");
    };
    assert_eq!(rows + sent_unrecorded, script.attempts() as u64);
    if sent_unrecorded > 0 {
        assert!(
            stopped
                .to_string()
                .contains(&format!("{sent_unrecorded} job(s) sent")),
            "{stopped}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_stop_before_the_apply_leaves_jobs_in_place_unchanged_not_cancelled() {
    use crate::plan::reconcile::{BucketChanges, JobAction};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let report = ReportWriter::create(&path).unwrap();
    let plan = Arc::new(Plan::from_jobs(vec![job(A, "x"), job(A, "y")]));
    let work = vec![BucketWork::Changes(BucketChanges {
        actions: vec![JobAction::Unchanged, JobAction::Create],
        ..BucketChanges::blind(2)
    })];
    let control = RunControl::default();
    // Ctrl-C came while the buckets were read.
    control.cancel.cancel();
    let script = Arc::new(Script::default());
    let result = execute(
        plan,
        work,
        Some(script.clone()),
        ExecutorConfig::default(),
        report,
        control,
    )
    .await
    .unwrap();
    assert_eq!((result.stats.unchanged, result.stats.cancelled), (1, 1));
    assert_eq!(script.attempts(), 0);
}

/// Never answers: every request stays on the wire.
struct Silent;

impl Transport for Silent {
    async fn send(&self, _request: &InventoryRequest, _now: u64) -> Attempt {
        std::future::pending().await
    }
}

#[tokio::test(start_paused = true)]
async fn a_request_on_the_wire_when_the_run_is_stopped_ends_unknown_not_cancelled() {
    let control = RunControl::default();
    let (cancel, force) = (control.cancel.clone(), control.force.clone());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.csv");
    let report = ReportWriter::create(&path).unwrap();
    let plan = Arc::new(Plan::from_jobs(vec![job(A, "x"), job(A, "y")]));
    let work = crate::plan::reconcile::blind(&plan);
    let run = tokio::spawn(execute(
        plan,
        work,
        Some(Silent),
        ExecutorConfig::default(),
        report,
        control,
    ));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cancel.cancel();
    force.cancel();
    let result = run.await.unwrap().unwrap();
    assert_eq!((result.stats.unknown, result.stats.cancelled), (1, 1));
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let rows: Vec<(String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[4].to_string(), r[9].to_string())
        })
        .collect();
    assert!(rows.contains(&("unknown".into(), "1".into())), "{rows:?}");
    assert!(rows.contains(&("cancelled".into(), "0".into())), "{rows:?}");
}

#[tokio::test]
async fn a_last_attempt_without_an_answer_is_unknown_a_refused_connection_failed() {
    let script = Arc::new(Script::default());
    let timeout = || {
        Err(TransportError {
            kind: TransportErrorKind::Timeout,
            message: "timed out".into(),
        })
    };
    let refused = || {
        Err(TransportError {
            kind: TransportErrorKind::Connect,
            message: "connection refused".into(),
        })
    };
    script.answer(A, "x", (0..2).map(|_| timeout()));
    script.answer(A, "y", (0..2).map(|_| refused()));
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: std::num::NonZeroU32::new(2).unwrap(),
            base_delay: Duration::ZERO,
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let (_, rows) = run(&script, vec![job(A, "x"), job(A, "y")], config).await;
    assert_eq!(outcome(&rows, A, "x"), "unknown after 2");
    assert_eq!(outcome(&rows, A, "y"), "failed after 2");
    let unknown = &rows[&(A.to_string(), "x".to_string())];
    assert!(unknown.message.contains("may or may not"), "{unknown:?}");
}

mod outage;
