//! A simulated COS and the clients that pace against it, for testing the
//! pace's properties over many seeded runs on virtual time.
//!
//! The server decides each request in turn: `SlowDown` for a share
//! independent of the rate (at random, or every k-th request), then its
//! throttling ceiling (a token bucket holding some time's worth of
//! requests, full at the start; none, or steps over time), then a share of
//! errors that are not throttling (404s for missing buckets, 500s). Each
//! client is one process: its own [`CeilingController`], a fixed number of
//! workers that send as soon as it allows and go again when answered, and
//! a share of turns never used (jobs of a bucket found missing meanwhile).
//! Several clients share one server, as `--shard k/N` processes do.
//!
//! Time is discrete-event: it jumps to the next answer or pacing slot, so
//! a simulated minute takes milliseconds and every outcome is the same on
//! any machine.
//!
//! The one simulator of the pace: the properties in `pace/tests.rs`, the
//! controller's tests against a ceiling in `pace/ceiling/tests.rs` and the
//! sweep in `benches/ceiling.rs` all run on it. It is public (hidden from
//! the docs) only so that the bench, a crate of its own, can reach it;
//! nothing in the binary calls it, so none of it is linked there.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::{Duration, Instant};

use super::ceiling::{CeilingConfig, CeilingController};

/// What a simulated run is made of.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Independent controllers (processes) sharing the server.
    pub clients: usize,
    /// Workers per client.
    pub concurrency: usize,
    pub latency: Duration,
    /// The ceiling from each time on (the first from zero); `None`: none.
    pub ceiling: Vec<(Duration, Option<f64>)>,
    /// How much time's worth of requests the server's bucket holds (at
    /// least one request).
    pub burst: Duration,
    /// A share of requests throttled at random, whatever the rate.
    pub slowdown_share: f64,
    /// Every k-th request the server sees is throttled, whatever the rate.
    pub slowdown_every: Option<u64>,
    /// A share of accepted requests answered with an error that is not
    /// throttling (a 404).
    pub error_share: f64,
    /// Every k-th request the server sees is answered with an error that
    /// is not throttling (a 500), unless throttled.
    pub error_every: Option<u64>,
    /// A share of turns a client takes and then does not use.
    pub unsent_share: f64,
    /// Whether the server decides on arrival (half-way) or when it
    /// answers (as the emulator does).
    pub decides_on_answer: bool,
    pub seed: u64,
    /// How `seed` picks the random streams.
    pub salts: Salts,
    pub config: CeilingConfig,
}

/// What is xored into a scenario's seed for the server's random stream
/// (which requests are throttled or fail at random) and for the clients'
/// (latency jitter, unused turns). Other salts are other samples of the
/// same scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Salts {
    pub server: u64,
    pub clients: u64,
}

impl Salts {
    /// The streams of the pace's properties (`pace/tests.rs`).
    pub const PROPERTIES: Salts = Salts {
        server: 0x5e_27e2,
        clients: 0xc11e47,
    };
    /// The streams the controller's tests against a ceiling and the
    /// ceiling sweep were written on, when each had a simulator of its
    /// own: kept, so that their figures are the ones recorded before.
    pub const CONTROLLER: Salts = Salts {
        server: 0,
        clients: 0x5eed,
    };
}

impl Default for Scenario {
    /// One client of 64 workers at 20 ms against a server without faults.
    fn default() -> Self {
        Scenario {
            clients: 1,
            concurrency: 64,
            latency: Duration::from_millis(20),
            ceiling: vec![(Duration::ZERO, None)],
            burst: Duration::from_secs(1),
            slowdown_share: 0.0,
            slowdown_every: None,
            error_share: 0.0,
            error_every: None,
            unsent_share: 0.0,
            decides_on_answer: false,
            seed: 1,
            salts: Salts::PROPERTIES,
            config: CeilingConfig::default(),
        }
    }
}

impl Scenario {
    pub fn with_ceiling(rate: f64, burst: Duration) -> Self {
        Scenario {
            ceiling: vec![(Duration::ZERO, Some(rate))],
            burst,
            ..Scenario::default()
        }
    }

    /// The same clients against a server without faults or ceiling.
    pub fn fault_free(&self) -> Self {
        Scenario {
            ceiling: vec![(Duration::ZERO, None)],
            slowdown_share: 0.0,
            slowdown_every: None,
            error_share: 0.0,
            error_every: None,
            unsent_share: 0.0,
            ..self.clone()
        }
    }

    /// The ceiling at `at`.
    fn ceiling_at(&self, at: Duration) -> Option<f64> {
        ceiling_at(&self.ceiling, at)
    }

    /// The most a server with this ceiling accepts over `from..to`: its
    /// rate over the time, plus its bucket if `from` is the start; `None`
    /// where it has none.
    pub fn ceiling_allows(&self, from: Duration, to: Duration) -> Option<f64> {
        let step = Duration::from_millis(10);
        let mut total = 0.0;
        let mut at = from;
        while at < to {
            total += self.ceiling_at(at)? * step.as_secs_f64();
            at += step;
        }
        if from.is_zero() {
            total += self.ceiling_at(from)? * self.burst.as_secs_f64();
        }
        Some(total)
    }
}

fn ceiling_at(schedule: &[(Duration, Option<f64>)], at: Duration) -> Option<f64> {
    schedule
        .iter()
        .take_while(|(from, _)| *from <= at)
        .last()
        .and_then(|(_, rate)| *rate)
}

/// How the server answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Answer {
    Accepted,
    Throttled,
    Error,
}

struct Server {
    ceiling: Vec<(Duration, Option<f64>)>,
    burst: f64,
    tokens: f64,
    refilled: Duration,
    seen: u64,
    slowdown_share: f64,
    slowdown_every: Option<u64>,
    error_share: f64,
    error_every: Option<u64>,
    rng: fastrand::Rng,
}

impl Server {
    fn new(scenario: &Scenario) -> Self {
        let burst = scenario.burst.as_secs_f64();
        let tokens = scenario
            .ceiling_at(Duration::ZERO)
            .map_or(0.0, |rate| (rate * burst).max(1.0));
        Server {
            ceiling: scenario.ceiling.clone(),
            burst,
            tokens,
            refilled: Duration::ZERO,
            seen: 0,
            slowdown_share: scenario.slowdown_share,
            slowdown_every: scenario.slowdown_every,
            error_share: scenario.error_share,
            error_every: scenario.error_every,
            rng: fastrand::Rng::with_seed(scenario.seed ^ scenario.salts.server),
        }
    }

    fn decide(&mut self, at: Duration) -> Answer {
        self.seen += 1;
        let every = |k: Option<u64>, n: u64| k.is_some_and(|k| n.is_multiple_of(k));
        if every(self.slowdown_every, self.seen)
            || (self.slowdown_share > 0.0 && self.rng.f64() < self.slowdown_share)
        {
            return Answer::Throttled;
        }
        if let Some(rate) = ceiling_at(&self.ceiling, at) {
            let elapsed = at.saturating_sub(self.refilled).as_secs_f64();
            self.refilled = self.refilled.max(at);
            let capacity = (rate * self.burst).max(1.0);
            self.tokens = (self.tokens + elapsed * rate).min(capacity);
            if self.tokens < 1.0 {
                return Answer::Throttled;
            }
            self.tokens -= 1.0;
        }
        if every(self.error_every, self.seen)
            || (self.error_share > 0.0 && self.rng.f64() < self.error_share)
        {
            return Answer::Error;
        }
        Answer::Accepted
    }
}

/// Counts of one 100 ms slice of simulated time, over all clients.
#[derive(Debug, Clone, Copy, Default)]
struct Slice {
    sent: u64,
    accepted: u64,
    errors: u64,
    throttled: u64,
    /// The lowest pace of any client after the slice's last event (`None`:
    /// none was pacing).
    rate: Option<f64>,
}

const SLICE: Duration = Duration::from_millis(100);

struct Client {
    control: CeilingController,
    idle: usize,
    /// When the controller next allows a send, if a worker waits for it.
    slot: Option<Duration>,
    /// Answers not throttled so far.
    done: u64,
}

/// A request on the wire: (answer time, sequence, client, sent at, the
/// answer if decided on arrival).
type OnWire = Reverse<(Duration, u64, usize, Duration, Option<Answer>)>;

/// A finished simulated run.
pub struct Run {
    pub scenario: Scenario,
    pub end: Duration,
    t0: Instant,
    now: Duration,
    server: Server,
    clients: Vec<Client>,
    on_wire: BinaryHeap<OnWire>,
    sequence: u64,
    slices: Vec<Slice>,
    /// Each request's answer, in the order sent (`None`: still on the wire
    /// at the end).
    answers: Vec<Option<Answer>>,
    rng: fastrand::Rng,
}

impl Run {
    /// Runs `scenario` for `end` of simulated time.
    pub fn new(scenario: Scenario, end: Duration) -> Self {
        let t0 = Instant::now();
        let clients = (0..scenario.clients)
            .map(|_| Client {
                control: CeilingController::new(scenario.config, t0),
                idle: scenario.concurrency,
                slot: Some(Duration::ZERO),
                done: 0,
            })
            .collect();
        let mut run = Run {
            server: Server::new(&scenario),
            rng: fastrand::Rng::with_seed(scenario.seed ^ scenario.salts.clients),
            scenario,
            end,
            t0,
            now: Duration::ZERO,
            clients,
            on_wire: BinaryHeap::new(),
            sequence: 0,
            slices: Vec::new(),
            answers: Vec::new(),
        };
        run.run();
        run
    }

    fn run(&mut self) {
        while self.now < self.end {
            self.deliver_answers();
            for client in 0..self.clients.len() {
                if self.clients[client].slot.is_some_and(|at| at <= self.now) {
                    self.send_what_is_allowed(client);
                }
            }
            let now = self.now;
            self.slice(now).rate = self.lowest_rate();
            let next_answer = self.on_wire.peek().map(|Reverse((at, ..))| *at);
            let next_slot = self.clients.iter().filter_map(|c| c.slot).min();
            let next = match (next_answer, next_slot) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) | (None, Some(a)) => a,
                (None, None) => self.end,
            };
            self.now = next.max(self.now);
        }
    }

    fn lowest_rate(&self) -> Option<f64> {
        let rates = self.clients.iter().filter_map(|c| c.control.current_rate());
        rates.reduce(f64::min)
    }

    fn slice(&mut self, at: Duration) -> &mut Slice {
        let index = (at.as_nanos() / SLICE.as_nanos()) as usize;
        if self.slices.len() <= index {
            self.slices.resize(index + 1, Slice::default());
        }
        &mut self.slices[index]
    }

    fn deliver_answers(&mut self) {
        while let Some(Reverse((at, sequence, client, sent_at, decided))) =
            self.on_wire.peek().copied()
        {
            if at > self.now {
                break;
            }
            self.on_wire.pop();
            let answer = decided.unwrap_or_else(|| self.server.decide(at));
            self.answers[sequence as usize - 1] = Some(answer);
            let (now, sent) = (self.t0 + at, self.t0 + sent_at);
            let slice = self.slice(at);
            match answer {
                Answer::Accepted => slice.accepted += 1,
                Answer::Error => slice.errors += 1,
                Answer::Throttled => slice.throttled += 1,
            }
            let client = &mut self.clients[client];
            client.idle += 1;
            client.done += u64::from(answer != Answer::Throttled);
            match answer {
                Answer::Accepted => client.control.on_success(now, sent),
                Answer::Error => client.control.on_error(now, sent),
                Answer::Throttled => client.control.on_throttle(now, sent),
            }
            // An answer may open a wave: ask again now.
            client.slot = Some(at);
        }
    }

    /// Sends while `client`'s workers are idle and its controller agrees.
    fn send_what_is_allowed(&mut self, index: usize) {
        let now = self.now;
        let at = self.t0 + now;
        loop {
            let client = &mut self.clients[index];
            if client.idle == 0 {
                client.slot = None;
                break;
            }
            if let Err(next) = client.control.try_acquire(at) {
                // Woken by an answer, or at its time.
                client.slot = Some(next.duration_since(self.t0));
                break;
            }
            if self.scenario.unsent_share > 0.0 && self.rng.f64() < self.scenario.unsent_share {
                client.control.on_unsent(at, at);
                continue;
            }
            client.idle -= 1;
            let jitter = 0.9 + 0.2 * self.rng.f64();
            let latency = self.scenario.latency.mul_f64(jitter);
            let decided =
                (!self.scenario.decides_on_answer).then(|| self.server.decide(now + latency / 2));
            self.sequence += 1;
            self.answers.push(None);
            self.slice(now).sent += 1;
            self.on_wire
                .push(Reverse((now + latency, self.sequence, index, now, decided)));
        }
    }

    /// Totals over `from..to` of simulated time.
    pub fn window(&self, from: Duration, to: Duration) -> Window {
        let first = (from.as_nanos() / SLICE.as_nanos()) as usize;
        let last = ((to.as_nanos() / SLICE.as_nanos()) as usize).min(self.slices.len());
        let slices = &self.slices[first.min(last)..last];
        Window {
            seconds: (to - from).as_secs_f64(),
            sent: slices.iter().map(|s| s.sent).sum(),
            accepted: slices.iter().map(|s| s.accepted).sum(),
            errors: slices.iter().map(|s| s.errors).sum(),
            throttled: slices.iter().map(|s| s.throttled).sum(),
            lowest_rate: slices
                .iter()
                .filter_map(|s| s.rate)
                .fold(f64::INFINITY, f64::min),
        }
    }

    /// How many of the first `n` requests sent were throttled.
    pub fn rejected_of_first(&self, n: usize) -> usize {
        let first = self.answers.iter().take(n);
        first.filter(|a| **a == Some(Answer::Throttled)).count()
    }

    /// The throttled share of the first `n` requests sent (of those
    /// answered).
    pub fn rejected_share_of_first(&self, n: usize) -> f64 {
        let answered = self.answers.iter().take(n).flatten();
        let (all, rejected) = answered.fold((0, 0), |(all, rejected), answer| {
            (
                all + 1,
                rejected + usize::from(*answer == Answer::Throttled),
            )
        });
        rejected as f64 / all.max(1) as f64
    }

    /// The first whole second from `from` on whose accepted rate reaches
    /// `rate`.
    pub fn first_second_reaching(&self, from: Duration, rate: f64) -> Option<Duration> {
        let second = Duration::from_secs(1);
        let mut at = from;
        while at + second <= self.end {
            if self.window(at, at + second).achieved() >= rate {
                return Some(at);
            }
            at += second;
        }
        None
    }

    /// The whole run.
    pub fn total(&self) -> Window {
        self.window(Duration::ZERO, self.end)
    }

    /// The answers not throttled of the client that had fewest, over its
    /// even part of all clients' (1: a fair split). Shards of one run each
    /// have their own jobs, so the run ends when the slowest is done.
    pub fn fairness(&self) -> f64 {
        let total: u64 = self.clients.iter().map(|c| c.done).sum();
        let least = self.clients.iter().map(|c| c.done).min().unwrap_or(0);
        least as f64 * self.clients.len() as f64 / total.max(1) as f64
    }

    /// The first client's controller.
    pub fn control(&self) -> &CeilingController {
        &self.clients[0].control
    }
}

/// What the server answered over a stretch of a run.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub seconds: f64,
    /// Requests sent (answered or not).
    pub sent: u64,
    pub accepted: u64,
    /// Answers that were neither success nor throttling.
    pub errors: u64,
    pub throttled: u64,
    /// The lowest pace of any client (infinite if none paced).
    pub lowest_rate: f64,
}

impl Window {
    /// Accepted answers per second.
    pub fn achieved(&self) -> f64 {
        self.accepted as f64 / self.seconds
    }

    /// Answers that were not throttled (jobs that ended) per second.
    pub fn done_rate(&self) -> f64 {
        (self.accepted + self.errors) as f64 / self.seconds
    }

    pub fn done(&self) -> u64 {
        self.accepted + self.errors
    }

    pub fn rejected_share(&self) -> f64 {
        self.throttled as f64 / (self.done() + self.throttled).max(1) as f64
    }
}
