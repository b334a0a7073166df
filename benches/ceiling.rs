//! The ceiling controller swept over seeds and client shapes: for each
//! shape, the worst of 40 seeds. A measurement for the record (how close
//! to a ceiling the pace settles, what it costs in rejections, what random
//! throttling costs), not a gate: the unit tests of `pace::ceiling` hold
//! the bounds. Run with `cargo bench --bench ceiling`.
//!
//! It runs on the pace's one simulator (`cosinv::pace::sim`, that of the
//! unit tests): one client of a fixed number of workers that each send as
//! soon as the controller allows, wait out the latency (±10%) and go
//! again, against a server whose ceiling is a token bucket holding one
//! second's worth, deciding each request half-way through its latency (as
//! COS is taken to). Time is discrete-event, so a simulated minute takes
//! milliseconds and the figures are the same on any machine.

use std::time::{Duration, Instant};

use cosinv::pace::sim::{Run, Salts, Scenario};

/// Seeds per shape.
const SEEDS: u64 = 40;

/// A client shape against a server without a ceiling or faults, on the
/// random streams the sweep's figures were recorded with.
fn shape(concurrency: usize, latency_ms: u64) -> Scenario {
    Scenario {
        concurrency,
        latency: Duration::from_millis(latency_ms),
        salts: Salts::CONTROLLER,
        ..Scenario::default()
    }
}

/// Per shape against a fixed ceiling: the worst settled share of the
/// ceiling and the worst rejected share over the seeds.
fn ceilings() {
    println!("ceiling/s  workers × latency  worst achieved ÷ ceiling  worst rejected");
    for (rate, concurrency, latency) in [
        (1.2, 64, 20),
        (5.0, 64, 20),
        (40.0, 16, 50),
        (40.0, 64, 20),
        (40.0, 256, 5),
        (500.0, 16, 5),
        (500.0, 64, 20),
        (500.0, 256, 80),
        (5_000.0, 256, 20),
    ] {
        let (mut achieved, mut rejected) = (f64::INFINITY, 0f64);
        // A slow ceiling takes longer to find: judge it after 30 s.
        let settle = Duration::from_secs(if rate < 10.0 { 30 } else { 10 });
        let end = Duration::from_secs(60);
        for seed in 1..=SEEDS {
            let scenario = Scenario {
                ceiling: vec![(Duration::ZERO, Some(rate))],
                seed,
                ..shape(concurrency, latency)
            };
            let settled = Run::new(scenario, end).window(settle, end);
            achieved = achieved.min(settled.achieved() / rate);
            rejected = rejected.max(settled.rejected_share());
        }
        println!(
            "{rate:>9}  {concurrency:>7} × {latency:>3} ms  {:>23.1}%  {:>13.2}%",
            100.0 * achieved,
            100.0 * rejected
        );
    }
}

/// Per shape under random throttling and no ceiling: the worst share of
/// the fault-free throughput over the seeds.
fn noise() {
    println!("random SlowDown  workers × latency  worst share of fault-free throughput");
    let end = Duration::from_secs(30);
    for (noise, concurrency, latency) in [
        (0.05, 64, 20),
        (0.1, 16, 50),
        (0.1, 64, 20),
        (0.1, 256, 5),
        (0.2, 64, 20),
    ] {
        let clean = Run::new(shape(concurrency, latency), end)
            .total()
            .achieved();
        let mut worst = f64::INFINITY;
        for seed in 1..=SEEDS {
            let scenario = Scenario {
                slowdown_share: noise,
                seed,
                ..shape(concurrency, latency)
            };
            let noisy = Run::new(scenario, end).total().achieved();
            worst = worst.min(noisy / clean);
        }
        println!(
            "{:>14.0}%  {concurrency:>7} × {latency:>3} ms  {:>36.1}%",
            100.0 * noise,
            100.0 * worst
        );
    }
}

fn main() {
    // `cargo test --benches` runs bench targets too: a sweep of minutes of
    // simulated time per seed is not a test, so it runs only when benched.
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let started = Instant::now();
    ceilings();
    noise();
    println!("(swept in {:.1?})", started.elapsed());
}
