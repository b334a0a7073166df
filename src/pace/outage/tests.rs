use super::*;
use crate::pace::shared::{Admitted, OutageGate};

use std::cmp::Reverse;
use std::collections::BinaryHeap;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---------------------------------------------------------------------------
// The guard's rules, one at a time.

#[test]
fn scattered_failures_change_nothing() {
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(OutageConfig::default(), t0);
    for i in 0..10_000 {
        let now = t0 + ms(i);
        assert_eq!(guard.admit(now), Admission::Go);
        let kind = if i % 7 == 0 {
            OutcomeKind::ServerError
        } else {
            OutcomeKind::Success
        };
        guard.on_outcome(now, kind);
    }
    assert!(guard.outages().is_empty());
    assert_eq!(guard.health(t0 + ms(10_000)), Health::Normal);
}

#[test]
fn failures_are_isolated_only_among_enough_live_answers() {
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(OutageConfig::default(), t0);
    // Too few answers to say anything.
    for i in 0..5 {
        guard.on_outcome(t0 + ms(i), OutcomeKind::Success);
    }
    guard.on_outcome(t0 + ms(5), OutcomeKind::ServerError);
    assert!(!guard.failures_are_isolated(t0 + ms(6)));
    // A failure in five among many live answers is isolated ...
    for i in 6..100 {
        let kind = if i % 5 == 0 {
            OutcomeKind::ServerError
        } else {
            OutcomeKind::Success
        };
        guard.on_outcome(t0 + ms(i), kind);
    }
    assert!(guard.failures_are_isolated(t0 + ms(100)));
    // ... failures as many as half the live answers are not ...
    for i in 100..150 {
        guard.on_outcome(t0 + ms(i), OutcomeKind::ServerError);
    }
    assert!(!guard.failures_are_isolated(t0 + ms(150)));
    // ... and once the window has passed with no answers, nothing is.
    assert!(!guard.failures_are_isolated(t0 + secs(10)));
}

#[test]
fn throttling_is_a_live_answer() {
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(OutageConfig::default(), t0);
    for i in 0..1_000 {
        guard.on_outcome(t0 + ms(i), OutcomeKind::Throttled);
    }
    assert_eq!(guard.admit(t0 + ms(1_000)), Admission::Go);
    assert!(guard.outages().is_empty());
}

#[test]
fn failures_in_a_row_pause_behind_a_probe_at_a_growing_interval() {
    let config = OutageConfig::default();
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(config, t0);
    for _ in 0..config.outage_streak {
        guard.on_outcome(t0, OutcomeKind::ConnectFailed);
    }
    assert_eq!(guard.health(t0), Health::Paused);
    // The first probe at once, then nothing until a second later.
    assert_eq!(guard.admit(t0), Admission::Probe);
    assert_eq!(guard.admit(t0), Admission::Wait(t0 + secs(1)));
    guard.on_outcome(t0 + ms(1), OutcomeKind::ConnectFailed);
    let mut probes = vec![];
    let mut now = t0;
    while now < t0 + secs(30) {
        if guard.admit(now) == Admission::Probe {
            probes.push(now.duration_since(t0));
            guard.on_outcome(now, OutcomeKind::ConnectFailed);
        }
        now += ms(10);
    }
    assert_eq!(&probes[..4], [secs(1), ms(2_500), ms(4_750), ms(8_130)]);
    // At most one every five seconds from then on.
    assert!(probes.windows(2).all(|w| w[1] - w[0] <= ms(5_010)));
}

#[test]
fn a_live_answer_resumes_and_the_pause_is_recorded() {
    let config = OutageConfig::default();
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(config, t0);
    guard.on_outcome(t0, OutcomeKind::Success);
    for _ in 0..config.outage_streak {
        guard.on_outcome(t0 + secs(5), OutcomeKind::ServiceUnavailable);
    }
    assert_eq!(guard.admit(t0 + secs(5)), Admission::Probe);
    guard.on_outcome(t0 + secs(5), OutcomeKind::ServiceUnavailable);
    assert_eq!(guard.admit(t0 + secs(6)), Admission::Probe);
    guard.on_outcome(t0 + secs(6), OutcomeKind::Success);
    assert_eq!(guard.admit(t0 + secs(6)), Admission::Go);
    let [outage] = guard.outages() else {
        panic!("{:?}", guard.outages());
    };
    assert_eq!(outage.kind, OutageKind::Paused);
    assert_eq!((outage.start, outage.end), (secs(5), Some(secs(6))));
    assert_eq!(outage.failures.service_unavailable, 13);
    assert_eq!((outage.probes, outage.live), (2, 1));
    assert_eq!(outage.reason(), Some(OutcomeKind::ServiceUnavailable));
    assert_eq!(
        outage.to_string(),
        "paused 5.0 s – 6.0 s: 13 service unavailable, 2 probes"
    );
}

#[test]
fn a_pause_that_ends_at_once_is_only_counted() {
    let config = OutageConfig::default();
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(config, t0);
    for _ in 0..config.outage_streak {
        guard.on_outcome(t0, OutcomeKind::ServerError);
    }
    assert_eq!(guard.admit(t0), Admission::Probe);
    guard.on_outcome(t0 + ms(20), OutcomeKind::Success);
    assert!(guard.outages().is_empty());
    assert_eq!(guard.brief_pauses(), 1);
}

#[test]
fn a_run_paused_past_the_deadline_gives_up_and_says_why() {
    let config = OutageConfig {
        give_up_after: secs(60),
        ..OutageConfig::default()
    };
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(config, t0);
    guard.on_outcome(t0 + secs(1), OutcomeKind::Success);
    for _ in 0..20 {
        guard.on_outcome(t0 + secs(2), OutcomeKind::ConnectFailed);
    }
    guard.on_outcome(t0 + secs(3), OutcomeKind::Timeout);
    // Probes until 60 s after the last live answer, then the end.
    let mut now = t0 + secs(3);
    let reason = loop {
        match guard.admit(now) {
            Admission::GiveUp(reason) => break reason,
            Admission::Probe => guard.on_outcome(now, OutcomeKind::Timeout),
            Admission::Wait(until) => now = until,
            Admission::Go => panic!("dispatch during an outage"),
        }
    };
    assert_eq!(now, t0 + secs(61));
    assert_eq!(reason.down_for, secs(60));
    assert_eq!(
        reason.to_string(),
        "COS unreachable for 60s (20 connection refused, 15 timed out since the last answer)"
    );
    // For good.
    guard.on_outcome(t0 + secs(62), OutcomeKind::Success);
    assert!(matches!(guard.admit(t0 + secs(62)), Admission::GiveUp(_)));
    assert_eq!(guard.outages()[0].end, Some(secs(61)));
}

#[test]
fn failures_that_outnumber_answers_slow_dispatch_to_twice_the_answers() {
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(OutageConfig::default(), t0);
    // 10 live answers and 30 failures a second, interleaved (never 12 in
    // a row).
    for i in 0..80 {
        let kind = if i % 4 == 0 {
            OutcomeKind::Success
        } else {
            OutcomeKind::ServerError
        };
        guard.on_outcome(t0 + ms(i * 25), kind);
    }
    let now = t0 + secs(2);
    assert_eq!(guard.health(now), Health::Slowed);
    // Twice the live answers in the window (17 over 2 s): a slot every
    // 59 ms.
    assert_eq!(guard.admit(now), Admission::Go);
    let Admission::Wait(next) = guard.admit(now) else {
        panic!("not slowed");
    };
    let gap = next.duration_since(now).as_secs_f64();
    assert!((gap - 1.0 / 17.0).abs() < 1e-6, "{gap}");
    assert_eq!(guard.outages()[0].kind, OutageKind::Slowed);
    // Once the window holds no more failures, dispatch is free again and
    // the outage ends a calm second after the last hold.
    assert_eq!(guard.admit(now + secs(3)), Admission::Go);
    assert_eq!(guard.health(now + secs(3)), Health::Normal);
    assert_eq!(guard.outages()[0].end, Some(secs(2)));
}

#[test]
fn fewer_workers_pause_after_fewer_failures() {
    assert_eq!(OutageConfig::for_concurrency(1).outage_streak, 4);
    assert_eq!(OutageConfig::for_concurrency(3).outage_streak, 6);
    assert_eq!(OutageConfig::for_concurrency(64).outage_streak, 12);
    assert_eq!(
        OutageConfig::default().give_up_after,
        Duration::from_secs(300)
    );
}

#[test]
fn failure_counts_name_the_most_frequent_first() {
    let mut counts = FailureCounts::default();
    assert_eq!(counts.to_string(), "no failures");
    for kind in [
        OutcomeKind::Timeout,
        OutcomeKind::Broken,
        OutcomeKind::Broken,
        OutcomeKind::Success,
    ] {
        counts.count(kind);
    }
    assert_eq!(counts.total(), 3);
    assert_eq!(counts.most_common(), Some(OutcomeKind::Broken));
    assert_eq!(counts.to_string(), "2 connection broken, 1 timed out");
}

// ---------------------------------------------------------------------------
// The shared wrapper, on tokio's paused clock.

#[tokio::test(start_paused = true)]
async fn the_gate_holds_jobs_until_a_probe_succeeds() {
    let gate = std::sync::Arc::new(OutageGate::new(OutageConfig::default()));
    for _ in 0..12 {
        gate.on_outcome(OutcomeKind::ConnectFailed);
    }
    assert_eq!(gate.admit().await, Ok(Admitted::Probe));
    let waiter = tokio::spawn({
        let gate = gate.clone();
        async move { gate.admit().await }
    });
    tokio::time::sleep(ms(100)).await;
    assert!(!waiter.is_finished());
    // The probe comes back fine: the waiter goes at once, not in a second.
    gate.on_outcome(OutcomeKind::Success);
    let started = tokio::time::Instant::now();
    assert_eq!(waiter.await.unwrap(), Ok(Admitted::Go));
    assert!(started.elapsed() < ms(10));
}

// ---------------------------------------------------------------------------
// A simulated run: jobs that retry with the executor's backoff.
//
// `concurrency` requests at most on the wire; a failed attempt goes into a
// full-jitter backoff (200 ms doubling to 20 s, as `RetryPolicy`) and
// comes back; nothing ever fails a job. Time moves in 1 ms ticks.

/// The outcome of an attempt that reaches the server at a given time, and
/// how long the answer takes.
type Faults = Box<dyn Fn(Duration, &mut fastrand::Rng) -> (OutcomeKind, Duration)>;

fn random_failures(share: &'static [(OutcomeKind, f64)]) -> Faults {
    Box::new(move |_, rng| {
        let mut draw = rng.f64();
        for &(kind, p) in share {
            if draw < p {
                return (kind, ms(20));
            }
            draw -= p;
        }
        (OutcomeKind::Success, ms(20))
    })
}

/// Every answer refused (at once) between `from` and `to`, fine otherwise.
fn outage(from: Duration, to: Duration) -> Faults {
    Box::new(move |t, _| {
        if (from..to).contains(&t) {
            (OutcomeKind::ConnectFailed, ms(1))
        } else {
            (OutcomeKind::Success, ms(20))
        }
    })
}

struct Run {
    guard: OutageGuard,
    /// When each attempt was sent.
    sent: Vec<Duration>,
    /// When each job finished.
    done: Vec<Duration>,
    gave_up: Option<(Duration, GiveUp)>,
    /// The most jobs waiting (in backoff or for their turn) at once.
    end: Duration,
}

impl Run {
    fn sent_between(&self, from: Duration, to: Duration) -> usize {
        self.sent.iter().filter(|t| (from..to).contains(*t)).count()
    }

    fn done_between(&self, from: Duration, to: Duration) -> usize {
        self.done.iter().filter(|t| (from..to).contains(*t)).count()
    }

    fn paused_for(&self) -> Duration {
        self.guard
            .outages()
            .iter()
            .filter(|e| e.kind == OutageKind::Paused)
            .map(|e| e.end.unwrap_or(self.end) - e.start)
            .sum()
    }
}

fn simulate(
    config: OutageConfig,
    jobs: usize,
    concurrency: usize,
    faults: Faults,
    end: Duration,
) -> Run {
    let t0 = Instant::now();
    let mut guard = OutageGuard::new(config, t0);
    let mut rng = fastrand::Rng::with_seed(7);
    let mut waiting: BinaryHeap<Reverse<(Duration, u32)>> = BinaryHeap::new();
    // (answer time, index into `attempts`)
    let mut on_wire: BinaryHeap<Reverse<(Duration, usize)>> = BinaryHeap::new();
    // (attempt number, outcome) of every attempt sent
    let mut attempts_sent: Vec<(u32, OutcomeKind)> = Vec::new();
    let mut fresh = jobs;
    let (mut sent, mut done) = (Vec::new(), Vec::new());
    let mut now = Duration::ZERO;
    while now < end && done.len() < jobs {
        while let Some(Reverse((at, index))) = on_wire.peek().copied() {
            if at > now {
                break;
            }
            on_wire.pop();
            let (attempts, kind) = attempts_sent[index];
            guard.on_outcome(t0 + at, kind);
            if kind == OutcomeKind::Success {
                done.push(at);
            } else {
                let cap = (ms(200) * 2u32.pow(attempts.min(7) - 1)).min(secs(20));
                waiting.push(Reverse((now + cap.mul_f64(rng.f64()), attempts)));
            }
        }
        while on_wire.len() < concurrency {
            let next = match waiting.peek() {
                Some(Reverse((at, attempts))) if *at <= now => Some(*attempts),
                _ if fresh > 0 => Some(0),
                _ => None,
            };
            let Some(attempts) = next else { break };
            match guard.admit(t0 + now) {
                Admission::Go | Admission::Probe => {}
                Admission::Wait(_) => break,
                Admission::GiveUp(reason) => {
                    return Run {
                        guard,
                        sent,
                        done,
                        gave_up: Some((now, reason)),
                        end: now,
                    };
                }
            }
            if attempts == 0 {
                fresh -= 1;
            } else {
                waiting.pop();
            }
            let (kind, latency) = faults(now, &mut rng);
            on_wire.push(Reverse((now + latency, attempts_sent.len())));
            attempts_sent.push((attempts + 1, kind));
            sent.push(now);
        }
        now += ms(1);
    }
    Run {
        guard,
        sent,
        done,
        gave_up: None,
        end: now,
    }
}

fn describe(name: &str, run: &Run) {
    eprintln!(
        "{name}: {} jobs done in {:.1} s, {} attempts, paused {:.1} s, {} brief pauses; {}",
        run.done.len(),
        run.end.as_secs_f64(),
        run.sent.len(),
        run.paused_for().as_secs_f64(),
        run.guard.brief_pauses(),
        run.guard
            .outages()
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join("; ")
    );
}

#[test]
fn ten_percent_server_errors_never_slow_or_pause() {
    static FAULTS: [(OutcomeKind, f64); 1] = [(OutcomeKind::ServerError, 0.1)];
    let run = simulate(
        OutageConfig::default(),
        20_000,
        64,
        random_failures(&FAULTS),
        secs(60),
    );
    describe("10% 5xx", &run);
    assert_eq!(run.done.len(), 20_000);
    assert!(run.guard.outages().is_empty());
    assert_eq!(run.guard.brief_pauses(), 0);
}

#[test]
fn a_third_of_answers_failing_never_stops_the_run() {
    static FAULTS: [(OutcomeKind, f64); 2] =
        [(OutcomeKind::ServerError, 0.3), (OutcomeKind::Broken, 0.05)];
    let run = simulate(
        OutageConfig::default(),
        20_000,
        64,
        random_failures(&FAULTS),
        secs(120),
    );
    describe("30% 5xx + 5% resets", &run);
    assert_eq!(run.done.len(), 20_000);
    assert!(run.gave_up.is_none());
    assert!(run.paused_for() < secs(2), "{:?}", run.guard.outages());
}

#[test]
fn mostly_failing_answers_slow_the_run_but_every_job_ends() {
    static FAULTS: [(OutcomeKind, f64); 1] = [(OutcomeKind::ServiceUnavailable, 0.6)];
    let run = simulate(
        OutageConfig::default(),
        2_000,
        64,
        random_failures(&FAULTS),
        secs(600),
    );
    describe("60% 503", &run);
    assert_eq!(run.done.len(), 2_000);
    assert!(run.gave_up.is_none());
    let slowed = run
        .guard
        .outages()
        .iter()
        .filter(|e| e.kind == OutageKind::Slowed);
    assert!(slowed.count() > 0, "{:?}", run.guard.outages());
    // Attempts stay within reach of what succeeds: at most about three
    // per job (2.5 expected at 60% failures), not a storm of retries.
    assert!(run.sent.len() < 3 * 2_000, "{}", run.sent.len());
}

#[test]
fn a_ten_second_outage_pauses_with_few_requests_and_resumes() {
    let (from, to) = (secs(5), secs(15));
    let run = simulate(
        OutageConfig::default(),
        200_000,
        64,
        outage(from, to),
        secs(30),
    );
    describe("10 s outage", &run);
    let during = run.sent_between(from, to);
    assert!(during <= 64 + 5 * 10, "{during} requests during the outage");
    let [outage] = run.guard.outages() else {
        panic!("{:?}", run.guard.outages());
    };
    assert_eq!(outage.kind, OutageKind::Paused);
    assert!(
        outage.start >= from && outage.start < from + ms(100),
        "{outage}"
    );
    let end = outage.end.expect("still paused");
    assert!(end >= to && end <= to + secs(5) + ms(100), "{outage}");
    // Back at full pace after it (64 workers × 20 ms = 3,200 jobs/s).
    let after = run.done_between(end + secs(1), end + secs(6));
    assert!(after >= 5 * 3_000, "{after} jobs in the 5 s after resuming");
}

#[test]
fn a_permanent_outage_gives_up_at_the_deadline() {
    let config = OutageConfig {
        give_up_after: secs(60),
        ..OutageConfig::default()
    };
    let from = secs(5);
    let run = simulate(config, 200_000, 64, outage(from, secs(3_600)), secs(600));
    describe("permanent outage", &run);
    let (at, reason) = run.gave_up.clone().expect("never gave up");
    assert!(at >= from + secs(60) && at <= from + secs(61), "{at:?}");
    assert_eq!(
        reason.failures.most_common(),
        Some(OutcomeKind::ConnectFailed)
    );
    // A probe every five seconds at most, after the first few.
    let during = run.sent_between(from, at);
    assert!(during <= 64 + 20, "{during} requests during the outage");
}
