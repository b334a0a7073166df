//! How old a delivery may be: a job's newest report is on time within its
//! schedule's window, judged from the folder's date at midnight Beijing
//! time (UTC+8, COS's clock for the dates: a daily report made in the
//! early morning is foldered under that day).

use serde::Serialize;

use crate::model::Frequency;

/// What a job's deliveries say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The newest report is within the schedule's window, whole.
    Delivered,
    /// A whole report, older than the window.
    Late,
    /// No report at all.
    Missing,
    /// The newest report is damaged: its checksum does not match, its
    /// manifest does not read, or a file it lists is missing or of
    /// another size.
    Corrupt,
    /// The destination refused the reads (403) or does not exist (404).
    Unreadable,
    /// The job is disabled: nothing is expected, nothing was asked.
    Disabled,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Delivered,
        Status::Late,
        Status::Missing,
        Status::Corrupt,
        Status::Unreadable,
        Status::Disabled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Delivered => "delivered",
            Status::Late => "late",
            Status::Missing => "missing",
            Status::Corrupt => "corrupt",
            Status::Unreadable => "unreadable",
            Status::Disabled => "disabled",
        }
    }
}

/// COS's dates are Beijing's: UTC+8, no daylight saving.
const BEIJING_OFFSET_HOURS: i8 = 8;

const BEIJING: jiff::tz::Offset = jiff::tz::Offset::constant(BEIJING_OFFSET_HOURS);

/// The date it is in Beijing at `now`.
pub fn beijing_date(now: jiff::Timestamp) -> jiff::civil::Date {
    BEIJING.to_datetime(now).date()
}

/// How old a newest report may be: a day's slack past the schedule's
/// period (Daily 48 h, Weekly 8 days, Monthly 32 days).
pub fn window(frequency: Frequency) -> jiff::SignedDuration {
    let hours = match frequency {
        Frequency::Daily => 48,
        Frequency::Weekly => 8 * 24,
        Frequency::Monthly => 32 * 24,
    };
    jiff::SignedDuration::from_hours(hours)
}

/// A whole report of `date` judged at `now`: delivered or late, and why.
pub fn judge(
    date: jiff::civil::Date,
    now: jiff::Timestamp,
    frequency: Frequency,
) -> (Status, String) {
    let midnight = date.to_datetime(jiff::civil::Time::midnight());
    let start = BEIJING.to_timestamp(midnight).unwrap_or(now);
    let age = now.duration_since(start);
    let window = window(frequency);
    let (hours, allowed) = (age.as_hours(), window.as_hours());
    match age <= window {
        true => (Status::Delivered, String::new()),
        false => (
            Status::Late,
            format!(
                "the newest report is {hours} h old; a {} job's is due within {allowed} h",
                frequency.as_str()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> jiff::Timestamp {
        text.parse().unwrap()
    }

    fn date(text: &str) -> jiff::civil::Date {
        text.parse().unwrap()
    }

    #[test]
    fn a_folder_date_starts_at_midnight_in_beijing() {
        // 2026-12-06 00:00 +08:00 is 2026-12-05 16:00 UTC: 48 h later is
        // 2026-12-07 16:00 UTC.
        let day = date("2026-12-06");
        let edge = judge(day, at("2026-12-07T16:00:00Z"), Frequency::Daily);
        assert_eq!(edge.0, Status::Delivered);
        let late = judge(day, at("2026-12-07T16:00:01Z"), Frequency::Daily);
        assert_eq!(late.0, Status::Late);
        assert!(late.1.contains("48 h"), "{}", late.1);
    }

    #[test]
    fn each_schedule_has_its_window() {
        let day = date("2026-12-01");
        let now = at("2026-12-06T00:00:00Z");
        assert_eq!(judge(day, now, Frequency::Daily).0, Status::Late);
        assert_eq!(judge(day, now, Frequency::Weekly).0, Status::Delivered);
        let later = at("2026-12-09T17:00:00Z");
        assert_eq!(judge(day, later, Frequency::Weekly).0, Status::Late);
        assert_eq!(judge(day, later, Frequency::Monthly).0, Status::Delivered);
        // A folder dated ahead of the local clock is not late.
        assert_eq!(
            judge(date("2026-12-08"), now, Frequency::Daily).0,
            Status::Delivered
        );
    }

    #[test]
    fn the_beijing_date_turns_at_16_utc() {
        assert_eq!(beijing_date(at("2026-12-06T15:59:59Z")), date("2026-12-06"));
        assert_eq!(beijing_date(at("2026-12-06T16:00:00Z")), date("2026-12-07"));
    }
}
