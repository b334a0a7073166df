//! The client's work for one job, piece by piece: the XML body, its MD5,
//! the signature, the request described, and the whole preparation of one
//! job as the executor does it (request built, then its query and its
//! `Authorization` for the moment it is sent); and the emulator's reading
//! of the body. Nothing here touches the network.
//!
//! Run with `cargo bench --bench job`; read each figure as a share of the
//! client's CPU per job that `benches/run.sh` measures end to end.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use md5::{Digest, Md5};

use cosinv::cos::request::InventoryRequest;
use cosinv::cos::sign::{self, KeyTime, SignableRequest};
use cosinv::cos::xml;
use cosinv::credentials::Credentials;
use cosinv::plan::{self, Plan};

#[path = "../tests/it/fixtures.rs"]
mod fixtures;

const NOW: u64 = 1_700_000_000;

/// The benchmark fleet's jobs (the manifest of `benches/run.sh`: a policy
/// with a `{bucket}` prefix, so every job's body differs).
fn plan() -> Plan {
    let dir = tempfile::tempdir().unwrap();
    let manifest = fixtures::write_manifest(dir.path(), 100, 10);
    plan::load(&[manifest]).unwrap()
}

fn credentials() -> Credentials {
    Credentials::new("AKIDbench", "bench-secret", None)
}

fn pieces(c: &mut Criterion) {
    let plan = plan();
    let job = &plan.jobs()[0];
    let config = job.config();
    let body = xml::configuration_to_xml(&config).into_bytes();
    let request = InventoryRequest::put(job.bucket(), job.region(), &config);
    let credentials = credentials();

    let mut group = c.benchmark_group("job");
    group.throughput(Throughput::Elements(1));
    group.bench_function("config", |b| b.iter(|| black_box(job).config()));
    group.bench_function("xml", |b| {
        b.iter(|| xml::configuration_to_xml(black_box(&config)))
    });
    group.bench_function("md5", |b| b.iter(|| Md5::digest(black_box(&body))));
    group.bench_function("sign", |b| {
        let headers = request.signed_headers(&credentials, NOW);
        let pairs: Vec<(&str, &str)> = headers[..headers.len() - 1]
            .iter()
            .map(|(n, v)| (*n, v.as_str()))
            .collect();
        let signable = SignableRequest {
            method: "PUT",
            path: "/",
            params: &[("inventory", ""), ("id", "job-0")],
            headers: &pairs,
        };
        let window = KeyTime::around(NOW, 60, 900);
        b.iter(|| sign::sign(black_box(&signable), &credentials, window))
    });
    group.bench_function("request", |b| {
        b.iter(|| InventoryRequest::put(job.bucket(), job.region(), black_box(&config)))
    });
    group.bench_function("signed-headers", |b| {
        b.iter(|| black_box(&request).signed_headers(&credentials, NOW))
    });
    group.bench_function("authorization", |b| {
        b.iter(|| black_box(&request).authorization(&credentials, NOW))
    });
    group.bench_function("xml-read", |b| {
        b.iter(|| xml::configuration_from_xml(black_box(&body)).unwrap())
    });
    // The same document with COS's namespace: read by serde, as anything
    // not laid out as cosinv writes it.
    let namespaced = String::from_utf8(body.clone())
        .unwrap()
        .replace(
            "<InventoryConfiguration>",
            "<InventoryConfiguration xmlns=\"http://www.qcloud.com/document/product/436/7751\">",
        )
        .into_bytes();
    group.bench_function("xml-read-serde", |b| {
        b.iter(|| xml::configuration_from_xml(black_box(&namespaced)).unwrap())
    });
    group.bench_function("query", |b| b.iter(|| black_box(&request).query()));
    group.finish();
}

/// One job from the plan to the headers on the wire, as the executor
/// prepares it, across the fleet's jobs (each body differs).
fn whole(c: &mut Criterion) {
    let plan = plan();
    let credentials = credentials();
    let jobs = plan.jobs();
    let mut group = c.benchmark_group("job/prepare");
    group.throughput(Throughput::Elements(jobs.len() as u64));
    group.bench_function("fleet", |b| {
        b.iter(|| {
            for job in jobs {
                // As the client sends it: the request, its query and its
                // Authorization (the other headers are the request's own).
                let request = InventoryRequest::put(job.bucket(), job.region(), &job.config());
                black_box(request.authorization(&credentials, NOW));
                black_box(request.query());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, pieces, whole);
criterion_main!(benches);
