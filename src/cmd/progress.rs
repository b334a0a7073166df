//! What a run shows while it works: a progress bar on a terminal, a log
//! line every few seconds otherwise (cron mails, CI logs), and `-v`/`-vv`
//! detail about failures and retries. Every line goes through the run's
//! [`Log`], so nothing is printed across the bar; what the lines say is
//! [`crate::run::progress`]'s.
//!
//! The executor only counts (see [`Stats`]); this module reads the counters
//! on a timer, so a run with a million jobs does not redraw a million times.

use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::log::{Level, Log};
use crate::executor::events::{Event, Observer, Stats};
use crate::pace::Pacing;
use crate::report::Outcome;
pub use crate::run::progress::Counting;
use crate::run::progress::{
    RateMeter, bar_message, event_fields, event_line, finished, status_fields, status_line,
};

/// How often the bar is refreshed from the counters.
const BAR_REFRESH: Duration = Duration::from_millis(100);
/// How often a log line is written when stderr is not a terminal.
pub const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// What the user asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressOptions {
    /// `--quiet`: errors and the final summary only.
    pub quiet: bool,
    /// `-v` count: 1 shows failed jobs, 2 also shows retries.
    pub verbose: u8,
    /// Draw a bar (stderr is a terminal, text lines) instead of log lines.
    pub terminal: bool,
    /// `NO_COLOR` is set: no colours in the bar.
    pub no_color: bool,
    pub counting: Counting,
}

impl ProgressOptions {
    /// Reads `NO_COLOR` from this process; `bar` says whether a bar may be
    /// drawn.
    pub fn detect(quiet: bool, verbose: u8, bar: bool) -> Self {
        ProgressOptions {
            quiet,
            verbose,
            terminal: bar,
            no_color: std::env::var_os("NO_COLOR").is_some_and(|value| !value.is_empty()),
            counting: Counting::JOBS,
        }
    }

    /// The same, counting `counting` instead of jobs.
    pub fn counting(self, counting: Counting) -> Self {
        ProgressOptions { counting, ..self }
    }
}

/// The display of one run.
pub struct Progress {
    options: ProgressOptions,
    stats: Arc<Stats>,
    bar: Option<ProgressBar>,
    log: Log,
    stop: CancellationToken,
    /// Asked on every refresh what holds the run back.
    pacing: Option<Pacing>,
}

/// The level of an event's line: a pause and a job that did not apply
/// are warnings (`failed`, `skipped`, `unknown`), the rest information.
fn event_level(event: &Event) -> Level {
    match event {
        Event::Paused { .. } => Level::Warn,
        Event::Finished(row)
            if !matches!(
                row.outcome,
                Outcome::Applied | Outcome::Unchanged | Outcome::Deleted | Outcome::DryRun
            ) =>
        {
            Level::Warn
        }
        _ => Level::Info,
    }
}

impl Progress {
    pub fn new(options: ProgressOptions, stats: Arc<Stats>, total: u64, log: Log) -> Self {
        let bar = (options.terminal && !options.quiet).then(|| new_bar(total, options.no_color));
        if let Some(bar) = &bar {
            log.attach(bar.clone());
        }
        Progress {
            options,
            stats,
            bar,
            log,
            stop: CancellationToken::new(),
            pacing: None,
        }
    }

    /// Says what holds the run back (a pause, the pace and why) from
    /// `pacing`, on every refresh.
    pub fn pacing(self, pacing: Pacing) -> Self {
        Progress {
            pacing: Some(pacing),
            ..self
        }
    }

    /// The executor observer: pauses and resumes always, `-v` detail when
    /// asked for; none with `--quiet`.
    pub fn observer(&self) -> Option<Observer> {
        if self.options.quiet {
            return None;
        }
        let verbose = self.options.verbose;
        let log = self.log.clone();
        Some(Arc::new(move |event: &Event| {
            if let Some(line) = event_line(event, verbose) {
                let level = event_level(event);
                log.line(level, &line, event_fields(event));
            }
        }))
    }

    /// Starts refreshing the bar, or logging, until [`Progress::finish`].
    pub fn start(&self) {
        if self.options.quiet {
            return;
        }
        let stats = self.stats.clone();
        let stop = self.stop.clone();
        let bar = self.bar.clone();
        let log = self.log.clone();
        let counting = self.options.counting;
        let pacing = self.pacing.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let interval = if bar.is_some() {
                BAR_REFRESH
            } else {
                LOG_INTERVAL
            };
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            let mut meter = RateMeter::default();
            meter.update(Duration::ZERO, 0);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let snapshot = stats.snapshot();
                meter.update(started.elapsed(), finished(&snapshot));
                let holding = pacing.as_ref().and_then(Pacing::holding);
                match &bar {
                    Some(bar) => {
                        if snapshot.total > 0 {
                            // The executor counts the rows it will write.
                            bar.set_length(snapshot.total);
                        }
                        bar.set_position(finished(&snapshot));
                        bar.set_message(bar_message(&snapshot, &meter, holding.as_deref()));
                    }
                    None => log.line(
                        Level::Info,
                        &status_line(
                            &snapshot,
                            started.elapsed(),
                            &meter,
                            counting,
                            holding.as_deref(),
                        ),
                        status_fields(&snapshot, holding.as_deref()),
                    ),
                }
            }
        });
    }

    /// Stops the display; the caller prints the summary next. After an
    /// interruption the bar stays, stopped at the jobs that really ended.
    pub fn finish(&self) {
        self.stop.cancel();
        self.log.detach();
        if let Some(bar) = &self.bar {
            let snapshot = self.stats.snapshot();
            bar.set_position(finished(&snapshot));
            if snapshot.cancelled > 0 {
                bar.abandon_with_message("interrupted");
            } else {
                bar.finish_and_clear();
            }
        }
    }
}

/// At most 80 columns: the bar takes what the rest leaves.
fn new_bar(total: u64, no_color: bool) -> ProgressBar {
    let template = if no_color {
        "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} {msg}"
    } else {
        "{spinner:.green} {elapsed_precise} [{wide_bar:.cyan/blue}] {pos}/{len} {msg}"
    };
    let style = ProgressStyle::with_template(template)
        .expect("the progress template is valid")
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_or_no_terminal_draws_no_bar() {
        let stats = Arc::new(Stats::default());
        let quiet = ProgressOptions {
            quiet: true,
            verbose: 0,
            terminal: true,
            no_color: false,
            counting: Counting::JOBS,
        };
        let log = Log::with(super::super::args::LogFormat::Text, true);
        assert!(
            Progress::new(quiet, stats.clone(), 10, log.clone())
                .bar
                .is_none()
        );
        let cron = ProgressOptions {
            terminal: false,
            ..quiet
        };
        assert!(Progress::new(cron, stats, 10, log).bar.is_none());
    }

    #[test]
    fn jobs_that_did_not_apply_are_warnings() {
        let row = |outcome| crate::report::ReportRow {
            bucket: "a-1250000000".into(),
            region: "ap-guangzhou".into(),
            id: "x".into(),
            action: "put",
            outcome,
            http_status: None,
            error_code: String::new(),
            message: String::new(),
            request_id: String::new(),
            attempts: 1,
            elapsed_ms: 0,
            finished_at: String::new(),
            source: String::new(),
            account: String::new(),
        };
        for (outcome, level) in [
            (Outcome::Failed, Level::Warn),
            (Outcome::Unknown, Level::Warn),
            (Outcome::Skipped, Level::Warn),
            (Outcome::Applied, Level::Info),
        ] {
            let row = row(outcome);
            assert_eq!(event_level(&Event::Finished(&row)), level, "{outcome:?}");
        }
    }
}
