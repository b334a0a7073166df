//! CSV manifests: a header row, then one row per (bucket, id).
//!
//! Rows are streamed to the planner, never held all at once: a
//! 1,000,000-row fleet costs one record buffer here. Cells are handed out
//! lazily, so rows that share everything but the bucket (the common case)
//! cost the planner one lookup, not a dozen allocations.

use std::path::Path;
use std::sync::Arc;

use csv::{ByteRecord, ReaderBuilder, StringRecord, Trim};

use super::suggest::unknown;
use super::{Loc, MAX_CSV_BYTES, Problems, Setting, Settings};

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
/// with the file, the header or a row's shape go to `problems`.
pub fn read(path: &Path, problems: &mut Problems, mut on_row: impl FnMut(&Row<'_>, &mut Problems)) {
    let file: Arc<Path> = Arc::from(path);
    let top = Loc::new(&file, 1);
    let opened = match open(path) {
        Ok(opened) => opened,
        Err(message) => {
            problems.add(&top, "file", message);
            return;
        }
    };
    let mut reader = ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(Trim::All)
        .from_reader(opened);
    let mut raw = ByteRecord::new();
    let Some(index) = read_header(&mut reader, &mut raw, &top, problems) else {
        return;
    };
    let width = raw.len();
    let mut record = StringRecord::new();
    loop {
        let mut buffer = record.into_byte_record();
        match reader.read_byte_record(&mut buffer) {
            Ok(false) => break,
            Ok(true) => {}
            Err(err) => {
                let byte = err.position().map_or(0, |p| p.byte());
                let line = reader.get_mut().line_of(byte);
                problems.add(
                    &Loc::new(&file, line),
                    "file",
                    format!("unreadable CSV: {err}"),
                );
                break;
            }
        }
        let byte = buffer.position().map_or(0, |p| p.byte());
        let line = reader.get_mut().line_of(byte);
        let at = Loc::new(&file, line);
        match StringRecord::from_byte_record(buffer) {
            Ok(text) => record = text,
            Err(err) => {
                problems.add(&at, "row", "is not UTF-8 text; save the file as UTF-8");
                record = StringRecord::from_byte_record(err.into_byte_record()).unwrap_or_default();
                record.clear();
                continue;
            }
        }
        if record.len() == 1 && record.get(0) == Some("") {
            continue; // a blank line
        }
        if record.len() != width {
            problems.add(
                &at,
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
            file: &file,
            record: &record,
            index: &index,
        };
        on_row(&row, problems);
    }
}

/// Counts lines in what the CSV reader reads, because csv's own line
/// numbers skip blank lines; a problem must name the line an editor shows.
struct LineCounter<R> {
    inner: R,
    /// Bytes read so far.
    offset: u64,
    /// Lines read but not yet passed by a record; the front one is the
    /// line of the last record asked about.
    lines: std::collections::VecDeque<LineStart>,
    /// The number of the front line.
    number: u32,
    previous: u8,
}

struct LineStart {
    start: u64,
    blank: bool,
}

impl<R: std::io::Read> std::io::Read for LineCounter<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        for (index, &byte) in buf[..read].iter().enumerate() {
            let position = self.offset + index as u64;
            if byte == b'\n' {
                if let Some(line) = self.lines.back_mut() {
                    let crlf_only = position == line.start + 1 && self.previous == b'\r';
                    line.blank = position == line.start || crlf_only;
                }
                self.lines.push_back(LineStart {
                    start: position + 1,
                    blank: false,
                });
            }
            self.previous = byte;
        }
        self.offset += read as u64;
        Ok(read)
    }
}

impl<R> LineCounter<R> {
    fn new(inner: R) -> Self {
        LineCounter {
            inner,
            offset: 0,
            lines: [LineStart {
                start: 0,
                blank: false,
            }]
            .into(),
            number: 1,
            previous: 0,
        }
    }

    /// The line (from 1) of a record starting at byte `offset` (or at the
    /// blank lines before it); offsets must not decrease.
    fn line_of(&mut self, offset: u64) -> u32 {
        while self.lines.len() > 1 && self.lines[1].start <= offset {
            self.lines.pop_front();
            self.number += 1;
        }
        while self.lines.len() > 1 && self.lines[0].blank {
            self.lines.pop_front();
            self.number += 1;
        }
        self.number
    }
}

fn open(path: &Path) -> Result<LineCounter<std::io::Take<std::fs::File>>, String> {
    super::open_capped(path, MAX_CSV_BYTES).map(LineCounter::new)
}

/// Maps the header's columns; `None` when the file cannot be read on.
fn read_header<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
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
    let mut index = [None; COLUMNS.len()];
    let mut usable = true;
    for (position, cell) in raw.iter().enumerate() {
        let Ok(name) = std::str::from_utf8(cell) else {
            problems.add(top, "header", "is not UTF-8 text");
            return None;
        };
        // A UTF-8 byte-order mark, as spreadsheets write.
        let name = name.trim_start_matches('\u{feff}');
        match COLUMNS.iter().position(|known| *known == name) {
            Some(column) if index[column].is_some() => {
                problems.add(top, name, "column appears twice in the header");
                usable = false;
            }
            Some(column) => index[column] = Some(position),
            None => {
                problems.add(top, name, unknown("column", name, COLUMNS));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read_text(bytes: &[u8]) -> (Vec<(u32, String, String)>, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.csv");
        std::fs::write(&path, bytes).unwrap();
        let mut problems = Problems::default();
        let mut rows = Vec::new();
        read(&path, &mut problems, |row, _| {
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
    fn header_mistakes_are_all_reported() {
        let (rows, problems) = read_text(b"bucket,scedule,bucket,colour\n");
        assert!(rows.is_empty());
        assert_eq!(
            problems,
            [
                "1: bucket: column appears twice in the header",
                "1: colour: unknown column \"colour\"; expected one of bucket, region, id, policy, enabled, \
                 schedule, included_object_versions, filter_prefix, optional_fields, destination_bucket, \
                 destination_region, destination_prefix, destination_account_id, encryption",
                "1: id: column missing from the header; bucket and id are required",
                "1: scedule: unknown column \"scedule\"; did you mean \"schedule\"?",
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
    fn an_empty_file_says_what_the_header_should_be() {
        let (_, problems) = read_text(b"");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("1: file: is empty"), "{problems:?}");
    }
}
