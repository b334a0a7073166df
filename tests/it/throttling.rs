//! Throttling and outages end to end: `cosinv apply`'s two phases with the
//! binary's default settings, in this process, against the emulator's rate
//! ceilings, random faults and outage windows, on a paused tokio clock
//! (see [`crate::support::library`]): a ten-second outage or a 40/s
//! ceiling over 1,300 requests costs the CPU time of the requests, not
//! the seconds. The figures (achieved share of a ceiling, slow-down under
//! faults) are measured by `benches/`; these tests hold the outcomes:
//! nothing fails that could succeed, rejections stay few, outages are
//! waited out or end the run as documented. One test runs the binary in
//! real time against a throttled emulator with a short outage, for what
//! only the binary shows (its summary lines and sidecar).

use std::time::Duration;

use cosinv::emulator::{Faults, Outage, OutageMode};
use cosinv::executor::{ExecutorConfig, StopReason};
use cosinv::pace::outage::{OutageKind, OutcomeKind};
use tokio::time::Instant;

use crate::support::library::Announced;
use crate::support::{Scenario, all_applied, answered, jobs_once, outcomes, total};

/// `cosinv apply`'s defaults: 64 requests in flight, 8 attempts, five
/// minutes before an outage ends the run.
fn defaults() -> ExecutorConfig {
    ExecutorConfig::default()
}

/// Asserts a share of at most `most` (a fraction) of the emulator's
/// answers were `SlowDown`s, and at least one was: the ceiling was met.
fn few_rejections(scenario: &Scenario, most: f64) -> (u64, u64) {
    let counters = scenario.emulator.counters();
    let (rejected, sent) = (answered(&counters, "503"), total(&counters));
    assert!(
        rejected > 0,
        "the ceiling was never reached: {:?}",
        counters.requests
    );
    assert!(
        rejected as f64 <= most * sent as f64,
        "{rejected} of {sent} requests rejected: {:?}",
        counters.requests
    );
    (rejected, sent)
}

#[tokio::test(start_paused = true)]
async fn a_ceiling_of_500_per_second_is_reached_at_a_cost_of_at_most_five_percent_rejected() {
    let scenario = Scenario::new(
        500,
        10,
        Faults {
            rate_limit: Some(500.0),
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
    )
    .await;
    let started = Instant::now();
    let run = scenario.in_process(defaults()).await;
    let took = started.elapsed();
    assert_eq!(outcomes(&run.rows), all_applied(5_000));
    let (_, sent) = few_rejections(&scenario, 0.05);
    // The run met the ceiling and went at about its pace (64 requests of
    // 20 ms could go at 3,200/s): not far below it either.
    let pacing = &run.result.pacing;
    assert!(pacing.rate_cuts >= 1, "{pacing:?}");
    let achieved = sent as f64 / took.as_secs_f64();
    assert!(
        (350.0..=600.0).contains(&achieved),
        "{achieved:.0}/s against a ceiling of 500/s in {took:?}: {pacing:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_ceiling_of_40_per_second_is_found_with_few_rejections() {
    let scenario = Scenario::new(
        120,
        10,
        Faults {
            rate_limit: Some(40.0),
            latency: Duration::from_millis(20),
            ..Faults::default()
        },
    )
    .await;
    let run = scenario.in_process(defaults()).await;
    assert_eq!(outcomes(&run.rows), all_applied(1_200));
    few_rejections(&scenario, 0.10);
    let pacing = &run.result.pacing;
    assert!(pacing.rate_cuts >= 1, "{pacing:?}");
    let ceiling = pacing.estimated_ceiling.unwrap_or_default();
    assert!((30.0..=50.0).contains(&ceiling), "{pacing:?}");
}

#[tokio::test(start_paused = true)]
async fn random_slow_downs_are_retried_without_failing_or_stopping_anything() {
    let scenario = Scenario::new(
        200,
        10,
        Faults {
            slow_down: 0.1,
            seed: 5,
            ..Faults::default()
        },
    )
    .await;
    let run = scenario.in_process(defaults()).await;
    assert_eq!(outcomes(&run.rows), all_applied(2_000));
    let counters = scenario.emulator.counters();
    assert!(answered(&counters, "503") > 100, "faults injected");
    // Throttling is not an outage: never paused, never stopped.
    assert_eq!(run.result.pacing.outages, [], "{:?}", run.result.pacing);
    assert_eq!(run.announced, []);
    assert!(run.result.stopped.is_none(), "{:?}", run.result.stopped);
}

#[tokio::test(start_paused = true)]
async fn slow_downs_errors_and_resets_together_fail_no_job() {
    let scenario = Scenario::new(
        200,
        10,
        Faults {
            slow_down: 0.3,
            internal_error: 0.1,
            reset: 0.05,
            seed: 1,
            ..Faults::default()
        },
    )
    .await;
    let run = scenario.in_process(defaults()).await;
    assert_eq!(outcomes(&run.rows), all_applied(2_000));
    let counters = scenario.emulator.counters();
    assert!(answered(&counters, "500") > 100, "{:?}", counters.requests);
    assert!(answered(&counters, "reset") > 50, "{:?}", counters.requests);
    assert!(run.result.stopped.is_none(), "{:?}", run.result.stopped);
}

/// 200 ms answers at 64 at once: about 320 requests a second, so 2,000
/// jobs (and 200 lists) take about 7 s, and an outage from `start` on
/// falls mid-run.
fn slow_service(outage: Outage) -> Faults {
    Faults {
        latency: Duration::from_millis(200),
        outage: Some(outage),
        ..Faults::default()
    }
}

fn outage(start: u64, end: u64, mode: OutageMode) -> Outage {
    Outage {
        start: Duration::from_secs(start),
        end: Duration::from_secs(end),
        mode,
    }
}

#[tokio::test(start_paused = true)]
async fn a_ten_second_outage_pauses_the_run_which_then_applies_every_job() {
    let scenario = Scenario::new(
        200,
        10,
        slow_service(outage(2, 12, OutageMode::Unavailable)),
    )
    .await;
    let started = Instant::now();
    let run = scenario.in_process(defaults()).await;
    assert!(started.elapsed() > Duration::from_secs(12), "no outage met");
    assert_eq!(outcomes(&run.rows), all_applied(2_000));
    // Every answer in the window is 503 ServiceUnavailable: the requests
    // sent during it are the wave already on its way (64) and a few probes
    // a second, not concurrency × attempts.
    let during = answered(&scenario.emulator.counters(), "503");
    assert!(during > 0, "the outage was not met: move its window");
    assert!(during <= 64 + 5 * 10, "{during} requests during the outage");
    assert_eq!(run.announced, [Announced::Paused, Announced::Resumed]);
    let pacing = &run.result.pacing;
    let paused = pacing
        .outages
        .iter()
        .find(|outage| outage.kind == OutageKind::Paused)
        .unwrap_or_else(|| panic!("no pause recorded: {pacing:?}"));
    assert_eq!(paused.reason(), Some(OutcomeKind::ServiceUnavailable));
    // It began when the service went down and ended within a probe's
    // interval (at most 5 s) of its return.
    let (start, end) = (paused.start, paused.end.unwrap());
    assert!(start >= Duration::from_secs(2), "{paused:?}");
    assert!(
        (Duration::from_secs(12)..=Duration::from_secs(18)).contains(&end),
        "{paused:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn refused_connections_for_a_while_are_waited_out_too() {
    let scenario = Scenario::new(150, 10, slow_service(outage(2, 6, OutageMode::Refuse))).await;
    let started = Instant::now();
    let run = scenario.in_process(defaults()).await;
    assert!(started.elapsed() > Duration::from_secs(6), "no outage met");
    assert_eq!(outcomes(&run.rows), all_applied(1_500));
    assert_eq!(run.announced, [Announced::Paused, Announced::Resumed]);
    assert!(run.result.stopped.is_none(), "{:?}", run.result.stopped);
}

#[tokio::test(start_paused = true)]
async fn a_service_that_stays_down_ends_the_run_at_the_give_up_deadline() {
    let scenario = Scenario::new(200, 10, slow_service(outage(2, 3_600, OutageMode::Refuse))).await;
    let config = ExecutorConfig {
        give_up_after: Duration::from_secs(5),
        ..defaults()
    };
    let started = Instant::now();
    let run = scenario.in_process(config).await;
    let took = started.elapsed();
    // Given up five seconds after the last answer (a moment before the
    // outage began at 2 s), not at the end of the window.
    assert!(
        (Duration::from_secs(6)..Duration::from_secs(30)).contains(&took),
        "{took:?}"
    );
    assert_eq!(jobs_once(&run.rows).len(), 2_000, "one row per job");
    let outcomes = outcomes(&run.rows);
    assert!(outcomes["applied"] > 0, "{outcomes:?}");
    assert!(outcomes["skipped"] > 1_000, "{outcomes:?}");
    // Requests on the wire when the service went away may or may not have
    // been stored: unknown, never failed. That is the wave on the wire (64),
    // plus any retried before the emulator stops accepting connections (it
    // looks every 100 ms; until then a request is taken, then reset: just
    // as ambiguous); not the thousands that were refused a connection.
    let unknown = outcomes.get("unknown").copied().unwrap_or(0);
    assert!(unknown <= 2 * 64, "{outcomes:?}");
    let accounted = outcomes["applied"] + outcomes["skipped"] + unknown;
    assert_eq!(accounted, 2_000, "{outcomes:?}");
    assert!(
        matches!(run.result.stopped, Some(StopReason::Unreachable { .. })),
        "{:?}",
        run.result.stopped
    );
}

/// The one run in real time: the binary against a ceiling of 150/s with a
/// short outage (0.4 s to 1.3 s after the emulator starts), for what only
/// the binary shows. About 2.5 s: the burst and the ceiling until the
/// outage, a pause of a second (the second probe finds COS back), the
/// rest at the ceiling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_says_it_was_throttled_and_paused_then_applies_every_job() {
    let scenario = Scenario::new(
        30,
        10,
        Faults {
            rate_limit: Some(150.0),
            latency: Duration::from_millis(10),
            outage: Some(Outage {
                start: Duration::from_millis(400),
                end: Duration::from_millis(1_300),
                mode: OutageMode::Unavailable,
            }),
            ..Faults::default()
        },
    )
    .await;
    let ran = scenario.apply(&[]).await;
    let rows = ran.expect(0);
    let stderr = ran.stderr();
    assert_eq!(outcomes(&rows), all_applied(300), "{stderr}");
    let counters = scenario.emulator.counters();
    assert!(answered(&counters, "503") > 0, "{:?}", counters.requests);
    for said in [
        "COS asked to slow down",
        "paused, probing",
        "resumed after",
        "into the run: COS failed every request",
    ] {
        assert!(stderr.contains(said), "{said:?} not in {stderr}");
    }
    let sidecar = ran.sidecar();
    let pacing = &sidecar["pacing"];
    assert!(pacing["rate_cuts"].as_u64().unwrap() >= 1, "{sidecar}");
    let outages = pacing["outages"].as_array().unwrap();
    assert!(
        outages
            .iter()
            .any(|outage| outage["kind"] == "paused" && outage["reason"] == "service unavailable"),
        "{sidecar}"
    );
    assert_eq!(sidecar["stopped"], serde_json::Value::Null);
}

/// What the binary says when it gives up: nothing listens at the
/// endpoint (12 buckets: 12 refused connections in a row are an outage at
/// once), and it gives up after half a second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_names_the_give_up_deadline_when_cos_stays_unreachable() {
    let scenario = Scenario::plain(12, 1).await;
    let report = scenario.file("report.csv");
    let command = crate::support::cosinv(
        scenario.path(),
        &[
            scenario.manifest.to_str().unwrap(),
            "--endpoint",
            "http://127.0.0.1:9",
            "--report",
            report.to_str().unwrap(),
            "--give-up-after",
            "0.5s",
        ],
    );
    let ran = scenario.run("report.csv", command).await;
    let rows = ran.expect(3);
    let stderr = ran.stderr();
    assert_eq!(jobs_once(&rows).len(), 12);
    assert!(
        stderr.contains("stopped early: COS unreachable"),
        "{stderr}"
    );
    assert!(stderr.contains("--give-up-after 500ms"), "{stderr}");
    assert_eq!(ran.sidecar()["stopped"]["kind"], "unreachable");
}
