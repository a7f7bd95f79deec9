//! Gopher quality heuristics (Rae et al. 2021, section A.1.1), with the
//! definitions of datatrove's `GopherQualityFilter` so decisions agree: words
//! are [`crate::text::words`] (datatrove's spaCy English tokens), "non-symbol"
//! words have a character outside datatrove's punctuation set, and each
//! threshold can be switched off with `None`.

use crate::text::ngrams::char_len;
use crate::text::normalize::is_py_space;
use crate::text::words;

/// Gopher quality thresholds; `Default` is Gopher's (and datatrove's).
#[derive(Debug, Clone, PartialEq)]
pub struct GopherQualityConfig {
    pub min_doc_words: Option<usize>,
    pub max_doc_words: Option<usize>,
    pub min_avg_word_length: Option<f64>,
    pub max_avg_word_length: Option<f64>,
    /// Max `#` per word and max ellipses (`...`, `…`) per word.
    pub max_symbol_word_ratio: Option<f64>,
    /// Max share of lines starting with a bullet (`•` or `-`).
    pub max_bullet_lines_ratio: Option<f64>,
    /// Max share of lines ending with an ellipsis.
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Min share of words containing an alphabetic character (datatrove's
    /// `max_non_alpha_words_ratio`, whose name says the opposite).
    pub min_alpha_words_ratio: Option<f64>,
    /// Min number of distinct stop words present.
    pub min_stop_words: Option<usize>,
    pub stop_words: Vec<String>,
}

/// Gopher's stop words, as datatrove lists them.
pub const STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

impl Default for GopherQualityConfig {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50),
            max_doc_words: Some(100_000),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            min_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2),
            stop_words: STOP_WORDS.iter().map(|s| (*s).to_string()).collect(),
        }
    }
}

/// Every quantity the quality filter thresholds, for reporting.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QualityStats {
    pub words: usize,
    pub non_symbol_words: usize,
    pub mean_word_length: f64,
    pub hash_ratio: f64,
    pub ellipsis_ratio: f64,
    pub bullet_lines_ratio: f64,
    pub ellipsis_lines_ratio: f64,
    pub alpha_words_ratio: f64,
    pub stop_words: usize,
}

const NON_ASCII_PUNCT: &str = "\u{ab}\u{b4}\u{bb}\u{589}\u{61d}\u{61e}\u{61f}\u{6d4}\u{700}\u{701}\u{702}\u{7f9}\u{837}\u{839}\u{83d}\u{83e}\u{964}\u{965}\u{104a}\u{104b}\u{1362}\u{1367}\u{1368}\u{166e}\u{1735}\u{1736}\u{17d4}\u{17d5}\u{17d6}\u{17d9}\u{17da}\u{1803}\u{1809}\u{1944}\u{1945}\u{1aa8}\u{1aa9}\u{1aaa}\u{1aab}\u{1b5a}\u{1b5b}\u{1b5e}\u{1b5f}\u{1b7d}\u{1b7e}\u{1c3b}\u{1c3c}\u{1c7e}\u{1c7f}\u{2013}\u{2014}\u{2019}\u{201c}\u{201d}\u{201e}\u{2026}\u{203c}\u{203d}\u{2047}\u{2048}\u{2049}\u{2236}\u{2501}\u{25ba}\u{2e2e}\u{2e3c}\u{2e53}\u{2e54}\u{3001}\u{3002}\u{3008}\u{3009}\u{300a}\u{300b}\u{300c}\u{300d}\u{3010}\u{3011}\u{a4ff}\u{a60e}\u{a60f}\u{a6f3}\u{a6f7}\u{a876}\u{a877}\u{a8ce}\u{a8cf}\u{a92f}\u{a9c8}\u{a9c9}\u{aa5d}\u{aa5e}\u{aa5f}\u{aaf0}\u{aaf1}\u{abeb}\u{fe52}\u{fe56}\u{fe57}\u{ff01}\u{ff05}\u{ff08}\u{ff09}\u{ff0c}\u{ff0e}\u{ff11}\u{ff1a}\u{ff1b}\u{ff1f}\u{ff5e}\u{ff61}\u{10a56}\u{10a57}\u{10f55}\u{10f56}\u{10f57}\u{10f58}\u{10f59}\u{10f86}\u{10f87}\u{10f88}\u{10f89}\u{11047}\u{11048}\u{110be}\u{110bf}\u{110c0}\u{110c1}\u{11141}\u{11142}\u{11143}\u{111c5}\u{111c6}\u{111cd}\u{111de}\u{111df}\u{11238}\u{11239}\u{1123b}\u{1123c}\u{112a9}\u{1144b}\u{1144c}\u{115c2}\u{115c3}\u{115c9}\u{115ca}\u{115cb}\u{115cc}\u{115cd}\u{115ce}\u{115cf}\u{115d0}\u{115d1}\u{115d2}\u{115d3}\u{115d4}\u{115d5}\u{115d6}\u{115d7}\u{11641}\u{11642}\u{1173c}\u{1173d}\u{1173e}\u{11944}\u{11946}\u{11a42}\u{11a43}\u{11a9b}\u{11a9c}\u{11c41}\u{11c42}\u{11ef7}\u{11ef8}\u{11f43}\u{11f44}\u{16a6e}\u{16a6f}\u{16af5}\u{16b37}\u{16b38}\u{16b44}\u{16e98}\u{1bc9f}\u{1da88}";

/// datatrove's `PUNCTUATION_SET`: ASCII punctuation, most C0/C1 controls and
/// the listed Unicode punctuation.
pub fn is_datatrove_punct(c: char) -> bool {
    if c.is_ascii() {
        return is_ascii_datatrove_punct(c as u8);
    }
    matches!(c as u32, 128..=159) || NON_ASCII_PUNCT.contains(c)
}

/// The ASCII part of datatrove's punctuation set: punctuation and the
/// control characters other than tab and newline.
const fn is_ascii_datatrove_punct(c: u8) -> bool {
    c.is_ascii_punctuation() || matches!(c, 0..=8 | 11..=31 | 127)
}

const NON_SYMBOL: u8 = 1;
const ALPHA: u8 = 2;
const NON_ASCII: u8 = 4;

/// For each byte: `NON_SYMBOL` when it is an ASCII character outside
/// datatrove's punctuation set, `ALPHA` when it is an ASCII letter,
/// `NON_ASCII` when it is part of a non-ASCII character.
static ASCII_WORD_CLASS: [u8; 256] = ascii_word_classes();

const fn ascii_word_classes() -> [u8; 256] {
    let mut table = [NON_ASCII; 256];
    let mut b = 0usize;
    while b < 128 {
        let c = b as u8;
        table[b] = if is_ascii_datatrove_punct(c) { 0 } else { NON_SYMBOL } | if c.is_ascii_alphabetic() { ALPHA } else { 0 };
        b += 1;
    }
    table
}

/// `text.splitlines()`, scanning bytes: every boundary is ASCII or one of
/// U+0085 (`C2 85`), U+2028 and U+2029 (`E2 80 A8`, `E2 80 A9`), whose lead
/// bytes appear nowhere else in UTF-8.
fn splitlines(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(memchr::memchr_iter(b'\n', b).count() + 1);
    let other_breaks = memchr::memchr3(b'\r', 0x0b, 0x0c, b).is_some()
        || memchr::memchr3(0x1c, 0x1d, 0x1e, b).is_some()
        || memchr::memchr2(0xC2, 0xE2, b).is_some();
    if !other_breaks {
        // Only `\n` breaks lines: split at each with memchr.
        let mut start = 0usize;
        for i in memchr::memchr_iter(b'\n', b) {
            out.push(&text[start..i]);
            start = i + 1;
        }
        if start < b.len() {
            out.push(&text[start..]);
        }
        return out;
    }
    let (mut start, mut i) = (0usize, 0usize);
    while i < b.len() {
        let len = match b[i] {
            b'\n' | 0x0b | 0x0c | 0x1c | 0x1d | 0x1e => 1,
            b'\r' => 1 + usize::from(b.get(i + 1) == Some(&b'\n')),
            0xC2 if b.get(i + 1) == Some(&0x85) => 2,
            0xE2 if b.get(i + 1) == Some(&0x80) && matches!(b.get(i + 2), Some(0xA8 | 0xA9)) => 3,
            _ => {
                i += 1;
                continue;
            }
        };
        out.push(&text[start..i]);
        i += len;
        start = i;
    }
    if start < b.len() {
        out.push(&text[start..]);
    }
    out
}

/// The stop-word list, matched as a `position` over it would, with words of
/// up to 8 bytes compared as one integer rather than by `memcmp`, and only
/// when some stop word has the token's length.
struct StopWords<'a> {
    /// `(index, length, packed bytes)` of the short words.
    short: Vec<(usize, usize, u64)>,
    /// Bit `n` set when a short word has `n` bytes.
    short_lens: u32,
    /// `(index, word)` of the longer ones.
    long: Vec<(usize, &'a str)>,
}

/// Up to 8 bytes as one integer (with the length, a unique key). Shifted in
/// byte by byte: a `memcpy` into a buffer read back whole stalls the load.
#[inline]
fn pack(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x))
}

impl<'a> StopWords<'a> {
    fn new(words: &'a [String]) -> Self {
        let (mut short, mut short_lens, mut long) = (Vec::new(), 0u32, Vec::new());
        for (i, w) in words.iter().enumerate() {
            if w.len() <= 8 {
                short.push((i, w.len(), pack(w.as_bytes())));
                short_lens |= 1 << w.len();
            } else {
                long.push((i, w.as_str()));
            }
        }
        Self { short, short_lens, long }
    }

    /// Index of the first stop word equal to `w`.
    #[inline]
    fn position(&self, w: &str) -> Option<usize> {
        if w.len() <= 8 {
            if self.short_lens & (1 << w.len()) == 0 {
                return None;
            }
            let key = pack(w.as_bytes());
            self.short.iter().find(|&&(_, len, packed)| len == w.len() && packed == key).map(|&(i, ..)| i)
        } else {
            self.long.iter().find(|&&(_, s)| s == w).map(|&(i, _)| i)
        }
    }
}

fn count_non_overlapping(haystack: &str, needle: &str) -> usize {
    memchr::memmem::find_iter(haystack.as_bytes(), needle.as_bytes()).fold((0usize, 0usize), |(n, next), at| {
        if at >= next {
            (n + 1, at + needle.len())
        } else {
            (n, next)
        }
    }).0
}

/// Compute every quantity the quality filter thresholds.
pub fn quality_stats(text: &str, stop_words: &[String]) -> QualityStats {
    quality_stats_with_words(text, &words(text), stop_words)
}

/// [`quality_stats`] with the words of `text` already computed.
pub fn quality_stats_with_words(text: &str, tokens: &[&str], stop_words: &[String]) -> QualityStats {
    let n_words = tokens.len();
    let mut non_symbol = 0usize;
    let mut non_symbol_chars = 0usize;
    let mut alpha = 0usize;
    let mut stops_seen = vec![false; stop_words.len()];
    let stops = StopWords::new(stop_words);
    for w in tokens {
        let mut seen = 0u8;
        for &b in w.as_bytes() {
            seen |= ASCII_WORD_CLASS[b as usize];
        }
        let (has_non_symbol, has_alpha, chars) = if seen & NON_ASCII == 0 {
            (seen & NON_SYMBOL != 0, seen & ALPHA != 0, w.len())
        } else {
            (w.chars().any(|c| !is_datatrove_punct(c)), w.chars().any(char::is_alphabetic), char_len(w))
        };
        if has_non_symbol {
            non_symbol += 1;
            non_symbol_chars += chars;
        }
        alpha += usize::from(has_alpha);
        if let Some(i) = stops.position(w) {
            stops_seen[i] = true;
        }
    }
    let per_word = |count: usize| if n_words == 0 { f64::INFINITY } else { count as f64 / n_words as f64 };
    let lines = splitlines(text);
    let per_line = |count: usize| if lines.is_empty() { 0.0 } else { count as f64 / lines.len() as f64 };
    let bullets = lines
        .iter()
        .filter(|l| {
            let l = l.trim_start_matches(is_py_space);
            l.starts_with('•') || l.starts_with('-')
        })
        .count();
    let ellipsis_lines = lines
        .iter()
        .filter(|l| {
            let l = l.trim_end_matches(is_py_space);
            l.ends_with("...") || l.ends_with('…')
        })
        .count();
    let hashes = memchr::memchr_iter(b'#', text.as_bytes()).count();
    let ellipses = count_non_overlapping(text, "...") + count_non_overlapping(text, "…");
    QualityStats {
        words: n_words,
        non_symbol_words: non_symbol,
        mean_word_length: if non_symbol == 0 { f64::NAN } else { non_symbol_chars as f64 / non_symbol as f64 },
        hash_ratio: per_word(hashes),
        ellipsis_ratio: per_word(ellipses),
        bullet_lines_ratio: per_line(bullets),
        ellipsis_lines_ratio: per_line(ellipsis_lines),
        alpha_words_ratio: if n_words == 0 { 0.0 } else { alpha as f64 / n_words as f64 },
        stop_words: stops_seen.iter().filter(|&&b| b).count(),
    }
}

/// The removal reason for `stats` under `cfg` (datatrove's reason strings and
/// order), or `None` to keep.
pub fn quality_verdict_of(s: &QualityStats, cfg: &GopherQualityConfig) -> Option<&'static str> {
    if cfg.min_doc_words.is_some_and(|m| s.non_symbol_words < m) {
        return Some("gopher_short_doc");
    }
    if cfg.max_doc_words.is_some_and(|m| s.non_symbol_words > m) {
        return Some("gopher_long_doc");
    }
    if cfg.min_avg_word_length.is_some_and(|m| s.mean_word_length < m) {
        return Some("gopher_below_avg_threshold");
    }
    if cfg.max_avg_word_length.is_some_and(|m| s.mean_word_length > m) {
        return Some("gopher_above_avg_threshold");
    }
    if cfg.max_symbol_word_ratio.is_some_and(|m| s.hash_ratio > m) {
        return Some("gopher_too_many_hashes");
    }
    if cfg.max_symbol_word_ratio.is_some_and(|m| s.ellipsis_ratio > m) {
        return Some("gopher_too_many_ellipsis");
    }
    if cfg.max_bullet_lines_ratio.is_some_and(|m| s.bullet_lines_ratio > m) {
        return Some("gopher_too_many_bullets");
    }
    if cfg.max_ellipsis_lines_ratio.is_some_and(|m| s.ellipsis_lines_ratio > m) {
        return Some("gopher_too_many_end_ellipsis");
    }
    if cfg.min_alpha_words_ratio.is_some_and(|m| s.alpha_words_ratio < m) {
        return Some("gopher_below_alpha_threshold");
    }
    if cfg.min_stop_words.is_some_and(|m| s.stop_words < m) {
        return Some("gopher_enough_stop_words");
    }
    None
}

/// The Gopher quality verdict of `text`: a removal reason, or `None` to keep.
pub fn quality_verdict(text: &str, cfg: &GopherQualityConfig) -> Option<&'static str> {
    quality_verdict_of(&quality_stats(text, &cfg.stop_words), cfg)
}

/// Verdicts of many documents on the current rayon pool, in input order.
pub fn quality_verdicts<S: AsRef<str> + Sync>(texts: &[S], cfg: &GopherQualityConfig) -> Vec<Option<&'static str>> {
    use rayon::prelude::*;
    texts.par_iter().map(|t| quality_verdict(t.as_ref(), cfg)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_good_docs() {
        let cfg = GopherQualityConfig::default();
        assert_eq!(quality_verdict("too short", &cfg), Some("gopher_short_doc"));
        let good = "The quick brown fox jumps over the lazy dog and runs to the river with friends. ".repeat(5);
        assert_eq!(quality_verdict(&good, &cfg), None);
    }

    #[test]
    fn ascii_word_classes_match_char_predicates() {
        for b in 0u8..128 {
            let c = char::from(b);
            assert_eq!(ASCII_WORD_CLASS[b as usize] & NON_SYMBOL != 0, !is_datatrove_punct(c), "{b}");
            assert_eq!(ASCII_WORD_CLASS[b as usize] & ALPHA != 0, c.is_alphabetic(), "{b}");
        }
    }

    #[test]
    fn python_splitlines() {
        assert_eq!(splitlines("a\r\nb\rc\n"), ["a", "b", "c"]);
        assert_eq!(splitlines("a\n\nb"), ["a", "", "b"]);
    }

    /// `str.splitlines()` the straightforward way, over characters.
    fn reference_splitlines(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        let mut start = 0usize;
        let mut iter = text.char_indices().peekable();
        while let Some((i, c)) = iter.next() {
            if matches!(c, '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}') {
                out.push(&text[start..i]);
                let mut end = i + c.len_utf8();
                if c == '\r' && iter.peek().is_some_and(|&(_, n)| n == '\n') {
                    iter.next();
                    end += 1;
                }
                start = end;
            }
        }
        if start < text.len() {
            out.push(&text[start..]);
        }
        out
    }

    proptest::proptest! {
        #[test]
        fn byte_splitlines_match_char_splitlines(text in "[a\n\n\n\r\u{b}\u{c}\u{1c}-\u{1f}\u{85}\u{2027}-\u{202a}\u{a0}é]{0,40}") {
            proptest::prop_assert_eq!(splitlines(&text), reference_splitlines(&text));
        }

        #[test]
        fn newline_only_splitlines_match_char_splitlines(text in "[ab \n]{0,40}") {
            proptest::prop_assert_eq!(splitlines(&text), reference_splitlines(&text));
        }

        #[test]
        fn stop_words_match_position(words in proptest::collection::vec("(the|a|and|thethethe|\\PC{0,10})", 0..12), w in "(the|a|and|thethethe|\\PC{0,10})") {
            let expected = words.iter().position(|s| *s == w);
            proptest::prop_assert_eq!(StopWords::new(&words).position(&w), expected);
        }
    }
}
