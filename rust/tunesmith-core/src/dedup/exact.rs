//! Exact duplicates by a 128-bit xxh3 of the normalised content.
//!
//! At 128 bits the chance that any two of 10^12 distinct documents collide is
//! about 10^-15, so the hash stands in for the content and the state is 16
//! bytes of key plus the 8-byte ordinal of the first occurrence per unique
//! document (hashbrown adds one control byte and keeps the load factor ≤ 7/8).

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
