//! Locality-sensitive hashing over MinHash signatures, candidate
//! verification, and union-find clusters.
//!
//! A signature of `bands × rows` values is cut into `bands` bands; two
//! documents whose signatures agree on every row of at least one band become
//! candidates, which happens with probability `1 - (1 - J^rows)^bands` for
//! Jaccard similarity `J` (*Mining of Massive Datasets*, §3.4.2). Candidates
//! are then verified by the estimated Jaccard over the whole signature, so
//! banding only needs to be permissive enough for recall.
//!
//! Memory per indexed document: its signature (`4 × num_perm` bytes), its
//! band keys (`bands` table entries of 8 + 4 bytes at load ≤ 7/8) and a
//! `4 × bands`-byte chain of earlier documents sharing a key.

use std::collections::HashMap;

use xxhash_rust::xxh3::xxh3_64_with_seed;

use super::exact::HashBuilder;
use crate::CoreError;

const NO_DOC: u32 = u32::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LshParams {
    pub bands: usize,
    pub rows: usize,
}

impl LshParams {
    /// The most selective banding of `num_perm` values that still makes a pair
    /// at Jaccard `threshold - 0.05` a candidate with probability ≥ 0.995.
    pub fn for_threshold(num_perm: usize, threshold: f64) -> Self {
        let target = (threshold - 0.05).clamp(0.05, 0.99);
        let mut best = Self {
            bands: num_perm,
            rows: 1,
        };
        for rows in 1..=num_perm {
            let bands = num_perm / rows;
            if bands == 0 {
                break;
            }
            let p = 1.0 - (1.0 - target.powi(rows as i32)).powi(bands as i32);
            if p >= 0.995 {
                best = Self { bands, rows };
            }
        }
        best
    }

    pub fn validate(&self, num_perm: usize) -> Result<(), CoreError> {
        if self.bands == 0 || self.rows == 0 || self.bands * self.rows > num_perm {
            return Err(CoreError::invalid(
                "bands",
                format!(
                    "bands × rows must be in 1..={num_perm} (num_perm), got {} × {}",
                    self.bands, self.rows
                ),
            ));
        }
        Ok(())
    }

    /// One 64-bit key per band.
    pub fn band_keys(&self, sig: &[u32]) -> Vec<u64> {
        (0..self.bands)
            .map(|b| {
                let rows = &sig[b * self.rows..(b + 1) * self.rows];
                let mut bytes = [0u8; 256];
                let mut key = b as u64;
                for (i, chunk) in rows.chunks(64).enumerate() {
                    for (j, v) in chunk.iter().enumerate() {
                        bytes[j * 4..j * 4 + 4].copy_from_slice(&v.to_le_bytes());
                    }
                    key = xxh3_64_with_seed(&bytes[..chunk.len() * 4], key ^ ((i as u64) << 32));
                }
                key
            })
            .collect()
    }
}

/// Which document of a cluster survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    First,
    Longest,
}

/// An LSH index of signatures with candidate verification.
#[derive(Debug, Clone)]
pub struct LshIndex {
    params: LshParams,
    num_perm: usize,
    threshold: f64,
    heads: Vec<HashMap<u64, u32, HashBuilder>>,
    next: Vec<u32>,
    signatures: Vec<u32>,
    ids: Vec<u64>,
}

impl LshIndex {
    pub fn new(num_perm: usize, params: LshParams, threshold: f64) -> Result<Self, CoreError> {
        params.validate(num_perm)?;
        if !(0.0..=1.0).contains(&threshold) {
            return Err(CoreError::invalid(
                "threshold",
                format!("must be in [0, 1], got {threshold}"),
            ));
        }
        Ok(Self {
            params,
            num_perm,
            threshold,
            heads: (0..params.bands).map(|_| HashMap::default()).collect(),
            next: Vec::new(),
            signatures: Vec::new(),
            ids: Vec::new(),
        })
    }

    pub fn params(&self) -> LshParams {
        self.params
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    fn signature(&self, doc: u32) -> &[u32] {
        let d = doc as usize;
        &self.signatures[d * self.num_perm..(d + 1) * self.num_perm]
    }

    /// Indexed documents that share a band with `keys`, each once, in index order.
    pub fn candidates(&self, keys: &[u64]) -> Vec<u32> {
        let mut out = Vec::new();
        for (band, key) in keys.iter().enumerate() {
            let mut doc = self.heads[band].get(key).copied().unwrap_or(NO_DOC);
            while doc != NO_DOC {
                out.push(doc);
                doc = self.next[doc as usize * self.params.bands + band];
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The first indexed document (by insertion order) whose estimated Jaccard
    /// with `sig` reaches the threshold: its id and the estimate.
    pub fn find_similar(&self, sig: &[u32], keys: &[u64]) -> Option<(u64, f64)> {
        self.candidates(keys).into_iter().find_map(|doc| {
            let j = super::jaccard_estimate(sig, self.signature(doc));
            (j >= self.threshold).then(|| (self.ids[doc as usize], j))
        })
    }

    /// Every indexed document similar to `sig`: (internal index, estimate).
    pub fn all_similar(&self, sig: &[u32], keys: &[u64]) -> Vec<(u32, f64)> {
        self.candidates(keys)
            .into_iter()
            .filter_map(|doc| {
                let j = super::jaccard_estimate(sig, self.signature(doc));
                (j >= self.threshold).then_some((doc, j))
            })
            .collect()
    }

    /// Add a document; returns its internal index.
    pub fn insert(&mut self, id: u64, sig: &[u32], keys: &[u64]) -> u32 {
        let doc = self.ids.len() as u32;
        self.ids.push(id);
        self.signatures.extend_from_slice(&sig[..self.num_perm]);
        for (band, key) in keys.iter().enumerate() {
            let prev = self.heads[band].insert(*key, doc).unwrap_or(NO_DOC);
            self.next.push(prev);
        }
        doc
    }

    /// Approximate heap bytes held.
    pub fn memory_bytes(&self) -> usize {
        let tables: usize = self.heads.iter().map(|h| h.capacity() * (8 + 4 + 1)).sum();
        tables + self.next.capacity() * 4 + self.signatures.capacity() * 4 + self.ids.capacity() * 8
    }
}

/// Disjoint sets over `0..n` with path halving and union by size.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
    size: Vec<u32>,
}

impl UnionFind {
    pub fn new(n: usize) -> Self {
        Self {
            parent: (0..n as u32).collect(),
            size: vec![1; n],
        }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let grand = self.parent[self.parent[x as usize] as usize];
            self.parent[x as usize] = grand;
            x = grand;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32) {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return;
        }
        if self.size[ra as usize] < self.size[rb as usize] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb as usize] = ra;
        self.size[ra as usize] += self.size[rb as usize];
    }
}

/// Near-duplicate clusters of a batch of signatures (flat, `num_perm` each).
///
/// Returns, per document, the index of the document kept for its cluster
/// (itself when kept): the first of the cluster, or the longest (ties to the
/// first) by `lengths`.
pub fn cluster(
    signatures: &[u32],
    num_perm: usize,
    params: LshParams,
    threshold: f64,
    keep: Keep,
    lengths: &[usize],
) -> Result<Vec<usize>, CoreError> {
    if num_perm == 0 || !signatures.len().is_multiple_of(num_perm) {
        return Err(CoreError::invalid(
            "signatures",
            format!("length {} is not a multiple of num_perm {num_perm}", signatures.len()),
        ));
    }
    let n = signatures.len() / num_perm;
    if keep == Keep::Longest && lengths.len() != n {
        return Err(CoreError::invalid(
            "lengths",
            format!("need one length per document ({n}), got {}", lengths.len()),
        ));
    }
    let mut index = LshIndex::new(num_perm, params, threshold)?;
    let mut uf = UnionFind::new(n);
    for d in 0..n {
        let sig = &signatures[d * num_perm..(d + 1) * num_perm];
        let keys = params.band_keys(sig);
        for (other, _) in index.all_similar(sig, &keys) {
            uf.union(d as u32, other);
        }
        index.insert(d as u64, sig, &keys);
    }
    let mut best: HashMap<u32, usize> = HashMap::new();
    for d in 0..n {
        let root = uf.find(d as u32);
        let entry = best.entry(root).or_insert(d);
        if keep == Keep::Longest && lengths[d] > lengths[*entry] {
            *entry = d;
        }
    }
    Ok((0..n)
        .map(|d| {
            let root = uf.find(d as u32);
            best.get(&root).copied().unwrap_or(d)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dedup::{MinHasher, Shingling};

    #[test]
    fn banding_for_threshold() {
        let p = LshParams::for_threshold(128, 0.8);
        assert!(p.bands * p.rows <= 128);
        let t: f64 = 0.75;
        assert!(1.0 - (1.0 - t.powi(p.rows as i32)).powi(p.bands as i32) >= 0.995);
        assert!(LshParams { bands: 20, rows: 7 }.validate(128).is_err());
    }

    #[test]
    fn clusters_keep_first_or_longest() {
        let h = MinHasher::new(128, Shingling::Words(3), 7).unwrap();
        let base: Vec<String> = (0..300).map(|i| format!("tok{}", i * 7 % 251)).collect();
        let a = base.join(" ");
        let b = format!("{a} extra words here");
        let c: String = (0..300).map(|i| format!("other{i} ")).collect();
        let mut flat = Vec::new();
        for t in [&a, &c, &b] {
            flat.extend(h.signature(t));
        }
        let params = LshParams::for_threshold(128, 0.8);
        let lengths = [a.len(), c.len(), b.len()];
        assert_eq!(cluster(&flat, 128, params, 0.8, Keep::First, &lengths).unwrap(), vec![0, 1, 0]);
        assert_eq!(cluster(&flat, 128, params, 0.8, Keep::Longest, &lengths).unwrap(), vec![2, 1, 2]);
    }

    #[test]
    fn union_find_merges() {
        let mut uf = UnionFind::new(5);
        uf.union(0, 1);
        uf.union(3, 4);
        uf.union(1, 4);
        assert_eq!(uf.find(0), uf.find(3));
        assert_ne!(uf.find(2), uf.find(0));
    }
}
