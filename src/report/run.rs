//! The documents about a run, beside its report.
//!
//! [`RunRecord`] is the one document about a run
//! (`docs/schemas/run.schema.json`): what was run (cosinv's version, each
//! manifest's path and SHA-256, where requests went, the shard, the
//! options that shape the run), when, and what came of it. It is the
//! sidecar `<report>.json` ([`sidecar_path`]), written when the run
//! starts, so a run that dies still leaves one, and again when it ends,
//! each time whole (written beside, then renamed over); and, as it ends,
//! the JSON result for a program that started the run. One document, so
//! one schema: a consumer reads either the same way.
//!
//! It carries `schema_version` ([`SCHEMA_VERSION`]): fields may be added
//! within a version; a field removed or changed in meaning is a new
//! version.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::ReportCounts;

/// The version of [`RunRecord`].
pub const SCHEMA_VERSION: u32 = 1;

/// The sidecar of `report`: the same path with `.json` added
/// (`report.csv` → `report.csv.json`).
pub fn sidecar_path(report: &Path) -> PathBuf {
    let mut name = report.as_os_str().to_owned();
    name.push(".json");
    PathBuf::from(name)
}

/// A manifest as it was read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ManifestDigest {
    pub path: PathBuf,
    /// Lower-case hex.
    pub sha256: String,
    pub bytes: u64,
}

/// Where the requests of a run went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// COS itself: `https://<bucket>.cos.<region>.myqcloud.com`.
    Cos,
    /// Every request to this address.
    Endpoint { url: String },
    /// An emulator inside the run.
    Sandbox,
    /// Nowhere: a dry run.
    DryRun,
}

/// The settings that shape a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunOptions {
    pub concurrency: usize,
    pub bucket_concurrency: usize,
    /// Requests per second; `None`: unlimited.
    pub rate: Option<f64>,
    pub bucket_rate: Option<f64>,
    pub max_attempts: u32,
    pub request_timeout_secs: f64,
    /// With no answer from COS for this long, the run stops.
    pub give_up_after_secs: f64,
    pub dry_run: bool,
    /// Live state was read first (not `--no-refresh`).
    pub refresh: bool,
    /// Ids the manifests do not list were deleted (`--prune`).
    pub prune: bool,
    pub prune_prefix: Option<String>,
}

/// Why a run stopped early, for the documents.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stopped {
    /// `credentials-rejected`, `credentials-unavailable`, `tls-refused`,
    /// `unreachable`, `interrupted`, `terminated`.
    pub kind: String,
    pub message: String,
}

/// The run document: the sidecar `<report>.json` and the JSON result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunRecord {
    pub schema_version: u32,
    pub cosinv_version: &'static str,
    pub run_id: String,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// `None` while the run goes on.
    pub finished_at: Option<String>,
    /// `-` for standard output; `None` when the rows were kept nowhere
    /// (a dry run without a report asked for).
    pub report: Option<PathBuf>,
    pub manifests: Vec<ManifestDigest>,
    /// The buckets files the manifests named, as they were read.
    pub buckets_files: Vec<ManifestDigest>,
    pub target: Target,
    /// `K/N`, when sharded.
    pub shard: Option<String>,
    /// The earlier report whose unfinished jobs this run sends again.
    pub from_report: Option<PathBuf>,
    pub options: RunOptions,
    pub stopped: Option<Stopped>,
    pub exit_code: Option<u8>,
    /// `None` while the run goes on.
    pub counts: Option<ReportCounts>,
    /// How COS's throttling and failures shaped the run; `None` while the
    /// run goes on.
    pub pacing: Option<PacingRecord>,
    /// Inventory jobs found on the run's buckets that no manifest lists,
    /// and kept; `None` when live state was not read.
    pub unmanaged: Option<UnmanagedRecord>,
}

/// Drift: inventory jobs on a run's buckets that no manifest lists (made
/// in the console or by another tool), kept as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct UnmanagedRecord {
    /// How many, on every bucket.
    pub jobs: u64,
    /// The buckets that hold any, with their ids.
    pub buckets: Vec<UnmanagedBucket>,
}

/// One bucket's unmanaged inventory ids.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnmanagedBucket {
    pub bucket: String,
    pub ids: Vec<String>,
}

/// How COS's throttling and failures shaped a run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PacingRecord {
    /// Requests of the apply phase, retries included.
    pub requests: u64,
    /// Of those, answers asking to slow down (503 `SlowDown`, 429).
    pub throttled: u64,
    /// Times the pace was cut because COS throttled (both phases).
    pub rate_cuts: u64,
    /// Requests per second COS was measured to accept, if it throttled.
    pub estimated_ceiling: Option<f64>,
    /// The pace at the end, if throttling still held it.
    pub paced_at: Option<f64>,
    /// Why the pace was what it was at the end, in words (`paced at 95/s
    /// (COS's ceiling)`, `not paced`, …).
    pub reason: String,
    /// Stretches that were slowed or paused, oldest first.
    pub outages: Vec<OutageRecord>,
    /// Pauses too short to list (failures lining up for a moment).
    pub brief_pauses: u32,
    /// Each account's pace by APPID; the fields above describe the first
    /// account seen (their `rate_cuts` and the outages excepted).
    pub by_account: BTreeMap<String, AccountPacingRecord>,
}

/// How COS's throttling shaped one account's pace.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct AccountPacingRecord {
    /// Times its pace was cut because COS throttled it.
    pub rate_cuts: u64,
    /// Requests per second COS was measured to accept from it, if it
    /// throttled.
    pub estimated_ceiling: Option<f64>,
    /// Its pace at the end, if throttling still held it.
    pub paced_at: Option<f64>,
    /// Why, in words, as the run's `reason`.
    pub reason: String,
}

/// A slowed or paused stretch of a run.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutageRecord {
    /// `slowed` (failures outnumbered answers) or `paused` (every request
    /// failed: an outage).
    pub kind: &'static str,
    /// Seconds since the run started.
    pub start_secs: f64,
    /// `None` if it lasted to the end.
    pub end_secs: Option<f64>,
    /// The most frequent failure: `server error`, `service unavailable`,
    /// `connection refused`, `timed out`, `connection broken`.
    pub reason: Option<&'static str>,
    /// Failed answers during it.
    pub failures: u64,
    /// Probe requests sent while paused.
    pub probes: u32,
}

/// A run document could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct RecordError {
    pub path: PathBuf,
    pub source: std::io::Error,
}

impl RunRecord {
    /// Writes the record to `path` whole: to a file beside it, then
    /// renamed over it. When that cannot be done (a full disk has no room
    /// for a second copy), the existing record is rewritten in place: its
    /// blocks are freed by the truncation and reused, so a run that filled
    /// the disk still says how it ended.
    pub fn write(&self, path: &Path) -> Result<(), RecordError> {
        let failed = |source| RecordError {
            path: path.to_path_buf(),
            source,
        };
        let mut text = serde_json::to_vec_pretty(self).map_err(|err| failed(err.into()))?;
        text.push(b'\n');
        match write_beside(path, &text) {
            Ok(()) => Ok(()),
            Err(first) if path.is_file() => {
                rewrite_in_place(path, &text).map_err(|_| failed(first))
            }
            Err(first) => Err(failed(first)),
        }
    }
}

/// `text` to a new file beside `path`, synced, then renamed over it.
fn write_beside(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    file.write_all(text)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

/// `text` over the file at `path`, never through a link.
fn rewrite_in_place(path: &Path, text: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)?;
    file.write_all(text)?;
    file.sync_all()
}

/// A run id: the UTC start time and 32 random bits,
/// `20261124T033000Z-1a2b3c4d`.
pub fn new_run_id(now: jiff::Timestamp) -> String {
    format!(
        "{}-{:08x}",
        now.strftime("%Y%m%dT%H%M%SZ"),
        fastrand::u32(..)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> RunRecord {
        RunRecord {
            schema_version: SCHEMA_VERSION,
            cosinv_version: "0.1.0",
            run_id: "20261124T033000Z-00000001".into(),
            started_at: "2026-11-24T03:30:00.000Z".into(),
            finished_at: None,
            report: Some("r.csv".into()),
            manifests: Vec::new(),
            buckets_files: Vec::new(),
            target: Target::Endpoint {
                url: "http://127.0.0.1:9000/".into(),
            },
            shard: Some("1/8".into()),
            from_report: None,
            options: RunOptions {
                concurrency: 64,
                bucket_concurrency: 1,
                rate: None,
                bucket_rate: Some(2.5),
                max_attempts: 8,
                request_timeout_secs: 30.0,
                give_up_after_secs: 300.0,
                dry_run: false,
                refresh: true,
                prune: false,
                prune_prefix: None,
            },
            stopped: None,
            exit_code: None,
            counts: None,
            pacing: None,
            unmanaged: None,
        }
    }

    #[test]
    fn the_sidecar_is_the_report_path_with_json_added() {
        assert_eq!(
            sidecar_path(Path::new("/var/log/r.csv")),
            Path::new("/var/log/r.csv.json")
        );
    }

    #[test]
    fn records_are_written_whole_and_read_back_as_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv.json");
        let mut record = record();
        record.write(&path).unwrap();
        record.finished_at = Some("2026-11-24T03:31:00.000Z".into());
        record.counts = Some(ReportCounts::default());
        record.write(&path).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(json["schema_version"], 1);
        assert_eq!(json["target"]["kind"], "endpoint");
        assert_eq!(json["options"]["bucket_rate"], 2.5);
        assert_eq!(json["finished_at"], "2026-11-24T03:31:00.000Z");
        assert_eq!(json["counts"]["jobs"], 0);
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "a temporary file was left behind");
    }

    #[test]
    fn run_ids_start_with_the_time() {
        let now: jiff::Timestamp = "2026-11-24T03:30:00Z".parse().unwrap();
        let id = new_run_id(now);
        assert!(id.starts_with("20261124T033000Z-"), "{id}");
        assert_eq!(id.len(), "20261124T033000Z-".len() + 8);
    }
}
