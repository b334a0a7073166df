//! An earlier report, read to rerun only what did not apply.
//!
//! Columns are found by name, so a report written before a column was
//! added (such as `source`) still reads. A job whose last row there says
//! `applied`, `unchanged` or `deleted` is done; every other job of the
//! current manifests is sent again, those without a row included (the
//! earlier run may have died before writing them). A last row cut short
//! (the earlier run died while writing it, or the disk filled) is left
//! out: its job is sent again. Which jobs exist, and what they put, is
//! still decided by the current manifests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Outcomes that mean a job needs nothing more.
pub const DONE_OUTCOMES: [&str; 3] = ["applied", "unchanged", "deleted"];

/// The jobs of an earlier report, sorted into done and not done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousReport {
    /// (bucket, id) of the jobs whose last row says they are done.
    pub done: BTreeSet<(String, String)>,
    /// (bucket, id) of the jobs whose last row says anything else.
    pub not_done: BTreeSet<(String, String)>,
    /// The last row was cut short and left out.
    pub torn: bool,
}

/// An earlier report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PreviousReportError {
    #[error("cannot read the report {}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("{} is not a cosinv report: it has no {column} column", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
    #[error(
        "{}: row {row} has {found} fields where the header has {expected}; only the last \
         row may be cut short",
        path.display()
    )]
    Torn {
        path: PathBuf,
        row: usize,
        found: usize,
        expected: usize,
    },
}

/// Whether the file's last byte is a newline (an empty file: yes).
fn ends_with_newline(path: &Path) -> std::io::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path)?;
    if file.metadata()?.len() == 0 {
        return Ok(true);
    }
    file.seek(SeekFrom::End(-1))?;
    let mut last = [0u8];
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

impl PreviousReport {
    /// Reads the report at `path`.
    pub fn read(path: &Path) -> Result<PreviousReport, PreviousReportError> {
        let failed = |source| PreviousReportError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .from_path(path)
            .map_err(failed)?;
        let header = reader.headers().map_err(failed)?.clone();
        let column = |name: &'static str| {
            header.iter().position(|found| found == name).ok_or(
                PreviousReportError::MissingColumn {
                    path: path.to_path_buf(),
                    column: name,
                },
            )
        };
        let (bucket, id, outcome) = (column("bucket")?, column("id")?, column("outcome")?);
        // Every row cosinv writes ends with a newline: a file that does not
        // was cut short inside its last row.
        let cut_short = !ends_with_newline(path).map_err(|err| failed(err.into()))?;
        let mut previous = PreviousReport::default();
        let mut last = std::collections::BTreeMap::new();
        let mut records = reader.into_records().peekable();
        let mut row = 0;
        while let Some(record) = records.next() {
            row += 1;
            let is_last = records.peek().is_none();
            let record = match record {
                Ok(_) if is_last && cut_short => {
                    previous.torn = true;
                    break;
                }
                Ok(record) if record.len() == header.len() => record,
                Err(_) | Ok(_) if is_last => {
                    previous.torn = true;
                    break;
                }
                Err(err) => return Err(failed(err)),
                Ok(record) => {
                    return Err(PreviousReportError::Torn {
                        path: path.to_path_buf(),
                        row,
                        found: record.len(),
                        expected: header.len(),
                    });
                }
            };
            let field = |at: usize| record.get(at).unwrap_or_default().to_string();
            let id = crate::report::unneutralised(record.get(id).unwrap_or_default());
            last.insert((field(bucket), id.to_string()), field(outcome));
        }
        for (job, outcome) in last {
            match DONE_OUTCOMES.contains(&outcome.as_str()) {
                true => previous.done.insert(job),
                false => previous.not_done.insert(job),
            };
        }
        Ok(previous)
    }

    /// Whether the job on `bucket` with `id` is to be sent again: it has
    /// no row saying it is done.
    pub fn reruns(&self, bucket: &str, id: &str) -> bool {
        !self.done.contains(&(bucket.to_string(), id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_with_the_account_column_read_like_earlier_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let header = crate::report::HEADER.join(",");
        std::fs::write(
            &path,
            format!(
                "{header}\n\
                 a-1250000001,ap-guangzhou,x,put,applied,200,,,r,1,3,t,m.yaml:3,1250000001\n\
                 b-1250000002,ap-guangzhou,x,put,skipped,,AccountUnavailable,m,,0,0,t,m.yaml:3,1250000002\n"
            ),
        )
        .unwrap();
        let previous = PreviousReport::read(&path).unwrap();
        assert!(!previous.reruns("a-1250000001", "x"));
        assert!(previous.reruns("b-1250000002", "x"));
    }

    #[test]
    fn jobs_that_did_not_apply_are_to_rerun() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(
            &path,
            "bucket,region,id,action,outcome,http_status,error_code,message,request_id,\
             attempts,elapsed_ms,finished_at\n\
             a-1250000000,ap-guangzhou,x,put,applied,200,,,r,1,3,t\n\
             b-1250000000,ap-guangzhou,x,put,failed,404,NoSuchBucket,\"m, with comma\",r,1,3,t\n\
             c-1250000000,ap-guangzhou,x,put,cancelled,,,,,0,0,t\n\
             d-1250000000,ap-guangzhou,x,put,unchanged,200,,,r,1,3,t\n\
             e-1250000000,ap-guangzhou,'-x,put,failed,500,,,r,1,3,t\n",
        )
        .unwrap();
        let previous = PreviousReport::read(&path).unwrap();
        assert_eq!(previous.done.len(), 2);
        let rerun: Vec<(&str, &str)> = previous
            .not_done
            .iter()
            .map(|(b, i)| (b.as_str(), i.as_str()))
            .collect();
        // A neutralised id (written `'-x`) is read back as it was.
        assert_eq!(
            rerun,
            [
                ("b-1250000000", "x"),
                ("c-1250000000", "x"),
                ("e-1250000000", "-x")
            ]
        );
    }

    #[test]
    fn a_torn_last_row_is_left_out_and_its_job_sent_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        let head = "bucket,region,id,action,outcome,http_status,error_code,message,request_id,\
                    attempts,elapsed_ms,finished_at\n\
                    a-1250000000,ap-guangzhou,x,put,applied,200,,,r,1,3,t\n";
        for tail in [
            "b-1250000000,ap-guangzhou,x,put,applied,200,,,r,1,3,2026-12-",
            "b-1250000000,ap-guangzhou,x,put,applied,200,,\"half a mess",
            "b-1250000000,ap-gua",
        ] {
            std::fs::write(&path, format!("{head}{tail}")).unwrap();
            let previous = PreviousReport::read(&path).unwrap();
            assert!(previous.torn, "{tail}");
            assert!(!previous.reruns("a-1250000000", "x"));
            assert!(previous.reruns("b-1250000000", "x"), "{tail}");
        }
        // Only the last row may be short.
        std::fs::write(&path, format!("{head}b-1250000000,x\n{head}")).unwrap();
        let err = PreviousReport::read(&path).unwrap_err();
        assert!(err.to_string().contains("only the last"), "{err}");
        // A header alone: nothing is done, every job is sent again.
        std::fs::write(&path, head.lines().next().unwrap()).unwrap();
        let previous = PreviousReport::read(&path).unwrap();
        assert!(previous.done.is_empty() && !previous.torn);
        assert!(previous.reruns("a-1250000000", "x"));
    }

    #[test]
    fn a_file_that_is_not_a_report_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("other.csv");
        std::fs::write(&path, "name,value\na,b\n").unwrap();
        let err = PreviousReport::read(&path).unwrap_err();
        assert!(err.to_string().contains("no bucket column"), "{err}");
        let err = PreviousReport::read(&dir.path().join("missing.csv")).unwrap_err();
        assert!(err.to_string().contains("missing.csv"), "{err}");
    }
}
