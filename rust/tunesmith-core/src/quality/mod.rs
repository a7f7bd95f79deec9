//! Per-document quality and repetition filters: Gopher's quality and
//! repetition heuristics (with datatrove's definitions) and the seed guide's
//! length and validator checks.

pub mod gopher;
pub mod length;
pub mod repetition;
pub mod validator;
