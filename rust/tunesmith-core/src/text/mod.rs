//! Text primitives shared by the cleaning steps: the one normalisation,
//! word tokenisation and n-gram helpers.

pub mod ngrams;
pub mod normalize;
pub mod spacy_exceptions;
pub mod words;

pub use normalize::normalize;
pub use words::{split_whitespace, words};
