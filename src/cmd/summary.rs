//! How an `apply` run ends on the command line: its exit code, why it
//! stopped early in the flags' words, and the `--output json` document.
//! The summary's other lines and the sidecar are the library's
//! ([`crate::run::summary`], [`crate::run::record`]).

use std::io::Write;
use std::time::Duration;

use super::exit;
use super::log::Log;
use crate::executor::{RunResult, StopReason};
use crate::report::run::{RunOptions, RunRecord};
use crate::run::record::Interruption;
use crate::run::text::human_duration;

/// The signal's code when a signal stopped the run; 4 when the report
/// could not be written; 3 when the run stopped early; 1 when any job did
/// not apply; 0 otherwise.
pub fn exit_code(result: &RunResult, signal_code: u8) -> u8 {
    if signal_code != 0 {
        return signal_code;
    }
    match &result.stopped {
        Some(StopReason::ReportUnwritable { .. }) => return exit::REPORT_FAILED,
        Some(_) => return exit::STOPPED,
        None => {}
    }
    let stats = &result.stats;
    if stats.failed + stats.skipped + stats.cancelled + stats.unknown > 0 {
        exit::JOBS_FAILED
    } else {
        exit::SUCCESS
    }
}

/// The stop request behind a signal's exit code (0: none came).
pub fn interruption(signal_code: u8) -> Option<Interruption> {
    match signal_code {
        exit::INTERRUPTED => Some(Interruption::Interrupt),
        exit::TERMINATED => Some(Interruption::Terminate),
        _ => None,
    }
}

/// Why the run stopped early, with the flag that decides it when there is
/// one.
pub fn stopped_line(reason: &StopReason, options: &RunOptions) -> String {
    match reason {
        StopReason::Unreachable { .. } => format!(
            "cosinv: stopped early: {reason}; gave up after --give-up-after {}. The jobs \
             not sent are skipped: run again (--from-report sends just those) once COS answers",
            human_duration(Duration::from_secs_f64(options.give_up_after_secs))
        ),
        _ => format!("cosinv: stopped early: {reason}"),
    }
}

/// The `--output json` document on stdout: the run's record, finished.
pub fn print_json(record: &RunRecord, log: &Log) {
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut stdout, record)
        .map_err(std::io::Error::from)
        .and_then(|()| writeln!(stdout))
        .and_then(|()| stdout.flush());
    if let Err(err) = written
        && err.kind() != std::io::ErrorKind::BrokenPipe
    {
        log.error(&format!(
            "cosinv apply: cannot write the JSON result: {err}"
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::StatsSnapshot;

    fn result(applied: u64, failed: u64, cancelled: u64) -> RunResult {
        RunResult {
            stats: StatsSnapshot {
                total: applied + failed + cancelled,
                applied,
                failed,
                cancelled,
                ..StatsSnapshot::default()
            },
            elapsed: Duration::from_secs(2),
            stopped: None,
            counts: Default::default(),
            clock_offset: 0,
            pacing: Default::default(),
        }
    }

    #[test]
    fn exit_codes_follow_the_contract() {
        assert_eq!(exit_code(&result(10, 0, 0), 0), exit::SUCCESS);
        assert_eq!(exit_code(&result(9, 1, 0), 0), exit::JOBS_FAILED);
        assert_eq!(
            exit_code(&result(5, 0, 5), exit::INTERRUPTED),
            exit::INTERRUPTED
        );
        assert_eq!(
            exit_code(&result(5, 0, 5), exit::TERMINATED),
            exit::TERMINATED
        );
        let mut stopped = result(0, 1, 0);
        stopped.stopped = Some(StopReason::TlsRefused {
            message: "TLS".into(),
        });
        assert_eq!(exit_code(&stopped, 0), exit::STOPPED);
        assert_eq!(exit_code(&stopped, exit::INTERRUPTED), exit::INTERRUPTED);
        stopped.stopped = Some(StopReason::ReportUnwritable {
            message: "No space left on device".into(),
            sent_unrecorded: 0,
        });
        assert_eq!(exit_code(&stopped, 0), exit::REPORT_FAILED);
        assert_eq!(
            interruption(exit::TERMINATED),
            Some(Interruption::Terminate)
        );
        assert_eq!(interruption(0), None);
    }
}
