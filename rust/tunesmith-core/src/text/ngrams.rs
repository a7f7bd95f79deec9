//! Word n-grams as integer windows: tokens are interned once, so an n-gram is
//! `n` consecutive ids and comparing n-grams never builds joined strings.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// A fast, deterministic hasher for short keys (FxHash's multiply-rotate).
#[derive(Default, Clone, Copy)]
pub struct FxHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.add(u64::from_le_bytes(b));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            self.add(short_word(rest) ^ ((rest.len() as u64) << 56));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// The bytes of a slice of at most 8 bytes as one integer, read in place:
/// two overlapping 4-byte reads (4..=8 bytes) or the first, middle and last
/// byte (1..=3) cover every byte, so with the length it is unique. Copying
/// into a buffer and reading that back whole stalls the load instead.
#[inline]
fn short_word(b: &[u8]) -> u64 {
    let n = b.len();
    let u32_at = |i: usize| b.get(i..i + 4).map_or(0, |w| u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]])));
    if n >= 4 {
        u32_at(0) | u32_at(n - 4) << 32
    } else if n > 0 {
        u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16
    } else {
        0
    }
}

#[derive(Default, Clone, Copy)]
pub struct FxBuild;

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;
    fn build_hasher(&self) -> FxHasher {
        FxHasher::default()
    }
}

pub type FxHashMap<K, V> = HashMap<K, V, FxBuild>;

/// 64-bit hash of a byte string (XXH3): equal hashes stand for equal
/// strings (tokens, lines, paragraphs), so it must not collide in practice;
/// a multiply-rotate hash like [`FxHasher`] does on long, similar lines.
#[inline]
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Dense ids (0, 1, 2, ... in order of first insertion) for 64-bit keys that
/// are already well-mixed hashes: open addressing with linear probing over
/// `(key, id + 1)` pairs (0 marks a vacant entry, so a fresh table is zeroed
/// memory), the slot taken from the key's top bits. Hand-written
/// because the n-gram levels do little else than this lookup: nothing is
/// hashed again, a probe is one 16-byte entry (usually one cache line), and
/// clearing between documents or levels is one fill.
pub struct DenseIds {
    entries: Vec<(u64, u32)>,
    shift: u32,
    len: u32,
}

const VACANT: u32 = 0;
const MIN_ENTRIES: usize = 16;

impl Default for DenseIds {
    fn default() -> Self {
        Self { entries: vec![(0, VACANT); MIN_ENTRIES], shift: 64 - MIN_ENTRIES.trailing_zeros(), len: 0 }
    }
}

impl DenseIds {
    /// An empty table that holds `n` keys without growing.
    pub fn with_capacity(n: usize) -> Self {
        let mut t = Self::default();
        t.reset(n);
        t
    }

    /// Empty the table, sized for `n` keys (it still grows past them).
    pub fn reset(&mut self, n: usize) {
        let want = n.saturating_mul(2).next_power_of_two().max(MIN_ENTRIES);
        if self.entries.len() < want || self.entries.len() > want * 4 {
            self.entries = vec![(0, VACANT); want];
        } else {
            self.entries.fill((0, VACANT));
        }
        self.shift = 64 - self.entries.len().trailing_zeros();
        self.len = 0;
    }

    /// Number of distinct keys inserted.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The id of `key`, and whether this call inserted it.
    #[inline]
    pub fn id(&mut self, key: u64) -> (u32, bool) {
        if (self.len as usize + 1) * 2 > self.entries.len() {
            self.grow();
        }
        let mask = self.entries.len() - 1;
        let mut at = (key >> self.shift) as usize;
        loop {
            let entry = &mut self.entries[at];
            if entry.1 == VACANT {
                *entry = (key, self.len + 1);
                self.len += 1;
                return (self.len - 1, true);
            }
            if entry.0 == key {
                return (entry.1 - 1, false);
            }
            at = (at + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let doubled = vec![(0, VACANT); self.entries.len() * 2];
        let old = std::mem::replace(&mut self.entries, doubled);
        self.shift -= 1;
        let mask = self.entries.len() - 1;
        for (key, id) in old.into_iter().filter(|e| e.1 != VACANT) {
            let mut at = (key >> self.shift) as usize;
            while self.entries[at].1 != VACANT {
                at = (at + 1) & mask;
            }
            self.entries[at] = (key, id);
        }
    }
}

/// Tokens interned to dense ids, with each token's length in characters.
pub struct Interned {
    pub ids: Vec<u32>,
    pub char_lens: Vec<u32>,
    pub distinct: usize,
}

/// Intern `tokens`: equal strings get equal ids, in order of first appearance.
pub fn intern(tokens: &[&str]) -> Interned {
    // Keyed by a 64-bit hash of the token: no string compares, and two
    // different tokens share an id only on a hash collision (~10^-10 per
    // document of 100k distinct words).
    let mut table = DenseIds::with_capacity(tokens.len() / 2);
    let mut ids = Vec::with_capacity(tokens.len());
    let mut char_lens = Vec::with_capacity(tokens.len());
    for t in tokens {
        ids.push(table.id(hash_bytes(t.as_bytes())).0);
        char_lens.push(u32::try_from(char_len(t)).unwrap_or(u32::MAX));
    }
    Interned { distinct: table.len(), ids, char_lens }
}

/// Length in Unicode code points (Python's `len`).
#[inline]
pub fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// A 128-bit key for the n-gram `ids[i..i + n]` (two independent 64-bit
/// hashes, so accidental equal keys are out of reach for any document size).
#[inline]
pub fn window_key(ids: &[u32]) -> (u64, u64) {
    let mut a = FxHasher { hash: 0x9e37_79b9_7f4a_7c15 };
    let mut b = FxHasher { hash: 0xc2b2_ae3d_27d4_eb4f };
    for &id in ids {
        a.add(u64::from(id));
        b.add(u64::from(id).wrapping_mul(0xff51_afd7_ed55_8ccd) ^ 0x1234_5678);
    }
    (a.hash, b.hash)
}

/// Count of each distinct n-gram of `ids` (size `n`) in first-seen order:
/// `(first start index, count)`.
pub fn ngram_counts(ids: &[u32], n: usize) -> Vec<(usize, u32)> {
    if n == 0 || ids.len() < n {
        return Vec::new();
    }
    let windows = ids.len() - n + 1;
    let mut index: FxHashMap<(u64, u64), usize> = FxHashMap::with_capacity_and_hasher(windows, FxBuild);
    let mut out: Vec<(usize, u32)> = Vec::new();
    for i in 0..windows {
        let key = window_key(&ids[i..i + n]);
        match index.get(&key) {
            Some(&slot) => out[slot].1 += 1,
            None => {
                index.insert(key, out.len());
                out.push((i, 1));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn dense_ids_number_keys_in_first_seen_order(keys in proptest::collection::vec(0u64..64, 0..300), hint in 0usize..40) {
            // Keys sharing their top bits, so probes collide and wrap around.
            let keys: Vec<u64> = keys.into_iter().map(|k| k << 58 | k).collect();
            let mut table = DenseIds::with_capacity(hint);
            for round in 0..2 {
                let mut reference: HashMap<u64, u32> = HashMap::new();
                for &k in &keys {
                    let next = reference.len() as u32;
                    let expected = *reference.entry(k).or_insert(next);
                    prop_assert_eq!(table.id(k), (expected, expected == next));
                }
                prop_assert_eq!(table.len(), reference.len());
                table.reset(hint * round);
            }
        }
    }
}
