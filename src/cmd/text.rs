//! Words for numbers: "1 job", "2 jobs", "1 policy".

/// `singular` for one, `plural` otherwise.
pub fn noun(count: impl Into<u64>, singular: &'static str, plural: &'static str) -> &'static str {
    if count.into() == 1 { singular } else { plural }
}

/// `count` and its noun: `1 job`, `0 jobs`.
pub fn count(count: impl Into<u64> + Copy, singular: &'static str, plural: &'static str) -> String {
    format!("{} {}", count.into(), noun(count, singular, plural))
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
}
