//! Shell-style patterns for bucket names (`media-*`, `logs-{eu,us}-*`), as
//! `discover:` in a manifest and `cosinv buckets` use them. The matching
//! is globset's; this type only fixes how a pattern is read and says in
//! plain words why one cannot be.

use std::fmt;

/// A glob matched against whole bucket names (`<name>-<APPID>`): `*` any
/// run of characters, `?` one, `[abc]` one of a set, `{a,b}` either.
/// Matching is case-sensitive, as bucket names are lowercase.
#[derive(Clone)]
pub struct BucketPattern {
    text: String,
    matcher: globset::GlobMatcher,
}

/// A pattern that is not a glob.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} is not a valid pattern: {reason}", super::quoted(.text))]
pub struct PatternError {
    pub text: String,
    pub reason: String,
}

impl BucketPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let fail = |reason: String| PatternError {
            text: text.to_string(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("it is empty; use \"*\" for every bucket".into()));
        }
        let glob = globset::GlobBuilder::new(text)
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|err| fail(err.kind().to_string()))?;
        Ok(BucketPattern {
            text: text.to_string(),
            matcher: glob.compile_matcher(),
        })
    }

    /// True when the whole of `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        self.matcher.is_match(name)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for BucketPattern {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl fmt::Debug for BucketPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("BucketPattern").field(&self.text).finish()
    }
}

impl fmt::Display for BucketPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for BucketPattern {
    type Err = PatternError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        BucketPattern::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_names() {
        let media = BucketPattern::parse("media-*").unwrap();
        assert!(media.matches("media-01-1250000000"));
        assert!(!media.matches("old-media-01-1250000000"));
        let either = BucketPattern::parse("{logs,audit}-??-1250000000").unwrap();
        assert!(either.matches("logs-eu-1250000000"));
        assert!(either.matches("audit-us-1250000000"));
        assert!(!either.matches("logs-eu-1250000001"));
        let set = BucketPattern::parse("b0000[0-4]-*").unwrap();
        assert!(set.matches("b00003-1250000000"));
        assert!(!set.matches("b00005-1250000000"));
        assert!(
            !BucketPattern::parse("MEDIA-*")
                .unwrap()
                .matches("media-1250000000")
        );
    }

    #[test]
    fn broken_patterns_say_why() {
        let err = BucketPattern::parse("media-[0-9").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("\"media-[0-9\" is not a valid pattern: "),
            "{err}"
        );
        assert!(err.reason.contains("unclosed"), "{err}");
        let err = BucketPattern::parse("{a,b").unwrap_err();
        assert!(err.reason.contains("unclosed"), "{err}");
        assert!(
            BucketPattern::parse("")
                .unwrap_err()
                .reason
                .contains("empty")
        );
    }
}
