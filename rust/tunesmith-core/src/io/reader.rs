//! Line reader over plain, gzip and zstd files that never loses a line.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::{CleanError, Compression};

const READ_BUFFER: usize = 1 << 20;

/// One physical line of a corpus file (without its `\n` / `\r\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawLine {
    /// 1-based line number in the (decompressed) file.
    pub line: u64,
    pub bytes: Vec<u8>,
    /// Set when the stream broke here (truncated or corrupt compressed data):
    /// the rest of the file is unreadable and is reported as this one rejected line.
    pub error: Option<String>,
}

/// Yields every line of a byte stream in order, in chunks of roughly `chunk_bytes`.
pub struct LineReader {
    inner: Box<dyn BufRead + Send>,
    next_line: u64,
    done: bool,
}

fn sniff(path: &Path, reader: &mut BufReader<File>) -> Result<Compression, CleanError> {
    let by_name = Compression::from_path(path);
    if by_name != Compression::None {
        return Ok(by_name);
    }
    let head = reader.fill_buf().map_err(|e| CleanError::io(path, &e))?;
    Ok(match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Zstd,
        _ => Compression::None,
    })
}

/// Open `path` (plain, `.gz` or `.zst`, also recognised by magic bytes) for line reading.
pub fn open_lines(path: &Path) -> Result<LineReader, CleanError> {
    let file = File::open(path).map_err(|e| CleanError::io(path, &e))?;
    let mut raw = BufReader::with_capacity(READ_BUFFER, file);
    let inner: Box<dyn BufRead + Send> = match sniff(path, &mut raw)? {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            MultiGzDecoder::new(raw),
        )),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| CleanError::io(path, &e))?;
            Box::new(BufReader::with_capacity(READ_BUFFER, decoder))
        }
    };
    Ok(LineReader::new(inner))
}

impl LineReader {
    pub fn new(inner: Box<dyn BufRead + Send>) -> Self {
        Self {
            inner,
            next_line: 1,
            done: false,
        }
    }

    /// A reader over bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::new(Box::new(std::io::Cursor::new(bytes)))
    }

    /// The next line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> Option<RawLine> {
        if self.done {
            return None;
        }
        let mut bytes = Vec::new();
        let line = self.next_line;
        match self.inner.read_until(b'\n', &mut bytes) {
            Ok(0) => {
                self.done = true;
                None
            }
            Ok(_) => {
                if bytes.last() == Some(&b'\n') {
                    bytes.pop();
                    if bytes.last() == Some(&b'\r') {
                        bytes.pop();
                    }
                }
                self.next_line += 1;
                Some(RawLine {
                    line,
                    bytes,
                    error: None,
                })
            }
            Err(err) => {
                self.done = true;
                self.next_line += 1;
                Some(RawLine {
                    line,
                    bytes,
                    error: Some(format!("read error, rest of file unreadable: {err}")),
                })
            }
        }
    }

    /// Up to `chunk_bytes` of lines (at least one line unless the stream is done).
    pub fn next_chunk(&mut self, chunk_bytes: usize) -> Vec<RawLine> {
        let mut out = Vec::new();
        let mut size = 0usize;
        while size < chunk_bytes {
            match self.next_line() {
                Some(l) => {
                    size += l.bytes.len() + 1;
                    out.push(l);
                }
                None => break,
            }
        }
        out
    }

    /// Drain the reader; for tests and small inputs.
    pub fn read_all(mut self) -> Vec<RawLine> {
        let mut out = Vec::new();
        while let Some(l) = self.next_line() {
            out.push(l);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_with_its_number() {
        let lines = LineReader::from_bytes(b"a\r\n\nb\xff\nlast".to_vec()).read_all();
        let got: Vec<(u64, &[u8])> = lines.iter().map(|l| (l.line, l.bytes.as_slice())).collect();
        assert_eq!(
            got,
            vec![(1, &b"a"[..]), (2, &b""[..]), (3, &b"b\xff"[..]), (4, &b"last"[..])]
        );
    }

    #[test]
    fn empty_input_has_no_lines() {
        assert!(LineReader::from_bytes(Vec::new()).read_all().is_empty());
    }

    #[test]
    fn chunks_cover_everything() {
        let text: Vec<u8> = (0..1000).flat_map(|i| format!("{i}\n").into_bytes()).collect();
        let mut r = LineReader::from_bytes(text);
        let mut n = 0;
        loop {
            let c = r.next_chunk(100);
            if c.is_empty() {
                break;
            }
            n += c.len();
        }
        assert_eq!(n, 1000);
    }
}
