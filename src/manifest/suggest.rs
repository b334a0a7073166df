//! "did you mean" hints for misspelt keys, columns and names.

/// The known name closest to `given`, if it is close enough to be a typo.
pub fn did_you_mean<'a>(given: &str, known: &[&'a str]) -> Option<&'a str> {
    // Far longer than every known name is no typo, and scoring a
    // megabyte-long key against each name would take a while.
    let longest = known.iter().map(|name| name.len()).max().unwrap_or(0);
    if given.len() > 2 * longest + 8 {
        return None;
    }
    known
        .iter()
        .map(|candidate| (strsim::jaro_winkler(given, candidate), *candidate))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate)
}

/// `unknown key "scedule"; did you mean "schedule"?` (or the list of known
/// keys when nothing is close).
pub fn unknown(kind: &str, given: &str, known: &[&str]) -> String {
    let shown = crate::model::quoted(given);
    match did_you_mean(given, known) {
        Some(close) => format!("unknown {kind} {shown}; did you mean {close:?}?"),
        None => format!(
            "unknown {kind} {shown}; expected one of {}",
            known.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_key_and_nonsense_finds_none() {
        let known = ["schedule", "enabled", "optional_fields"];
        assert_eq!(did_you_mean("scedule", &known), Some("schedule"));
        assert_eq!(
            did_you_mean("optional_field", &known),
            Some("optional_fields")
        );
        assert_eq!(did_you_mean("xyz", &known), None);
        assert_eq!(did_you_mean(&"schedule".repeat(10_000), &known), None);
        assert_eq!(
            unknown("key", "xyz", &known),
            "unknown key \"xyz\"; expected one of schedule, enabled, optional_fields"
        );
    }
}
