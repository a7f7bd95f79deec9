//! Length filters: generic character/word bounds for one text, and the seed
//! guide's `DataCleaningConfig` length rule for instruction records.
//! Characters are Unicode code points and words are whitespace-separated
//! (Python's `len(s)` and `len(s.split())`).

use crate::text::ngrams::char_len;
use crate::text::split_whitespace;

/// Character and word bounds for one text; `None` disables a bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LengthLimits {
    pub min_chars: Option<usize>,
    pub max_chars: Option<usize>,
    pub min_words: Option<usize>,
    pub max_words: Option<usize>,
}

/// The first bound `text` violates (`too_few_chars`, `too_many_chars`,
/// `too_few_words`, `too_many_words`), or `None`.
pub fn length_verdict(text: &str, limits: &LengthLimits) -> Option<&'static str> {
    if limits.min_chars.is_some() || limits.max_chars.is_some() {
        let n = char_len(text);
        if limits.min_chars.is_some_and(|m| n < m) {
            return Some("too_few_chars");
        }
        if limits.max_chars.is_some_and(|m| n > m) {
            return Some("too_many_chars");
        }
    }
    if limits.min_words.is_some() || limits.max_words.is_some() {
        let n = split_whitespace(text).count();
        if limits.min_words.is_some_and(|m| n < m) {
            return Some("too_few_words");
        }
        if limits.max_words.is_some_and(|m| n > m) {
            return Some("too_many_words");
        }
    }
    None
}

/// The seed guide's `DataCleaningConfig` length fields (characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedLengthConfig {
    pub min_input_length: usize,
    pub max_input_length: usize,
    pub min_output_length: usize,
    pub max_output_length: usize,
}

impl Default for SeedLengthConfig {
    fn default() -> Self {
        Self { min_input_length: 10, max_input_length: 4096, min_output_length: 10, max_output_length: 4096 }
    }
}

/// The seed's rule: `len(instruction) + len(input)` and `len(output)` each
/// within their bounds (on already-cleaned fields).
pub fn seed_length_ok(instruction: &str, input: &str, output: &str, cfg: &SeedLengthConfig) -> bool {
    let input_len = char_len(instruction) + char_len(input);
    let output_len = char_len(output);
    (cfg.min_input_length..=cfg.max_input_length).contains(&input_len)
        && (cfg.min_output_length..=cfg.max_output_length).contains(&output_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let l = LengthLimits { min_chars: Some(3), max_chars: Some(10), min_words: Some(2), max_words: None };
        assert_eq!(length_verdict("ab", &l), Some("too_few_chars"));
        assert_eq!(length_verdict("abcdefghijk", &l), Some("too_many_chars"));
        assert_eq!(length_verdict("abcd", &l), Some("too_few_words"));
        assert_eq!(length_verdict("ab cd", &l), None);
        let cfg = SeedLengthConfig::default();
        assert!(seed_length_ok("Summarize", "x", "0123456789", &cfg));
        assert!(!seed_length_ok("Summarize", "", "0123456789", &cfg));
    }
}
