//! Executor throughput and rate accuracy against the in-process emulator
//! on 127.0.0.1.
//!
//! Read the numbers as ratios within one run (the machines are shared and
//! noisy): `apply/concurrency/64` against `apply/concurrency/1` shows what
//! pooling and concurrency buy; `rate/limited` against its target shows how
//! closely `--rate` is held. Run with `cargo bench --bench apply`.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

use cosinv::credentials::Credentials;
use cosinv::credentials::{CredentialSource, SharedCredentials};
use cosinv::emulator::{Emulator, EmulatorConfig};
use cosinv::executor::{self, ExecutorConfig, RunControl};
use cosinv::pace::limits::Rate;
use cosinv::plan::Plan;
use cosinv::report::ReportWriter;
use cosinv::send::client::{ClientConfig, CosClient, Endpoint};

#[path = "../tests/it/fixtures.rs"]
mod fixtures;
use fixtures::write_manifest;

const SECRET_ID: &str = "AKIDbench";
const SECRET_KEY: &str = "bench-secret";

struct Bench {
    runtime: tokio::runtime::Runtime,
    /// Kept alive for the client to reach.
    _emulator: Emulator,
    client: CosClient,
    dir: tempfile::TempDir,
}

impl Bench {
    fn new() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap();
        let credentials = Credentials::new(SECRET_ID, SECRET_KEY, None);
        let emulator = runtime
            .block_on(Emulator::start(
                EmulatorConfig::new(credentials.clone()),
                ([127, 0, 0, 1], 0).into(),
            ))
            .unwrap();
        let credentials = SharedCredentials::fixed(credentials, CredentialSource::Explicit);
        let client = CosClient::new(ClientConfig {
            connect_timeout: Duration::from_secs(5),
            max_idle_per_host: 128,
            ..ClientConfig::new(
                Endpoint::parse(&emulator.endpoint(), false).unwrap(),
                credentials,
            )
        })
        .unwrap();
        Bench {
            runtime,
            _emulator: emulator,
            client,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn plan(&self, buckets: usize, ids: usize) -> Arc<Plan> {
        let manifest = write_manifest(self.dir.path(), buckets, ids);
        Arc::new(cosinv::plan::load(&[manifest]).unwrap())
    }

    /// One whole run; the time it took.
    fn apply(&self, plan: &Arc<Plan>, config: ExecutorConfig) -> Duration {
        let report = ReportWriter::create(&self.dir.path().join("report.csv")).unwrap();
        let started = Instant::now();
        let result = self
            .runtime
            .block_on(executor::execute(
                plan.clone(),
                cosinv::plan::reconcile::blind(plan),
                Some(self.client.clone()),
                config,
                report,
                RunControl::default(),
            ))
            .unwrap();
        assert_eq!(result.stats.applied, plan.jobs().len() as u64);
        started.elapsed()
    }
}

fn concurrency(c: &mut Criterion) {
    let bench = Bench::new();
    let plan = bench.plan(200, 10);
    let mut group = c.benchmark_group("apply/concurrency");
    group.sample_size(10);
    group.throughput(Throughput::Elements(plan.jobs().len() as u64));
    for concurrency in [1, 8, 64] {
        group.bench_with_input(
            BenchmarkId::from_parameter(concurrency),
            &concurrency,
            |b, &concurrency| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            bench.apply(
                                &plan,
                                ExecutorConfig {
                                    concurrency: NonZeroUsize::new(concurrency).unwrap(),
                                    ..ExecutorConfig::default()
                                },
                            )
                        })
                        .sum()
                })
            },
        );
    }
    group.finish();
}

fn rate(c: &mut Criterion) {
    let bench = Bench::new();
    let plan = bench.plan(100, 4);
    let target = 400.0;
    let mut group = c.benchmark_group("rate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(plan.jobs().len() as u64));
    let mut achieved = Vec::new();
    group.bench_function("limited", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let took = bench.apply(
                        &plan,
                        ExecutorConfig {
                            rate: Some(Rate::new(target).unwrap()),
                            ..ExecutorConfig::default()
                        },
                    );
                    achieved.push(plan.jobs().len() as f64 / took.as_secs_f64());
                    took
                })
                .sum()
        })
    });
    group.finish();
    achieved.sort_by(f64::total_cmp);
    let median = achieved[achieved.len() / 2];
    eprintln!(
        "rate/limited: target {target:.0}/s, median achieved {median:.1}/s (ratio {:.3})",
        median / target
    );
}

criterion_group!(benches, concurrency, rate);
criterion_main!(benches);
