//! A small structure-aware mutator for property tests: valid documents
//! changed by a few random edits (bytes deleted, inserted, duplicated,
//! replaced, truncated, or a token from a dictionary of the format's
//! syntax spliced in), as a coverage-guided fuzzer would, on stable Rust.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config;

/// Cases per property: `PROPTEST_CASES` when set (a long run), else
/// `default` (the short pass CI runs).
pub fn config(default: u32) -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default);
    Config {
        cases,
        ..Config::default()
    }
}

/// One edit of a byte string.
#[derive(Debug, Clone)]
pub enum Edit {
    Delete(Index, usize),
    Insert(Index, Vec<u8>),
    Replace(Index, u8),
    Duplicate(Index, usize),
    Token(Index, Index),
    Truncate(Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        1 => (any::<Index>(), 1usize..16).prop_map(|(at, n)| Edit::Delete(at, n)),
        1 => (any::<Index>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Edit::Insert(at, bytes)),
        1 => (any::<Index>(), any::<u8>()).prop_map(|(at, byte)| Edit::Replace(at, byte)),
        1 => (any::<Index>(), 1usize..64).prop_map(|(at, n)| Edit::Duplicate(at, n)),
        3 => (any::<Index>(), any::<Index>()).prop_map(|(at, token)| Edit::Token(at, token)),
        1 => any::<Index>().prop_map(Edit::Truncate),
    ]
}

/// One to eight edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    proptest::collection::vec(edit(), 1..8)
}

/// `seed` with `edits` applied; tokens come from `dictionary`.
pub fn apply(seed: &[u8], edits: &[Edit], dictionary: &[&[u8]]) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for edit in edits {
        let at = |index: &Index| index.index(bytes.len() + 1);
        match edit {
            Edit::Delete(index, n) => {
                let start = at(index).min(bytes.len());
                let end = (start + n).min(bytes.len());
                bytes.drain(start..end);
            }
            Edit::Insert(index, new) => {
                let start = at(index);
                bytes.splice(start..start, new.iter().copied());
            }
            Edit::Replace(index, byte) => {
                if !bytes.is_empty() {
                    let i = index.index(bytes.len());
                    bytes[i] = *byte;
                }
            }
            Edit::Duplicate(index, n) => {
                let start = at(index).min(bytes.len());
                let end = (start + n).min(bytes.len());
                let copy = bytes[start..end].to_vec();
                bytes.splice(end..end, copy);
            }
            Edit::Token(index, token) => {
                let start = at(index);
                let token = dictionary[token.index(dictionary.len())];
                bytes.splice(start..start, token.iter().copied());
            }
            Edit::Truncate(index) => {
                let end = at(index).min(bytes.len());
                bytes.truncate(end);
            }
        }
    }
    bytes
}
