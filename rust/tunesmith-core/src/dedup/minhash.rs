//! MinHash signatures (Broder 1997): for each of `num_perm` hash functions,
//! the minimum over a document's shingles; two signatures agree in a fraction
//! of positions whose expectation is the Jaccard similarity of the shingle sets.
//!
//! Shingles are hashed once to 32 bits; the `num_perm` functions are
//! `h_i(x) = a_i·x + b_i mod 2^32` with odd `a_i`, bijections of the 32-bit
//! hash that compilers vectorise (the inner loop is a multiply, add and min per
//! lane). The test below checks the estimator's error against the binomial
//! standard deviation `sqrt(J(1-J)/num_perm)` it should have.
//!
//! A text is signed in batches of shingles, one step at a time over the whole
//! batch: find the words (64-byte white-space masks), hash each word once,
//! combine each window of word hashes, then permute the batch into the
//! signature a register-sized block of values at a time. The property tests
//! check every fast path against the plain definition.

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

/// The longest shingle, in words or characters.
const MAX_NGRAM: usize = 64;

/// Shingle hashes are permuted in batches of this many, so that a text of any
/// length needs one batch of memory.
const BATCH: usize = 512;

/// Signature values kept in registers while a batch streams past them: four
/// AVX2 registers, with their `a` and `b` in eight more, so the inner loop
/// touches no memory but the shingle (64 lanes spilled `a` and `b` to memory
/// operands and measured 10 % slower). The signature is read and written once
/// per batch rather than once per shingle.
const LANES: usize = 32;

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
        if n == 0 || n > MAX_NGRAM {
            return Err(CoreError::invalid("ngram", format!("must be in 1..={MAX_NGRAM}, got {n}")));
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
    pub fn for_each_shingle(&self, text: &str, mut f: impl FnMut(u32)) {
        self.for_each_shingle_batch(text, |batch| batch.iter().for_each(|&x| f(x)));
    }

    /// [`MinHasher::for_each_shingle`] in batches of up to [`BATCH`]. Each step
    /// runs over a whole batch (split and hash words, combine windows, permute)
    /// so that one step's mispredicted branches do not stall the others.
    #[inline(always)]
    fn for_each_shingle_batch(&self, text: &str, mut f: impl FnMut(&[u32])) {
        let seed = self.seed;
        let mut shingles = [0u32; BATCH];
        match self.shingling {
            Shingling::Words(n) => {
                // Word hashes; the last `n - 1` of a batch stay for the next.
                let mut words = [0u64; BATCH + MAX_NGRAM - 1];
                let mut len = 0;
                let mut total = 0;
                let mut emit = |words: &[u64], f: &mut dyn FnMut(&[u32])| {
                    let count = words.len() + 1 - n;
                    match n {
                        5 => combine_windows::<5>(words, &mut shingles),
                        _ => {
                            for (x, window) in shingles.iter_mut().zip(words.windows(n)) {
                                *x = fold32(combine(window));
                            }
                        }
                    }
                    f(&shingles[..count]);
                };
                for word in split_words(text) {
                    words[len] = xxh3_64_with_seed(word, seed);
                    len += 1;
                    total += 1;
                    if len == BATCH + n - 1 {
                        emit(&words[..len], &mut f);
                        words.copy_within(len + 1 - n..len, 0);
                        len = n - 1;
                    }
                }
                if total >= n && len >= n {
                    emit(&words[..len], &mut f);
                } else if total > 0 && total < n {
                    f(&[fold32(combine(&words[..total]))]);
                }
            }
            Shingling::Chars(n) => {
                let starts: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
                if starts.is_empty() {
                    return;
                }
                if starts.len() <= n {
                    f(&[fold32(xxh3_64_with_seed(text.as_bytes(), seed))]);
                    return;
                }
                let bytes = text.as_bytes();
                let ends = starts.iter().skip(n).copied().chain(std::iter::once(text.len()));
                let mut len = 0;
                for (&start, end) in starts.iter().zip(ends) {
                    shingles[len] = fold32(xxh3_64_with_seed(&bytes[start..end], seed));
                    len += 1;
                    if len == BATCH {
                        f(&shingles);
                        len = 0;
                    }
                }
                f(&shingles[..len]);
            }
        }
    }

    /// The signature of `text` (all `u32::MAX` for a text without shingles).
    pub fn signature(&self, text: &str) -> Vec<u32> {
        let mut sig = vec![u32::MAX; self.num_perm];
        self.for_each_shingle_batch(text, |batch| self.permute_min(batch, &mut sig));
        sig
    }

    /// Fold the permuted shingle hashes `xs` into `sig`, with AVX2 where the CPU has it.
    fn permute_min(&self, xs: &[u32], sig: &mut [u32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            #[allow(unsafe_code)]
            unsafe {
                permute_min_avx2(&self.a, &self.b, xs, sig);
            }
            return;
        }
        permute_min(&self.a, &self.b, xs, sig);
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
}

/// [`permute_min`] compiled for AVX2: eight lanes of multiply-add-min where
/// SSE2 has no 32-bit multiply, and sixteen registers to hold a block in.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn permute_min_avx2(a: &[u32], b: &[u32], xs: &[u32], sig: &mut [u32]) {
    permute_min(a, b, xs, sig);
}

/// `sig[i] = min(sig[i], min over x of a[i]·x + b[i])` (wrapping), a block of
/// [`LANES`] values at a time so that each block stays in registers across the
/// whole batch `xs`.
#[inline(always)]
fn permute_min(a: &[u32], b: &[u32], xs: &[u32], sig: &mut [u32]) {
    let mut sig_blocks = sig.chunks_exact_mut(LANES);
    let (mut a_blocks, mut b_blocks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    for ((s, a), b) in (&mut sig_blocks).zip(&mut a_blocks).zip(&mut b_blocks) {
        let (Ok(s), Ok(a), Ok(b)) = (
            <&mut [u32; LANES]>::try_from(s),
            <&[u32; LANES]>::try_from(a),
            <&[u32; LANES]>::try_from(b),
        ) else {
            continue;
        };
        let mut acc = *s;
        for &x in xs {
            for l in 0..LANES {
                acc[l] = acc[l].min(a[l].wrapping_mul(x).wrapping_add(b[l]));
            }
        }
        *s = acc;
    }
    let tail = sig_blocks.into_remainder().iter_mut().zip(a_blocks.remainder()).zip(b_blocks.remainder());
    for ((s, &a), &b) in tail {
        for &x in xs {
            *s = (*s).min(a.wrapping_mul(x).wrapping_add(b));
        }
    }
}

/// The words of `text` as `str::split_whitespace` cuts them (Unicode
/// `White_Space`), 64 bytes at a time: a mask of the block's ASCII white-space
/// bytes, completed by decoding only the lead bytes of multi-byte white-space
/// characters (U+0085, U+00A0, U+1680, U+2000..U+205F, U+3000); words start
/// and end where the mask changes. A loop over bytes was slower than permuting
/// 256 values per shingle, mostly for its mispredicted branches. An iterator
/// rather than a callback, so that the hashing loop stays one function.
struct Words<'a> {
    text: &'a str,
    /// Start of the block whose word edges are in `edges`, and of the next.
    block: usize,
    next_block: usize,
    /// Bit `j` set where a word starts or ends at `block + j`.
    edges: u64,
    word_start: Option<usize>,
    /// Bit 0 of the next block's shifted mask: whether the byte before it is white space.
    space_before: u64,
    /// The bytes of a multi-byte white-space character begun in the previous block.
    spill: u64,
}

impl<'a> Words<'a> {
    fn new(text: &'a str) -> Self {
        Self {
            text,
            block: 0,
            next_block: 0,
            edges: 0,
            word_start: None,
            space_before: 1,
            spill: 0,
        }
    }

    /// Find the word edges of the block at `pos`.
    #[inline(always)]
    fn load(&mut self, pos: usize) {
        let b = self.text.as_bytes();
        let (mut space, mut leads) = match b.get(pos..pos + 64).and_then(|s| <&[u8; 64]>::try_from(s).ok()) {
            Some(block) => space_masks(block),
            None => {
                let mut block = [b' '; 64];
                let tail = &b[pos.min(b.len())..];
                block[..tail.len()].copy_from_slice(tail);
                space_masks(&block)
            }
        };
        space |= self.spill;
        self.spill = 0;
        while leads != 0 {
            let j = leads.trailing_zeros();
            leads &= leads - 1;
            if let Some(width) = multibyte_space_len(self.text, pos + j as usize) {
                let bits = ((1u128 << width) - 1) << j;
                space |= bits as u64;
                self.spill = (bits >> 64) as u64;
            }
        }
        self.edges = space ^ ((space << 1) | self.space_before);
        self.space_before = space >> 63;
        self.block = pos;
        self.next_block = pos + 64;
    }
}

impl<'a> Iterator for Words<'a> {
    type Item = &'a [u8];

    #[inline(always)]
    fn next(&mut self) -> Option<&'a [u8]> {
        let b = self.text.as_bytes();
        loop {
            while self.edges != 0 {
                let at = self.block + self.edges.trailing_zeros() as usize;
                self.edges &= self.edges - 1;
                match self.word_start.take() {
                    Some(start) => return Some(&b[start..at]),
                    None => self.word_start = Some(at),
                }
            }
            if self.next_block >= b.len() {
                return self.word_start.take().map(|start| &b[start..]);
            }
            self.load(self.next_block);
        }
    }
}

#[inline(always)]
fn split_words(text: &str) -> Words<'_> {
    Words::new(text)
}

/// Bit `j` set where `block[j]` is ASCII white space (`\t`..`\r`, space), and
/// where it is a lead byte a multi-byte white-space character can start with.
#[inline(always)]
fn space_masks(block: &[u8; 64]) -> (u64, u64) {
    #[cfg(target_arch = "x86_64")]
    return space_masks_sse2(block);
    #[cfg(not(target_arch = "x86_64"))]
    space_masks_portable(block)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn space_masks_portable(block: &[u8; 64]) -> (u64, u64) {
    let mut space = 0u64;
    let mut leads = 0u64;
    for (j, &c) in block.iter().enumerate() {
        space |= u64::from((c == b' ') | (c.wrapping_sub(b'\t') < 5)) << j;
        leads |= u64::from((c == 0xC2) | (c.wrapping_sub(0xE1) < 3)) << j;
    }
    (space, leads)
}

/// [`space_masks_portable`] 16 bytes at a time ([`crate::simd`]).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn space_masks_sse2(block: &[u8; 64]) -> (u64, u64) {
    use crate::simd::mask;
    (
        mask(block, |x| x.eq(b' ').or(x.in_range(b'\t', 5))),
        mask(block, |x| x.eq(0xC2).or(x.in_range(0xE1, 3))),
    )
}

/// The byte length of the character at byte `i` of `text` if it is white space.
#[inline]
fn multibyte_space_len(text: &str, i: usize) -> Option<u32> {
    let ch = text.get(i..).and_then(|t| t.chars().next())?;
    ch.is_whitespace().then(|| ch.len_utf8() as u32)
}

/// `fold32(combine(w))` of each window `w` of `N` consecutive word hashes,
/// with `N` known at compile time so that the rounds unroll.
#[inline(always)]
fn combine_windows<const N: usize>(words: &[u64], out: &mut [u32]) {
    for (x, window) in out.iter_mut().zip(words.windows(N)) {
        let Ok(window) = <&[u64; N]>::try_from(window) else { continue };
        *x = fold32(combine(window));
    }
}

#[inline(always)]
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

    #[test]
    fn words_around_block_edges() {
        for space in ["\u{85}", "\u{a0}", "\u{2003}", "\u{3000}", " "] {
            for at in 56..72 {
                let t = format!("{}{space}b{space}{}", "a".repeat(at), "c".repeat(70));
                let fast: Vec<&[u8]> = split_words(&t).collect();
                let slow: Vec<&[u8]> = t.split_whitespace().map(str::as_bytes).collect();
                assert_eq!(fast, slow, "{space:?} at {at}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn space_masks_match_portable(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(vec![
                        8u8, 9, 13, 14, 0x1F, b' ', b'!', 0x80, 0xC1, 0xC2, 0xC3, 0xE0, 0xE1, 0xE3, 0xE4, 0xFF
                    ]),
                ],
                64,
            )
        ) {
            let mut block = [0u8; 64];
            block.copy_from_slice(&bytes);
            proptest::prop_assert_eq!(space_masks(&block), space_masks_portable(&block));
        }

        #[test]
        fn words_match_split_whitespace(
            t in concat!(
                "([a-z]{0,12}|[\\t\\n\\x0b\\x1c\\x00\\x7f! ",
                "\u{85}\u{a0}\u{1680}\u{2003}\u{2010}\u{2028}\u{205f}\u{3000}\u{e9}\u{1f600}]){0,30}"
            )
        ) {
            let fast: Vec<String> = split_words(&t).map(|w| String::from_utf8(w.to_vec()).unwrap()).collect();
            let slow: Vec<String> = t.split_whitespace().map(str::to_string).collect();
            proptest::prop_assert_eq!(fast, slow);
        }
    }

    /// The signature by its definition: words by `split_whitespace`, every
    /// window of `n` combined, every permutation applied to every shingle.
    fn reference_signature(h: &MinHasher, text: &str) -> Vec<u32> {
        let mut shingles = Vec::new();
        match h.shingling {
            Shingling::Words(n) => {
                let words: Vec<u64> =
                    text.split_whitespace().map(|w| xxh3_64_with_seed(w.as_bytes(), h.seed)).collect();
                if !words.is_empty() && words.len() < n {
                    shingles.push(fold32(combine(&words)));
                }
                shingles.extend(words.windows(n).map(|w| fold32(combine(w))));
            }
            Shingling::Chars(_) => h.for_each_shingle(text, |x| shingles.push(x)),
        }
        let permuted = |(&a, &b): (&u32, &u32)| shingles.iter().map(|&x| a.wrapping_mul(x).wrapping_add(b)).min();
        h.a.iter().zip(&h.b).map(|ab| permuted(ab).unwrap_or(u32::MAX)).collect()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        #[test]
        fn signature_matches_reference(
            tokens in proptest::collection::vec("[a-d]{1,3}|[ \\n\u{a0}]", 0..1400),
            num_perm in 1usize..300,
            n in 1usize..8,
        ) {
            let text = tokens.concat();
            let h = MinHasher::new(num_perm, Shingling::Words(n), 7).unwrap();
            let expected = reference_signature(&h, &text);
            proptest::prop_assert_eq!(&h.signature(&text), &expected);
        }

        #[test]
        fn permute_min_matches_reference(
            ab in proptest::collection::vec((proptest::num::u32::ANY, proptest::num::u32::ANY), 0..300),
            xs in proptest::collection::vec(proptest::num::u32::ANY, 0..40),
            start in proptest::num::u32::ANY,
        ) {
            let (a, b): (Vec<u32>, Vec<u32>) = ab.into_iter().unzip();
            let expected: Vec<u32> = a
                .iter()
                .zip(&b)
                .map(|(&a, &b)| xs.iter().fold(start, |m, &x| m.min(a.wrapping_mul(x).wrapping_add(b))))
                .collect();
            let mut portable = vec![start; a.len()];
            permute_min(&a, &b, &xs, &mut portable);
            proptest::prop_assert_eq!(&portable, &expected);
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut avx2 = vec![start; a.len()];
                // SAFETY: the CPU supports AVX2, checked just above.
                #[allow(unsafe_code)]
                unsafe {
                    permute_min_avx2(&a, &b, &xs, &mut avx2);
                }
                proptest::prop_assert_eq!(&avx2, &expected);
            }
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
