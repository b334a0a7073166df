//! What a run's progress says, wherever it is shown: a moving rate and the
//! ETA it gives ([`RateMeter`]), the status line written every few
//! seconds when no bar is drawn, the bar's message, and the line (with
//! fields for JSON logs) about a failed job, a retry or a pause. The
//! caller draws and times them; the ETA appears only once the average
//! rests on enough time and jobs to mean something. Jobs written
//! `cancelled` when a run is interrupted are not progress.

use std::time::Duration;

use serde_json::{Map, Value};

use super::text::{human_duration, noun};
use crate::executor::events::{Event, StatsSnapshot};
use crate::report::Outcome;

/// The moving average forgets with this time constant.
const RATE_WINDOW: Duration = Duration::from_secs(20);
/// No ETA before the average covers this long…
const ETA_AFTER: Duration = Duration::from_secs(5);
/// …and this many finished jobs.
const ETA_MIN_JOBS: u64 = 20;

/// What is counted: jobs applied, or buckets read (a refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counting {
    /// The unit, singular and plural: `job`/`jobs`, `bucket`/`buckets`.
    pub one: &'static str,
    pub many: &'static str,
    /// What a unit that went well is: `applied`, `read`.
    pub done: &'static str,
}

impl Counting {
    pub const JOBS: Counting = Counting {
        one: "job",
        many: "jobs",
        done: "applied",
    };
    pub const BUCKETS: Counting = Counting {
        one: "bucket",
        many: "buckets",
        done: "read",
    };
    pub const DELIVERIES: Counting = Counting {
        one: "job",
        many: "jobs",
        done: "checked",
    };
}

/// Jobs per second as a moving average, and the ETA it gives.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    /// Jobs per second, smoothed; `None` before the second sample.
    rate: Option<f64>,
    last: Option<(Duration, u64)>,
    /// How long the average has been fed.
    covered: Duration,
}

impl RateMeter {
    /// Feeds `done` jobs at `elapsed` since the start.
    pub fn update(&mut self, elapsed: Duration, done: u64) {
        let Some((then, before)) = self.last else {
            self.last = Some((elapsed, done));
            return;
        };
        let dt = elapsed.saturating_sub(then);
        if dt.is_zero() {
            return;
        }
        let instant = done.saturating_sub(before) as f64 / dt.as_secs_f64();
        let weight = 1.0 - (-dt.as_secs_f64() / RATE_WINDOW.as_secs_f64()).exp();
        self.rate = Some(match self.rate {
            // Until the window has filled, the plain average so far.
            Some(rate) if self.covered >= RATE_WINDOW => rate + weight * (instant - rate),
            _ => done as f64 / elapsed.as_secs_f64().max(f64::EPSILON),
        });
        self.covered += dt;
        self.last = Some((elapsed, done));
    }

    /// The smoothed rate, jobs per second.
    pub fn rate(&self) -> f64 {
        self.rate.unwrap_or(0.0)
    }

    /// Time left for `total - done` jobs, once it means something.
    pub fn eta(&self, done: u64, total: u64) -> Option<Duration> {
        let rate = self.rate?;
        if self.covered < ETA_AFTER || done < ETA_MIN_JOBS.min(total) || rate <= 0.0 {
            return None;
        }
        let left = total.saturating_sub(done) as f64 / rate;
        Duration::try_from_secs_f64(left).ok()
    }
}

/// Jobs that really ended: cancelled ones (and those whose answer never
/// came) are not progress.
/// Never more than the total (0: not known), so that the bar cannot show
/// `11/10`; a count past its total is a total that left out a kind of
/// row, a bug that debug builds stop at.
pub fn finished(stats: &StatsSnapshot) -> u64 {
    let done = stats.done() - stats.cancelled - stats.unknown;
    debug_assert!(
        stats.total == 0 || done <= stats.total,
        "{done} done is past its total of {}",
        stats.total
    );
    match stats.total {
        0 => done,
        total => done.min(total),
    }
}

/// The part of the bar that is not drawn by indicatif itself; short, so
/// that the line fits 80 columns with a bar left to see.
pub fn bar_message(stats: &StatsSnapshot, meter: &RateMeter, holding: Option<&str>) -> String {
    let mut message = format!("{:.0}/s", meter.rate());
    // One word, the bar is short (the log lines and summary say why); a
    // pause always, the pace when it fits.
    let tag = match holding {
        Some(holding) if holding.starts_with("paused") => " paused",
        Some(holding) if holding.starts_with("paced") => " paced",
        _ => "",
    };
    let insert_at = message.len();
    let failed = stats.failed + stats.skipped;
    if failed > 0 {
        message.push_str(&format!(" {failed} failed"));
    }
    if stats.retrying > 0 {
        message.push_str(&format!(" {} retrying", stats.retrying));
    }
    if let Some(eta) = meter.eta(finished(stats), stats.total) {
        message.push_str(&format!(" ETA {}", human_duration(eta)));
    }
    if tag == " paused" || message.len() + tag.len() <= bar_message_room(stats.total) {
        message.insert_str(insert_at, tag);
    }
    message
}

/// The bar's message at most, so that the bar itself keeps ten columns of
/// eighty: what is left after the spinner, the elapsed time, the brackets
/// and `pos/len`.
fn bar_message_room(total: u64) -> usize {
    let digits = total.max(1).ilog10() as usize + 1;
    70usize.saturating_sub(16 + 2 * digits)
}

/// A progress line for logs: counts, rate and an estimate of what is left.
pub fn status_line(
    stats: &StatsSnapshot,
    elapsed: Duration,
    meter: &RateMeter,
    counting: Counting,
    holding: Option<&str>,
) -> String {
    let done = finished(stats);
    // A pause has no end to estimate: say what holds the run instead.
    let eta = match holding {
        Some(holding) if holding.starts_with("paused") => String::new(),
        _ => meter
            .eta(done, stats.total)
            .map(|eta| format!(", ETA {}", human_duration(eta)))
            .unwrap_or_default(),
    };
    let holding = holding
        .map(|holding| format!("; {holding}"))
        .unwrap_or_default();
    format!(
        "cosinv: {done}/{total} {units} done ({done_word} {applied}, failed {failed}, \
         skipped {skipped}, retrying {retrying}) after {elapsed}, {rate:.0} {many}/s{eta}{holding}",
        total = stats.total,
        units = noun(stats.total, counting.one, counting.many),
        many = counting.many,
        done_word = counting.done,
        applied = stats.applied + stats.unchanged + stats.deleted + stats.dry_run,
        failed = stats.failed,
        skipped = stats.skipped,
        retrying = stats.retrying,
        elapsed = human_duration(elapsed),
        rate = meter.rate(),
    )
}

/// The counts of a progress line, for JSON logs.
pub fn status_fields(stats: &StatsSnapshot, holding: Option<&str>) -> Map<String, Value> {
    let mut fields = Map::new();
    if let Some(holding) = holding {
        fields.insert("pace".into(), holding.into());
    }
    for (name, value) in [
        ("done", finished(stats)),
        ("total", stats.total),
        ("applied", stats.applied + stats.dry_run),
        ("unchanged", stats.unchanged),
        ("deleted", stats.deleted),
        ("failed", stats.failed),
        ("skipped", stats.skipped),
        ("retrying", stats.retrying),
        ("attempts", stats.attempts),
    ] {
        fields.insert(name.into(), value.into());
    }
    fields
}

/// The job of an event, for JSON logs.
pub fn event_fields(event: &Event) -> Map<String, Value> {
    let mut fields = Map::new();
    match event {
        Event::Finished(row) => {
            fields.insert("bucket".into(), row.bucket.clone().into());
            fields.insert("id".into(), row.id.clone().into());
            fields.insert("outcome".into(), row.outcome.as_str().into());
            fields.insert("error_code".into(), row.error_code.clone().into());
            fields.insert("attempts".into(), row.attempts.into());
        }
        Event::Retry {
            bucket,
            id,
            attempt,
            ..
        } => {
            fields.insert("bucket".into(), bucket.clone().into());
            fields.insert("id".into(), id.clone().into());
            fields.insert("attempt".into(), (*attempt).into());
        }
        Event::Paused { failures } => {
            fields.insert("pause".into(), "start".into());
            fields.insert("failures".into(), failures.total().into());
        }
        Event::Resumed { paused_for } => {
            fields.insert("pause".into(), "end".into());
            fields.insert("paused_ms".into(), (paused_for.as_millis() as u64).into());
        }
    }
    fields
}

/// One line about an event, if `verbose` asks for it: pauses always,
/// failures at `-v`, retries at `-vv`.
pub fn event_line(event: &Event, verbose: u8) -> Option<String> {
    match event {
        Event::Paused { failures } => Some(format!(
            "cosinv: COS failed every request lately ({failures} in a row): paused, \
             probing every few seconds until it answers"
        )),
        Event::Resumed { paused_for } => Some(format!(
            "cosinv: COS answers again: resumed after {} paused",
            human_duration(*paused_for)
        )),
        _ if verbose == 0 => None,
        Event::Finished(row)
            if matches!(
                row.outcome,
                Outcome::Failed | Outcome::Skipped | Outcome::Unknown
            ) =>
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::ReportRow;
    use crate::send::retry::Class;

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

    /// A meter fed at 1 s steps with `per_second` jobs each.
    fn meter(seconds: u64, per_second: u64) -> RateMeter {
        let mut meter = RateMeter::default();
        for second in 0..=seconds {
            meter.update(Duration::from_secs(second), second * per_second);
        }
        meter
    }

    #[test]
    fn status_line_has_counts_rate_and_eta() {
        let line = status_line(
            &snapshot(),
            Duration::from_secs(10),
            &meter(10, 50),
            Counting::JOBS,
            None,
        );
        assert_eq!(
            line,
            "cosinv: 500/1000 jobs done (applied 400, failed 50, skipped 50, retrying 3) \
             after 10.0s, 50 jobs/s, ETA 10.0s"
        );
    }

    #[test]
    fn status_lines_say_what_holds_the_run_back() {
        let at = |holding| {
            let (stats, meter) = (snapshot(), meter(10, 50));
            status_line(
                &stats,
                Duration::from_secs(10),
                &meter,
                Counting::JOBS,
                Some(holding),
            )
        };
        let paced = at("paced at 95/s (COS's ceiling)");
        assert!(
            paced.ends_with("ETA 10.0s; paced at 95/s (COS's ceiling)"),
            "{paced}"
        );
        // A pause has no estimate.
        let paused = at("paused: COS failed every request lately, probing");
        assert!(!paused.contains("ETA"), "{paused}");
        assert!(paused.ends_with("50 jobs/s; paused: COS failed every request lately, probing"));
        let fields = status_fields(&snapshot(), Some("paced at 95/s (COS's ceiling)"));
        assert_eq!(fields["pace"], "paced at 95/s (COS's ceiling)");
        let bar = bar_message(
            &snapshot(),
            &meter(10, 50),
            Some("paced at 95/s (COS's ceiling)"),
        );
        assert_eq!(bar, "50/s paced 100 failed 3 retrying ETA 10.0s");
    }

    #[test]
    fn bar_message_has_rate_failures_retries_and_eta() {
        assert_eq!(
            bar_message(&snapshot(), &meter(10, 50), None),
            "50/s 100 failed 3 retrying ETA 10.0s"
        );
    }

    #[test]
    fn no_eta_until_it_means_something() {
        // Half a second in, 75 ms left by the rate so far: not shown.
        let mut early = RateMeter::default();
        early.update(Duration::ZERO, 0);
        early.update(Duration::from_millis(500), 450);
        assert_eq!(early.eta(450, 500), None);
        // Too few jobs for an estimate, however long.
        assert_eq!(meter(30, 0).eta(0, 1_000), None);
        let line = status_line(
            &StatsSnapshot {
                total: 5,
                ..StatsSnapshot::default()
            },
            Duration::ZERO,
            &RateMeter::default(),
            Counting::BUCKETS,
            None,
        );
        assert!(line.ends_with("0 buckets/s"), "{line}");
    }

    #[test]
    fn the_rate_follows_recent_jobs() {
        let mut meter = meter(60, 100);
        for second in 61..=120 {
            meter.update(Duration::from_secs(second), 6_000 + (second - 60) * 10);
        }
        // A minute at 10/s after a minute at 100/s: far below the overall
        // average of 55/s.
        assert!(meter.rate() < 20.0, "{}", meter.rate());
        let eta = meter.eta(6_600, 7_000).unwrap();
        assert!(eta > Duration::from_secs(20), "{eta:?}");
    }

    #[test]
    fn cancelled_jobs_are_not_progress() {
        let stats = StatsSnapshot {
            total: 10,
            applied: 3,
            cancelled: 7,
            ..StatsSnapshot::default()
        };
        assert_eq!(finished(&stats), 3);
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "past its total"))]
    fn a_count_past_its_total_is_shown_at_the_total() {
        let stats = StatsSnapshot {
            total: 10,
            applied: 10,
            deleted: 1,
            ..StatsSnapshot::default()
        };
        assert_eq!(finished(&stats), 10);
    }

    #[test]
    fn the_bar_fits_80_columns() {
        let stats = StatsSnapshot {
            total: 1_000_000,
            applied: 899_000,
            failed: 100_000,
            retrying: 64,
            ..StatsSnapshot::default()
        };
        let message = bar_message(&stats, &meter(3_600, 300), Some("paced at 95/s"));
        // spinner, elapsed, brackets, pos/len and spaces around them.
        let fixed = 1 + 1 + 8 + 1 + 2 + 1 + "1000000/1000000".len() + 1;
        assert!(
            fixed + message.len() <= 70,
            "{message} leaves less than 10 columns of bar"
        );
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
            source: "m.yaml:3".into(),
            account: String::new(),
        }
    }

    #[test]
    fn failures_show_at_one_v_and_successes_never() {
        let failed_row = row(Outcome::Failed);
        let failed = Event::Finished(&failed_row);
        assert_eq!(
            event_line(&failed, 1).unwrap(),
            "failed photos-1250000000 daily: HTTP 400 InvalidArgument bad (attempts 1)"
        );
        assert!(event_line(&Event::Finished(&row(Outcome::Applied)), 2).is_none());
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
}
