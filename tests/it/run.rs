//! The run pipeline in process: plan and apply through the library
//! (`cosinv::run`) against the emulator, with an observer that records
//! what the run says and a caller whose answers are scripted.

use std::num::{NonZeroU32, NonZeroUsize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cosinv::credentials::{CredentialSource, Credentials, SharedCredentials};
use cosinv::emulator::{Emulator, Faults};
use cosinv::executor::events::{Observer, Stats};
use cosinv::manifest::ReadOptions;
use cosinv::plan::reconcile::PruneRule;
use cosinv::plan::rollup::Rollup;
use cosinv::report::Outcome;
use cosinv::run::connect::{ConnectSettings, CredentialsFrom, Destination, RemoteSettings};
use cosinv::run::error::RunError;
use cosinv::run::observe::{Caller, CallerError, Deletion, Level, Phase, RunObserver};
use cosinv::run::settings::{ReportTo, RunSettings, StopTokens};
use cosinv::run::stages::load;

use crate::fixtures::write_manifest;
use crate::support::{SECRET_ID, SECRET_KEY, emulator};

/// Everything a run said, and each phase with its total.
#[derive(Default)]
struct Recorder {
    lines: Mutex<Vec<(Level, String)>>,
    phases: Mutex<Vec<(Phase, u64)>>,
}

impl Recorder {
    fn said(&self, level: Level, start: &str) -> bool {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .any(|(l, line)| *l == level && line.starts_with(start))
    }
}

impl RunObserver for Recorder {
    fn log(&self, level: Level, message: &str) {
        self.lines
            .lock()
            .unwrap()
            .push((level, message.to_string()));
    }

    fn phase_started(
        &self,
        phase: Phase,
        _: Arc<Stats>,
        total: u64,
        _: &cosinv::pace::Pacing,
    ) -> Option<Observer> {
        self.phases.lock().unwrap().push((phase, total));
        None
    }

    fn phase_finished(&self, _: Phase) {}
}

/// A caller that answers the prune question with `answer` and counts
/// what it was asked.
struct Script {
    answer: bool,
    asked: Vec<Deletion>,
    connecting: usize,
    sending: usize,
}

impl Script {
    fn answering(answer: bool) -> Script {
        Script {
            answer,
            asked: Vec::new(),
            connecting: 0,
            sending: 0,
        }
    }
}

impl Caller for Script {
    fn before_connecting(&mut self) -> Result<(), CallerError> {
        self.connecting += 1;
        Ok(())
    }

    fn before_sending(&mut self) {
        self.sending += 1;
    }

    fn confirm_deletes<'a>(
        &'a mut self,
        deletes: &'a [Deletion],
    ) -> futures_util::future::LocalBoxFuture<'a, bool> {
        self.asked.extend_from_slice(deletes);
        let answer = self.answer;
        Box::pin(async move { answer })
    }
}

/// A refreshing, pruning run of `manifest` against `emulator`, with the
/// emulator's credentials given (nothing read from the environment).
fn settings(manifest: &Path, emulator: &Emulator, report: &Path) -> RunSettings {
    let credentials = Credentials::new(SECRET_ID, SECRET_KEY, None);
    let remote = RemoteSettings {
        endpoint: Some(emulator.endpoint()),
        credentials: CredentialsFrom::Given(SharedCredentials::fixed(
            credentials,
            CredentialSource::Explicit,
        )),
        ..RemoteSettings::default()
    };
    RunSettings {
        command: "apply",
        files: vec![manifest.to_path_buf()],
        read: ReadOptions::default(),
        connect: ConnectSettings {
            destination: Destination::Remote(remote),
            concurrency: NonZeroUsize::new(8).unwrap(),
            bucket_concurrency: NonZeroUsize::new(1).unwrap(),
            rate: None,
            bucket_rate: None,
            max_attempts: NonZeroU32::new(3).unwrap(),
            request_timeout: Duration::from_secs(10),
            give_up_after: Duration::from_secs(60),
            seed: 7,
        },
        shard: None,
        accounts: Vec::new(),
        from_report: None,
        allow_changed_manifests: false,
        refresh: true,
        prune: PruneRule {
            enabled: true,
            prefix: None,
        },
        dry_run: false,
        check_destinations: false,
        report: ReportTo::File(report.to_path_buf()),
        offline_reason: "offline".into(),
        stop: StopTokens::default(),
    }
}

/// Three buckets of two jobs each; the first also holds `old-1`.
async fn fleet(dir: &Path) -> (std::path::PathBuf, Emulator) {
    let manifest = write_manifest(dir, 3, 2);
    let emulator = emulator(Faults::default()).await;
    let plan = cosinv::plan::load(std::slice::from_ref(&manifest)).unwrap();
    let mut config = plan.jobs()[0].config();
    config.id = cosinv::model::InventoryId::parse("old-1").unwrap();
    emulator.insert_inventory(BUCKET, config);
    (manifest, emulator)
}

const BUCKET: &str = "b00000-1250000000";

fn puts(emulator: &Emulator) -> u64 {
    let requests = emulator.counters().requests;
    requests
        .get(&("PUT".into(), "200".into()))
        .copied()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plan_reads_every_bucket_and_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, emulator) = fleet(dir.path()).await;
    let settings = RunSettings {
        command: "plan",
        ..settings(&manifest, &emulator, &dir.path().join("unused.csv"))
    };
    let recorder = Recorder::default();
    let loaded = load(&settings).unwrap();
    let planned = cosinv::run::plan::online(&settings, &recorder, loaded, None)
        .await
        .unwrap();
    let rollup = Rollup::of(&planned.plan, &planned.work);
    assert_eq!((rollup.totals.create, rollup.totals.delete), (6, 1));
    assert_eq!(*recorder.phases.lock().unwrap(), [(Phase::Refresh, 3)]);
    assert_eq!(puts(&emulator), 0);
    assert!(!dir.path().join("unused.csv").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declined_prune_sends_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, emulator) = fleet(dir.path()).await;
    let settings = settings(&manifest, &emulator, &dir.path().join("r.csv"));
    let mut script = Script::answering(false);
    let recorder = Recorder::default();
    let outcome = cosinv::run::apply::apply(&settings, &recorder, &mut script).await;
    assert!(matches!(outcome, Err(RunError::Declined)), "not declined");
    let asked = Deletion {
        bucket: BUCKET.into(),
        id: "old-1".into(),
    };
    assert_eq!(script.asked, [asked]);
    assert_eq!((script.connecting, script.sending), (1, 1));
    assert!(
        emulator
            .inventory_ids(BUCKET)
            .contains(&"old-1".to_string())
    );
    assert_eq!(puts(&emulator), 0);
    assert_eq!(*recorder.phases.lock().unwrap(), [(Phase::Refresh, 3)]);
    // Declining leaves no file: the report was opened but never started.
    assert!(!dir.path().join("r.csv").exists());
    assert!(!dir.path().join("r.csv.json").exists());
    // A report that was there before is left as it was.
    std::fs::write(dir.path().join("r.csv"), "last night's").unwrap();
    let outcome = cosinv::run::apply::apply(&settings, &recorder, &mut script).await;
    assert!(matches!(outcome, Err(RunError::Declined)), "not declined");
    let kept = std::fs::read_to_string(dir.path().join("r.csv")).unwrap();
    assert_eq!(kept, "last night's");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_prune_deletes_and_the_record_says_how_it_ended() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, emulator) = fleet(dir.path()).await;
    let report = dir.path().join("r.csv");
    let settings = settings(&manifest, &emulator, &report);
    let mut script = Script::answering(true);
    let recorder = Recorder::default();
    let mut executed = cosinv::run::apply::apply(&settings, &recorder, &mut script)
        .await
        .unwrap();
    assert_eq!(script.asked.len(), 1);
    assert_eq!(emulator.inventory_ids(BUCKET), ["job-0", "job-1"]);
    let counts = &executed.result.counts;
    assert_eq!(counts.outcome(Outcome::Deleted), 1);
    assert_eq!(counts.outcome(Outcome::Applied), 6);
    // The pruned id is a row of the apply, counted in its total.
    let phases = recorder.phases.lock().unwrap().clone();
    assert_eq!(phases, [(Phase::Refresh, 3), (Phase::Apply, 7)]);
    assert_eq!(executed.result.stats.total, 7);
    assert_eq!(executed.result.stats.done(), 7);
    assert!(recorder.said(Level::Info, "cosinv: read the live inventory of 3 buckets"));
    executed.finish(None, 0).unwrap();
    let sidecar = std::fs::read_to_string(dir.path().join("r.csv.json")).unwrap();
    let sidecar: serde_json::Value = serde_json::from_str(&sidecar).unwrap();
    assert_eq!(sidecar["exit_code"], 0);
    assert_eq!(sidecar["options"]["prune"], true);
    executed.shut_down(&recorder).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_neither_connects_nor_asks() {
    let dir = tempfile::tempdir().unwrap();
    let (manifest, emulator) = fleet(dir.path()).await;
    let settings = RunSettings {
        dry_run: true,
        ..settings(&manifest, &emulator, &dir.path().join("r.csv"))
    };
    let mut script = Script::answering(false);
    let recorder = Recorder::default();
    let executed = cosinv::run::apply::apply(&settings, &recorder, &mut script)
        .await
        .unwrap();
    assert_eq!(executed.result.counts.outcome(Outcome::DryRun), 6);
    assert_eq!(script.connecting, 0);
    assert!(script.asked.is_empty());
    assert!(emulator.counters().requests.is_empty());
}
