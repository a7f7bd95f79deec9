//! Exact duplicates by a 128-bit xxh3 of the normalised content.
//!
//! At 128 bits the chance that any two of 10^12 distinct documents collide is
//! about 10^-15, so the hash stands in for the content and the state is 16
//! bytes of key plus the 8-byte ordinal of the first occurrence per unique
//! document (hashbrown adds one control byte and keeps the load factor ≤ 7/8).

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

/// Separator between the fields of one record (ASCII unit separator), so that
/// `("ab", "c")` and `("a", "bc")` hash differently.
const FIELD_SEPARATOR: &[u8] = b"\x1f";

/// xxh3-128 of the parts of one record, in order.
pub fn content_hash<S: AsRef<str>>(parts: &[S]) -> u128 {
    match parts {
        [one] => xxh3_128(one.as_ref().as_bytes()),
        _ => {
            let mut h = Xxh3::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    h.update(FIELD_SEPARATOR);
                }
                h.update(p.as_ref().as_bytes());
            }
            h.digest128()
        }
    }
}

/// (whitespace, removed control, byte length) of the character at byte `i`.
#[inline]
fn classify(text: &str, i: usize) -> (bool, bool, usize) {
    use crate::text::normalize::{is_py_space, is_removed_control};
    let b = text.as_bytes()[i];
    if b < 0x80 {
        let c = b as char;
        let space = is_py_space(c);
        return (space, !space && is_removed_control(c), 1);
    }
    match text[i..].chars().next() {
        Some(c) => {
            let space = is_py_space(c);
            (space, !space && is_removed_control(c), c.len_utf8())
        }
        None => (false, false, 1),
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Whether the 8 bytes at `i` are printable ASCII that normalisation keeps as
/// is: no byte below 0x20 or from 0x7f up, no two spaces in a row, no space
/// first when it would start the output or follow a space, none last (it
/// might precede whitespace). Bit tricks may report a false "no", never a
/// false "yes"; a "no" falls back to the byte loop.
#[inline(always)]
fn plain_word(bytes: &[u8], i: usize, run: usize) -> bool {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    let w = u64::from_le_bytes(word);
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    let high_or_del = (w | w.wrapping_add(ONES)) & HIGHS;
    if below_space | high_or_del != 0 {
        return false;
    }
    let x = w ^ (ONES * 0x20);
    let spaces = x.wrapping_sub(ONES) & !x & HIGHS;
    if spaces == 0 {
        return true;
    }
    let first_space = spaces & 0x80 != 0;
    let last_space = spaces >> 56 != 0;
    spaces & (spaces >> 8) == 0 && !last_space && !(first_space && (i == run || bytes[i - 1] == b' '))
}

/// [`crate::text::normalize`] in one pass that copies whole runs of kept
/// characters (the general function walks the text several times, char by
/// char). Same output for every input; the property test below checks it.
pub fn normalize_fast(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    if normalize_into(text, &mut out) {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// [`normalize_fast`] into a caller's buffer, so a loop over many records
/// allocates nothing: the normalised text is `text` itself when this returns
/// `false` (already normal, `out` untouched beyond clearing), else `out`.
pub fn normalize_into(text: &str, out: &mut String) -> bool {
    use unicode_normalization::UnicodeNormalization;
    out.clear();
    let bytes = text.as_bytes();
    let n = bytes.len();
    let mut flushed = false;
    let mut pending = false;
    let mut run = 0usize;
    let mut i = 0usize;
    while i < n {
        if i + 8 <= n && plain_word(bytes, i, run) {
            i += 8;
            continue;
        }
        let b = bytes[i];
        if (0x21..0x7f).contains(&b) {
            i += 1;
            continue;
        }
        if b == b' ' && i > run && i + 1 < n && (0x21..0x7f).contains(&bytes[i + 1]) {
            i += 2;
            continue;
        }
        let (space, control, len) = classify(text, i);
        if !space && !control {
            i += len;
            continue;
        }
        if !flushed {
            out.reserve(n);
        }
        if run < i {
            if pending {
                out.push(' ');
                pending = false;
            }
            out.push_str(&text[run..i]);
        }
        flushed = true;
        let mut saw_space = false;
        while i < n {
            let (space, control, len) = classify(text, i);
            if !space && !control {
                break;
            }
            saw_space |= space;
            i += len;
        }
        if saw_space && !out.is_empty() {
            pending = true;
        }
        run = i;
    }
    if flushed && run < n {
        if pending {
            out.push(' ');
        }
        out.push_str(&text[run..]);
    }
    let result: &str = if flushed { out } else { text };
    if !is_nfc(result) {
        let composed: String = result.nfc().collect();
        *out = composed;
        return true;
    }
    flushed
}

/// NFC quick check that looks only at the characters that can matter.
///
/// Every code point below U+0300 (UTF-8 lead byte < 0xCC) is
/// `NFC_Quick_Check=Yes` with combining class 0, so the check runs on the
/// others only. Leaving out those class-0 characters can turn a "yes" into a
/// "maybe" (two marks that a base letter separated now look misordered),
/// never the reverse, so a "yes" here is a true "yes"; anything else is put
/// through full NFC, which is exact.
fn is_nfc(text: &str) -> bool {
    use unicode_normalization::{is_nfc_quick, IsNormalized};
    const BLOCK: usize = 64;
    // Blocks without a lead byte >= 0xCC are skipped with a vectorised max.
    let candidates = text
        .as_bytes()
        .chunks(BLOCK)
        .enumerate()
        .filter(|(_, block)| block.iter().copied().max().unwrap_or(0) >= 0xCC)
        .flat_map(|(k, block)| {
            block
                .iter()
                .enumerate()
                .filter(|(_, &b)| b >= 0xCC)
                .map(move |(j, _)| k * BLOCK + j)
        })
        .filter_map(|i| text[i..].chars().next());
    is_nfc_quick(candidates) == IsNormalized::Yes
}

/// Whether `b` is a printable ASCII byte other than space that is copied as
/// is from inside a JSON string literal (not `"` or `\\`).
#[inline(always)]
fn plain_json_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && b != b'"' && b != b'\\'
}

/// Decode and normalise a JSON string literal in one pass.
///
/// `line[start]` is the opening quote. Writes what
/// [`crate::text::normalize`] makes of the decoded string into `out`
/// (cleared first) and returns the index past the closing quote and whether
/// the literal had escapes; `None` for an invalid literal (raw control
/// character, bad escape, unterminated) and for surrogate escapes, which the
/// caller leaves to a general JSON parser. Whitespace escapes (`\\n`, `\\t`,
/// `\\r`, `\\f`) fold into the whitespace runs directly, so escaped text is
/// never materialised before normalising it.
pub fn normalize_json_string(line: &str, start: usize, out: &mut String) -> Option<(usize, bool)> {
    use unicode_normalization::UnicodeNormalization;
    let b = line.as_bytes();
    let n = b.len();
    out.clear();
    let mut i = start + 1;
    let mut run = i;
    let mut pending = false;
    let mut escaped = false;
    loop {
        if i + 8 <= n && plain_json_word(b, i, run) {
            i += 8;
            continue;
        }
        let c = *b.get(i)?;
        if plain_json_byte(c) {
            i += 1;
            continue;
        }
        if c == b' ' && i > run && i + 1 < n && plain_json_byte(b[i + 1]) {
            i += 2;
            continue;
        }
        if c >= 0x80 {
            let ch = line[i..].chars().next()?;
            if !is_py_space_or_control(ch) {
                i += ch.len_utf8();
                continue;
            }
        }
        if run < i {
            if pending {
                out.push(' ');
                pending = false;
            }
            out.push_str(&line[run..i]);
        }
        // A stretch of whitespace, removed controls and escapes.
        let mut saw_space = false;
        loop {
            let c = *b.get(i)?;
            let kept: char = match c {
                b'"' => {
                    if !is_nfc(out) {
                        let composed: String = out.nfc().collect();
                        *out = composed;
                    }
                    return Some((i + 1, escaped));
                }
                b' ' => {
                    saw_space = true;
                    i += 1;
                    continue;
                }
                b'\\' => {
                    escaped = true;
                    match *b.get(i + 1)? {
                        b'n' | b't' | b'r' | b'f' => {
                            saw_space = true;
                            i += 2;
                            continue;
                        }
                        b'b' => {
                            i += 2;
                            continue;
                        }
                        e @ (b'"' | b'\\' | b'/') => {
                            i += 2;
                            char::from(e)
                        }
                        b'u' => {
                            let mut cp = 0u32;
                            for &h in b.get(i + 2..i + 6)? {
                                cp = cp * 16 + char::from(h).to_digit(16)?;
                            }
                            let ch = char::from_u32(cp)?;
                            i += 6;
                            if crate::text::normalize::is_py_space(ch) {
                                saw_space = true;
                                continue;
                            }
                            if crate::text::normalize::is_removed_control(ch) {
                                continue;
                            }
                            ch
                        }
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                0x7f => {
                    // DEL, a removed control.
                    i += 1;
                    continue;
                }
                c if c >= 0x80 => {
                    let ch = line[i..].chars().next()?;
                    if !is_py_space_or_control(ch) {
                        break;
                    }
                    saw_space |= crate::text::normalize::is_py_space(ch);
                    i += ch.len_utf8();
                    continue;
                }
                _ => break,
            };
            if (saw_space || pending) && !out.is_empty() {
                out.push(' ');
            }
            pending = false;
            saw_space = false;
            out.push(kept);
        }
        if saw_space && !out.is_empty() {
            pending = true;
        }
        run = i;
    }
}

#[inline]
fn is_py_space_or_control(c: char) -> bool {
    crate::text::normalize::is_py_space(c) || crate::text::normalize::is_removed_control(c)
}

/// [`plain_word`] for the inside of a JSON string literal: also no `"` or `\\`.
#[inline(always)]
fn plain_json_word(bytes: &[u8], i: usize, run: usize) -> bool {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[i..i + 8]);
    let w = u64::from_le_bytes(word);
    let zero = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    if zero(w ^ (ONES * u64::from(b'"'))) | zero(w ^ (ONES * u64::from(b'\\'))) != 0 {
        return false;
    }
    plain_word(bytes, i, run)
}

/// The keys are already uniform hashes: use their low 64 bits as the table hash.
#[derive(Default)]
pub struct PassThroughHasher(u64);

impl Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

pub type HashBuilder = BuildHasherDefault<PassThroughHasher>;

/// Content hashes seen so far, each with the ordinal of its first record.
#[derive(Default, Clone)]
pub struct ExactIndex {
    seen: HashMap<u128, u64, HashBuilder>,
}

impl ExactIndex {
    pub fn new() -> Self {
        Self::default()
    }

    /// Record `hash` for record `ordinal`; if it was seen, the first ordinal.
    pub fn check_insert(&mut self, hash: u128, ordinal: u64) -> Option<u64> {
        match self.seen.entry(hash) {
            std::collections::hash_map::Entry::Occupied(e) => Some(*e.get()),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(ordinal);
                None
            }
        }
    }

    pub fn contains(&self, hash: u128) -> bool {
        self.seen.contains_key(&hash)
    }

    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Approximate heap bytes held (table capacity × (key + value + control byte)).
    pub fn memory_bytes(&self) -> usize {
        self.seen.capacity() * (16 + 8 + 1)
    }

    /// The (hash, first ordinal) pairs, sorted by ordinal (for pickling).
    pub fn entries(&self) -> Vec<(u128, u64)> {
        let mut v: Vec<(u128, u64)> = self.seen.iter().map(|(h, o)| (*h, *o)).collect();
        v.sort_unstable_by_key(|(_, o)| *o);
        v
    }

    pub fn from_entries(entries: impl IntoIterator<Item = (u128, u64)>) -> Self {
        let mut seen = HashMap::default();
        seen.extend(entries);
        Self { seen }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn fast_normalize_equals_general(s in "[ a-c\t\n\r\x00-\x1f\x7f\u{85}\u{a0}\u{e9}\u{301}\u{316}\u{2028}\u{3000}\u{1f600}]{0,40}") {
            let fast = normalize_fast(&s).into_owned();
            let general = crate::text::normalize(&s).into_owned();
            prop_assert_eq!(fast, general);
        }

        #[test]
        fn fast_normalize_equals_general_on_prose(s in "[ ab.\n\t\x7f\u{e9}]{0,80}") {
            let fast = normalize_fast(&s).into_owned();
            let general = crate::text::normalize(&s).into_owned();
            prop_assert_eq!(fast, general);
        }

        #[test]
        fn json_string_normalizes_like_decode_then_normalize(
            s in "[ a-c.\t\n\r\x00-\x1f\x7f\u{85}\u{a0}\u{e9}\u{301}\u{316}\u{2028}\u{3000}\u{1f600}\"\\\\/]{0,40}|[ a-z.]{0,120}|([a-z ]{30,40}[\n\t\u{1}\"]){0,4}",
            ascii_escapes in proptest::bool::ANY,
        ) {
            let mut lit = serde_json::to_string(&s).unwrap();
            if ascii_escapes {
                lit = s.chars().map(|c| match c {
                    '\u{e9}' | '\u{a0}' | '\u{2028}' | '\u{85}' => format!("\\u{:04x}", c as u32),
                    c => {
                        let j = serde_json::to_string(&c.to_string()).unwrap();
                        j[1..j.len() - 1].to_string()
                    }
                }).collect::<String>();
                lit = format!("\"{lit}\"");
            }
            let line = format!("x{lit}y");
            let mut out = String::from("dirty");
            let got = normalize_json_string(&line, 1, &mut out);
            prop_assert_eq!(got.map(|(end, _)| end), Some(line.len() - 1));
            let want = crate::text::normalize(&s);
            prop_assert_eq!(out.as_str(), want.as_ref());
        }

        #[test]
        fn normalize_into_reuses_a_dirty_buffer(a in "[ a\t\u{e9}\u{301}]{0,30}", b in "[ ab\n\u{1}]{0,30}") {
            let mut buf = String::new();
            for s in [&a, &b, &a] {
                let changed = normalize_into(s, &mut buf);
                let got = if changed { buf.as_str() } else { s.as_str() };
                let want = crate::text::normalize(s);
                prop_assert_eq!(got, want.as_ref());
            }
        }
    }

    #[test]
    fn json_string_rejects_what_json_does() {
        let mut out = String::new();
        for bad in ["\"a\u{1}b\"", "\"a\\x\"", "\"open", "\"\\ud800\"", "\"a\\u12\""] {
            assert_eq!(normalize_json_string(bad, 0, &mut out), None, "{bad:?}");
        }
        assert_eq!(normalize_json_string("\"  a \\n\\u0001 b\\\" \"", 0, &mut out), Some((19, true)));
        assert_eq!(out, "a b\"");
    }

    #[test]
    fn fields_are_separated() {
        assert_ne!(content_hash(&["ab", "c"]), content_hash(&["a", "bc"]));
        assert_eq!(content_hash(&["abc"]), xxh3_128(b"abc"));
    }

    #[test]
    fn first_occurrence_wins() {
        let mut idx = ExactIndex::new();
        assert_eq!(idx.check_insert(7, 0), None);
        assert_eq!(idx.check_insert(9, 1), None);
        assert_eq!(idx.check_insert(7, 2), Some(0));
        assert_eq!(idx.len(), 2);
        let back = ExactIndex::from_entries(idx.entries());
        assert!(back.contains(9));
    }
}
