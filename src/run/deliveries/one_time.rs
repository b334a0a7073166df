//! The one-time jobs a run-now report says were submitted: their reports
//! land under the one-time id, which the report's message names
//! (`one-time id ID; JobId …`), while its `id` column keeps the job's.

use std::collections::HashMap;
use std::path::Path;

use crate::report::previous::PreviousReportError;

/// (bucket, job id) → the one-time id submitted for it.
pub type OneTimeIds = HashMap<(String, String), String>;

const WORDS: &str = "one-time id ";

/// The one-time id a row's message names, if any.
fn one_time_id(message: &str) -> Option<&str> {
    let rest = message.strip_prefix(WORDS)?;
    let end = rest.find([';', ':', ' ']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|id| !id.is_empty())
}

/// Every run-now row of the report at `path` that COS accepted, last row
/// per job winning.
pub fn read(path: &Path) -> Result<OneTimeIds, PreviousReportError> {
    let read_error = |source| PreviousReportError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(read_error)?;
    let headers = reader.headers().map_err(read_error)?.clone();
    let column = |name: &'static str| {
        headers
            .iter()
            .position(|header| header == name)
            .ok_or(PreviousReportError::MissingColumn {
                path: path.to_path_buf(),
                column: name,
            })
    };
    let (bucket, id) = (column("bucket")?, column("id")?);
    let (action, outcome, message) = (column("action")?, column("outcome")?, column("message")?);
    let mut ids = OneTimeIds::new();
    for row in reader.records() {
        let row = row.map_err(read_error)?;
        let cell = |at: usize| row.get(at).unwrap_or_default();
        if cell(action) != "run-now" || cell(outcome) != "applied" {
            continue;
        }
        if let Some(one_time) = one_time_id(cell(message)) {
            let key = (cell(bucket).to_string(), cell(id).to_string());
            ids.insert(key, one_time.to_string());
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_names_the_one_time_id() {
        assert_eq!(
            one_time_id("one-time id daily-x1; JobId 123"),
            Some("daily-x1")
        );
        assert_eq!(one_time_id("one-time id daily-x1"), Some("daily-x1"));
        assert_eq!(
            one_time_id("one-time id daily-x1: HTTP 409"),
            Some("daily-x1")
        );
        assert_eq!(one_time_id("created"), None);
    }

    #[test]
    fn only_accepted_run_now_rows_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.csv");
        std::fs::write(
            &path,
            "bucket,region,id,action,outcome,message\n\
             a-1250000000,ap-guangzhou,daily,run-now,applied,one-time id daily-t1; JobId 9\n\
             b-1250000000,ap-guangzhou,daily,run-now,failed,one-time id daily-t1: HTTP 409\n\
             c-1250000000,ap-guangzhou,daily,create,applied,\n",
        )
        .unwrap();
        let ids = read(&path).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[&("a-1250000000".into(), "daily".into())], "daily-t1");
        std::fs::write(&path, "bucket,id\n").unwrap();
        assert!(read(&path).is_err());
    }
}
