//! Gopher repetition metrics (Rae et al. 2021, "Scaling Language Models:
//! Methods, Analysis & Insights from Training Gopher", Table A1), with the
//! definitions of datatrove's `GopherRepetitionFilter` so decisions agree:
//!
//! * paragraphs are `text.strip()` split on `\n{2,}`; lines are `text` split on
//!   `\n+`; a duplicate is any occurrence after the first, and duplicate
//!   character fractions divide the duplicates' characters by `len(text)`;
//! * words are [`crate::text::words`] (datatrove's spaCy English tokens);
//! * top n-gram fraction (n = 2, 3, 4): characters of the most frequent n-gram
//!   (words joined by one space; ties go to the first seen) times its count;
//! * duplicated n-gram fraction (n = 5..=10): a left-to-right scan that, on
//!   meeting an n-gram seen before, adds its characters (words concatenated
//!   without spaces, as datatrove does) and jumps past it.
//!
//! Lengths are Unicode code points, as Python's `len`.

use crate::text::ngrams::{char_len, intern, ngram_counts, window_key, FxBuild};
use crate::text::normalize::is_py_space;
use crate::text::words;
use std::collections::HashSet;

/// Every Gopher repetition metric of one document.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RepetitionStats {
    /// `len(text)` in code points.
    pub chars: usize,
    pub words: usize,
    pub lines: usize,
    pub paragraphs: usize,
    pub dup_line_frac: f64,
    pub dup_para_frac: f64,
    pub dup_line_char_frac: f64,
    pub dup_para_char_frac: f64,
    /// Top n-gram character fractions for n = 2, 3, 4.
    pub top_ngram_char_frac: [f64; 3],
    /// Duplicated n-gram character fractions for n = 5, 6, 7, 8, 9, 10.
    pub dup_ngram_char_frac: [f64; 6],
}

/// Thresholds above which a document is dropped. `Default` is Gopher's
/// Table A1 (the values datatrove uses).
#[derive(Debug, Clone, PartialEq)]
pub struct RepetitionThresholds {
    pub dup_line_frac: f64,
    pub dup_para_frac: f64,
    pub dup_line_char_frac: f64,
    pub dup_para_char_frac: f64,
    pub top_ngram_char_frac: [f64; 3],
    pub dup_ngram_char_frac: [f64; 6],
}

impl Default for RepetitionThresholds {
    fn default() -> Self {
        Self {
            dup_line_frac: 0.30,
            dup_para_frac: 0.30,
            dup_line_char_frac: 0.20,
            dup_para_char_frac: 0.20,
            top_ngram_char_frac: [0.20, 0.18, 0.16],
            dup_ngram_char_frac: [0.15, 0.14, 0.13, 0.12, 0.11, 0.10],
        }
    }
}

fn ratio(num: usize, den: usize) -> f64 {
    if den == 0 {
        0.0
    } else {
        num as f64 / den as f64
    }
}

/// (number of duplicate elements, their total characters).
fn find_duplicates<'a>(items: impl Iterator<Item = &'a str>) -> (usize, usize, usize) {
    let mut seen: HashSet<&str, FxBuild> = HashSet::with_hasher(FxBuild);
    let (mut total, mut dups, mut dup_chars) = (0usize, 0usize, 0usize);
    for item in items {
        total += 1;
        if !seen.insert(item) {
            dups += 1;
            dup_chars += char_len(item);
        }
    }
    (total, dups, dup_chars)
}

/// `re.split(r"\n{2,}", s)`.
fn split_paragraphs(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let cur = rest?;
        let bytes = cur.as_bytes();
        let mut from = 0;
        while let Some(p) = memchr::memchr(b'\n', &bytes[from..]) {
            let i = from + p;
            let run = bytes[i..].iter().take_while(|&&b| b == b'\n').count();
            if run >= 2 {
                rest = Some(&cur[i + run..]);
                return Some(&cur[..i]);
            }
            from = i + run;
        }
        rest = None;
        Some(cur)
    })
}

/// `re.split("\n+", s)`.
fn split_lines(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(s);
    std::iter::from_fn(move || {
        let cur = rest?;
        match memchr::memchr(b'\n', cur.as_bytes()) {
            Some(i) => {
                let run = cur.as_bytes()[i..].iter().take_while(|&&b| b == b'\n').count();
                rest = Some(&cur[i + run..]);
                Some(&cur[..i])
            }
            None => {
                rest = None;
                Some(cur)
            }
        }
    })
}

/// datatrove's `find_all_duplicate` over interned ids.
fn all_duplicate_chars(ids: &[u32], char_lens: &[u32], n: usize) -> usize {
    if ids.len() < n {
        return 0;
    }
    let mut seen: HashSet<(u64, u64), FxBuild> = HashSet::with_capacity_and_hasher(ids.len(), FxBuild);
    let (mut idx, mut repeated) = (0usize, 0usize);
    while idx < ids.len() - n + 1 {
        if seen.insert(window_key(&ids[idx..idx + n])) {
            idx += 1;
        } else {
            repeated += char_lens[idx..idx + n].iter().map(|&c| c as usize).sum::<usize>();
            idx += n;
        }
    }
    repeated
}

/// Compute every Gopher repetition metric of `text`.
pub fn repetition_stats(text: &str) -> RepetitionStats {
    let chars = char_len(text);
    let stripped = text.trim_matches(is_py_space);
    let (paragraphs, dup_paras, dup_para_chars) = find_duplicates(split_paragraphs(stripped));
    let (lines, dup_lines, dup_line_chars) = find_duplicates(split_lines(text));
    let tokens = words(text);
    let interned = intern(&tokens);
    let mut top = [0.0f64; 3];
    for (slot, n) in (2..=4usize).enumerate() {
        let counts = ngram_counts(&interned.ids, n);
        let mut best: Option<(usize, u32)> = None;
        for &(start, count) in &counts {
            if best.is_none_or(|(_, c)| count > c) {
                best = Some((start, count));
            }
        }
        if let Some((start, count)) = best {
            let len: usize = interned.char_lens[start..start + n].iter().map(|&c| c as usize).sum::<usize>() + n - 1;
            top[slot] = ratio(len * count as usize, chars);
        }
    }
    let mut dup = [0.0f64; 6];
    for (slot, n) in (5..=10usize).enumerate() {
        dup[slot] = ratio(all_duplicate_chars(&interned.ids, &interned.char_lens, n), chars);
    }
    RepetitionStats {
        chars,
        words: tokens.len(),
        lines,
        paragraphs,
        dup_line_frac: ratio(dup_lines, lines),
        dup_para_frac: ratio(dup_paras, paragraphs),
        dup_line_char_frac: ratio(dup_line_chars, chars),
        dup_para_char_frac: ratio(dup_para_chars, chars),
        top_ngram_char_frac: top,
        dup_ngram_char_frac: dup,
    }
}

const TOP_REASONS: [&str; 3] = ["gopher_rep_top_2_gram", "gopher_rep_top_3_gram", "gopher_rep_top_4_gram"];
const DUP_REASONS: [&str; 6] = [
    "gopher_rep_dup_5_gram",
    "gopher_rep_dup_6_gram",
    "gopher_rep_dup_7_gram",
    "gopher_rep_dup_8_gram",
    "gopher_rep_dup_9_gram",
    "gopher_rep_dup_10_gram",
];

/// The first threshold `stats` exceeds, in datatrove's order, as a removal
/// reason; `None` keeps the document. An empty document is removed as
/// `gopher_rep_empty`, as datatrove does.
pub fn repetition_verdict(stats: &RepetitionStats, t: &RepetitionThresholds) -> Option<&'static str> {
    if stats.chars == 0 {
        return Some("gopher_rep_empty");
    }
    if stats.dup_para_frac > t.dup_para_frac {
        return Some("gopher_rep_dup_para_frac");
    }
    if stats.dup_para_char_frac > t.dup_para_char_frac {
        return Some("gopher_rep_dup_para_char_frac");
    }
    if stats.dup_line_frac > t.dup_line_frac {
        return Some("gopher_rep_dup_line_frac");
    }
    if stats.dup_line_char_frac > t.dup_line_char_frac {
        return Some("gopher_rep_dup_line_char_frac");
    }
    for ((value, limit), reason) in stats.top_ngram_char_frac.iter().zip(&t.top_ngram_char_frac).zip(TOP_REASONS) {
        if value > limit {
            return Some(reason);
        }
    }
    for ((value, limit), reason) in stats.dup_ngram_char_frac.iter().zip(&t.dup_ngram_char_frac).zip(DUP_REASONS) {
        if value > limit {
            return Some(reason);
        }
    }
    None
}

/// Stats and verdict of many documents on the current rayon pool, in input order.
pub fn repetition_verdicts<S: AsRef<str> + Sync>(
    texts: &[S],
    t: &RepetitionThresholds,
) -> Vec<(RepetitionStats, Option<&'static str>)> {
    use rayon::prelude::*;
    texts
        .par_iter()
        .map(|s| {
            let stats = repetition_stats(s.as_ref());
            let verdict = repetition_verdict(&stats, t);
            (stats, verdict)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_lines() {
        let s = repetition_stats("a\nb\na\na");
        assert_eq!(s.lines, 4);
        assert!((s.dup_line_frac - 0.5).abs() < 1e-12);
        assert!((s.dup_line_char_frac - 2.0 / 7.0).abs() < 1e-12);
        assert_eq!(repetition_verdict(&s, &RepetitionThresholds::default()), Some("gopher_rep_dup_line_frac"));
    }

    #[test]
    fn splitters_match_python() {
        assert_eq!(split_lines("\na\n\nb\n").collect::<Vec<_>>(), ["", "a", "b", ""]);
        assert_eq!(split_paragraphs("a\nb\n\n\nc").collect::<Vec<_>>(), ["a\nb", "c"]);
    }

    #[test]
    fn empty_is_removed() {
        assert_eq!(
            repetition_verdict(&repetition_stats(""), &RepetitionThresholds::default()),
            Some("gopher_rep_empty")
        );
    }
}
