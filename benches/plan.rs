//! The planner at organisation scale: 1,000,000 jobs, from 100,000
//! buckets × 10 ids through `buckets_file`, and from a 1,000,000-row CSV.
//! Run with `cargo bench --bench plan`; compare the two forms (and the
//! shard step) within one run. Peak memory is checked by hand with
//! `/usr/bin/time -v cosinv validate` (see docs/manifest.md).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use cosinv::plan::{self, Shard};

const BUCKETS: usize = 100_000;
const IDS: usize = 10;

fn bucket(i: usize) -> String {
    format!("bucket{i:06}-1250000000")
}

fn yaml_manifest(dir: &Path) -> PathBuf {
    let mut names = String::with_capacity(BUCKETS * 24);
    for i in 0..BUCKETS {
        writeln!(names, "{}", bucket(i)).unwrap();
    }
    std::fs::write(dir.join("buckets.txt"), names).unwrap();
    let mut yaml = String::from(
        "version: 1\ndefaults:\n  region: ap-guangzhou\npolicies:\n  p:\n    schedule: Daily\n    \
         optional_fields: [Size, ETag]\n    destination:\n      bucket: inventory-1250000000\n      \
         prefix: \"inv/{bucket}/{id}\"\njobs:\n",
    );
    for id in 0..IDS {
        writeln!(
            yaml,
            "  - id: job-{id}\n    policy: p\n    buckets_file: buckets.txt"
        )
        .unwrap();
    }
    let path = dir.join("org.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

fn csv_manifest(dir: &Path) -> PathBuf {
    let mut csv = String::from(
        "bucket,region,id,schedule,destination_bucket,destination_prefix,optional_fields\n",
    );
    for i in 0..BUCKETS {
        for id in 0..IDS {
            writeln!(
                csv,
                "{},ap-guangzhou,job-{id},Weekly,inventory-1250000000,inv/{{bucket}},Size|ETag",
                bucket(i)
            )
            .unwrap();
        }
    }
    let path = dir.join("fleet.csv");
    std::fs::write(&path, csv).unwrap();
    path
}

fn million_jobs(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let yaml = yaml_manifest(dir.path());
    let csv = csv_manifest(dir.path());
    let mut group = c.benchmark_group("plan/1M-jobs");
    group.sample_size(10);
    group.throughput(Throughput::Elements((BUCKETS * IDS) as u64));
    group.bench_function("yaml-buckets-file", |b| {
        b.iter(|| {
            let plan = plan::load(std::slice::from_ref(&yaml)).unwrap();
            assert_eq!(plan.jobs().len(), BUCKETS * IDS);
            plan
        })
    });
    group.bench_function("csv-rows", |b| {
        b.iter(|| plan::load(std::slice::from_ref(&csv)).unwrap())
    });
    let loaded = plan::load(std::slice::from_ref(&yaml)).unwrap();
    group.bench_function("shard-1-of-8", |b| {
        b.iter(|| loaded.clone().shard(Shard { index: 1, count: 8 }))
    });
    group.finish();
}

criterion_group!(benches, million_jobs);
criterion_main!(benches);
