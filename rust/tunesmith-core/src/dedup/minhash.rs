//! MinHash signatures (Broder 1997): for each of `num_perm` hash functions,
//! the minimum over a document's shingles; two signatures agree in a fraction
//! of positions whose expectation is the Jaccard similarity of the shingle sets.
//!
//! Shingles are hashed once to 32 bits; the `num_perm` functions are
//! `h_i(x) = a_i·x + b_i mod 2^32` with odd `a_i`, bijections of the 32-bit
//! hash that compilers vectorise (the inner loop is a multiply, add and min per
//! lane). The test below checks the estimator's error against the binomial
//! standard deviation `sqrt(J(1-J)/num_perm)` it should have.

use xxhash_rust::xxh3::xxh3_64_with_seed;

use crate::CoreError;

/// How a document is cut into shingles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shingling {
    /// `n` consecutive whitespace-separated words (datatrove and the Gopher
    /// dedup use 5).
    Words(usize),
    /// `n` consecutive Unicode scalar values.
    Chars(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinHasher {
    num_perm: usize,
    shingling: Shingling,
    seed: u64,
    a: Vec<u32>,
    b: Vec<u32>,
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[inline]
fn fold32(h: u64) -> u32 {
    (h ^ (h >> 32)) as u32
}

impl MinHasher {
    pub fn new(num_perm: usize, shingling: Shingling, seed: u64) -> Result<Self, CoreError> {
        if num_perm == 0 || num_perm > 4096 {
            return Err(CoreError::invalid("num_perm", format!("must be in 1..=4096, got {num_perm}")));
        }
        let n = match shingling {
            Shingling::Words(n) | Shingling::Chars(n) => n,
        };
        if n == 0 || n > 64 {
            return Err(CoreError::invalid("ngram", format!("must be in 1..=64, got {n}")));
        }
        let mut state = seed;
        let mut a = Vec::with_capacity(num_perm);
        let mut b = Vec::with_capacity(num_perm);
        for _ in 0..num_perm {
            let r = splitmix64(&mut state);
            a.push((r as u32) | 1);
            b.push((r >> 32) as u32);
        }
        Ok(Self {
            num_perm,
            shingling,
            seed,
            a,
            b,
        })
    }

    pub fn num_perm(&self) -> usize {
        self.num_perm
    }

    pub fn shingling(&self) -> Shingling {
        self.shingling
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Call `f` with the 32-bit hash of every shingle of `text` (with repeats).
    /// A text shorter than one shingle yields one shingle of all of it; an
    /// empty text yields none.
    #[inline(always)]
    pub fn for_each_shingle(&self, text: &str, mut f: impl FnMut(u32)) {
        let seed = self.seed;
        match self.shingling {
            Shingling::Words(n) => {
                let mut window: Vec<u64> = Vec::with_capacity(n);
                let mut count = 0usize;
                for word in split_words(text) {
                    let h = xxh3_64_with_seed(word, seed);
                    if window.len() == n {
                        window.remove(0);
                    }
                    window.push(h);
                    count += 1;
                    if window.len() == n {
                        f(fold32(combine(&window)));
                    }
                }
                if count > 0 && count < n {
                    f(fold32(combine(&window)));
                }
            }
            Shingling::Chars(n) => {
                let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
                if starts.is_empty() {
                    return;
                }
                if starts.len() <= n {
                    f(fold32(xxh3_64_with_seed(text.as_bytes(), seed)));
                    return;
                }
                for i in 0..=starts.len() - n {
                    let end = starts.get(i + n).copied().unwrap_or(text.len());
                    f(fold32(xxh3_64_with_seed(&text.as_bytes()[starts[i]..end], seed)));
                }
            }
        }
    }

    /// The signature of `text` (all `u32::MAX` for a text without shingles).
    pub fn signature(&self, text: &str) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.num_perm];
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above; the function
            // only differs from `fill` in the instructions it may use.
            #[allow(unsafe_code)]
            unsafe {
                self.fill_avx2(text, &mut sig);
            }
            return sig;
        }
        self.fill(text, &mut sig);
        sig
    }

    /// `fill` compiled for AVX2 (8 lanes of multiply-add-min instead of SSE2's
    /// emulated 32-bit multiply): the permutation loop is most of the time.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn fill_avx2(&self, text: &str, sig: &mut [u32]) {
        self.fill(text, sig);
    }

    #[inline(always)]
    fn fill(&self, text: &str, sig: &mut [u32]) {
        self.for_each_shingle(text, |x| self.update(sig, x));
    }

    /// The signature of the parts of one record taken as one text joined by spaces.
    pub fn signature_of_parts<S: AsRef<str>>(&self, parts: &[S]) -> Vec<u32> {
        match parts {
            [one] => self.signature(one.as_ref()),
            _ => {
                let joined = parts.iter().map(AsRef::as_ref).collect::<Vec<_>>().join(" ");
                self.signature(&joined)
            }
        }
    }

    #[inline(always)]
    fn update(&self, sig: &mut [u32], x: u32) {
        for ((s, &a), &b) in sig.iter_mut().zip(&self.a).zip(&self.b) {
            *s = (*s).min(a.wrapping_mul(x).wrapping_add(b));
        }
    }
}

/// The words of `text` as `str::split_whitespace` cuts them (Unicode
/// `White_Space`), at byte-loop speed: an ASCII byte is classified directly,
/// and only the lead bytes of the multi-byte white-space characters (U+0085,
/// U+00A0, U+1680, U+2000..U+205F, U+3000) are decoded. `char::is_whitespace`
/// on every character was a third of signing time. An iterator rather than a
/// callback, so the signing loop stays in one function (and in its AVX2 body).
struct Words<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let b = self.text.as_bytes();
        let mut i = self.at;
        let mut start = None::<usize>;
        while i < b.len() {
            let (space, len) = match b[i] {
                b'\t'..=b'\r' | b' ' => (true, 1),
                0xC2 | 0xE1 | 0xE2 | 0xE3 => {
                    let ch = self.text[i..].chars().next().unwrap_or('x');
                    (ch.is_whitespace(), ch.len_utf8())
                }
                _ => (false, 1),
            };
            if space {
                if let Some(s) = start {
                    self.at = i + len;
                    return Some(&b[s..i]);
                }
            } else if start.is_none() {
                start = Some(i);
            }
            i += len;
        }
        self.at = b.len();
        start.map(|s| &b[s..])
    }
}

#[inline(always)]
fn split_words(text: &str) -> Words<'_> {
    Words { text, at: 0 }
}

#[inline]
fn combine(window: &[u64]) -> u64 {
    let mut h = 0x243F_6A88_85A3_08D3u64;
    for &w in window {
        h = (h.rotate_left(23) ^ w).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    h ^ (h >> 29)
}

/// The fraction of positions where two signatures agree.
pub fn jaccard_estimate(a: &[u32], b: &[u32]) -> f64 {
    if a.is_empty() || a.len() != b.len() {
        return 0.0;
    }
    let same = a.iter().zip(b).filter(|(x, y)| x == y).count();
    same as f64 / a.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn true_jaccard(h: &MinHasher, a: &str, b: &str) -> f64 {
        let mut sa = HashSet::new();
        let mut sb = HashSet::new();
        h.for_each_shingle(a, |x| {
            sa.insert(x);
        });
        h.for_each_shingle(b, |x| {
            sb.insert(x);
        });
        let inter = sa.intersection(&sb).count() as f64;
        inter / (sa.len() as f64 + sb.len() as f64 - inter)
    }

    fn words(seed: u64, n: usize) -> Vec<String> {
        let mut s = seed;
        (0..n).map(|_| format!("w{}", splitmix64(&mut s) % 5000)).collect()
    }

    #[test]
    fn identical_texts_agree_everywhere() {
        let h = MinHasher::new(128, Shingling::Words(5), 1).unwrap();
        let t = words(3, 200).join(" ");
        assert_eq!(jaccard_estimate(&h.signature(&t), &h.signature(&t)), 1.0);
        assert!(h.signature("").iter().all(|&v| v == u32::MAX));
        assert_ne!(h.signature("short"), h.signature(""));
    }

    #[test]
    fn estimate_tracks_true_jaccard() {
        let h = MinHasher::new(256, Shingling::Words(3), 42).unwrap();
        let mut sq = 0.0;
        let mut n = 0.0;
        for trial in 0..60u64 {
            let base = words(trial, 400);
            let mut other = base.clone();
            let edits = (trial as usize % 12) * 3;
            for (k, w) in words(trial + 1000, edits).into_iter().enumerate() {
                let at = (k * 37 + trial as usize) % other.len();
                other[at] = w;
            }
            let (a, b) = (base.join(" "), other.join(" "));
            let j = true_jaccard(&h, &a, &b);
            let est = jaccard_estimate(&h.signature(&a), &h.signature(&b));
            let sd = (j * (1.0 - j) / 256.0).sqrt().max(0.01);
            sq += ((est - j) / sd).powi(2);
            n += 1.0;
            assert!((est - j).abs() < 5.0 * sd, "trial {trial}: est {est} true {j}");
        }
        // Normalised errors should have unit variance if the family behaves like random permutations.
        assert!(sq / n < 2.0, "mean squared z = {}", sq / n);
    }

    proptest::proptest! {
        #[test]
        fn words_match_split_whitespace(t in "[a\\t\\n\\x0b\\x1c \u{85}\u{a0}\u{2003}\u{3000}\u{e9}\u{1f600}b]{0,40}") {
            let fast: Vec<String> = split_words(&t).map(|w| String::from_utf8(w.to_vec()).unwrap()).collect();
            let slow: Vec<String> = t.split_whitespace().map(str::to_string).collect();
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn char_shingles() {
        let h = MinHasher::new(64, Shingling::Chars(4), 0).unwrap();
        let mut n = 0;
        h.for_each_shingle("héllo wörld", |_| n += 1);
        assert_eq!(n, 11 - 4 + 1);
        assert!(MinHasher::new(0, Shingling::Chars(4), 0).is_err());
    }
}
