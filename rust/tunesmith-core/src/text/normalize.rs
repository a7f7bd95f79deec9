//! The one text normalisation every hasher shares (exact dedup, MinHash, the
//! seed-compatible cleaner).
//!
//! It follows the seed guide's `DataCleaner._clean_text`: every run of
//! whitespace (Python's `str.isspace` set, so `\n` and `\t` too) becomes one
//! space, C0/C1 control characters (`\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f`) are
//! removed, and the result is stripped. On top of the seed, text is put in
//! Unicode NFC so canonically equal strings hash equally.
//!
//! One deliberate deviation: the seed collapses whitespace *before* deleting
//! controls, so `"a \x01 b"` keeps two spaces there; here a deleted control
//! never splits a whitespace run, so it gives `"a b"` and normalisation is
//! idempotent.

use std::borrow::Cow;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

/// Python's `str.isspace()`: Unicode `White_Space` plus the information
/// separators `\x1c..=\x1f`.
#[inline]
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// The control characters the seed's `_clean_text` deletes (the whitespace
/// ones among them are treated as whitespace first, as the seed does).
#[inline]
pub fn is_removed_control(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{7f}'..='\u{9f}')
}

/// True when `bytes` is already normalised printable ASCII: no controls, no
/// whitespace other than single inner spaces.
fn is_clean_ascii(bytes: &[u8]) -> bool {
    if bytes.first() == Some(&b' ') || bytes.last() == Some(&b' ') {
        return false;
    }
    let mut prev_space = false;
    for &b in bytes {
        if !(0x20..0x7f).contains(&b) {
            return false;
        }
        let space = b == b' ';
        if space && prev_space {
            return false;
        }
        prev_space = space;
    }
    true
}

fn needs_rewrite(text: &str) -> bool {
    if text.starts_with(is_py_space) || text.ends_with(is_py_space) {
        return true;
    }
    let mut prev_space = false;
    for c in text.chars() {
        if is_removed_control(c) && !is_py_space(c) {
            return true;
        }
        if is_py_space(c) {
            if c != ' ' || prev_space {
                return true;
            }
            prev_space = true;
        } else {
            prev_space = false;
        }
    }
    false
}

/// Normalise `text`: whitespace runs to one space, controls removed, NFC,
/// stripped. Borrows when the text is already normal (the common case for
/// clean ASCII), so callers pay no allocation there.
pub fn normalize(text: &str) -> Cow<'_, str> {
    if is_clean_ascii(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let rewrite = needs_rewrite(text);
    let nfc = text.is_ascii() || is_nfc_quick(text.chars()) == IsNormalized::Yes;
    if !rewrite && nfc {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.chars() {
        if is_py_space(c) {
            pending_space = !out.is_empty();
        } else if is_removed_control(c) {
            continue;
        } else {
            if pending_space {
                out.push(' ');
                pending_space = false;
            }
            out.push(c);
        }
    }
    if out.is_ascii() || is_nfc_quick(out.chars()) == IsNormalized::Yes {
        Cow::Owned(out)
    } else {
        Cow::Owned(out.nfc().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_examples() {
        assert_eq!(normalize("  hello   world \n"), "hello world");
        assert_eq!(normalize("a\tb\nc"), "a b c");
        assert_eq!(normalize("a\u{1}b"), "ab");
        assert_eq!(normalize("a \u{1} b"), "a b");
        assert_eq!(normalize("a\u{c}b"), "a b");
        assert_eq!(normalize("e\u{301}"), "\u{e9}");
        assert_eq!(normalize(""), "");
        assert_eq!(normalize(" \n\t "), "");
    }

    #[test]
    fn borrows_clean_text() {
        assert!(matches!(normalize("plain ascii text."), Cow::Borrowed(_)));
        assert!(matches!(normalize("caf\u{e9} au lait"), Cow::Borrowed(_)));
        assert!(matches!(normalize("two  spaces"), Cow::Owned(_)));
    }
}
