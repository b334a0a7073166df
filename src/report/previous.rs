//! An earlier report, read to rerun only what did not apply.
//!
//! Columns are found by name, so a report written before a column was
//! added (such as `source`) still reads. A job whose last row there says
//! `applied` (or `unchanged`) is done; every other job of the report is to
//! be sent again. Which jobs exist, and what they put, is still decided by
//! the current manifests: this only selects among them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Outcomes that mean a job needs nothing more.
pub const DONE_OUTCOMES: [&str; 2] = ["applied", "unchanged"];

/// The jobs of an earlier report, sorted into done and not done.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreviousReport {
    /// (bucket, id) of the jobs that did not apply.
    pub rerun: BTreeSet<(String, String)>,
    /// How many jobs were done.
    pub done: usize,
}

/// An earlier report could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PreviousReportError {
    #[error("cannot read the report {}: {source}", path.display())]
    Read { path: PathBuf, source: csv::Error },
    #[error("{} is not a cosinv report: it has no {column} column", path.display())]
    MissingColumn { path: PathBuf, column: &'static str },
}

impl PreviousReport {
    /// Reads the report at `path`.
    pub fn read(path: &Path) -> Result<PreviousReport, PreviousReportError> {
        let failed = |source| PreviousReportError::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = csv::Reader::from_path(path).map_err(failed)?;
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
        let mut last = std::collections::BTreeMap::new();
        for record in reader.records() {
            let record = record.map_err(failed)?;
            let field = |at: usize| record.get(at).unwrap_or_default().to_string();
            let id = crate::report::unneutralised(record.get(id).unwrap_or_default());
            last.insert((field(bucket), id.to_string()), field(outcome));
        }
        let mut previous = PreviousReport::default();
        for (job, outcome) in last {
            if DONE_OUTCOMES.contains(&outcome.as_str()) {
                previous.done += 1;
            } else {
                previous.rerun.insert(job);
            }
        }
        Ok(previous)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(previous.done, 2);
        let rerun: Vec<(&str, &str)> = previous
            .rerun
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
