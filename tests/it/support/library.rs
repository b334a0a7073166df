//! The library in this process: the apply's two phases (refresh, then
//! execute, sharing their pacing as `cosinv apply` does) with a
//! [`CosClient`] against an in-process emulator. On a paused tokio clock
//! (`#[tokio::test(start_paused = true)]`) the emulator's latency, rate
//! ceilings and outage windows and the run's pacing all read the same
//! test clock, which jumps ahead whenever every task waits: a run that
//! would take twenty seconds takes the CPU time it needs.
//!
//! Why that works with real sockets: everything (client, server) is on
//! the one thread of the test's runtime, and on 127.0.0.1 a write is in
//! the peer's buffer when the call returns, so when every task waits, no
//! answer is on its way that the clock could overtake; what they wait on
//! is a timer (the emulator's latency, the pacer, a probe's interval),
//! which is what the clock jumps to.

use std::path::Path;
use std::sync::Arc;

use cosinv::credentials::{CredentialSource, Credentials, SharedCredentials};
use cosinv::emulator::Emulator;
use cosinv::executor::{self, Event, ExecutorConfig, RunControl, RunResult};
use cosinv::plan::reconcile::PruneRule;
use cosinv::report::ReportWriter;
use cosinv::send::client::{ClientConfig, CosClient, Endpoint};
use parking_lot::Mutex;

use super::{Row, SECRET_ID, SECRET_KEY, read_report};

/// A pause or resume the run announced (what `cosinv apply` prints as
/// "paused, probing …" and "resumed after …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announced {
    Paused,
    Resumed,
}

/// How an in-process apply went.
pub struct LibraryRun {
    /// The report's rows.
    pub rows: Vec<Row>,
    /// The apply phase's result (its pacing covers both phases).
    pub result: RunResult,
    /// Pauses and resumes, in order, over both phases.
    pub announced: Vec<Announced>,
    /// When each row's job ended, by account, on the test's clock, from
    /// the start of the refresh.
    pub ended: Vec<(String, std::time::Duration)>,
}

/// A client of `emulator` with `cosinv apply`'s defaults.
pub fn client(emulator: &Emulator) -> CosClient {
    let credentials = SharedCredentials::fixed(
        Credentials::new(SECRET_ID, SECRET_KEY, None),
        CredentialSource::Explicit,
    );
    let endpoint = Endpoint::parse(&emulator.endpoint(), false).unwrap();
    CosClient::new(ClientConfig::new(endpoint, credentials)).unwrap()
}

/// `cosinv apply MANIFEST` in this process: a refresh, then the writes
/// (unless the refresh stopped the run), the report in `dir/report.csv`.
pub async fn apply(
    dir: &Path,
    manifest: &Path,
    emulator: &Emulator,
    mut config: ExecutorConfig,
) -> LibraryRun {
    let plan = Arc::new(cosinv::plan::load(&[manifest.to_path_buf()]).unwrap());
    let client = client(emulator);
    let announced = Arc::new(Mutex::new(Vec::new()));
    let ended = Arc::new(Mutex::new(Vec::new()));
    let started = tokio::time::Instant::now();
    let observer: executor::Observer = {
        let (announced, ended) = (announced.clone(), ended.clone());
        Arc::new(move |event: &Event| match event {
            Event::Paused { .. } => announced.lock().push(Announced::Paused),
            Event::Resumed { .. } => announced.lock().push(Announced::Resumed),
            Event::Finished(row) => ended.lock().push((row.account.clone(), started.elapsed())),
            _ => {}
        })
    };
    let control = RunControl {
        observer: Some(observer),
        ..RunControl::default()
    };
    let refreshed = executor::refresh(
        plan.clone(),
        client.clone(),
        PruneRule::default(),
        config.clone(),
        control.clone(),
    )
    .await;
    assert!(
        refreshed.result.stopped.is_none(),
        "the refresh stopped: {:?}",
        refreshed.result.stopped
    );
    config.clock_offset = refreshed.result.clock_offset;
    let path = dir.join("report.csv");
    let report = ReportWriter::create(&path).unwrap();
    let control = RunControl {
        stats: Arc::default(),
        ..control
    };
    let result = executor::execute(
        plan,
        refreshed.buckets,
        Some(client),
        config,
        report,
        control,
    )
    .await
    .unwrap();
    let announced = announced.lock().clone();
    let ended = ended.lock().clone();
    LibraryRun {
        rows: read_report(&path),
        result,
        announced,
        ended,
    }
}
