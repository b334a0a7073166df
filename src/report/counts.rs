//! What a report says, counted as its rows are written: by outcome, by
//! action, and the error codes of the jobs that failed.

use std::collections::BTreeMap;

use super::{Outcome, ReportRow};

/// Counts of the rows of one report.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReportCounts {
    /// Rows written: one per job.
    pub jobs: u64,
    /// Jobs with at least one request sent.
    pub sent: u64,
    /// Requests sent, retries included.
    pub attempts: u64,
    /// `applied`, `failed`, … → jobs.
    pub by_outcome: BTreeMap<String, u64>,
    /// `put`, … → jobs.
    pub by_action: BTreeMap<String, u64>,
    /// Failed jobs by the COS error code of their last answer
    /// (`NoSuchBucket`), or the kind of failure without one (`Timeout`,
    /// `ConnectError`), or `HTTP <status>` for an answer without a code.
    pub by_error_code: BTreeMap<String, u64>,
    /// Jobs by account (the bucket's APPID), then by outcome.
    pub by_account: BTreeMap<String, BTreeMap<String, u64>>,
}

impl ReportCounts {
    /// Counts one row.
    pub fn add(&mut self, row: &ReportRow) {
        self.jobs += 1;
        if row.attempts > 0 {
            self.sent += 1;
        }
        self.attempts += u64::from(row.attempts);
        *self
            .by_outcome
            .entry(row.outcome.as_str().to_string())
            .or_default() += 1;
        *self.by_action.entry(row.action.to_string()).or_default() += 1;
        if row.outcome == Outcome::Failed {
            *self.by_error_code.entry(error_key(row)).or_default() += 1;
        }
        // One map per account, made once; outcomes are a handful of keys.
        let account = match self.by_account.get_mut(&row.account) {
            Some(account) => account,
            None => self.by_account.entry(row.account.clone()).or_default(),
        };
        *account.entry(row.outcome.as_str().to_string()).or_default() += 1;
    }

    /// Jobs that ended with `outcome`.
    pub fn outcome(&self, outcome: Outcome) -> u64 {
        self.by_outcome
            .get(outcome.as_str())
            .copied()
            .unwrap_or_default()
    }

    /// The `n` most frequent error codes of failed jobs, most frequent
    /// first (ties by name), and how many failed jobs the rest hold.
    pub fn top_error_codes(&self, n: usize) -> (Vec<(&str, u64)>, u64) {
        let mut codes: Vec<(&str, u64)> = self
            .by_error_code
            .iter()
            .map(|(code, count)| (code.as_str(), *count))
            .collect();
        codes.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let rest = codes.iter().skip(n).map(|(_, count)| count).sum();
        codes.truncate(n);
        (codes, rest)
    }
}

fn error_key(row: &ReportRow) -> String {
    match (&row.error_code, row.http_status) {
        (code, _) if !code.is_empty() => code.clone(),
        (_, Some(status)) => format!("HTTP {status}"),
        _ => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(outcome: Outcome, code: &str, status: Option<u16>, attempts: u32) -> ReportRow {
        ReportRow {
            bucket: "b-1250000000".into(),
            region: "ap-guangzhou".into(),
            id: "x".into(),
            action: "put",
            outcome,
            http_status: status,
            error_code: code.into(),
            message: String::new(),
            request_id: String::new(),
            attempts,
            elapsed_ms: 0,
            finished_at: String::new(),
            source: "m.yaml:1".into(),
            account: String::new(),
        }
    }

    #[test]
    fn counts_outcomes_actions_and_failed_codes() {
        let mut counts = ReportCounts::default();
        counts.add(&row(Outcome::Applied, "", Some(200), 2));
        counts.add(&row(Outcome::Failed, "NoSuchBucket", Some(404), 1));
        counts.add(&row(Outcome::Failed, "NoSuchBucket", Some(404), 1));
        counts.add(&row(Outcome::Failed, "", Some(502), 8));
        counts.add(&row(Outcome::Failed, "Timeout", None, 8));
        counts.add(&row(Outcome::Skipped, "", None, 0));
        assert_eq!(counts.jobs, 6);
        assert_eq!(counts.sent, 5);
        assert_eq!(counts.attempts, 20);
        assert_eq!(counts.outcome(Outcome::Failed), 4);
        assert_eq!(counts.outcome(Outcome::Cancelled), 0);
        assert_eq!(counts.by_action["put"], 6);
        let (top, rest) = counts.top_error_codes(2);
        assert_eq!(top, [("NoSuchBucket", 2), ("HTTP 502", 1)]);
        assert_eq!(rest, 1);
    }
}
