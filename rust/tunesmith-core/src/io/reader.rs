//! Line reader over plain, gzip and zstd files that never loses a line.

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::Range;
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

/// Whole lines read in one go: one buffer and the range of every line in it.
///
/// Lines stay where `read` put them: no per-line allocation, and a kept line
/// can be written back as a slice of `data` (runs of adjacent kept lines as one
/// slice, see [`LineBlock::with_newline`]).
#[derive(Debug, Default)]
pub struct LineBlock {
    pub data: Vec<u8>,
    /// Content of each line (no `\n` / `\r\n`) as a range of `data`.
    pub lines: Vec<Range<usize>>,
    /// 1-based number of the first line.
    pub first_line: u64,
    /// Set when the stream broke in the last line of the block (see [`RawLine::error`]).
    pub error: Option<String>,
}

impl LineBlock {
    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// Bytes of line `i` (0-based within the block).
    #[inline]
    pub fn line(&self, i: usize) -> &[u8] {
        &self.data[self.lines[i].clone()]
    }

    /// 1-based file line number of line `i`.
    #[inline]
    pub fn number(&self, i: usize) -> u64 {
        self.first_line + i as u64
    }

    /// The stream error attached to line `i` (only ever the last one).
    pub fn error_at(&self, i: usize) -> Option<&str> {
        if i + 1 == self.lines.len() {
            self.error.as_deref()
        } else {
            None
        }
    }

    /// Line `i` followed by exactly one `\n` in `data`, when it is stored so
    /// (not for `\r\n` endings or an unterminated last line): what the writer
    /// emits for a kept line, ready to copy without assembling it.
    #[inline]
    pub fn with_newline(&self, i: usize) -> Option<Range<usize>> {
        let r = &self.lines[i];
        (self.data.get(r.end) == Some(&b'\n')).then(|| r.start..r.end + 1)
    }
}

/// Yields every line of a byte stream in order, one line or one block at a time.
pub struct LineReader {
    inner: Box<dyn Read + Send>,
    next_line: u64,
    /// Start of a line whose end has not been read yet.
    carry: Vec<u8>,
    done: bool,
    /// Block being handed out by [`LineReader::next_line`], and the next index in it.
    current: Option<(LineBlock, usize)>,
}

fn sniff(path: &Path, reader: &mut BufReader<File>) -> Result<Compression, CleanError> {
    use std::io::BufRead;
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
    let inner: Box<dyn Read + Send> = match sniff(path, &mut raw)? {
        Compression::None => {
            // Plain files are read straight into the blocks, not through a
            // buffer: what the sniff buffered first, then the file itself.
            let head = std::io::Cursor::new(raw.buffer().to_vec());
            Box::new(head.chain(raw.into_inner()))
        }
        Compression::Gzip => Box::new(MultiGzDecoder::new(raw)),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(raw)
                .map_err(|e| CleanError::io(path, &e))?;
            Box::new(decoder)
        }
    };
    Ok(LineReader::new(inner))
}

impl LineReader {
    pub fn new(inner: Box<dyn Read + Send>) -> Self {
        Self {
            inner,
            next_line: 1,
            carry: Vec::new(),
            done: false,
            current: None,
        }
    }

    /// A reader over bytes already in memory.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self::new(Box::new(std::io::Cursor::new(bytes)))
    }

    /// The next block of whole lines, about `target_bytes` long (longer when
    /// one line is), or `None` at the end of the stream.
    ///
    /// Memory is bounded by `target_bytes` plus the longest line.
    pub fn next_block(&mut self, target_bytes: usize) -> Option<LineBlock> {
        self.next_block_in(target_bytes, Vec::new())
    }

    /// [`LineReader::next_block`] reading into `buffer` (a block's `data`
    /// handed back once used), so a long run reuses a few buffers instead of
    /// faulting in fresh pages for every block.
    pub fn next_block_in(&mut self, target_bytes: usize, mut buffer: Vec<u8>) -> Option<LineBlock> {
        if let Some((block, at)) = self.current.take() {
            // Hand out what `next_line` has not, so both APIs can be mixed.
            if at < block.len() {
                return Some(LineBlock {
                    lines: block.lines[at..].to_vec(),
                    first_line: block.number(at),
                    ..block
                });
            }
        }
        if self.done {
            return None;
        }
        let target = target_bytes.max(1);
        buffer.clear();
        buffer.extend_from_slice(&self.carry);
        self.carry.clear();
        let mut data = buffer;
        data.reserve(target.saturating_sub(data.len()));
        // Bytes before `scanned` hold no newline.
        let mut scanned = 0usize;
        let mut error = None;
        let mut eof = false;
        loop {
            let has_newline = memchr::memrchr(b'\n', &data[scanned..]).is_some();
            if has_newline && data.len() >= target {
                break;
            }
            if !has_newline {
                scanned = data.len();
            }
            // Grow geometrically while one line is longer than the block.
            let want = target.saturating_sub(data.len()).max(data.len()).max(64 << 10);
            match (&mut self.inner).take(want as u64).read_to_end(&mut data) {
                Ok(n) if n < want => {
                    eof = true;
                    break;
                }
                Ok(_) => {}
                Err(err) => {
                    error = Some(format!("read error, rest of file unreadable: {err}"));
                    eof = true;
                    break;
                }
            }
        }
        if eof {
            self.done = true;
        } else if let Some(last) = memchr::memrchr(b'\n', &data) {
            self.carry.extend_from_slice(&data[last + 1..]);
            data.truncate(last + 1);
        }
        let mut lines = Vec::with_capacity(data.len() / 256 + 1);
        let mut start = 0usize;
        for nl in memchr::memchr_iter(b'\n', &data) {
            let end = if nl > start && data[nl - 1] == b'\r' { nl - 1 } else { nl };
            lines.push(start..end);
            start = nl + 1;
        }
        if start < data.len() || (error.is_some() && start == data.len()) {
            // An unterminated last line (kept byte for byte, as `read_until` gives
            // it), or the possibly empty line the stream broke in.
            lines.push(start..data.len());
        }
        if lines.is_empty() {
            return None;
        }
        let first_line = self.next_line;
        self.next_line += lines.len() as u64;
        Some(LineBlock {
            data,
            lines,
            first_line,
            error,
        })
    }

    /// The next line, or `None` at the end of the stream.
    pub fn next_line(&mut self) -> Option<RawLine> {
        loop {
            if let Some((block, at)) = self.current.as_mut() {
                if *at < block.len() {
                    let i = *at;
                    *at += 1;
                    return Some(RawLine {
                        line: block.number(i),
                        bytes: block.line(i).to_vec(),
                        error: block.error_at(i).map(str::to_string),
                    });
                }
            }
            let block = self.next_block(READ_BUFFER)?;
            self.current = Some((block, 0));
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

    /// A stream that yields `data` in pieces of `step` bytes, then fails.
    struct Trickle {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail: bool,
    }

    impl Read for Trickle {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.at == self.data.len() {
                return if self.fail {
                    Err(std::io::Error::other("corrupt"))
                } else {
                    Ok(0)
                };
            }
            let n = self.step.min(buf.len()).min(self.data.len() - self.at);
            buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn blocks(data: &[u8], step: usize, target: usize, fail: bool) -> Vec<(u64, Vec<u8>, Option<String>)> {
        let mut r = LineReader::new(Box::new(Trickle {
            data: data.to_vec(),
            at: 0,
            step,
            fail,
        }));
        let mut out = Vec::new();
        while let Some(b) = r.next_block(target) {
            assert!(!b.is_empty());
            for i in 0..b.len() {
                out.push((b.number(i), b.line(i).to_vec(), b.error_at(i).map(str::to_string)));
            }
        }
        out
    }

    #[test]
    fn blocks_match_lines_for_any_split() {
        let data = b"{\"a\": 1}\r\n\nxx\nlonger line here\nend".to_vec();
        let want: Vec<(u64, Vec<u8>, Option<String>)> = LineReader::from_bytes(data.clone())
            .read_all()
            .into_iter()
            .map(|l| (l.line, l.bytes, l.error))
            .collect();
        assert_eq!(want.len(), 5);
        for step in [1, 3, 7, 64] {
            for target in [1, 2, 5, 16, 1000] {
                assert_eq!(blocks(&data, step, target, false), want, "step {step} target {target}");
            }
        }
    }

    #[test]
    fn broken_stream_ends_in_one_error_line() {
        let got = blocks(b"a\nb\npart", 2, 3, true);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1], (2, b"b".to_vec(), None));
        assert_eq!(got[2].1, b"part");
        assert!(got[2].2.as_deref().unwrap().contains("corrupt"));
        let got = blocks(b"a\n", 1, 1, true);
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, b"");
        assert!(got[1].2.is_some());
    }

    #[test]
    fn kept_line_slices_include_only_a_bare_newline() {
        let mut r = LineReader::from_bytes(b"a\nb\r\nc".to_vec());
        let b = r.next_block(1 << 20).unwrap();
        assert_eq!(b.with_newline(0).map(|r| &b.data[r]), Some(&b"a\n"[..]));
        assert_eq!(b.with_newline(1), None);
        assert_eq!(b.with_newline(2), None);
        assert_eq!(b.line(1), b"b");
    }
}
