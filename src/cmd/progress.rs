//! What a run shows while it works: a progress bar on a terminal, a log
//! line every few seconds otherwise (cron mails, CI logs), and `-v`/`-vv`
//! detail about failures and retries.
//!
//! The executor only counts (see [`Stats`]); this module reads the counters
//! on a timer, so a run with a million jobs does not redraw a million times.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::executor::events::{Event, Observer, Stats, StatsSnapshot};
use crate::report::Outcome;

/// How often the bar is refreshed from the counters.
const BAR_REFRESH: Duration = Duration::from_millis(100);
/// How often a log line is written when stderr is not a terminal.
pub const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// What is counted: jobs applied, or buckets read (a refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counting {
    /// Plural noun of the unit: `jobs`, `buckets`.
    pub noun: &'static str,
    /// What a unit that went well is: `applied`, `read`.
    pub done: &'static str,
}

impl Counting {
    pub const JOBS: Counting = Counting {
        noun: "jobs",
        done: "applied",
    };
    pub const BUCKETS: Counting = Counting {
        noun: "buckets",
        done: "read",
    };
}

/// What the user asked to see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProgressOptions {
    /// `--quiet`: errors and the final summary only.
    pub quiet: bool,
    /// `-v` count: 1 shows failed jobs, 2 also shows retries.
    pub verbose: u8,
    /// stderr is a terminal: draw a bar instead of log lines.
    pub terminal: bool,
    /// `NO_COLOR` is set: no colours in the bar.
    pub no_color: bool,
    pub counting: Counting,
}

impl ProgressOptions {
    /// Reads the terminal and `NO_COLOR` from this process.
    pub fn detect(quiet: bool, verbose: u8) -> Self {
        ProgressOptions {
            quiet,
            verbose,
            terminal: std::io::stderr().is_terminal(),
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
    stop: CancellationToken,
}

impl Progress {
    pub fn new(options: ProgressOptions, stats: Arc<Stats>, total: u64) -> Self {
        let bar = (options.terminal && !options.quiet).then(|| new_bar(total, options.no_color));
        Progress {
            options,
            stats,
            bar,
            stop: CancellationToken::new(),
        }
    }

    /// Prints a line without tearing the bar.
    pub fn println(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// The executor observer for `-v` detail, if any was asked for.
    pub fn observer(&self) -> Option<Observer> {
        if self.options.quiet || self.options.verbose == 0 {
            return None;
        }
        let verbose = self.options.verbose;
        let bar = self.bar.clone();
        Some(Arc::new(move |event: &Event| {
            if let Some(line) = event_line(event, verbose) {
                match &bar {
                    Some(bar) => bar.println(line),
                    None => eprintln!("{line}"),
                }
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
        let counting = self.options.counting;
        tokio::spawn(async move {
            let started = Instant::now();
            let interval = if bar.is_some() {
                BAR_REFRESH
            } else {
                LOG_INTERVAL
            };
            let mut ticker =
                tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = ticker.tick() => {}
                }
                let snapshot = stats.snapshot();
                match &bar {
                    Some(bar) => {
                        bar.set_position(snapshot.done());
                        bar.set_message(bar_message(&snapshot, started.elapsed(), counting));
                    }
                    None => eprintln!("{}", status_line(&snapshot, started.elapsed(), counting)),
                }
            }
        });
    }

    /// Stops the display; the caller prints the summary next.
    pub fn finish(&self) {
        self.stop.cancel();
        if let Some(bar) = &self.bar {
            bar.set_position(self.stats.snapshot().done());
            bar.finish_and_clear();
        }
    }
}

fn new_bar(total: u64, no_color: bool) -> ProgressBar {
    let template = if no_color {
        "{spinner} [{elapsed_precise}] [{bar:30}] {pos}/{len} {msg}, ETA {eta}"
    } else {
        "{spinner:.green} [{elapsed_precise}] [{bar:30.cyan/blue}] {pos}/{len} {msg}, ETA {eta}"
    };
    let style = ProgressStyle::with_template(template)
        .expect("the progress template is valid")
        .progress_chars("=> ");
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(style);
    bar
}

/// The part of the bar that is not drawn by indicatif itself.
pub fn bar_message(stats: &StatsSnapshot, elapsed: Duration, counting: Counting) -> String {
    format!(
        "{:.0} {}/s, failed {}, retrying {}",
        jobs_per_second(stats.done(), elapsed),
        counting.noun,
        stats.failed + stats.skipped,
        stats.retrying
    )
}

fn jobs_per_second(done: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds > 0.0 {
        done as f64 / seconds
    } else {
        0.0
    }
}

/// A progress line for logs: counts, rate and an estimate of what is left.
pub fn status_line(stats: &StatsSnapshot, elapsed: Duration, counting: Counting) -> String {
    let done = stats.done();
    let rate = jobs_per_second(done, elapsed);
    let eta = if rate > 0.0 && stats.total > done {
        format!(
            ", ETA {}",
            human_duration(Duration::from_secs_f64((stats.total - done) as f64 / rate))
        )
    } else {
        String::new()
    };
    format!(
        "cosinv: {done}/{total} {noun} done ({done_word} {applied}, failed {failed}, \
         skipped {skipped}, retrying {retrying}) after {elapsed}, {rate:.0} {noun}/s{eta}",
        total = stats.total,
        noun = counting.noun,
        done_word = counting.done,
        applied = stats.applied + stats.unchanged + stats.deleted + stats.dry_run,
        failed = stats.failed,
        skipped = stats.skipped,
        retrying = stats.retrying,
        elapsed = human_duration(elapsed),
    )
}

/// One line about an event, if `verbose` asks for it: failures at `-v`,
/// retries at `-vv`.
pub fn event_line(event: &Event, verbose: u8) -> Option<String> {
    match event {
        Event::Finished(row) if matches!(row.outcome, Outcome::Failed | Outcome::Skipped) => {
            let status = row
                .http_status
                .map(|status| format!(" HTTP {status}"))
                .unwrap_or_default();
            let code = if row.error_code.is_empty() {
                String::new()
            } else {
                format!(" {}", row.error_code)
            };
            Some(format!(
                "{outcome} {bucket} {id}:{status}{code} {message} (attempts {attempts})",
                outcome = row.outcome.as_str(),
                bucket = row.bucket,
                id = row.id,
                message = row.message,
                attempts = row.attempts,
            ))
        }
        Event::Retry {
            bucket,
            id,
            attempt,
            class,
            delay,
            message,
        } if verbose >= 2 => Some(format!(
            "retry {bucket} {id}: attempt {attempt} was {class}: {message}; next in {delay}",
            class = class.as_str(),
            delay = human_duration(*delay),
        )),
        _ => None,
    }
}

/// `850ms`, `12.3s`, `4m05s`, `2h03m`.
pub fn human_duration(duration: Duration) -> String {
    let millis = duration.as_millis();
    let seconds = duration.as_secs();
    if millis < 1_000 {
        format!("{millis}ms")
    } else if seconds < 60 {
        format!("{:.1}s", duration.as_secs_f64())
    } else if seconds < 3_600 {
        format!("{}m{:02}s", seconds / 60, seconds % 60)
    } else {
        format!("{}h{:02}m", seconds / 3_600, (seconds % 3_600) / 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::retry::Class;
    use crate::report::ReportRow;

    fn snapshot() -> StatsSnapshot {
        StatsSnapshot {
            total: 1_000,
            applied: 400,
            failed: 50,
            skipped: 50,
            retrying: 3,
            ..StatsSnapshot::default()
        }
    }

    #[test]
    fn status_line_has_counts_rate_and_eta() {
        let line = status_line(&snapshot(), Duration::from_secs(10), Counting::JOBS);
        assert_eq!(
            line,
            "cosinv: 500/1000 jobs done (applied 400, failed 50, skipped 50, retrying 3) \
             after 10.0s, 50 jobs/s, ETA 10.0s"
        );
    }

    #[test]
    fn bar_message_has_rate_failures_and_retries() {
        assert_eq!(
            bar_message(&snapshot(), Duration::from_secs(10), Counting::JOBS),
            "50 jobs/s, failed 100, retrying 3"
        );
    }

    #[test]
    fn status_line_without_progress_has_no_eta() {
        let line = status_line(
            &StatsSnapshot {
                total: 5,
                ..StatsSnapshot::default()
            },
            Duration::ZERO,
            Counting::BUCKETS,
        );
        assert!(line.ends_with("0 buckets/s"), "{line}");
    }

    fn row(outcome: Outcome) -> ReportRow {
        ReportRow {
            bucket: "photos-1250000000".into(),
            region: "ap-guangzhou".into(),
            id: "daily".into(),
            action: "put",
            outcome,
            http_status: Some(400),
            error_code: "InvalidArgument".into(),
            message: "bad".into(),
            request_id: "r".into(),
            attempts: 1,
            elapsed_ms: 3,
            finished_at: String::new(),
        }
    }

    #[test]
    fn failures_show_at_one_v_and_successes_never() {
        let failed = Event::Finished(row(Outcome::Failed));
        assert_eq!(
            event_line(&failed, 1).unwrap(),
            "failed photos-1250000000 daily: HTTP 400 InvalidArgument bad (attempts 1)"
        );
        assert!(event_line(&Event::Finished(row(Outcome::Applied)), 2).is_none());
    }

    #[test]
    fn retries_show_only_at_two_v() {
        let retry = Event::Retry {
            bucket: "b-1250000000".into(),
            id: "x".into(),
            attempt: 2,
            class: Class::Throttled,
            delay: Duration::from_millis(350),
            message: "HTTP 503 SlowDown".into(),
        };
        assert!(event_line(&retry, 1).is_none());
        assert_eq!(
            event_line(&retry, 2).unwrap(),
            "retry b-1250000000 x: attempt 2 was throttled: HTTP 503 SlowDown; next in 350ms"
        );
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(7_380)), "2h03m");
    }

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
        assert!(Progress::new(quiet, stats.clone(), 10).bar.is_none());
        let cron = ProgressOptions {
            terminal: false,
            ..quiet
        };
        assert!(Progress::new(cron, stats, 10).bar.is_none());
    }
}
