//! Reading and writing JSONL corpora, plain or compressed.
//!
//! The reader hands out *every* line with its 1-based number, as raw bytes: it
//! never decodes, so invalid UTF-8 or a malformed record reaches the pipeline
//! and is accounted for there (rejected with file, line and error) instead of
//! vanishing inside a reader. The writer replaces its target atomically.

pub(crate) mod bytescan;
pub mod reader;
pub mod record;
pub mod writer;

use std::path::Path;

use thiserror::Error;

pub use reader::{open_decompressed, open_lines, BlockData, LineBlock, LineReader, Mapping, RawLine};
pub use record::{locate_normalized_text, locate_text, parse_record, splice, unescape_into, TextLiteral, Field, FieldRole, ParsedRecord, RecordShape, TextFields};
pub use writer::AtomicWriter;

/// Failures of a clean run that stop it (a bad *record* never does: it is rejected).
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum CleanError {
    /// The operating system refused a read, write or rename (maps to `OSError`).
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// A record could not be used and the run is strict (maps to `InputError`).
    #[error("{path}:{line}: {message}")]
    Input {
        path: String,
        line: u64,
        message: String,
    },
    /// A configuration value is out of its domain (maps to `ConfigError`).
    #[error("{key}: {message}")]
    Config { key: String, message: String },
}

impl CleanError {
    pub fn io(path: &Path, err: &std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: err.to_string(),
        }
    }

    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Compression of a corpus file, chosen by its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("gz") || ext.eq_ignore_ascii_case("gzip") => {
                Self::Gzip
            }
            Some(ext) if ext.eq_ignore_ascii_case("zst") || ext.eq_ignore_ascii_case("zstd") => {
                Self::Zstd
            }
            _ => Self::None,
        }
    }
}
