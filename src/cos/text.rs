//! Text a server sent, made safe to show.
//!
//! `<Message>`, `<Code>`, request ids and body snippets come from whoever
//! answered, and end up on an operator's terminal and in the report. A
//! server (or a proxy in between) that is wrong or hostile could send an
//! ANSI escape that rewrites the terminal, a NUL, line breaks that forge
//! log lines, bidirectional overrides that reorder what is shown, or a
//! megabyte of text. [`printable`] is applied once, where an answer is
//! parsed, so every consumer gets clean text.

/// The most bytes kept of one field of a server's answer.
pub const MAX_FIELD_BYTES: usize = 1024;

/// `text` without control characters and capped at [`MAX_FIELD_BYTES`]:
/// line breaks and tabs become spaces, other controls (C0, DEL, C1) and
/// bidirectional formatting characters are dropped, and longer text is cut
/// at a character boundary and marked with `…`.
pub fn printable(text: &str) -> String {
    printable_within(text, MAX_FIELD_BYTES)
}

/// [`printable`] with another cap.
pub fn printable_within(text: &str, max_bytes: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_bytes + 4));
    for c in text.chars() {
        let c = match c {
            '\r' | '\n' | '\t' => ' ',
            c if c.is_control() || is_bidi_control(c) => continue,
            c => c,
        };
        if out.len() + c.len_utf8() > max_bytes {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out
}

/// Unicode's explicit direction controls (LRE … RLO, LRI … PDI, LRM, RLM,
/// ALM): invisible, and able to make a terminal show text out of order.
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_nul_and_line_breaks_never_pass() {
        let hostile = "red \u{1b}[31mALERT\u{1b}[0m\0 line\r\nforged: ok\tend\u{7f}\u{9b}2J";
        let shown = printable(hostile);
        assert_eq!(shown, "red [31mALERT[0m line  forged: ok end2J");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
    }

    #[test]
    fn direction_overrides_are_dropped() {
        assert_eq!(printable("abc\u{202e}fed\u{2066}x\u{2069}"), "abcfedx");
    }

    #[test]
    fn long_text_is_capped_at_a_character_boundary() {
        let long = "é".repeat(100_000);
        let shown = printable(&long);
        assert!(
            shown.len() <= MAX_FIELD_BYTES + '…'.len_utf8(),
            "{}",
            shown.len()
        );
        assert!(shown.ends_with('…'));
        assert_eq!(printable_within("abcdef", 3), "abc…");
        assert_eq!(printable_within("abc", 3), "abc");
    }

    #[test]
    fn ordinary_text_is_unchanged() {
        let text = "The specified bucket does not exist. 桶不存在 <a&b>";
        assert_eq!(printable(text), text);
    }
}
