//! The seed guide's per-example checks, exactly as it defines them:
//! `DataValidator.validate_example` (empty instruction/output, output shorter
//! than 5 words, 3-gram unique ratio below 0.3) and `DataCleaner._quality_check`
//! (most common word above 30 % of words, unfinished output longer than 100
//! characters). Words are `str.lower().split()`. The token-count check needs a
//! tokenizer and stays in Python.

use crate::text::ngrams::{char_len, intern, window_key, FxBuild};
use crate::text::normalize::is_py_space;
use crate::text::split_whitespace;
use std::collections::{HashMap, HashSet};

pub const EMPTY_INSTRUCTION: &str = "Empty instruction";
pub const EMPTY_OUTPUT: &str = "Empty output";
pub const OUTPUT_TOO_SHORT: &str = "Output too short (< 5 words)";
pub const OUTPUT_REPETITION: &str = "Output contains excessive repetition";

fn lower_words(text: &str) -> Vec<String> {
    split_whitespace(&text.to_lowercase()).map(str::to_string).collect()
}

/// The seed's `_has_repetition`: with at least 10 words, the share of
/// distinct word 3-grams is below `threshold`.
pub fn has_repetition(text: &str, threshold: f64) -> bool {
    let words = lower_words(text);
    if words.len() < 10 {
        return false;
    }
    let refs: Vec<&str> = words.iter().map(String::as_str).collect();
    let ids = intern(&refs).ids;
    let windows = ids.len() - 2;
    let distinct: HashSet<(u64, u64), FxBuild> = (0..windows).map(|i| window_key(&ids[i..i + 3])).collect();
    (distinct.len() as f64 / windows as f64) < threshold
}

/// Share of the most common lowercased word, when there are more than 10 words.
pub fn most_common_word_ratio(text: &str) -> Option<f64> {
    let words = lower_words(text);
    if words.len() <= 10 {
        return None;
    }
    let mut counts: HashMap<&str, usize, FxBuild> = HashMap::with_hasher(FxBuild);
    for w in &words {
        *counts.entry(w.as_str()).or_default() += 1;
    }
    let top = counts.values().copied().max().unwrap_or(0);
    Some(top as f64 / words.len() as f64)
}

/// An output longer than 100 characters whose stripped text does not end in
/// one of `.!?"')`.
pub fn is_unfinished(output: &str) -> bool {
    let Some(last) = output.trim_matches(is_py_space).chars().next_back() else {
        return false;
    };
    !".!?\"')".contains(last) && char_len(output) > 100
}

/// The seed's `DataCleaner._quality_check`: `true` keeps the example.
pub fn seed_quality_ok(output: &str) -> bool {
    if most_common_word_ratio(output).is_some_and(|r| r > 0.3) {
        return false;
    }
    !is_unfinished(output)
}

/// The seed's `DataValidator.validate_example` issues (token count aside), in
/// the seed's order and wording.
pub fn validate_fields(instruction: &str, output: &str) -> Vec<&'static str> {
    let mut issues = Vec::new();
    if instruction.trim_matches(is_py_space).is_empty() {
        issues.push(EMPTY_INSTRUCTION);
    }
    if output.trim_matches(is_py_space).is_empty() {
        issues.push(EMPTY_OUTPUT);
    }
    if split_whitespace(output).count() < 5 {
        issues.push(OUTPUT_TOO_SHORT);
    }
    if has_repetition(output, 0.3) {
        issues.push(OUTPUT_REPETITION);
    }
    issues
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_checks() {
        assert_eq!(validate_fields("  ", ""), [EMPTY_INSTRUCTION, EMPTY_OUTPUT, OUTPUT_TOO_SHORT]);
        let rep = "the cat sat ".repeat(10);
        assert!(has_repetition(&rep, 0.3));
        assert!(!seed_quality_ok(&rep));
        assert!(seed_quality_ok("A perfectly fine answer."));
        assert!(!seed_quality_ok(&format!("{} no ending", "word ".repeat(30))));
    }
}
