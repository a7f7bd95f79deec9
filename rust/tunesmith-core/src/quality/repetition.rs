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

use crate::text::ngrams::{char_len, hash_bytes, intern, DenseIds};
use crate::text::normalize::is_py_space;
use crate::text::words;

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

/// (number of elements, duplicate elements, their total characters).
/// Elements are compared by a 64-bit hash: a false duplicate needs a hash
/// collision among a document's lines, about one in 10^10 for 100k lines.
fn find_duplicates<'a>(items: impl Iterator<Item = &'a str>, seen: &mut DenseIds) -> (usize, usize, usize) {
    let (mut total, mut dups, mut dup_chars) = (0usize, 0usize, 0usize);
    for item in items {
        total += 1;
        if !seen.id(hash_bytes(item.as_bytes())).1 {
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

#[inline]
fn mix(h: u64, id: u32) -> u64 {
    (h.rotate_left(23) ^ u64::from(id).wrapping_mul(0x9e37_79b9_7f4a_7c15)).wrapping_mul(0xff51_afd7_ed55_8ccd)
}

/// Word n-grams level by level (n = 1, 2, ...), keeping only the windows
/// whose n-gram occurs more than once. An n-gram can repeat only if both of
/// its (n-1)-gram halves repeat, so level n looks only at the starts `i`
/// where the (n-1)-grams at `i` and `i + 1` repeat; on ordinary prose that
/// set shrinks fast, and a level costs what it keeps, not the document.
struct Levels<'a> {
    ids: &'a [u32],
    n: usize,
    /// Starts of the n-grams that occur more than once, ascending.
    repeated: Vec<u32>,
    /// 64-bit hash of the n-gram at each start in `repeated`.
    hashes: Vec<u64>,
    /// Most frequent n-gram at this level: (first index, count).
    top: (usize, u32),
    /// Scratch kept between levels so its allocations are made once.
    scratch: Scratch,
}

#[derive(Default)]
struct Scratch {
    /// Distinct candidate n-grams: hash -> index into `seen`.
    slot_of: DenseIds,
    /// (first start, count) of each distinct candidate, in first-seen order.
    seen: Vec<(u32, u32)>,
    /// Each candidate window: (start, hash, index into `seen`).
    windows: Vec<(u32, u64, u32)>,
}

impl<'a> Levels<'a> {
    fn new(ids: &'a [u32], distinct: usize) -> Self {
        let mut counts = vec![0u32; distinct];
        for &id in ids {
            counts[id as usize] += 1;
        }
        let mut repeated = Vec::with_capacity(ids.len());
        let mut hashes = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            if counts[id as usize] > 1 {
                repeated.push(i as u32);
                hashes.push(mix(0x243f_6a88_85a3_08d3, id));
            }
        }
        Levels { ids, n: 1, repeated, hashes, top: (0, 1), scratch: Scratch::default() }
    }

    fn any_repeated(&self) -> bool {
        !self.repeated.is_empty()
    }

    fn advance(&mut self) {
        let n = self.n + 1;
        let Scratch { slot_of, seen, windows } = &mut self.scratch;
        slot_of.reset(self.repeated.len());
        seen.clear();
        windows.clear();
        for (k, pair) in self.repeated.windows(2).enumerate() {
            let i = pair[0];
            if pair[1] != i + 1 {
                continue;
            }
            let h = mix(self.hashes[k], self.ids[i as usize + n - 1]);
            let (slot, new) = slot_of.id(h);
            if new {
                seen.push((i, 0));
            }
            seen[slot as usize].1 += 1;
            windows.push((i, h, slot));
        }
        self.repeated.clear();
        self.hashes.clear();
        for &(i, h, slot) in windows.iter() {
            if seen[slot as usize].1 > 1 {
                self.repeated.push(i);
                self.hashes.push(h);
            }
        }
        // `seen` is in first-seen order, so a strict `>` keeps the first of
        // equally frequent n-grams; with none repeated the top is the first
        // window, seen once.
        self.top = seen.iter().fold((0usize, 1u32), |top, &(first, count)| {
            if count > top.1 {
                (first as usize, count)
            } else {
                top
            }
        });
        self.n = n;
    }

    /// datatrove's `find_all_duplicate` at this level: scan left to right; on
    /// an n-gram seen before, add its characters and jump past it. Only
    /// repeated n-grams can be seen before, so the scan visits just those.
    fn all_duplicate_chars(&mut self, char_lens: &[u32]) -> usize {
        let n = self.n;
        let seen = &mut self.scratch.slot_of;
        seen.reset(self.repeated.len());
        let (mut next, mut chars) = (0usize, 0usize);
        for (&i, &h) in self.repeated.iter().zip(&self.hashes) {
            let i = i as usize;
            if i >= next && !seen.id(h).1 {
                chars += char_lens[i..i + n].iter().map(|&c| c as usize).sum::<usize>();
                next = i + n;
            }
        }
        chars
    }
}

/// Compute every Gopher repetition metric of `text`.
pub fn repetition_stats(text: &str) -> RepetitionStats {
    repetition_stats_with_words(text, &words(text))
}

/// [`repetition_stats`] with the words of `text` already computed (so the
/// quality and repetition filters tokenize once).
pub fn repetition_stats_with_words(text: &str, tokens: &[&str]) -> RepetitionStats {
    staged(text, Some(tokens), &mut Vec::new(), None).0
}

/// The repetition verdict of `text` under `t`, computed stage by stage in
/// datatrove's order and stopped at the first threshold exceeded: the
/// paragraph and line checks need no tokens, so a document they remove is
/// never tokenized, and the n-gram levels stop at the first one that
/// removes it. Equal to `repetition_verdict(&repetition_stats(text), t)`.
/// `tokens` are the words of `text` when the caller has them; otherwise they
/// are computed (only if needed) into `store`, for the caller to reuse.
pub fn repetition_reason<'t>(
    text: &'t str,
    tokens: Option<&[&'t str]>,
    store: &mut Vec<&'t str>,
    t: &RepetitionThresholds,
) -> Option<&'static str> {
    staged(text, tokens, store, Some(t)).1
}

/// The one implementation behind [`repetition_stats_with_words`] (every
/// metric, `stop` = `None`) and [`repetition_reason`] (stops early). A stopped
/// run's stats are partial and not returned to users.
fn staged<'t>(
    text: &'t str,
    given: Option<&[&'t str]>,
    store: &mut Vec<&'t str>,
    stop: Option<&RepetitionThresholds>,
) -> (RepetitionStats, Option<&'static str>) {
    let chars = char_len(text);
    let stripped = text.trim_matches(is_py_space);
    // Sized for every line, an upper bound on the paragraphs too.
    let lines_hint = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
    let mut seen = DenseIds::with_capacity(lines_hint);
    let (paragraphs, dup_paras, dup_para_chars) = find_duplicates(split_paragraphs(stripped), &mut seen);
    seen.reset(lines_hint);
    let (lines, dup_lines, dup_line_chars) = find_duplicates(split_lines(text), &mut seen);
    let mut stats = RepetitionStats {
        chars,
        lines,
        paragraphs,
        dup_line_frac: ratio(dup_lines, lines),
        dup_para_frac: ratio(dup_paras, paragraphs),
        dup_line_char_frac: ratio(dup_line_chars, chars),
        dup_para_char_frac: ratio(dup_para_chars, chars),
        ..RepetitionStats::default()
    };
    if let Some(t) = stop {
        // The n-gram fractions are still 0.0 here, which never exceeds a
        // threshold, so only the paragraph and line checks can fire.
        if let Some(reason) = repetition_verdict(&stats, t) {
            return (stats, Some(reason));
        }
    }
    let tokens: &[&'t str] = match given {
        Some(tokens) => tokens,
        None => {
            *store = words(text);
            store
        }
    };
    stats.words = tokens.len();
    let interned = intern(tokens);
    let span_chars = |start: usize, n: usize| -> usize {
        interned.char_lens[start..start + n].iter().map(|&c| c as usize).sum()
    };
    let mut levels = Levels::new(&interned.ids, interned.distinct);
    for n in 2..=10usize {
        if tokens.len() < n {
            break;
        }
        if !levels.any_repeated() {
            // Nothing repeats at n-1 words, so nothing repeats at n or more:
            // the top n-gram is the first one, seen once; no duplicates.
            for m in n..=4 {
                if tokens.len() >= m {
                    stats.top_ngram_char_frac[m - 2] = ratio(span_chars(0, m) + m - 1, chars);
                }
            }
            break;
        }
        levels.advance();
        let (value, limit) = if n <= 4 {
            let (start, count) = levels.top;
            stats.top_ngram_char_frac[n - 2] = ratio((span_chars(start, n) + n - 1) * count as usize, chars);
            (stats.top_ngram_char_frac[n - 2], stop.map(|t| t.top_ngram_char_frac[n - 2]))
        } else {
            stats.dup_ngram_char_frac[n - 5] = ratio(levels.all_duplicate_chars(&interned.char_lens), chars);
            (stats.dup_ngram_char_frac[n - 5], stop.map(|t| t.dup_ngram_char_frac[n - 5]))
        };
        // Every earlier check passed, so the first value over its limit is
        // the verdict's reason.
        if limit.is_some_and(|limit| value > limit) {
            let reason = stop.and_then(|t| repetition_verdict(&stats, t));
            return (stats, reason);
        }
    }
    let reason = stop.and_then(|t| repetition_verdict(&stats, t));
    (stats, reason)
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
    use std::collections::{HashMap, HashSet};

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

    /// The n-gram fractions computed the straightforward way, from
    /// datatrove's definitions: n-grams as word sequences, counted in a map.
    fn reference_ngram_fracs(text: &str) -> ([f64; 3], [f64; 6]) {
        let tokens = words(text);
        let chars = char_len(text);
        let mut top = [0.0; 3];
        for n in 2..=4usize {
            if tokens.len() < n {
                continue;
            }
            let mut counts: Vec<(&[&str], usize)> = Vec::new();
            let mut index: HashMap<&[&str], usize> = HashMap::new();
            for gram in tokens.windows(n) {
                let at = *index.entry(gram).or_insert_with(|| {
                    counts.push((gram, 0));
                    counts.len() - 1
                });
                counts[at].1 += 1;
            }
            let (gram, count) = counts.iter().fold(counts[0], |best, &c| if c.1 > best.1 { c } else { best });
            top[n - 2] = ratio((gram.join(" ").chars().count()) * count, chars);
        }
        let mut dup = [0.0; 6];
        for n in 5..=10usize {
            let mut seen: HashSet<&[&str]> = HashSet::new();
            let (mut idx, mut repeated) = (0usize, 0usize);
            while idx + n <= tokens.len() {
                let gram = &tokens[idx..idx + n];
                if seen.contains(gram) {
                    repeated += gram.concat().chars().count();
                    idx += n;
                } else {
                    seen.insert(gram);
                    idx += 1;
                }
            }
            dup[n - 5] = ratio(repeated, chars);
        }
        (top, dup)
    }

    fn repetitive_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let word = proptest::sample::select(vec!["the", "a", "cat", "sat", "on", "mat", ",", ".", "é", "naïve", "x1", "(b)"]);
        let piece = prop_oneof![8 => word.prop_map(str::to_string), 1 => Just("\n".to_string())];
        proptest::collection::vec(piece, 0..300).prop_map(|p| p.join(" "))
    }

    proptest::proptest! {
        #[test]
        fn ngram_levels_match_reference(text in repetitive_text()) {
            let stats = repetition_stats(&text);
            let (top, dup) = reference_ngram_fracs(&text);
            proptest::prop_assert_eq!(stats.top_ngram_char_frac, top);
            proptest::prop_assert_eq!(stats.dup_ngram_char_frac, dup);
        }
    }

    #[test]
    fn empty_is_removed() {
        assert_eq!(
            repetition_verdict(&repetition_stats(""), &RepetitionThresholds::default()),
            Some("gopher_rep_empty")
        );
    }
}
