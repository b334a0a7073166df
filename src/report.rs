//! The report CSV: one row per planned job, written as each job ends.
//!
//! Rows are written whole, each batch in one write as soon as the writer
//! has it, so a crash, a `kill -9` or a full disk keeps every row written
//! before it. The header
//! is a contract with whoever reads the file:
//! `bucket,region,id,action,outcome,http_status,error_code,message,request_id,attempts,elapsed_ms,finished_at,source,account`.
//!
//! The writer also counts what it wrote ([`ReportCounts`]), so the summary,
//! `--output json` and the sidecar agree with the file. [`run`] holds the
//! documents about a run (the sidecar `<report>.json`, the JSON result);
//! [`previous`] reads an earlier report to rerun what did not apply.
//!
//! The report is usually a regular file, synced at the end. It may also be
//! standard output, a character device (`/dev/null`: no report) or a FIFO
//! with a reader; whatever cannot be written is refused when the writer is
//! created, before any request is sent.

pub mod counts;
pub mod previous;
pub mod run;

pub use counts::ReportCounts;

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The report's columns, in order.
pub const HEADER: [&str; 14] = [
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
    // Last, so readers of the earlier 13 columns go on working.
    "account",
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
    /// Not finished: the run was interrupted before its request was sent
    /// (or between attempts).
    Cancelled,
    /// Sent, but no answer came (the run was stopped while it was on the
    /// wire, or the last attempt timed out or lost its connection): COS
    /// may or may not have made the change. A rerun settles it.
    Unknown,
    /// A dry run: nothing sent.
    DryRun,
}

impl Outcome {
    /// Every outcome, in the order the help and the docs list them.
    pub const ALL: [Outcome; 8] = [
        Outcome::Applied,
        Outcome::Unchanged,
        Outcome::Deleted,
        Outcome::Failed,
        Outcome::Skipped,
        Outcome::Cancelled,
        Outcome::Unknown,
        Outcome::DryRun,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Unchanged => "unchanged",
            Outcome::Deleted => "deleted",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Cancelled => "cancelled",
            Outcome::Unknown => "unknown",
            Outcome::DryRun => "dry-run",
        }
    }
}

/// What a spreadsheet takes for the start of a formula (OWASP's list for
/// CSV injection).
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// `text` as a CSV cell a spreadsheet shows as text: a cell that would
/// start a formula gets a leading `'` (OWASP's rule for CSV injection).
/// The report holds server text (codes, messages, request ids, live ids),
/// and it is handed to people who open it in a spreadsheet.
pub fn neutralised(text: &str) -> std::borrow::Cow<'_, str> {
    if text.starts_with(FORMULA_STARTS) {
        std::borrow::Cow::Owned(format!("'{text}"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

/// The cell as it was before [`neutralised`]: no value cosinv writes
/// starts with `'` otherwise (ids, codes and messages never do).
pub fn unneutralised(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(FORMULA_STARTS) => rest,
        _ => cell,
    }
}

fn as_cell<S: serde::Serializer>(text: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&neutralised(text))
}

/// What was to be done with a job: the report's `action` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// The id was not on the bucket.
    Create,
    /// The id was on the bucket with other values.
    Update,
    /// A live id the manifests do not list, pruned.
    Delete,
    /// The id was on the bucket and meant the same: nothing to send.
    Unchanged,
    /// Live state was not read (`--no-refresh`): the job is put blind.
    Put,
    /// A one-time inventory of the job (`cosinv run-now`, POST).
    RunNow,
}

impl Action {
    /// Every action, in the order the help and the docs list them.
    pub const ALL: [Action; 6] = [
        Action::Create,
        Action::Update,
        Action::Delete,
        Action::Unchanged,
        Action::Put,
        Action::RunNow,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
            Action::Unchanged => "none",
            Action::Put => "put",
            Action::RunNow => "run-now",
        }
    }
}

/// One line of the report; its fields, in order, are the columns
/// ([`HEADER`]). Text that may come from a server or a bucket's live
/// state is written [`neutralised`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ReportRow {
    pub bucket: String,
    pub region: String,
    #[serde(serialize_with = "as_cell")]
    pub id: String,
    /// What was to be done: an [`Action`]'s name.
    pub action: &'static str,
    pub outcome: Outcome,
    /// The last HTTP status received, if any.
    pub http_status: Option<u16>,
    #[serde(serialize_with = "as_cell")]
    pub error_code: String,
    #[serde(serialize_with = "as_cell")]
    pub message: String,
    #[serde(serialize_with = "as_cell")]
    pub request_id: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
    /// RFC 3339, UTC.
    pub finished_at: String,
    /// Where the job was defined: `file:line`.
    #[serde(serialize_with = "as_cell")]
    pub source: String,
    /// The APPID the bucket's name ends in: the account it belongs to.
    pub account: String,
}

/// Where the report goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    /// A path: a regular file (created or truncated), a character device
    /// such as `/dev/null`, or a FIFO with a reader.
    File(PathBuf),
    /// This process's standard output.
    Stdout,
    /// Nowhere: the rows are counted, not kept (a dry run without a
    /// report).
    Nowhere,
}

impl std::fmt::Display for ReportTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportTarget::File(path) => write!(f, "{}", path.display()),
            ReportTarget::Stdout => f.write_str("standard output"),
            ReportTarget::Nowhere => f.write_str("nowhere"),
        }
    }
}

/// The report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot create the report {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A FIFO that no process reads: writing would wait for ever.
    #[error("the report {path} is a FIFO that no process is reading")]
    NoReader { path: PathBuf },
    /// A folder, a block device or a socket.
    #[error("the report {path} is a {kind}, not a file")]
    NotAFile { path: PathBuf, kind: &'static str },
    #[error("cannot write the report {target}: {source}")]
    Write {
        target: ReportTarget,
        source: std::io::Error,
    },
}

/// What the rows are written to.
enum Sink {
    File(File),
    Stdout(std::io::Stdout),
    Nowhere(std::io::Sink),
    /// A file on a disk with this many bytes left (tests: a full disk).
    #[cfg(test)]
    Filling(File, u64),
}

impl Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File(file) => file.write(bytes),
            Sink::Stdout(out) => out.write(bytes),
            Sink::Nowhere(out) => out.write(bytes),
            #[cfg(test)]
            Sink::Filling(file, left) => {
                if *left == 0 {
                    return Err(std::io::Error::from_raw_os_error(libc::ENOSPC));
                }
                let take = bytes.len().min(*left as usize);
                let written = file.write(&bytes[..take])?;
                *left -= written as u64;
                Ok(written)
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File(file) => file.flush(),
            Sink::Stdout(out) => out.flush(),
            Sink::Nowhere(out) => out.flush(),
            #[cfg(test)]
            Sink::Filling(file, _) => file.flush(),
        }
    }
}

/// Writes rows as CSV; each call's rows reach the target in one write,
/// whole.
pub struct ReportWriter {
    target: ReportTarget,
    sink: Sink,
    /// Rows are formatted here, then written out and the buffer emptied by
    /// every call: a row never straddles two writes.
    buffer: Vec<u8>,
    rows: u64,
    counts: ReportCounts,
    /// Bytes written whole so far (header and rows): a failed write is
    /// cut back to this, so the file never ends in half a row.
    whole: u64,
    /// Only a regular file can be synced to disk; a device, a FIFO or
    /// standard output refuses `fsync`, and must not fail a finished run.
    sync: bool,
}

impl std::fmt::Debug for ReportWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReportWriter")
            .field("target", &self.target)
            .field("rows", &self.rows)
            .finish()
    }
}

impl ReportWriter {
    /// Opens `path` and writes the header: a regular file is created or
    /// truncated; a character device (`/dev/null`) or a FIFO that a process
    /// reads is written to. Anything else is refused here, before a run
    /// starts: a FIFO without a reader, a folder, a block device, a socket.
    pub fn create(path: &Path) -> Result<Self, ReportError> {
        Self::start_on(OpenedReport::open(path)?)
    }

    /// Starts the report on a file opened (and checked) earlier: a
    /// regular file is truncated only now, then the header is written.
    pub fn start_on(opened: OpenedReport) -> Result<Self, ReportError> {
        let OpenedReport {
            path,
            file,
            regular,
            ..
        } = opened;
        if regular {
            file.set_len(0).map_err(|source| ReportError::Create {
                path: path.clone(),
                source,
            })?;
        }
        Self::start(ReportTarget::File(path), Sink::File(file), regular)
    }

    /// Creates `path` for a report cosinv names itself: it must not exist
    /// (`O_EXCL`) and is never reached through a symbolic link
    /// (`O_NOFOLLOW`), so a file planted under the next run's name can
    /// neither be truncated nor redirect the rows elsewhere.
    pub fn create_new(path: &Path) -> Result<Self, ReportError> {
        Self::start_on(OpenedReport::open_new(path)?)
    }

    /// Writes the report to standard output.
    pub fn stdout() -> Result<Self, ReportError> {
        Self::start(ReportTarget::Stdout, Sink::Stdout(std::io::stdout()), false)
    }

    /// Counts the rows and keeps them nowhere.
    pub fn discard() -> Self {
        let sink = Sink::Nowhere(std::io::sink());
        Self::start(ReportTarget::Nowhere, sink, false).expect("a sink takes every write")
    }

    fn start(target: ReportTarget, sink: Sink, sync: bool) -> Result<Self, ReportError> {
        let mut writer = ReportWriter {
            target,
            sink,
            buffer: Vec::new(),
            rows: 0,
            counts: ReportCounts::default(),
            whole: 0,
            sync,
        };
        writer.write_header()?;
        Ok(writer)
    }

    pub fn target(&self) -> &ReportTarget {
        &self.target
    }

    /// Whether the report is a regular file (not standard output, a device
    /// or a FIFO): only then does anything belong beside it.
    pub fn is_regular_file(&self) -> bool {
        self.sync
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
            target: self.target.clone(),
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
            .and_then(|()| self.sink.write_all(&self.buffer))
            .and_then(|()| self.sink.flush());
        match written {
            Ok(()) => self.whole += self.buffer.len() as u64,
            Err(_) => self.cut_back(),
        }
        self.buffer.clear();
        written.map_err(|err| self.io_error(err))
    }

    /// After a failed write (a full disk): the file cut back to its last
    /// whole row, so that what is there reads back. Shrinking a file needs
    /// no free space. Only a regular file can be cut.
    fn cut_back(&mut self) {
        let file = match &self.sink {
            Sink::File(file) if self.sync => file,
            #[cfg(test)]
            Sink::Filling(file, _) => file,
            _ => return,
        };
        let _ = file.set_len(self.whole);
    }

    /// A report at `path` on a disk with `room` bytes left.
    #[cfg(test)]
    pub(crate) fn filling(path: &Path, room: u64) -> Self {
        let file = File::create(path).unwrap();
        let target = ReportTarget::File(path.to_path_buf());
        Self::start(target, Sink::Filling(file, room), false).unwrap()
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

    /// Flushes, and syncs a regular file to disk.
    pub fn finish(mut self) -> Result<ReportTarget, ReportError> {
        self.sink.flush().map_err(|err| self.io_error(err))?;
        if let (Sink::File(file), true) = (&self.sink, self.sync) {
            file.sync_all().map_err(|err| self.io_error(err))?;
        }
        Ok(self.target)
    }
}

/// A report file opened and checked before a run starts, not yet
/// written to (an existing file is not truncated yet): the run may still
/// end before its first row (a prune the operator declines), and then
/// [`OpenedReport::abandon`] leaves no trace.
#[derive(Debug)]
pub struct OpenedReport {
    path: PathBuf,
    file: File,
    regular: bool,
    /// Whether opening it made the file (it did not exist before).
    created: bool,
}

impl OpenedReport {
    /// Opens `path` as [`ReportWriter::create`] would, without truncating.
    pub fn open(path: &Path) -> Result<Self, ReportError> {
        let existed = path.symlink_metadata().is_ok();
        let (file, regular) = open_report(path)?;
        Ok(OpenedReport {
            path: path.to_path_buf(),
            file,
            regular,
            created: !existed,
        })
    }

    /// Creates `path` as [`ReportWriter::create_new`] would.
    pub fn open_new(path: &Path) -> Result<Self, ReportError> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(|source| ReportError::Create {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(OpenedReport {
            path: path.to_path_buf(),
            file,
            regular: true,
            created: true,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether it is a regular file (only then does a sidecar go beside it).
    pub fn is_regular_file(&self) -> bool {
        self.regular
    }

    /// The run ends before its first row: a file this run made is removed,
    /// one that was there is left as it was.
    pub fn abandon(self) {
        if self.created {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Opens the report without blocking (a FIFO without a reader fails at
/// once instead of waiting), checks what it is, then makes it blocking
/// again. Returns the file and whether it is a regular file.
fn open_report(path: &Path) -> Result<(File, bool), ReportError> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let create_error = |source| ReportError::Create {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|err| match err.raw_os_error() {
            Some(libc::ENXIO) if is_fifo(path) => ReportError::NoReader {
                path: path.to_path_buf(),
            },
            _ => create_error(err),
        })?;
    let kind = file.metadata().map_err(create_error)?.file_type();
    let not_a_file = |kind| ReportError::NotAFile {
        path: path.to_path_buf(),
        kind,
    };
    if kind.is_block_device() {
        return Err(not_a_file("block device"));
    }
    if kind.is_socket() {
        return Err(not_a_file("socket"));
    }
    if kind.is_dir() {
        return Err(not_a_file("folder"));
    }
    set_blocking(&file).map_err(create_error)?;
    Ok((file, kind.is_file()))
}

fn is_fifo(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|metadata| metadata.file_type().is_fifo())
}

/// Clears `O_NONBLOCK`, so writes to a FIFO or a terminal wait instead of
/// failing with `EAGAIN`.
fn set_blocking(file: &File) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_raw_fd();
    // SAFETY: `fd` is open for as long as `file` lives; F_GETFL and F_SETFL
    // read and set flags only, touching no memory of ours.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: as above.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, flags & !libc::O_NONBLOCK) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// `cosinv-report-<run id>.csv`, e.g.
/// `cosinv-report-20261124T033000Z-3f9a0c21.csv`: the run id's random part
/// keeps two runs started in the same second apart.
pub fn default_report_path(run_id: &str) -> PathBuf {
    PathBuf::from(format!("cosinv-report-{run_id}.csv"))
}

/// RFC 3339 UTC with millisecond precision, for `finished_at`.
pub fn timestamp(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_every_outcome_and_action_once() {
        // No wildcard arms: a new variant must be placed here, and its place
        // is then checked against ALL, which the help and the docs list.
        let outcome_place = |outcome: Outcome| match outcome {
            Outcome::Applied => 0,
            Outcome::Unchanged => 1,
            Outcome::Deleted => 2,
            Outcome::Failed => 3,
            Outcome::Skipped => 4,
            Outcome::Cancelled => 5,
            Outcome::Unknown => 6,
            Outcome::DryRun => 7,
        };
        for (place, outcome) in Outcome::ALL.into_iter().enumerate() {
            assert_eq!(outcome_place(outcome), place, "{outcome:?}");
        }
        let action_place = |action: Action| match action {
            Action::Create => 0,
            Action::Update => 1,
            Action::Delete => 2,
            Action::Unchanged => 3,
            Action::Put => 4,
            Action::RunNow => 5,
        };
        for (place, action) in Action::ALL.into_iter().enumerate() {
            assert_eq!(action_place(action), place, "{action:?}");
        }
    }

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
            account: "1250000000".into(),
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
            "bucket,region,id,action,outcome,http_status,error_code,message,request_id,attempts,elapsed_ms,finished_at,source,account\n"
        ));
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), 1);
        assert_eq!(&records[0][4], "failed");
        assert_eq!(&records[0][7], "bad, \"quoted\"\nvalue");
        assert_eq!(&records[0][12], "org.yaml:12");
        assert_eq!(&records[0][13], "1250000000");
        writer.write(&row("b", Outcome::DryRun)).unwrap();
        assert_eq!(writer.rows(), 2);
        assert_eq!(writer.counts().jobs, 2);
        assert_eq!(writer.counts().by_error_code["InvalidArgument"], 1);
        assert_eq!(writer.finish().unwrap(), ReportTarget::File(path));
    }

    #[test]
    fn a_full_disk_leaves_the_report_cut_back_to_its_last_whole_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut writer = ReportWriter::filling(&path, 400);
        writer.write(&row("a", Outcome::Applied)).unwrap();
        let whole = std::fs::read(&path).unwrap();
        let err = writer
            .write_all(&[row("b", Outcome::Applied), row("c", Outcome::Applied)])
            .unwrap_err();
        assert!(err.to_string().contains("No space left"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), whole);
        assert_eq!(writer.rows(), 1);
        assert_eq!(writer.counts().jobs, 1);
    }

    #[test]
    fn a_report_cosinv_names_is_new_and_never_reached_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        std::fs::write(&victim, "precious").unwrap();
        let planted = dir
            .path()
            .join(default_report_path("20261207T000000Z-00000000"));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        assert!(ReportWriter::create_new(&planted).is_err());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        let existing = dir.path().join("existing.csv");
        std::fs::write(&existing, "kept").unwrap();
        assert!(ReportWriter::create_new(&existing).is_err());
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "kept");
        let fresh = dir.path().join("fresh.csv");
        let writer = ReportWriter::create_new(&fresh).unwrap();
        assert!(writer.is_regular_file());
    }

    #[test]
    fn server_text_that_would_start_a_formula_is_written_as_text() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let mut writer = ReportWriter::create(&path).unwrap();
        let mut hostile = row("a", Outcome::Failed);
        hostile.error_code = "=HYPERLINK(\"http://x\",\"y\")".into();
        hostile.request_id = "=1+2".into();
        hostile.message = "@SUM(1)".into();
        hostile.id = "-live".into();
        writer.write(&hostile).unwrap();
        writer.finish().unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let record = reader.records().next().unwrap().unwrap();
        assert_eq!(&record[6], "'=HYPERLINK(\"http://x\",\"y\")");
        assert_eq!(&record[7], "'@SUM(1)");
        assert_eq!(&record[8], "'=1+2");
        assert_eq!(&record[2], "'-live");
        assert_eq!(unneutralised(&record[2]), "-live");
        assert_eq!(unneutralised("plain"), "plain");
        assert_eq!(neutralised("InvalidArgument"), "InvalidArgument");
    }

    #[test]
    fn outcomes_have_stable_names() {
        let names: Vec<_> = Outcome::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(
            names,
            [
                "applied",
                "unchanged",
                "deleted",
                "failed",
                "skipped",
                "cancelled",
                "unknown",
                "dry-run"
            ]
        );
    }

    #[test]
    fn default_name_and_timestamps_are_utc() {
        let now: jiff::Timestamp = "2026-11-24T03:30:05.123456Z".parse().unwrap();
        assert_eq!(
            default_report_path("20261124T033005Z-0000abcd"),
            PathBuf::from("cosinv-report-20261124T033005Z-0000abcd.csv")
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

    fn mkfifo(path: &Path) {
        let status = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    #[test]
    fn a_character_device_is_written_and_never_synced() {
        let mut writer = ReportWriter::create(Path::new("/dev/null")).unwrap();
        writer.write(&row("a", Outcome::Applied)).unwrap();
        assert_eq!(
            writer.finish().unwrap(),
            ReportTarget::File("/dev/null".into())
        );
    }

    #[test]
    fn a_fifo_without_a_reader_is_refused_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        let err = ReportWriter::create(&fifo).unwrap_err();
        assert!(matches!(err, ReportError::NoReader { .. }), "{err}");
    }

    #[test]
    fn a_fifo_with_a_reader_gets_the_rows() {
        use std::io::Read;
        use std::os::unix::fs::OpenOptionsExt;
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        mkfifo(&fifo);
        // Non-blocking, so opening needs no writer yet.
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&fifo)
            .unwrap();
        let mut writer = ReportWriter::create(&fifo).unwrap();
        writer.write(&row("a", Outcome::Applied)).unwrap();
        writer.finish().unwrap();
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        assert!(text.starts_with("bucket,region,id,"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }

    #[test]
    fn folders_are_refused_and_files_are_truncated() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ReportWriter::create(dir.path()).is_err());
        let path = dir.path().join("old.csv");
        std::fs::write(&path, "x".repeat(10_000)).unwrap();
        ReportWriter::create(&path).unwrap().finish().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
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
