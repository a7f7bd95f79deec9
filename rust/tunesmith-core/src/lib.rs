//! tunesmith-core: the pure-Rust half of tunesmith.
//!
//! Nothing here knows about Python: the `tunesmith-py` crate adapts these
//! functions for PyO3, so everything in this crate is testable with `cargo test`.

pub mod dedup;
pub mod error;
pub mod estimate;
pub mod io;
pub mod parallel;
pub mod pii;
pub mod pipeline;
pub mod quality;
pub(crate) mod simd;
pub mod text;

pub use error::CoreError;
