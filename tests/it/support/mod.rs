//! What the integration tests share: the binary with a clean environment
//! ([`binary`]), reading reports and sidecars ([`report`]), the library in
//! this process on a test clock ([`library`]), and [`Scenario`]: a
//! manifest in a temporary directory and an emulator for it, run through
//! either.

pub(crate) mod binary;
pub(crate) mod library;
pub(crate) mod report;
pub(crate) mod schema;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use cosinv::credentials::Credentials;
use cosinv::emulator::{Emulator, EmulatorConfig, Faults};
use cosinv::executor::ExecutorConfig;

pub(crate) use crate::fixtures::write_manifest;
pub(crate) use binary::{
    apply_to, bare_cosinv, cosinv, on_emulator, requests, run, stderr, stdout, subcommand,
};
pub(crate) use library::LibraryRun;
pub(crate) use report::{
    Row, all_applied, answered, assert_state_matches, fill_to_the_limit, jobs_once, outcomes,
    read_report, read_sidecar, rows_of, total,
};

pub(crate) const SECRET_ID: &str = "AKIDapplytests";
pub(crate) const SECRET_KEY: &str = "apply-tests-secret";

/// An emulator on 127.0.0.1 accepting the test credentials, with `faults`.
pub(crate) async fn emulator(faults: Faults) -> Emulator {
    crate::local_emulator(EmulatorConfig {
        faults,
        ..EmulatorConfig::new(Credentials::new(SECRET_ID, SECRET_KEY, None))
    })
    .await
}

/// A manifest of `buckets` × `ids` jobs in a temporary directory, and an
/// emulator to apply it to.
pub(crate) struct Scenario {
    pub dir: tempfile::TempDir,
    pub manifest: PathBuf,
    pub emulator: Emulator,
}

impl Scenario {
    /// `buckets` × `ids` jobs ([`write_manifest`]) and an emulator with
    /// `faults`.
    pub async fn new(buckets: usize, ids: usize, faults: Faults) -> Scenario {
        let dir = tempfile::tempdir().unwrap();
        let manifest = write_manifest(dir.path(), buckets, ids);
        Scenario {
            dir,
            manifest,
            emulator: emulator(faults).await,
        }
    }

    /// `buckets` × `ids` jobs and an emulator without faults.
    pub async fn plain(buckets: usize, ids: usize) -> Scenario {
        Scenario::new(buckets, ids, Faults::default()).await
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A file of the scenario's directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `cosinv apply MANIFEST --endpoint EMULATOR --report REPORT EXTRA...`,
    /// for a test that changes the command before running it.
    pub fn command(&self, report: &str, extra: &[&str]) -> Command {
        let report = self.file(report);
        apply_to(self.path(), &self.manifest, &self.emulator, &report, extra)
    }

    /// Runs `cosinv apply` with `extra`, the report in `report.csv`.
    pub async fn apply(&self, extra: &[&str]) -> Ran {
        self.apply_to("report.csv", extra).await
    }

    /// Runs `cosinv apply` with `extra`, the report in `report`.
    pub async fn apply_to(&self, report: &str, extra: &[&str]) -> Ran {
        self.run(report, self.command(report, extra)).await
    }

    /// Runs `command`, whose report is `report`.
    pub async fn run(&self, report: &str, command: Command) -> Ran {
        Ran {
            output: run(command).await,
            report: self.file(report),
        }
    }

    /// The apply in this process ([`library::apply`]), the report in
    /// `report.csv`.
    pub async fn in_process(&self, config: ExecutorConfig) -> LibraryRun {
        library::apply(self.path(), &self.manifest, &self.emulator, config).await
    }

    /// The emulator holds exactly the manifest's configurations.
    pub fn assert_state_matches(&self) {
        assert_state_matches(&self.emulator, &self.manifest);
    }
}

/// A finished run of the binary and where its report is.
pub(crate) struct Ran {
    pub output: Output,
    pub report: PathBuf,
}

impl Ran {
    pub fn code(&self) -> Option<i32> {
        self.output.status.code()
    }

    pub fn stderr(&self) -> String {
        stderr(&self.output)
    }

    pub fn stdout(&self) -> String {
        stdout(&self.output)
    }

    /// The report's rows (the report must exist).
    pub fn rows(&self) -> Vec<Row> {
        read_report(&self.report)
    }

    /// The sidecar next to the report.
    pub fn sidecar(&self) -> serde_json::Value {
        read_sidecar(&self.report)
    }

    /// Asserts the exit code, showing stderr when it differs; the rows.
    pub fn expect(&self, code: i32) -> Vec<Row> {
        assert_eq!(self.code(), Some(code), "{}", self.stderr());
        self.rows()
    }
}
