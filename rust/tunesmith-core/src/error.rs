//! The one error type of the core. The binding crate maps each variant to a
//! `tunesmith.errors` class, so variants say *what kind* of failure happened and
//! their messages name the argument, file, line or field involved.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CoreError {
    /// An argument had a value outside its domain (maps to `ValueError`).
    #[error("{argument}: {message}")]
    InvalidArgument { argument: String, message: String },
    /// Column arguments of a sweep could not be broadcast together.
    #[error("cannot broadcast {argument} of length {got} against length {expected}")]
    Broadcast {
        argument: String,
        got: usize,
        expected: usize,
    },
    /// Malformed serialized data (maps to `ValueError`).
    #[error("invalid JSON for {type_name}: {message}")]
    Json { type_name: String, message: String },
}

impl CoreError {
    pub fn invalid(argument: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidArgument {
            argument: argument.into(),
            message: message.into(),
        }
    }
}
