//! The ceiling controller swept over seeds and client shapes: for each
//! shape, the worst of 40 seeds. A measurement for the record (how close
//! to a ceiling the pace settles, what it costs in rejections, what random
//! throttling costs), not a gate: the unit tests of `pace::ceiling` hold
//! the bounds. Run with `cargo bench --bench ceiling`.
//!
//! The server is a token bucket of the ceiling's rate holding one second's
//! worth, deciding each request half-way through its latency (as COS is
//! taken to); the client is a fixed number of workers that each send as
//! soon as the [`CeilingController`] allows, wait out the latency (±10%)
//! and go again. Time is discrete-event: it jumps to the next answer or
//! the next pacing slot, so a simulated minute takes milliseconds and the
//! figures are the same on any machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use cosinv::pace::ceiling::{CeilingConfig, CeilingController};

/// Seeds per shape.
const SEEDS: u64 = 40;
/// Counts are kept per slice of simulated time.
const SLICE: Duration = Duration::from_millis(100);

/// A client shape and the server it meets.
#[derive(Clone, Copy)]
struct Setup {
    concurrency: usize,
    latency: Duration,
    /// `None`: no ceiling.
    ceiling: Option<f64>,
    /// A share of answers throttled whatever the rate.
    noise: f64,
    seed: u64,
}

/// A token bucket of `ceiling` holding one second's worth, plus noise.
struct Server {
    ceiling: Option<f64>,
    noise: f64,
    tokens: f64,
    refilled: Duration,
    rng: fastrand::Rng,
}

impl Server {
    fn admits(&mut self, at: Duration) -> bool {
        if self.noise > 0.0 && self.rng.f64() < self.noise {
            return false;
        }
        let Some(rate) = self.ceiling else {
            return true;
        };
        let elapsed = at.saturating_sub(self.refilled).as_secs_f64();
        self.refilled = self.refilled.max(at);
        self.tokens = (self.tokens + elapsed * rate).min(rate.max(1.0));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Answers per slice of simulated time.
#[derive(Clone, Copy, Default)]
struct Slice {
    accepted: u64,
    throttled: u64,
}

/// A request on the wire: (answer time, sent at, accepted).
type OnWire = Reverse<(Duration, Duration, bool)>;

struct Sim {
    t0: Instant,
    now: Duration,
    control: CeilingController,
    server: Server,
    latency: Duration,
    idle: usize,
    on_wire: BinaryHeap<OnWire>,
    slices: Vec<Slice>,
    rng: fastrand::Rng,
}

impl Sim {
    /// Simulates `setup` for `end`.
    fn run(setup: Setup, end: Duration) -> Sim {
        let t0 = Instant::now();
        let mut sim = Sim {
            t0,
            now: Duration::ZERO,
            control: CeilingController::new(CeilingConfig::default(), t0),
            server: Server {
                ceiling: setup.ceiling,
                noise: setup.noise,
                tokens: setup.ceiling.map_or(0.0, |rate| rate.max(1.0)),
                refilled: Duration::ZERO,
                rng: fastrand::Rng::with_seed(setup.seed),
            },
            latency: setup.latency,
            idle: setup.concurrency,
            on_wire: BinaryHeap::new(),
            slices: Vec::new(),
            rng: fastrand::Rng::with_seed(setup.seed ^ 0x5eed),
        };
        while sim.now < end {
            sim.deliver_answers();
            let next_slot = sim.send_what_is_allowed();
            let next_answer = sim.on_wire.peek().map(|Reverse((at, ..))| *at);
            let next = match (next_answer, next_slot) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => end,
            };
            sim.now = next.max(sim.now);
        }
        sim
    }

    fn slice(&mut self, at: Duration) -> &mut Slice {
        let index = (at.as_nanos() / SLICE.as_nanos()) as usize;
        if self.slices.len() <= index {
            self.slices.resize(index + 1, Slice::default());
        }
        &mut self.slices[index]
    }

    fn deliver_answers(&mut self) {
        while let Some(Reverse((at, sent_at, accepted))) = self.on_wire.peek().copied() {
            if at > self.now {
                break;
            }
            self.on_wire.pop();
            self.idle += 1;
            let (now, sent) = (self.t0 + at, self.t0 + sent_at);
            if accepted {
                self.control.on_success(now, sent);
                self.slice(at).accepted += 1;
            } else {
                self.control.on_throttle(now, sent);
                self.slice(at).throttled += 1;
            }
        }
    }

    /// Sends while workers are idle and the controller agrees; when the
    /// next pacing slot opens, if a worker waits for one.
    fn send_what_is_allowed(&mut self) -> Option<Duration> {
        while self.idle > 0 {
            if let Err(at) = self.control.try_acquire(self.t0 + self.now) {
                return Some(at.duration_since(self.t0));
            }
            self.idle -= 1;
            let latency = self.latency.mul_f64(0.9 + 0.2 * self.rng.f64());
            let accepted = self.server.admits(self.now + latency / 2);
            self.on_wire
                .push(Reverse((self.now + latency, self.now, accepted)));
        }
        None
    }

    /// Accepted per second and the throttled share over `from..to`.
    fn window(&self, from: Duration, to: Duration) -> (f64, f64) {
        let index = |at: Duration| (at.as_nanos() / SLICE.as_nanos()) as usize;
        let last = index(to).min(self.slices.len());
        let slices = &self.slices[index(from).min(last)..last];
        let accepted: u64 = slices.iter().map(|s| s.accepted).sum();
        let throttled: u64 = slices.iter().map(|s| s.throttled).sum();
        let achieved = accepted as f64 / (to - from).as_secs_f64();
        let rejected = throttled as f64 / (accepted + throttled).max(1) as f64;
        (achieved, rejected)
    }
}

fn shape(concurrency: usize, latency_ms: u64) -> Setup {
    Setup {
        concurrency,
        latency: Duration::from_millis(latency_ms),
        ceiling: None,
        noise: 0.0,
        seed: 1,
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
            let setup = Setup {
                ceiling: Some(rate),
                seed,
                ..shape(concurrency, latency)
            };
            let (settled, share) = Sim::run(setup, end).window(settle, end);
            achieved = achieved.min(settled / rate);
            rejected = rejected.max(share);
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
        let clean = Sim::run(shape(concurrency, latency), end)
            .window(Duration::ZERO, end)
            .0;
        let mut worst = f64::INFINITY;
        for seed in 1..=SEEDS {
            let setup = Setup {
                noise,
                seed,
                ..shape(concurrency, latency)
            };
            let noisy = Sim::run(setup, end).window(Duration::ZERO, end).0;
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
