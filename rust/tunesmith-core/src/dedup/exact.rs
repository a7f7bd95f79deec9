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
            push_kept(out, &mut pending, &text[run..i]);
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
        let composed = to_nfc(result);
        *out = composed;
        return true;
    }
    flushed
}

/// Whether NFC has a boundary before `c`: NFC of a text split there is the
/// NFC of the two parts, joined (UAX #15: `c` is `NFC_Quick_Check=Yes` with
/// combining class 0, so it neither combines with nor reorders around what
/// precedes it).
#[inline]
fn nfc_boundary_before(c: char) -> bool {
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfc_quick, IsNormalized};
    c <= '\x7f' || (canonical_combining_class(c) == 0 && is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes)
}

/// NFC of `text`, composing only the stretches around the characters that
/// need it and copying the rest: the same string as `text.nfc().collect()`,
/// without decomposing and recomposing a long document for one accent.
pub fn to_nfc(text: &str) -> String {
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};
    let mut out = String::with_capacity(text.len() + 16);
    // `text[..copied]` is in `out`; `boundary` is the last NFC boundary at or after it.
    let mut copied = 0;
    let mut boundary = 0;
    let mut last_cc = 0u8;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c <= '\x7f' {
            boundary = i;
            last_cc = 0;
            continue;
        }
        let cc = canonical_combining_class(c);
        let fine = is_nfc_quick(std::iter::once(c)) == IsNormalized::Yes && (cc == 0 || last_cc <= cc);
        if fine {
            if cc == 0 {
                boundary = i;
            }
            last_cc = cc;
            continue;
        }
        // Compose from the last boundary up to the next one.
        let mut end = text.len();
        while let Some(&(j, d)) = chars.peek() {
            if nfc_boundary_before(d) {
                end = j;
                break;
            }
            chars.next();
        }
        out.push_str(&text[copied..boundary]);
        out.extend(text[boundary..end].nfc());
        copied = end;
        boundary = end;
        last_cc = 0;
    }
    out.push_str(&text[copied..]);
    out
}

/// Append a stretch of kept text, after the single space that stands for the
/// whitespace run before it (`pending`, then cleared).
#[inline(always)]
fn push_kept(out: &mut String, pending: &mut bool, kept: &str) {
    if std::mem::take(pending) {
        out.push(' ');
    }
    out.push_str(kept);
}

/// NFC quick check that looks only at the characters that can matter.
///
/// Every code point below U+0300 (UTF-8 lead byte < 0xCC) is
/// `NFC_Quick_Check=Yes` with combining class 0, so the check runs on the
/// others only, found 64 bytes at a time ([`crate::io::bytescan::high`]); a
/// gap between two of them holds such a class-0 character, which resets the
/// ordering check as the full quick check does. `true` is a definite "yes";
/// `false` ("no" or "maybe") sends the text through [`to_nfc`], which is exact.
fn is_nfc(text: &str) -> bool {
    use crate::io::bytescan::high;
    use unicode_normalization::char::canonical_combining_class;
    use unicode_normalization::{is_nfc_quick, IsNormalized};
    let b = text.as_bytes();
    let mut last_cc = 0u8;
    // End of the last character checked.
    let mut checked = 0usize;
    for (k, block) in b.chunks(64).enumerate() {
        let mut bits = match block.try_into() {
            Ok(full) => high(full),
            Err(_) => block.iter().enumerate().fold(0u64, |m, (j, &c)| m | (u64::from(c >= 0xCC) << j)),
        };
        while bits != 0 {
            let i = k * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            // CJK ideographs (U+4000..U+9FFF, lead bytes E4..E9) and kana
            // (U+3040..U+30FF but the combining U+3099, U+309A) are starters
            // that are NFC_Quick_Check=Yes: no lookup for Chinese or Japanese.
            let lead = b[i];
            let starter = match (lead, b.get(i + 1), b.get(i + 2)) {
                (0xE4..=0xE9, _, _) => true,
                (0xE3, Some(0x81 | 0x83), _) => true,
                (0xE3, Some(0x82), Some(&c)) => !(0x99..=0x9A).contains(&c),
                _ => false,
            };
            if starter {
                last_cc = 0;
                checked = i + 3;
                continue;
            }
            // A lead byte (continuation bytes are below 0xC0).
            let Some(c) = text.get(i..).and_then(|t| t.chars().next()) else {
                return false;
            };
            if i != checked {
                last_cc = 0;
            }
            let cc = canonical_combining_class(c);
            if (cc != 0 && last_cc > cc) || is_nfc_quick(std::iter::once(c)) != IsNormalized::Yes {
                return false;
            }
            last_cc = cc;
            checked = i + c.len_utf8();
        }
    }
    true
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
///
/// The literal is scanned 64 bytes at a time ([`crate::io::bytescan`]). On
/// AVX2 CPUs a window of printable text, spaces and the common escapes is
/// decoded and collapsed whole ([`crate::io::bytescan::normalize_window`]);
/// otherwise a stretch of printable ASCII, of non-ASCII characters that are
/// neither whitespace nor controls, and of single spaces between two such
/// characters is copied as it is, in one piece, and only the bytes around
/// anything else (an escape, a control, a space run, a space next to the
/// quotes, a character that may be Unicode whitespace) take the
/// character-by-character path. NFC is checked only when a character from
/// U+0300 up may be in the text (ASCII and Latin-1 are NFC already).
pub fn normalize_json_string(line: &str, start: usize, out: &mut String) -> Option<(usize, bool)> {
    use crate::io::bytescan::{classify, normalize_window, window_decoder};
    let b = line.as_bytes();
    let n = b.len();
    out.clear();
    // The normalised text is never longer than the literal (before NFC, which
    // is rare and allocates anyway): reserve once, no growth while copying.
    out.reserve(n.saturating_sub(start));
    let first = start + 1;
    let mut i = first;
    // Kept bytes `run..i` not copied into `out` yet.
    let mut run = first;
    // Whitespace seen since the last kept character (and `out` not empty).
    let mut pending = false;
    let mut escaped = false;
    // A character from U+0300 up may be in the text (so NFC must be checked).
    let mut high = false;
    const INNER: u64 = !1 & !(1 << 63);
    // The current window starts at byte `w`; `events` are its stop bits
    // (none yet: the first pass through the scan below classifies one).
    let mut w = 0usize;
    let mut events = 0u64;
    let mut fresh = true;
    let decoder = window_decoder();
    loop {
        // The next byte from `i` on that the fast stretch cannot take.
        let p = loop {
            if !fresh && i < w + 63 {
                // Still inside the window: its stops at `i` and after hold
                // (they depend on the bytes only, see below).
                let ahead = events & (u64::MAX << (i - w));
                if ahead != 0 {
                    break w + ahead.trailing_zeros() as usize;
                }
                i = w + 63;
            }
            // A window of plain text, spaces and simple escapes is decoded
            // whole (AVX2; what is pending is copied first); any other goes to
            // the per-event path.
            if decoder && i + 63 <= n && line.is_char_boundary(i) {
                if run < i {
                    push_kept(out, &mut pending, &line[run..i]);
                    run = i;
                }
                if let Some(st) = normalize_window(line, i, pending, out.is_empty(), out) {
                    (i, run, pending) = (st.next, st.next, st.pending);
                    high |= st.high;
                    escaped |= st.escaped;
                    continue;
                }
            }
            // Window `w..w + 64` with `w = i - 1`: bit 0 is the byte before
            // `i`, bit 63 only the look-ahead of bit 62; padding (past the
            // line) is NUL, a control, so it always stops the scan.
            w = i - 1;
            fresh = false;
            let m = match b.get(w..w + 64) {
                Some(bytes) => classify(bytes.try_into().ok()?),
                None => {
                    let mut pad = [0u8; 64];
                    pad[..n - w].copy_from_slice(&b[w..]);
                    classify(&pad)
                }
            };
            high |= m.high != 0;
            // The byte before `i` counts as a space when nothing is kept yet
            // (the opening quote: a space right after it is leading) or when
            // whitespace is pending (a window stopped inside a run).
            let left = if run == i && (pending || out.is_empty()) { m.space | 1 } else { m.space };
            // A space is copied as is when it has a non-space on its left and
            // a kept character on its right: anything else is a run (or a
            // leading / trailing space) to collapse. Non-special bytes on the
            // left are otherwise kept characters: whatever the slow path stops
            // at, it has consumed the whitespace before it.
            let lone = m.space & !(left << 1) & !(m.space >> 1) & !(m.special >> 1);
            events = (m.special | (m.space & !lone)) & INNER;
        };
        let c = *b.get(p)?;
        if c >= 0x80 {
            // The lead byte of a character that may be whitespace or a control.
            let ch = line.get(p..)?.chars().next()?;
            if !is_py_space_or_control(ch) {
                i = p + ch.len_utf8();
                continue;
            }
        }
        if run < p {
            push_kept(out, &mut pending, &line[run..p]);
        }
        i = p;
        // A stretch of whitespace, removed controls and escapes.
        let mut saw_space = false;
        loop {
            let c = *b.get(i)?;
            let kept: char = match c {
                b'"' => {
                    if high && !is_nfc(out) {
                        let composed = to_nfc(out);
                        *out = composed;
                    }
                    return Some((i + 1, escaped));
                }
                b' ' => {
                    saw_space = true;
                    i = skip_spaces(b, i + 1);
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
                            high |= cp >= 0x300;
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
                    let ch = line.get(i..)?.chars().next()?;
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

/// The index of the first byte from `i` on that is not a space.
#[inline(always)]
fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word) ^ (ONES * u64::from(b' '));
        if w != 0 {
            return i + (w.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

#[inline]
fn is_py_space_or_control(c: char) -> bool {
    crate::text::normalize::is_py_space(c) || crate::text::normalize::is_removed_control(c)
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
            s in "[ a-c.\t\n\r\x00-\x1f\x7f\u{85}\u{a0}\u{e9}\u{301}\u{316}\u{2028}\u{3000}\u{1f600}\"\\\\/]{0,40}|[ a-z.]{0,120}|([a-z ]{30,40}[\n\t\u{1}\"]){0,4}|([ ]{0,3}[a-z\u{e9}\u{201c}\u{2003}\u{430}\u{4e2d}]{0,9}[ \n\u{a0}\u{85}\u{3000}]?){0,40}",
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
            let want = crate::text::normalize(&s);
            let mut results = Vec::new();
            crate::io::bytescan::with_and_without_window_decoder(|| {
                let mut out = String::from("dirty");
                let got = normalize_json_string(&line, 1, &mut out);
                results.push((got.map(|(end, _)| end), out));
            });
            for (end, out) in results {
                prop_assert_eq!(end, Some(line.len() - 1));
                prop_assert_eq!(out.as_str(), want.as_ref());
            }
        }

        /// Long texts of words, space runs and escapes, so that whole 64-byte
        /// windows take the SIMD path and runs, escapes and multi-byte
        /// characters fall on every window boundary.
        #[test]
        fn long_json_strings_normalize_like_decode_then_normalize(
            s in "([a-z\u{e9}\u{4e2d}\u{1f600}]{0,7}[ \n\t\r\u{c}\"/]{0,3}){0,60}|([ ]{0,2}[a-z]{1,5}[\n ]{0,2}[\u{0}-\u{1f}\u{7f}\u{a0}\u{2003}\u{301}\\\\]?){0,50}",
            escape_slash in proptest::bool::ANY,
            prefix in 0usize..70,
        ) {
            let mut lit = serde_json::to_string(&s).unwrap();
            if escape_slash {
                lit = lit.replace('/', "\\/");
            }
            let pad = "p".repeat(prefix);
            let line = format!("{{\"{pad}\":1,\"text\":{lit},\"z\":\"{pad}\"}}");
            let start = line.find(&lit).unwrap();
            let want = crate::text::normalize(&s);
            let mut results = Vec::new();
            crate::io::bytescan::with_and_without_window_decoder(|| {
                let mut out = String::from("dirty");
                let got = normalize_json_string(&line, start, &mut out);
                results.push((got, out));
            });
            for (got, out) in results {
                prop_assert_eq!(got, Some((start + lit.len(), lit.contains('\\'))));
                prop_assert_eq!(out.as_str(), want.as_ref());
            }
        }

        #[test]
        fn nfc_check_says_yes_only_for_nfc(
            s in "[a \u{e9}\u{300}-\u{36f}\u{338}\u{591}-\u{5c7}\u{1100}-\u{1112}\u{1161}-\u{1175}\u{11a8}-\u{11c2}\u{ac00}\u{3099}\u{309a}\u{304b}\u{30ab}\u{4e2d}\u{9fff}\u{212b}\u{2000}\u{2014}\u{201c}\u{1e0a}\u{323}]{0,90}",
        ) {
            use unicode_normalization::UnicodeNormalization;
            let nfc: String = s.nfc().collect();
            if is_nfc(&s) {
                prop_assert_eq!(&nfc, &s);
            }
            let low = !s.chars().any(|c| c >= '\u{300}');
            if low {
                prop_assert!(is_nfc(&s));
            }
        }

        #[test]
        fn segmented_nfc_equals_full_nfc(
            s in "[a e\u{e9}\u{300}-\u{36f}\u{338}\u{591}-\u{5c7}\u{1100}-\u{1112}\u{1161}-\u{1175}\u{11a8}-\u{11c2}\u{ac00}\u{ac01}\u{3099}\u{309a}\u{304b}\u{212b}\u{2126}\u{f900}\u{1e0a}\u{323}\u{1f600}\u{950}-\u{95f}\u{93c}\u{9bc}\u{9be}\u{9c7}\u{fb1d}]{0,30}",
        ) {
            use unicode_normalization::UnicodeNormalization;
            let want: String = s.nfc().collect();
            prop_assert_eq!(to_nfc(&s), want);
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

    /// Every kind of stop at every offset from the window boundaries (the
    /// AVX2 window decoder and the per-event path hand over there).
    #[test]
    fn json_strings_decode_alike_at_every_window_offset() {
        let stops = [
            " ", "  ", "\n", " \n\t ", "\"", "\\", "\\\\", "\\\\\\", "/", "\u{e9}", "\u{4e2d}", "\u{1f600}", "\u{a0}",
            "\u{2003}", "\u{1}", "\u{7f}", "\u{8}", "e\u{301}", "\u{201c}",
        ];
        let mut out = String::new();
        for k in 0..140 {
            for stop in stops {
                for s in [
                    format!("{}{stop}{}{stop} end", "w".repeat(k), "z".repeat(100)),
                    format!("{stop}{}{stop}{}", "w".repeat(k), "y ".repeat(60)),
                    format!("{}{stop}", "x".repeat(k)),
                ] {
                    let want = crate::text::normalize(&s);
                    for lit in [serde_json::to_string(&s).unwrap(), serde_json::to_string(&s).unwrap().replace('/', "\\/")] {
                        for tail in ["", &" ".repeat(70)] {
                            let line = format!("{{\"text\":{lit}{tail}}}");
                            crate::io::bytescan::with_and_without_window_decoder(|| {
                                let got = normalize_json_string(&line, 8, &mut out);
                                assert_eq!(got.map(|(end, _)| end), Some(8 + lit.len()), "{line:?}");
                                assert_eq!(out.as_str(), want.as_ref(), "{line:?}");
                            });
                        }
                    }
                }
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
