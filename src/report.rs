//! The report CSV: one row per planned job, written as each job ends.
//!
//! Rows are written whole, each batch in one write as soon as the writer
//! has it, so a crash, a `kill -9` or a full disk keeps every row written
//! before it. The header
//! is a contract with whoever reads the file:
//! `bucket,region,id,action,outcome,http_status,error_code,message,request_id,attempts,elapsed_ms,finished_at,source`.
//!
//! The writer also counts what it wrote ([`ReportCounts`]), so the summary,
//! `--output json` and the sidecar agree with the file. [`run`] holds the
//! documents about a run (the sidecar `<report>.json`, the JSON result);
//! [`previous`] reads an earlier report to rerun what did not apply.

pub mod counts;
pub mod previous;
pub mod run;

pub use counts::ReportCounts;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The report's columns, in order.
pub const HEADER: [&str; 13] = [
    "bucket",
    "region",
    "id",
    "action",
    "outcome",
    "http_status",
    "error_code",
    "message",
    "request_id",
    "attempts",
    "elapsed_ms",
    "finished_at",
    "source",
];

/// How a job ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// COS accepted the configuration.
    Applied,
    /// The configuration was already on the bucket: nothing was sent.
    Unchanged,
    /// The id was deleted from the bucket (prune).
    Deleted,
    /// COS refused it, or every attempt failed.
    Failed,
    /// Not sent: an earlier answer showed it would fail (no such bucket,
    /// credentials rejected).
    Skipped,
    /// Not finished: the run was interrupted.
    Cancelled,
    /// A dry run: nothing sent.
    DryRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Cancelled => "cancelled",
            Outcome::DryRun => "dry-run",
        }
    }
}

/// One line of the report; its fields, in order, are the columns
/// ([`HEADER`]).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportRow {
    pub bucket: String,
    pub region: String,
    pub id: String,
    /// What was to be done: `create`, `update`, `delete` or `none` (`put`
    /// when live state was not read).
    pub action: &'static str,
    pub outcome: Outcome,
    /// The last HTTP status received, if any.
    pub http_status: Option<u16>,
    pub error_code: String,
    pub message: String,
    pub request_id: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// Where the job was defined: `file:line`.
    pub source: String,
}

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create the report {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the report {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Writes rows to a CSV file; each call's rows reach the file in one
/// write, whole.
pub struct ReportWriter {
    path: PathBuf,
    file: File,
    /// Rows are formatted here, then written out and the buffer emptied by
    /// every call: a row never straddles two writes.
    buffer: Vec<u8>,
    rows: u64,
    counts: ReportCounts,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("path", &self.path)
            .field("rows", &self.rows)
            .finish()
    }
}

impl ReportWriter {
    /// Creates (or truncates) `path` and writes the header.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        let file = File::create(path).map_err(|source| ReportError::Create {
            path: path.to_path_buf(),
            source,
        })?;
        let mut writer = ReportWriter {
            path: path.to_path_buf(),
            file,
            buffer: Vec::new(),
            rows: 0,
            counts: ReportCounts::default(),
        };
        writer.write_header()?;
        Ok(writer)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows written so far, the header not counted.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// What the rows written so far say, counted.
    pub fn counts(&self) -> &ReportCounts {
        &self.counts
    }

    fn io_error(&self, source: std::io::Error) -> ReportError {
        ReportError::Write {
            path: self.path.clone(),
            source,
        }
    }

    fn write_header(&mut self) -> Result<(), ReportError> {
        self.write_out(|csv| csv.write_record(HEADER))
    }

    /// Formats with `format`, then writes what it made in one write.
    fn write_out(
        &mut self,
        format: impl FnOnce(&mut csv::Writer<&mut Vec<u8>>) -> csv::Result<()>,
    ) -> Result<(), ReportError> {
        // The header is written by hand, so a report with no rows has one.
        let mut csv = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(&mut self.buffer);
        let formatted = format(&mut csv).and_then(|()| Ok(csv.flush()?));
        drop(csv);
        let written = formatted
            .map_err(std::io::Error::other)
            .and_then(|()| self.file.write_all(&self.buffer));
        self.buffer.clear();
        written.map_err(|err| self.io_error(err))
    }

    /// Appends `row` and writes it to the file.
    pub fn write(&mut self, row: &ReportRow) -> Result<(), ReportError> {
        self.write_all(std::slice::from_ref(row))
    }

    /// Appends `rows` and writes them to the file, all in one write (a
    /// batch costs one system call, not one per row).
    pub fn write_all(&mut self, rows: &[ReportRow]) -> Result<(), ReportError> {
        self.write_out(|csv| rows.iter().try_for_each(|row| csv.serialize(row)))?;
        for row in rows {
            self.rows += 1;
            self.counts.add(row);
        }
        Ok(())
    }

    /// Syncs the file to disk.
    pub fn finish(self) -> Result<PathBuf, ReportError> {
        self.file.sync_all().map_err(|err| self.io_error(err))?;
        Ok(self.path)
    }
}

/// `cosinv-report-<UTC timestamp>.csv`, e.g.
/// `cosinv-report-20261124T033000Z.csv`.
pub fn default_report_path(now: jiff::Timestamp) -> PathBuf {
    PathBuf::from(format!(
        "cosinv-report-{}.csv",
        now.strftime("%Y%m%dT%H%M%SZ")
    ))
}

/// RFC 3339 UTC with millisecond precision, for `finished_at`.
pub fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, outcome: Outcome) -> ReportRow {
        ReportRow {
            bucket: "photos-1250000000".into(),
            region: "ap-guangzhou".into(),
            id: id.into(),
            action: "put",
            outcome,
            http_status: Some(400),
            error_code: "InvalidArgument".into(),
            message: "bad, \"quoted\"\nvalue".into(),
            request_id: "req-1".into(),
            attempts: 1,
            elapsed_ms: 12,
            finished_at: "2026-11-24T03:30:00.000Z".into(),
            source: "org.yaml:12".into(),
        }
    }

    #[test]
    fn writes_the_exact_header_and_escaped_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut writer = ReportWriter::create(&path).unwrap();
        writer.write(&row("a", Outcome::Failed)).unwrap();
        // Readable before finish: each row is flushed as written.
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "bucket,region,id,action,outcome,http_status,error_code,message,request_id,attempts,elapsed_ms,finished_at,source\n"
        ));
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0][4], "failed");
        assert_eq!(&records[0][7], "bad, \"quoted\"\nvalue");
        assert_eq!(&records[0][12], "org.yaml:12");
        writer.write(&row("b", Outcome::DryRun)).unwrap();
        assert_eq!(writer.rows(), 2);
        assert_eq!(writer.counts().jobs, 2);
        assert_eq!(writer.counts().by_error_code["InvalidArgument"], 1);
        assert_eq!(writer.finish().unwrap(), path);
    }

    #[test]
    fn outcomes_have_stable_names() {
        let names: Vec<_> = [
            Outcome::Applied,
            Outcome::Unchanged,
            Outcome::Deleted,
            Outcome::Failed,
            Outcome::Skipped,
            Outcome::Cancelled,
            Outcome::DryRun,
        ]
        .iter()
        .map(|o| o.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "applied",
                "unchanged",
                "deleted",
                "failed",
                "skipped",
                "cancelled",
                "dry-run"
            ]
        );
    }

    #[test]
    fn default_name_and_timestamps_are_utc() {
        let now: jiff::Timestamp = "2026-11-24T03:30:05.123456Z".parse().unwrap();
        assert_eq!(
            default_report_path(now),
            PathBuf::from("cosinv-report-20261124T033005Z.csv")
        );
        assert_eq!(timestamp(now), "2026-11-24T03:30:05.123Z");
    }

    #[test]
    fn unwritable_report_location_is_a_clear_error() {
        let err = ReportWriter::create(Path::new("/nonexistent-dir/x/r.csv")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent-dir/x/r.csv"),
            "{err}"
        );
    }

    #[test]
    fn the_header_names_the_row_fields_in_order() {
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.serialize(row("a", Outcome::Applied)).unwrap();
        let text = String::from_utf8(csv.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), HEADER.join(","));
    }

    #[test]
    fn outcomes_serialise_as_their_names() {
        for outcome in [Outcome::Applied, Outcome::DryRun, Outcome::Cancelled] {
            let json = serde_json::to_string(&outcome).unwrap();
            assert_eq!(json, format!("\"{}\"", outcome.as_str()));
        }
    }
}
