//! Words for numbers and times: "1 job", "2 jobs", "4m05s".

use std::time::Duration;

/// `singular` for one, `plural` otherwise.
pub fn noun(count: impl Into<u64>, singular: &'static str, plural: &'static str) -> &'static str {
    if count.into() == 1 { singular } else { plural }
}

/// `count` and its noun: `1 job`, `0 jobs`.
pub fn count(count: impl Into<u64> + Copy, singular: &'static str, plural: &'static str) -> String {
    format!("{} {}", count.into(), noun(count, singular, plural))
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

    #[test]
    fn one_is_singular_and_everything_else_plural() {
        assert_eq!(count(1u64, "job", "jobs"), "1 job");
        assert_eq!(count(0u64, "job", "jobs"), "0 jobs");
        assert_eq!(count(2u64, "policy", "policies"), "2 policies");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(Duration::from_millis(850)), "850ms");
        assert_eq!(human_duration(Duration::from_millis(12_340)), "12.3s");
        assert_eq!(human_duration(Duration::from_secs(245)), "4m05s");
        assert_eq!(human_duration(Duration::from_secs(7_380)), "2h03m");
    }
}
