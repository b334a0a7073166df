//! Throttling and outages against servers whose answers depend on the
//! (paused, tokio) clock: the outage gate pauses, probes, resumes and gives
//! up; throttling never uses up a job's attempts.

use super::*;
use crate::cos::request::InventoryRequest;
use crate::report::Outcome;

/// A server that is down between `from` and `until` (since it was made),
/// answering each request after `latency`; `down` is the failure it gives.
struct Outage {
    started: Instant,
    from: Duration,
    until: Duration,
    latency: Duration,
    down: fn() -> Attempt,
    /// When each request arrived, since `started`.
    sent: Mutex<Vec<Duration>>,
}

impl Outage {
    fn new(from: Duration, until: Duration, down: fn() -> Attempt) -> Arc<Self> {
        Arc::new(Outage {
            started: Instant::now(),
            from,
            until,
            latency: Duration::from_millis(20),
            down,
            sent: Mutex::new(Vec::new()),
        })
    }

    fn sent_between(&self, from: Duration, to: Duration) -> usize {
        let sent = self.sent.lock();
        sent.iter().filter(|at| (from..to).contains(*at)).count()
    }
}

impl Transport for Arc<Outage> {
    async fn send(&self, _request: &InventoryRequest, _now: u64) -> Attempt {
        let at = self.started.elapsed();
        self.sent.lock().push(at);
        tokio::time::sleep(self.latency).await;
        if (self.from..self.until).contains(&at) {
            (self.down)()
        } else {
            status(200, None)
        }
    }
}

fn unavailable() -> Attempt {
    status(503, Some("ServiceUnavailable"))
}

fn refused() -> Attempt {
    Err(TransportError {
        kind: TransportErrorKind::Connect,
        message: "connection refused".into(),
    })
}

/// `buckets` × `ids` jobs.
fn jobs(buckets: usize, ids: usize) -> Vec<Job> {
    (0..buckets)
        .flat_map(|b| (0..ids).map(move |i| job(&format!("b{b:04}-1250000000"), &format!("j{i}"))))
        .collect()
}

/// Runs `jobs` against `transport`; the result, the outcomes counted and
/// the pause events seen.
async fn run_against<T: Transport>(
    transport: T,
    jobs: Vec<Job>,
    config: ExecutorConfig,
) -> (RunResult, HashMap<Outcome, usize>, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let outcomes = Arc::new(Mutex::new(HashMap::new()));
    let events = Arc::new(Mutex::new(Vec::new()));
    let (seen, told) = (outcomes.clone(), events.clone());
    let observer: Observer = Arc::new(move |event: &Event| match event {
        Event::Finished(row) => *seen.lock().entry(row.outcome).or_insert(0) += 1,
        Event::Paused { .. } => told.lock().push("paused".to_string()),
        Event::Resumed { .. } => told.lock().push("resumed".to_string()),
        Event::Retry { .. } => {}
    });
    let control = RunControl {
        observer: Some(observer),
        ..RunControl::default()
    };
    let plan = Arc::new(Plan::from_jobs(jobs));
    let report = ReportWriter::create(&dir.path().join("r.csv")).unwrap();
    let work = crate::plan::reconcile::blind(&plan);
    let result = execute(plan, work, Some(transport), config, report, control)
        .await
        .unwrap();
    let outcomes = std::mem::take(&mut *outcomes.lock());
    let events = std::mem::take(&mut *events.lock());
    (result, outcomes, events)
}

#[tokio::test(start_paused = true)]
async fn throttling_does_not_use_up_a_jobs_attempts() {
    let script = Arc::new(Script::default());
    script.answer(A, "x", (0..10).map(|_| slow_down(None)));
    script.answer(A, "y", [reset(), slow_down(None), reset(), reset()]);
    let config = ExecutorConfig {
        retry: RetryPolicy {
            max_attempts: std::num::NonZeroU32::new(3).unwrap(),
            ..RetryPolicy::default()
        },
        ..ExecutorConfig::default()
    };
    let (result, rows) = run(&script, vec![job(A, "x"), job(A, "y")], config).await;
    assert_eq!(outcome(&rows, A, "x"), "applied after 11");
    // Three failures that were not throttling end it, whatever came between.
    assert_eq!(outcome(&rows, A, "y"), "unknown after 4");
    assert_eq!(result.stats.throttled, 11);
}

#[tokio::test(start_paused = true)]
async fn an_outage_pauses_the_run_behind_a_probe_then_every_job_applies() {
    // 20 ms answers at 64 at once: about 3,000 jobs a second, so the
    // outage starts with most of the run still to go.
    let (from, until) = (Duration::from_secs(1), Duration::from_secs(11));
    let server = Outage::new(from, until, unavailable);
    let (result, outcomes, events) =
        run_against(server.clone(), jobs(1_000, 10), ExecutorConfig::default()).await;
    assert_eq!(
        outcomes.get(&Outcome::Applied),
        Some(&10_000),
        "{outcomes:?}"
    );
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    // The wave on its way (64 requests) and a few probes per second; not
    // concurrency × attempts.
    let during = server.sent_between(from, until);
    assert!(during <= 64 + 5 * 10, "{during} requests during the outage");
    assert!(events.first().is_some_and(|e| e == "paused"), "{events:?}");
    assert!(events.contains(&"resumed".to_string()), "{events:?}");
    let paused = &result.pacing.outages;
    assert!(
        paused
            .iter()
            .any(|e| e.kind == crate::pace::outage::OutageKind::Paused && e.probes > 0),
        "{paused:?}"
    );
    assert_eq!(result.stopped, None);
}

#[tokio::test(start_paused = true)]
async fn a_permanent_outage_stops_the_run_at_the_deadline_with_the_rest_skipped() {
    let server = Outage::new(Duration::ZERO, Duration::MAX, refused);
    let config = ExecutorConfig {
        give_up_after: Duration::from_secs(60),
        ..ExecutorConfig::default()
    };
    let started = Instant::now();
    let (result, outcomes, _) = run_against(server.clone(), jobs(100, 10), config).await;
    let stopped = result.stopped.expect("the run stops");
    assert_eq!(stopped.kind(), "unreachable");
    assert!(
        stopped.to_string().contains("connection refused"),
        "{stopped}"
    );
    // Paused within the first wave, then probing up to every 5 s.
    let ended = started.elapsed();
    assert!(
        ended >= Duration::from_secs(60) && ended < Duration::from_secs(70),
        "{ended:?}"
    );
    let sent = server.sent.lock().len();
    assert!(sent <= 64 + 60 / 5 + 5, "{sent} requests");
    assert_eq!(
        outcomes.get(&Outcome::Skipped),
        Some(&1_000),
        "{outcomes:?}"
    );
}
