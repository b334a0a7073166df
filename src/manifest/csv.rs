//! CSV manifests: a header row, then one row per (bucket, id).
//!
//! Rows are streamed to the planner, never held all at once: a
//! 1,000,000-row fleet costs one record buffer here. Cells are handed out
//! lazily, so rows that share everything but the bucket (the common case)
//! cost the planner one lookup, not a dozen allocations. Line numbers are
//! the ones an editor shows, and no cell spans lines (see `Lines`);
//! columns named `x-…` or `#…` belong to the spreadsheet and are skipped.

use std::collections::VecDeque;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use csv::{ByteRecord, ReaderBuilder, StringRecord, Trim};

use super::checks::check_placeholder_spelling;
use super::suggest::{did_you_mean, unknown};
use super::{
    FileDigest, HashingReader, Loc, MAX_CSV_BYTES, Problems, ReadOptions, Setting, Settings,
};

/// The columns, in the contract's order. Only `bucket` and `id` are
/// required.
pub const COLUMNS: &[&str] = &[
    "bucket",
    "region",
    "id",
    "policy",
    "enabled",
    "schedule",
    "included_object_versions",
    "filter_prefix",
    "optional_fields",
    "destination_bucket",
    "destination_region",
    "destination_prefix",
    "destination_account_id",
    "encryption",
    "monthly_date",
];

const BUCKET: usize = 0;
const REGION: usize = 1;
const ID: usize = 2;
const POLICY: usize = 3;
const ENABLED: usize = 4;
const SCHEDULE: usize = 5;
const VERSIONS: usize = 6;
const FILTER_PREFIX: usize = 7;
const OPTIONAL_FIELDS: usize = 8;
const DESTINATION_BUCKET: usize = 9;
const DESTINATION_REGION: usize = 10;
const DESTINATION_PREFIX: usize = 11;
const DESTINATION_ACCOUNT_ID: usize = 12;
const ENCRYPTION: usize = 13;
const MONTHLY_DATE: usize = 14;

/// One data row, valid only during the callback.
pub struct Row<'a> {
    pub line: u32,
    file: &'a Arc<Path>,
    record: &'a StringRecord,
    /// For each of [`COLUMNS`], its index in the file, if present.
    index: &'a [Option<usize>; COLUMNS.len()],
}

impl Row<'_> {
    pub fn loc(&self) -> Loc {
        Loc::new(self.file, self.line)
    }

    /// The trimmed cell of `column`, `None` when absent or empty.
    fn cell(&self, column: usize) -> Option<&str> {
        let index = self.index[column]?;
        self.record.get(index).filter(|cell| !cell.is_empty())
    }

    pub fn bucket(&self) -> Option<&str> {
        self.cell(BUCKET)
    }

    pub fn region(&self) -> Option<&str> {
        self.cell(REGION)
    }

    /// Every cell that shapes the configuration (all but bucket and
    /// region), joined: rows with the same key share one template.
    pub fn template_key(&self, key: &mut String) {
        key.clear();
        for column in (0..COLUMNS.len()).filter(|&c| c != BUCKET && c != REGION) {
            key.push_str(self.cell(column).unwrap_or(""));
            key.push('\u{1f}');
        }
    }

    fn setting(&self, column: usize) -> Option<Setting<String>> {
        self.cell(column).map(|value| Setting {
            value: value.to_string(),
            at: self.loc(),
        })
    }

    pub fn id(&self) -> Option<Setting<String>> {
        self.setting(ID)
    }

    pub fn policy(&self) -> Option<Setting<String>> {
        self.setting(POLICY)
    }

    /// The row's own settings; problems with cells go to `problems`.
    pub fn settings(&self, problems: &mut Problems) -> Settings {
        let enabled =
            self.cell(ENABLED)
                .and_then(|cell| match cell.to_ascii_lowercase().as_str() {
                    "true" => Some(true),
                    "false" => Some(false),
                    _ => {
                        problems.add(
                            &self.loc(),
                            "enabled",
                            format!("{} is not true or false", crate::model::quoted(cell)),
                        );
                        None
                    }
                });
        Settings {
            enabled: enabled.map(|value| Setting {
                value,
                at: self.loc(),
            }),
            included_object_versions: self.setting(VERSIONS),
            schedule: self.setting(SCHEDULE),
            monthly_date: self.setting(MONTHLY_DATE),
            filter_prefix: self.setting(FILTER_PREFIX),
            filter_tags: None,
            filter_period: None,
            optional_fields: self.cell(OPTIONAL_FIELDS).map(|cell| Setting {
                value: cell
                    .split('|')
                    .map(str::trim)
                    .filter(|field| !field.is_empty())
                    .map(str::to_string)
                    .collect(),
                at: self.loc(),
            }),
            destination_bucket: self.setting(DESTINATION_BUCKET),
            destination_region: self.setting(DESTINATION_REGION),
            destination_account_id: self.setting(DESTINATION_ACCOUNT_ID),
            destination_prefix: self.setting(DESTINATION_PREFIX),
            destination_format: None,
            encryption: self.setting(ENCRYPTION),
        }
    }
}

/// Reads `path`, calling `on_row` for each well-formed data row; problems
/// with the file, the header or a row's shape go to `problems`, as do
/// regions that `options` does not know. The digest of every byte of the
/// file, taken as it was read; `None` when it could not be read.
pub fn read(
    path: &Path,
    options: &ReadOptions,
    problems: &mut Problems,
    on_row: impl FnMut(&Row<'_>, &mut Problems),
) -> Option<FileDigest> {
    let file: Arc<Path> = Arc::from(path);
    let top = Loc::new(&file, 1);
    let opened = match super::open_capped(path, MAX_CSV_BYTES) {
        Ok(opened) => opened,
        Err(err) => {
            problems.add(&top, "file", err.to_string());
            return None;
        }
    };
    let mut hashing = HashingReader::new(opened);
    // The head is read once, for the delimiter, and then read on from.
    let mut head = Vec::new();
    if let Err(err) = (&mut hashing).take(SNIFFED_BYTES).read_to_end(&mut head) {
        problems.add(
            &top,
            "file",
            format!("cannot read {}: {err}", path.display()),
        );
        return None;
    }
    let delimiter = sniff_delimiter(&head);
    let stream = Lines::new(std::io::Cursor::new(head).chain(hashing), delimiter);
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .delimiter(delimiter)
        .from_reader(stream);
    read_rows(&mut reader, &file, options, problems, on_row);
    let (_, hashing) = reader.into_inner().into_inner().into_inner();
    match hashing.finish(path) {
        Ok(digest) => Some(digest),
        Err(err) => {
            problems.add(
                &top,
                "file",
                format!("cannot read {}: {err}", path.display()),
            );
            None
        }
    }
}

/// The header, then every data row of `reader`.
fn read_rows<R: std::io::Read>(
    reader: &mut csv::Reader<Lines<R>>,
    file: &Arc<Path>,
    options: &ReadOptions,
    problems: &mut Problems,
    mut on_row: impl FnMut(&Row<'_>, &mut Problems),
) {
    let top = Loc::new(file, 1);
    let mut raw = ByteRecord::new();
    let Some(index) = read_header(reader, &mut raw, &top, problems) else {
        return;
    };
    let width = raw.len();
    let mut record = StringRecord::new();
    let mut allowed = AllowedRegions::default();
    while let Some(line) = next_record(reader, &mut record, file, problems) {
        if record.len() != width {
            problems.add(
                &Loc::new(file, line),
                "row",
                format!(
                    "has {} cells but the header has {width}; quote cells that contain commas",
                    record.len()
                ),
            );
            continue;
        }
        let row = Row {
            line,
            file,
            record: &record,
            index: &index,
        };
        check_row(&row, &mut allowed, options, problems);
        on_row(&row, problems);
    }
}

const UNCLOSED_QUOTE: &str = "a quote opened on this line is not closed on it; cells cannot span \
                              lines: close the quote, or remove it";

/// Reads the next data row into `record` and says its line; `None` at the
/// end of the file (or when it cannot be read on: reported). Rows that are
/// blank, not text, or hold an unclosed quote are reported (but blank
/// ones) and skipped.
fn next_record<R: std::io::Read>(
    reader: &mut csv::Reader<Lines<R>>,
    record: &mut StringRecord,
    file: &Arc<Path>,
    problems: &mut Problems,
) -> Option<u32> {
    loop {
        // The record's buffer is reused row after row.
        let mut buffer = std::mem::take(record).into_byte_record();
        let read = reader.read_byte_record(&mut buffer);
        let byte = match &read {
            Err(err) => err.position().map_or(0, |p| p.byte()),
            Ok(_) => buffer.position().map_or(0, |p| p.byte()),
        };
        let line = reader.get_mut().line_of(byte);
        let at = Loc::new(file, line);
        match read {
            Ok(false) => return None,
            Ok(true) => {}
            Err(err) => {
                problems.add(&at, "file", format!("unreadable CSV: {err}"));
                return None;
            }
        }
        if reader.get_mut().unclosed_quote_on(line) {
            problems.add(&at, "row", UNCLOSED_QUOTE);
            continue;
        }
        match StringRecord::from_byte_record(buffer) {
            Ok(text) => *record = text,
            Err(_) => {
                problems.add(&at, "row", "is not UTF-8 text; save the file as UTF-8");
                continue;
            }
        }
        if record.len() == 1 && record.get(0) == Some("") {
            continue; // a line of spaces
        }
        return Some(line);
    }
}

/// Regions already found allowed in this file. A fleet repeats a handful
/// of regions over a million rows, and looking each up in the known list
/// shows in a profile.
#[derive(Default)]
struct AllowedRegions(Vec<String>);

impl AllowedRegions {
    fn check(
        &mut self,
        region: &str,
        row: &Row<'_>,
        field: &str,
        options: &ReadOptions,
        problems: &mut Problems,
    ) {
        if self.0.iter().any(|allowed| allowed == region) {
            return;
        }
        if options.regions.allows(region) {
            if self.0.len() < 16 {
                self.0.push(region.to_string());
            }
            return;
        }
        options.check_region_at(region, &row.loc(), field, problems);
    }
}

/// What the manifest layer checks in a row beyond its shape: regions the
/// options do not know, and `${…}` placeholders.
fn check_row(
    row: &Row<'_>,
    allowed: &mut AllowedRegions,
    options: &ReadOptions,
    problems: &mut Problems,
) {
    for (column, field) in [
        (REGION, "region"),
        (DESTINATION_REGION, "destination_region"),
    ] {
        if let Some(region) = row.cell(column) {
            allowed.check(region, row, field, options, problems);
        }
    }
    if row
        .cell(DESTINATION_BUCKET)
        .is_some_and(|b| b.starts_with("qcs::"))
        && let Some(bucket) = row.setting(DESTINATION_BUCKET)
    {
        options.check_destination_arn(&bucket, problems);
    }
    if row
        .cell(DESTINATION_PREFIX)
        .is_some_and(|p| p.contains("${"))
        && let Some(prefix) = row.setting(DESTINATION_PREFIX)
    {
        check_placeholder_spelling(&prefix, "destination_prefix", problems);
    }
}

/// The file as the CSV reader sees it: every line ended by `\n`, and no
/// quote left open across a line end; and where each line starts.
///
/// csv's own line numbers skip blank lines and CRLF endings confuse byte
/// positions, while an editor counts every line; and a quote opened by
/// mistake would swallow every line up to the next quote into one cell.
/// So CRLF and a lone CR become LF, and a quote still open at the end of
/// its line is closed there and the line noted: no manifest column may
/// hold a line break, so that row is reported as an unclosed quote where
/// it opened, and the next line reads as the next row. The quote tracking
/// follows csv-core's rules for the reader's settings: a quote opens a
/// cell only as its first byte, and `""` inside a quoted cell is a quote.
struct Lines<R> {
    inner: R,
    /// The cell separator: `,`, `;` or a tab.
    delimiter: u8,
    buffer: Box<[u8]>,
    position: usize,
    filled: usize,
    at_end: bool,
    /// Bytes handed out so far.
    offset: u64,
    after_cr: bool,
    /// A line end to hand out after an inserted closing quote.
    pending_newline: bool,
    quote: CellState,
    /// The line being handed out.
    current: LineStart,
    /// Lines handed out in full and not yet passed by a record; blank
    /// lines are left out (no record starts on one).
    finished: VecDeque<FinishedLine>,
    /// Lines whose quote was closed for them, in order.
    unclosed: VecDeque<u32>,
}

struct LineStart {
    number: u32,
    start: u64,
}

struct FinishedLine {
    number: u32,
    /// Offset of its `\n`.
    end: u64,
}

/// Where the CSV reader is within a cell, for quotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CellState {
    Start,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: the end, or the first of `""`.
    QuoteSeen,
}

impl CellState {
    fn after(self, byte: u8, delimiter: u8) -> CellState {
        match (self, byte) {
            (_, b'\n') => CellState::Start,
            (CellState::Start, b'"') => CellState::Quoted,
            (CellState::Start | CellState::Unquoted | CellState::QuoteSeen, _)
                if byte == delimiter =>
            {
                CellState::Start
            }
            (CellState::Start | CellState::Unquoted, _) => CellState::Unquoted,
            (CellState::Quoted, b'"') => CellState::QuoteSeen,
            (CellState::Quoted, _) => CellState::Quoted,
            (CellState::QuoteSeen, b'"') => CellState::Quoted,
            (CellState::QuoteSeen, _) => CellState::Unquoted,
        }
    }

    /// How many of `bytes` come before a line end, following the quotes
    /// on the way. Between quotes only the last byte matters: a comma
    /// leaves the reader at the start of a cell.
    fn run_to_line_end(&mut self, bytes: &[u8], delimiter: u8) -> usize {
        let mut run = 0;
        loop {
            let rest = &bytes[run..];
            let stop = rest
                .iter()
                .position(|&byte| matches!(byte, b'"' | b'\n' | b'\r'))
                .unwrap_or(rest.len());
            if stop > 0 && *self != CellState::Quoted {
                *self = match rest[stop - 1] == delimiter {
                    true => CellState::Start,
                    false => CellState::Unquoted,
                };
            }
            run += stop;
            if rest.get(stop) != Some(&b'"') {
                return run;
            }
            *self = self.after(b'"', delimiter);
            run += 1;
        }
    }
}

impl<R: std::io::Read> std::io::Read for Lines<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut written = 0;
        while written < out.len() {
            let run = self.plain_run(&mut out[written..]);
            if run > 0 {
                written += run;
                continue;
            }
            let Some(byte) = self.next_byte()? else {
                break;
            };
            out[written] = byte;
            written += 1;
            self.note(byte);
        }
        Ok(written)
    }
}

impl<R: std::io::Read> Lines<R> {
    fn new(inner: R, delimiter: u8) -> Self {
        Lines {
            inner,
            delimiter,
            buffer: vec![0; 64 * 1024].into_boxed_slice(),
            position: 0,
            filled: 0,
            at_end: false,
            offset: 0,
            after_cr: false,
            pending_newline: false,
            quote: CellState::Start,
            current: LineStart {
                number: 1,
                start: 0,
            },
            finished: VecDeque::new(),
            unclosed: VecDeque::new(),
        }
    }

    /// The next byte to hand out, `None` at the end.
    fn next_byte(&mut self) -> std::io::Result<Option<u8>> {
        if std::mem::take(&mut self.pending_newline) {
            return Ok(Some(b'\n'));
        }
        loop {
            let Some(raw) = self.next_raw()? else {
                if self.quote == CellState::Quoted {
                    self.close_quote();
                    return Ok(Some(b'"'));
                }
                return Ok(None);
            };
            let byte = match raw {
                b'\r' => {
                    self.after_cr = true;
                    b'\n'
                }
                b'\n' if self.after_cr => {
                    self.after_cr = false;
                    continue; // the LF of a CRLF, already handed out
                }
                other => {
                    self.after_cr = false;
                    other
                }
            };
            if byte == b'\n' && self.quote == CellState::Quoted {
                self.close_quote();
                self.pending_newline = true;
                return Ok(Some(b'"'));
            }
            self.quote = self.quote.after(byte, self.delimiter);
            return Ok(Some(byte));
        }
    }

    fn next_raw(&mut self) -> std::io::Result<Option<u8>> {
        if self.position == self.filled {
            if self.at_end {
                return Ok(None);
            }
            self.filled = loop {
                match self.inner.read(&mut self.buffer) {
                    Ok(read) => break read,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(err) => return Err(err),
                }
            };
            self.position = 0;
            if self.filled == 0 {
                self.at_end = true;
                return Ok(None);
            }
        }
        self.position += 1;
        Ok(Some(self.buffer[self.position - 1]))
    }

    fn close_quote(&mut self) {
        self.unclosed.push_back(self.current.number);
        self.quote = CellState::Start;
    }
}

impl<R> Lines<R> {
    /// The reader it reads from (bytes it buffered are not given back).
    fn into_inner(self) -> R {
        self.inner
    }

    /// Copies the buffered bytes up to the next line end (only those need
    /// line bookkeeping), or a run of blank lines; 0 when the next byte is
    /// a line end to take one at a time. The byte-by-byte path alone is
    /// slow on a 100 MB file.
    fn plain_run(&mut self, out: &mut [u8]) -> usize {
        if self.pending_newline || self.after_cr {
            return 0;
        }
        let available = &self.buffer[self.position..self.filled];
        let limit = available.len().min(out.len());
        let blank_lines = self.quote == CellState::Start && self.offset == self.current.start;
        let mut run = 0;
        if blank_lines {
            run = available[..limit]
                .iter()
                .position(|&byte| byte != b'\n')
                .unwrap_or(limit);
            self.current.number += run as u32;
            self.current.start += run as u64;
        }
        if run == 0 {
            run = self
                .quote
                .run_to_line_end(&available[..limit], self.delimiter);
        }
        out[..run].copy_from_slice(&available[..run]);
        self.position += run;
        self.offset += run as u64;
        run
    }

    /// Keeps line starts up to date with a byte handed out.
    fn note(&mut self, byte: u8) {
        if byte == b'\n' {
            if self.offset > self.current.start {
                self.finished.push_back(FinishedLine {
                    number: self.current.number,
                    end: self.offset,
                });
            }
            self.current = LineStart {
                number: self.current.number + 1,
                start: self.offset + 1,
            };
        }
        self.offset += 1;
    }

    /// The line (from 1) of a record starting at byte `offset` (or at the
    /// blank lines before it); offsets must not decrease.
    fn line_of(&mut self, offset: u64) -> u32 {
        while self.finished.front().is_some_and(|line| line.end < offset) {
            self.finished.pop_front();
        }
        self.finished
            .front()
            .map_or(self.current.number, |line| line.number)
    }

    /// True when `line` had a quote closed for it.
    fn unclosed_quote_on(&mut self, line: u32) -> bool {
        while self.unclosed.front().is_some_and(|&noted| noted < line) {
            self.unclosed.pop_front();
        }
        self.unclosed.front() == Some(&line)
    }
}

/// Columns cosinv leaves alone: a spreadsheet's own (`x-owner`, `#notes`).
fn is_ignored_column(name: &str) -> bool {
    name.starts_with('#') || name.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("x-"))
}

/// How much of a CSV's start is looked at for its cell separator.
const SNIFFED_BYTES: u64 = 64 * 1024;

/// The cell separator of a CSV starting with `head`: `,`, `;` (what
/// spreadsheets write where the decimal mark is a comma) or a tab,
/// whichever splits its header line into a `bucket` column; `,` when none
/// does (the header's problems are then reported as usual).
fn sniff_delimiter(head: &[u8]) -> u8 {
    let line = head.split(|&byte| byte == b'\n').next().unwrap_or_default();
    let line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
    let names_bucket = |cell: &[u8]| {
        let cell = cell.trim_ascii();
        let cell = cell
            .strip_prefix(b"\"")
            .and_then(|c| c.strip_suffix(b"\""))
            .unwrap_or(cell);
        cell.eq_ignore_ascii_case(b"bucket")
    };
    [b',', b';', b'\t']
        .into_iter()
        .find(|&delimiter| line.split(|&byte| byte == delimiter).any(names_bucket))
        .unwrap_or(b',')
}

/// Maps the header's columns; `None` when the file cannot be read on.
fn read_header<R: std::io::Read>(
    reader: &mut csv::Reader<Lines<R>>,
    raw: &mut ByteRecord,
    top: &Loc,
    problems: &mut Problems,
) -> Option<[Option<usize>; COLUMNS.len()]> {
    match reader.read_byte_record(raw) {
        Ok(true) => {}
        Ok(false) => {
            problems.add(
                top,
                "file",
                format!(
                    "is empty; the first line must be a header such as {}",
                    COLUMNS.join(",")
                ),
            );
            return None;
        }
        Err(err) => {
            problems.add(top, "file", format!("unreadable CSV: {err}"));
            return None;
        }
    }
    if reader.get_mut().unclosed_quote_on(1) {
        problems.add(top, "header", UNCLOSED_QUOTE);
        return None;
    }
    let mut index = [None; COLUMNS.len()];
    let mut usable = true;
    for (position, cell) in raw.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(cell) else {
            problems.add(top, "header", "is not UTF-8 text");
            return None;
        };
        // A UTF-8 byte-order mark, as spreadsheets write.
        let name = name.trim_start_matches('\u{feff}');
        if is_ignored_column(name) {
            continue;
        }
        // `ID`, `Bucket `: the names are matched whatever their case.
        let name = name.trim();
        match COLUMNS
            .iter()
            .position(|known| known.eq_ignore_ascii_case(name))
        {
            Some(column) if index[column].is_some() => {
                problems.add(top, name, "column appears twice in the header");
                usable = false;
            }
            Some(column) => index[column] = Some(position),
            None => {
                unknown_column(name, position, top, problems);
                usable = false;
            }
        }
    }
    for required in [BUCKET, ID] {
        if index[required].is_none() {
            problems.add(
                top,
                COLUMNS[required],
                "column missing from the header; bucket and id are required",
            );
            usable = false;
        }
    }
    usable.then_some(index)
}

fn unknown_column(name: &str, position: usize, top: &Loc, problems: &mut Problems) {
    if name.is_empty() {
        problems.add(
            top,
            "header",
            format!(
                "column {} has no name; remove it, or name it with an x- prefix to keep it",
                position + 1
            ),
        );
        return;
    }
    let keep = if name.len() <= 40 && name.chars().all(|c| c.is_ascii_graphic()) {
        format!("name it x-{name}")
    } else {
        "start its name with x-".to_string()
    };
    let message = match did_you_mean(name, COLUMNS) {
        Some(close) => format!(
            "unknown column {}; did you mean {close:?}? (to keep a column cosinv should \
             ignore, {keep})",
            crate::model::quoted(name)
        ),
        None => format!(
            "{}; to keep a column cosinv should ignore, {keep} (columns starting with x- or # \
             are ignored)",
            unknown("column", name, COLUMNS)
        ),
    };
    problems.add(top, name, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(bytes: &[u8]) -> (Vec<(u32, String, String)>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, bytes).unwrap();
        let mut problems = Problems::default();
        let mut rows = Vec::new();
        read(&path, &ReadOptions::default(), &mut problems, |row, _| {
            rows.push((
                row.line,
                row.bucket().unwrap_or("").to_string(),
                row.id().map(|s| s.value).unwrap_or_default(),
            ))
        });
        let lines = problems
            .into_lines()
            .into_iter()
            .map(|line| line.rsplit_once("f.csv:").unwrap().1.to_string())
            .collect();
        (rows, lines)
    }

    #[test]
    fn rows_carry_their_file_line_and_a_bom_is_accepted() {
        let (rows, problems) = read_text(
            "\u{feff}bucket,id,optional_fields\na-1250000000,x,Size|ETag\n\n\"b-1250000000\",\"y\",\n"
                .as_bytes(),
        );
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(
            rows,
            [
                (2, "a-1250000000".into(), "x".into()),
                (4, "b-1250000000".into(), "y".into())
            ]
        );
    }

    #[test]
    fn semicolons_and_tabs_read_like_commas_and_names_match_in_any_case() {
        let comma = read_text(b"bucket,id,optional_fields\na-1250000000,x,\"Size|ETag\"\n");
        for text in [
            &b"Bucket;ID;Optional_Fields\na-1250000000;x;\"Size|ETag\"\n"[..],
            b"\"bucket\"\tid\toptional_fields\na-1250000000\tx\tSize|ETag\n",
            b"\xef\xbb\xbfBUCKET ; Id ; optional_fields\r\na-1250000000;x;Size|ETag\r\n",
        ] {
            assert_eq!(read_text(text), comma, "{}", String::from_utf8_lossy(text));
        }
        // A quoted cell holding the other separators stays one cell.
        let (rows, problems) = read_text(b"bucket;id\n\"a-1250000000\";\"x,y\"\n");
        assert_eq!(rows, [(2, "a-1250000000".into(), "x,y".into())]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn header_mistakes_are_all_reported() {
        let (rows, problems) = read_text(b"bucket,scedule,bucket,colour\n");
        assert!(rows.is_empty());
        assert_eq!(
            problems,
            [
                "1: bucket: column appears twice in the header",
                "1: colour: unknown column \"colour\"; expected one of bucket, region, id, policy, enabled, \
                 schedule, included_object_versions, filter_prefix, optional_fields, destination_bucket, \
                 destination_region, destination_prefix, destination_account_id, encryption, \
                 monthly_date; to keep a column cosinv should ignore, name it x-colour (columns \
                 starting with x- or # are ignored)",
                "1: id: column missing from the header; bucket and id are required",
                "1: scedule: unknown column \"scedule\"; did you mean \"schedule\"? (to keep a column \
                 cosinv should ignore, name it x-scedule)",
            ]
        );
    }

    #[test]
    fn ragged_rows_and_bad_bytes_are_located_and_the_rest_still_read() {
        let (rows, problems) =
            read_text(b"bucket,id\na-1250000000,x,extra\nb-1250000000\n\xff,y\nc-1250000000,z\n");
        assert_eq!(rows, [(5, "c-1250000000".into(), "z".into())]);
        assert_eq!(
            problems,
            [
                "2: row: has 3 cells but the header has 2; quote cells that contain commas",
                "3: row: has 1 cells but the header has 2; quote cells that contain commas",
                "4: row: is not UTF-8 text; save the file as UTF-8",
            ]
        );
    }

    #[test]
    fn an_unclosed_quote_is_reported_where_it_opened_and_swallows_nothing() {
        let (rows, problems) = read_text(
            b"bucket,id\na-1250000000,x\n\"b-1250000000,y\nc-1250000000,\"z\nd-1250000000,w\n\
              e-1250000000,\"v\"\"\"\n\"f-1250000000",
        );
        assert_eq!(
            rows,
            [
                (2, "a-1250000000".into(), "x".into()),
                (5, "d-1250000000".into(), "w".into()),
                (6, "e-1250000000".into(), "v\"".into()),
            ]
        );
        let unclosed = "row: a quote opened on this line is not closed on it; cells cannot \
                        span lines: close the quote, or remove it";
        assert_eq!(
            problems,
            [
                format!("3: {unclosed}"),
                format!("4: {unclosed}"),
                format!("7: {unclosed}"),
            ]
        );
    }

    #[test]
    fn crlf_and_blank_lines_keep_the_editors_line_numbers() {
        for ending in ["\r\n", "\n", "\r"] {
            let text = [
                "bucket,id",
                "a-1250000000,x",
                "",
                "",
                "b-1250000000,y",
                "  ",
                "c-1250000000,z",
                "",
            ]
            .join(ending);
            let (rows, problems) = read_text(text.as_bytes());
            assert_eq!(problems, Vec::<String>::new());
            let lines: Vec<u32> = rows.iter().map(|row| row.0).collect();
            assert_eq!(lines, [2, 5, 7], "{ending:?}");
        }
    }

    /// Hands out one byte per read, so every buffer boundary is crossed.
    struct OneByte<'a>(&'a [u8]);

    impl std::io::Read for OneByte<'_> {
        fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
            let Some((first, rest)) = self.0.split_first() else {
                return Ok(0);
            };
            out[0] = *first;
            self.0 = rest;
            Ok(1)
        }
    }

    #[test]
    fn the_stream_is_the_same_whatever_the_reads() {
        let input = b"a,\"b\r\n\r\n\n\nc,\"d\"\"e\"\r\"f,g\rh";
        let expected = b"a,\"b\"\n\n\n\nc,\"d\"\"e\"\n\"f,g\"\nh";
        let mut whole = Vec::new();
        let mut lines = Lines::new(&input[..], b',');
        std::io::Read::read_to_end(&mut lines, &mut whole).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&whole),
            String::from_utf8_lossy(expected)
        );
        let mut bytewise = Vec::new();
        let mut slow = Lines::new(OneByte(input), b',');
        let mut byte = [0u8; 1];
        while std::io::Read::read(&mut slow, &mut byte).unwrap() == 1 {
            bytewise.push(byte[0]);
        }
        assert_eq!(bytewise, whole);
        // The quotes opened on lines 1 and 6 were closed for them.
        assert_eq!(lines.unclosed, [1, 6]);
        assert_eq!(slow.unclosed, [1, 6]);
    }

    /// The stream [`Lines`] should hand out, byte by byte: line ends made
    /// `\n`, and a quote open at a line end (or the end) closed there.
    fn reference(input: &[u8]) -> (Vec<u8>, Vec<u32>) {
        let (mut out, mut unclosed) = (Vec::new(), Vec::new());
        let (mut state, mut line, mut after_cr) = (CellState::Start, 1, false);
        for &raw in input {
            let byte = match raw {
                b'\n' if after_cr => {
                    after_cr = false;
                    continue;
                }
                b'\r' => b'\n',
                other => other,
            };
            after_cr = raw == b'\r';
            if byte == b'\n' {
                if state == CellState::Quoted {
                    out.push(b'"');
                    unclosed.push(line);
                }
                line += 1;
            }
            state = state.after(byte, b',');
            out.push(byte);
        }
        if state == CellState::Quoted {
            out.push(b'"');
            unclosed.push(line);
        }
        (out, unclosed)
    }

    proptest::proptest! {
        #[test]
        fn lines_match_the_byte_by_byte_reference(
            input in proptest::collection::vec(
                proptest::sample::select(b"a,\"\r\n ".to_vec()),
                0..400,
            )
        ) {
            let mut lines = Lines::new(&input[..], b',');
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut lines, &mut out).unwrap();
            let (expected, unclosed) = reference(&input);
            proptest::prop_assert_eq!(&out, &expected);
            proptest::prop_assert_eq!(Vec::from(lines.unclosed), unclosed.clone());
            let mut slow = Lines::new(OneByte(&input), b',');
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut slow, &mut out).unwrap();
            proptest::prop_assert_eq!(&out, &expected);
            proptest::prop_assert_eq!(Vec::from(slow.unclosed), unclosed);
        }
    }

    #[test]
    fn columns_starting_with_x_or_hash_are_ignored() {
        let (rows, problems) = read_text(
            b"x-owner,bucket,#notes,id,X-Team\nalice,a-1250000000,\"call, maybe\",x,data\n",
        );
        assert_eq!(problems, Vec::<String>::new());
        assert_eq!(rows, [(2, "a-1250000000".into(), "x".into())]);
        let (_, problems) = read_text(b"bucket,id,owner,\n");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(
            problems[0].starts_with("1: header: column 4 has no name"),
            "{problems:?}"
        );
        assert!(problems[1].contains("name it x-owner"), "{problems:?}");
    }

    #[test]
    fn unknown_regions_and_shell_placeholders_are_reported_per_row() {
        let (rows, problems) = read_text(
            b"bucket,region,id,destination_bucket,destination_prefix\n\
              a-1250000000,ap-guangzho,x,qcs::cos:ap-shangai::d-1250000000,${bucket}\n\
              b-1250000000,ap-guangzhou,x,d-1250000000,{bucket}\n",
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems[0].starts_with("2: destination_bucket: \"ap-shangai\""));
        assert!(problems[1].starts_with("2: destination_prefix: \"${bucket}\" uses ${…}"));
        assert!(problems[2].starts_with("2: region: \"ap-guangzho\" is not a COS region"));
    }

    #[test]
    fn an_empty_file_says_what_the_header_should_be() {
        let (_, problems) = read_text(b"");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("1: file: is empty"), "{problems:?}");
    }
}
