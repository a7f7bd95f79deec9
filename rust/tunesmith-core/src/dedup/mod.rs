//! Exact and near-duplicate detection.
//!
//! * [`exact`]: 128-bit xxh3 of the normalised content; first occurrence kept.
//! * [`minhash`]: MinHash signatures over word or character n-grams
//!   (Broder, "On the resemblance and containment of documents", 1997).
//! * [`lsh`]: banding (Leskovec, Rajaraman, Ullman, *Mining of Massive
//!   Datasets*, ch. 3.4), candidate verification, union-find clusters.

pub mod exact;
pub mod lsh;
pub mod minhash;

pub use exact::{content_hash, ExactIndex};
pub use lsh::{cluster, Keep, LshIndex, LshParams, UnionFind};
pub use minhash::{jaccard_estimate, MinHasher, Shingling};
