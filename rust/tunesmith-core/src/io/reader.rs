//! Line reader over plain, gzip and zstd files that never loses a line.
//!
//! A plain file is mapped into memory rather than read: blocks are slices of
//! the mapping (no copy of the input), and the pages of a block are dropped
//! from the process once it is written ([`LineBlock::release`]), so memory
//! stays bounded by the blocks in flight. Compressed files, pipes and files
//! the system does not map are read into reused buffers instead. As with any
//! mapped input, a file truncated by another process during a run ends it
//! with `SIGBUS`.

use std::fs::File;
use std::io::{BufReader, Read};
use std::ops::{Deref, Range};
use std::path::Path;
use std::sync::Arc;

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

/// A read-only mapping of a whole file.
pub struct Mapping {
    map: mapped::Map,
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mapping({} bytes)", self.map.bytes().len())
    }
}

impl Mapping {
    /// Map `file` (of `len` bytes); `None` when the system will not (empty
    /// file, not a regular file, no `mmap`).
    fn open(file: &File, len: u64) -> Option<Self> {
        mapped::Map::open(file, usize::try_from(len).ok()?).map(|map| Self { map })
    }

    pub fn bytes(&self) -> &[u8] {
        self.map.bytes()
    }
}

/// The bytes of a [`LineBlock`]: a buffer it owns, or a range of a mapped file.
#[derive(Debug)]
pub enum BlockData {
    Owned(Vec<u8>),
    Mapped(Arc<Mapping>, Range<usize>),
}

impl Default for BlockData {
    fn default() -> Self {
        Self::Owned(Vec::new())
    }
}

impl Deref for BlockData {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        match self {
            Self::Owned(v) => v,
            Self::Mapped(m, r) => &m.bytes()[r.clone()],
        }
    }
}

/// Whole lines read in one go: one buffer and the range of every line in it.
///
/// Lines stay where `read` put them: no per-line allocation, and a kept line
/// can be written back as a slice of `data` (runs of adjacent kept lines as one
/// slice, see [`LineBlock::with_newline`]).
#[derive(Debug, Default)]
pub struct LineBlock {
    pub data: BlockData,
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

    /// Done with the block: its buffer, for the reader to reuse, or (for a
    /// mapped file) `None` once the pages only this block covered are dropped
    /// from the process (the file stays in the page cache).
    pub fn release(self) -> Option<Vec<u8>> {
        match self.data {
            BlockData::Owned(v) => Some(v),
            BlockData::Mapped(m, r) => {
                m.map.release(r);
                None
            }
        }
    }
}

/// Where a [`LineReader`] takes its bytes from.
enum Source {
    Stream(Box<dyn Read + Send>),
    /// A mapped plain file and the offset of the next block.
    Mapped(Arc<Mapping>, usize),
}

/// Yields every line of a byte stream in order, one line or one block at a time.
pub struct LineReader {
    inner: Source,
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
    if Compression::from_path(path) == Compression::None {
        // A regular file is mapped, unless its first bytes say it is compressed.
        let map = file.metadata().ok().filter(|m| m.is_file()).and_then(|m| Mapping::open(&file, m.len()));
        if let Some(map) = map {
            if !matches!(map.bytes(), [0x1f, 0x8b, ..] | [0x28, 0xb5, 0x2f, 0xfd, ..]) {
                return Ok(LineReader::with_source(Source::Mapped(Arc::new(map), 0)));
            }
        }
    }
    Ok(LineReader::new(decompressed(path, file)?))
}

/// The bytes of `path` (plain, `.gz` or `.zst`, also recognised by magic
/// bytes), decompressed as they are read.
pub fn open_decompressed(path: &Path) -> Result<Box<dyn Read + Send>, CleanError> {
    let file = File::open(path).map_err(|e| CleanError::io(path, &e))?;
    decompressed(path, file)
}

fn decompressed(path: &Path, file: File) -> Result<Box<dyn Read + Send>, CleanError> {
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
    Ok(inner)
}

impl LineReader {
    pub fn new(inner: Box<dyn Read + Send>) -> Self {
        Self::with_source(Source::Stream(inner))
    }

    fn with_source(inner: Source) -> Self {
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
            // `next_line` is done with it (every line was copied out).
            let _ = block.release();
        }
        if self.done {
            return None;
        }
        let target = target_bytes.max(1);
        let inner = match &mut self.inner {
            Source::Mapped(map, at) => {
                let (map, start) = (Arc::clone(map), *at);
                return self.next_mapped_block(map, start, target);
            }
            Source::Stream(inner) => inner,
        };
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
            match inner.take(want as u64).read_to_end(&mut data) {
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
        self.block(BlockData::Owned(data), error)
    }

    /// The next block of a mapped file: whole lines from `start`, about
    /// `target` bytes (to the end of the line that crosses it).
    fn next_mapped_block(&mut self, map: Arc<Mapping>, start: usize, target: usize) -> Option<LineBlock> {
        let bytes = map.bytes();
        let cut = start.saturating_add(target).min(bytes.len());
        let end = match memchr::memchr(b'\n', &bytes[cut.saturating_sub(1).max(start)..]) {
            Some(k) => cut.saturating_sub(1).max(start) + k + 1,
            None => bytes.len(),
        };
        if end >= bytes.len() {
            self.done = true;
        }
        self.inner = Source::Mapped(Arc::clone(&map), end);
        self.block(BlockData::Mapped(map, start..end), None)
    }

    /// Split `data` (whole lines, or the rest of the stream) into a block.
    fn block(&mut self, data: BlockData, error: Option<String>) -> Option<LineBlock> {
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

/// `mmap` of a whole file, behind the one unsafe boundary of the reader.
#[cfg(unix)]
#[allow(unsafe_code)]
mod mapped {
    use std::fs::File;
    use std::ops::Range;
    use std::os::unix::io::AsRawFd;

    pub(super) struct Map {
        ptr: *mut libc::c_void,
        len: usize,
        page: usize,
    }

    // SAFETY: the mapping is read-only and owned by this value; sharing or
    // sending a pointer to immutable bytes between threads is sound.
    unsafe impl Send for Map {}
    unsafe impl Sync for Map {}

    impl Map {
        pub(super) fn open(file: &File, len: usize) -> Option<Self> {
            if len == 0 {
                return None;
            }
            // SAFETY: a fresh private read-only mapping of an open file; the
            // result is checked before use.
            let ptr = unsafe {
                libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, file.as_raw_fd(), 0)
            };
            if ptr == libc::MAP_FAILED {
                return None;
            }
            // SAFETY: `sysconf` has no preconditions.
            let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(4096).max(1);
            Some(Self { ptr, len, page })
        }

        #[inline]
        pub(super) fn bytes(&self) -> &[u8] {
            // SAFETY: `ptr..ptr + len` is a live read-only mapping owned by
            // `self` (unmapped only in `drop`). Pages `release` dropped are
            // faulted back in from the file if read again.
            unsafe { std::slice::from_raw_parts(self.ptr.cast::<u8>(), self.len) }
        }

        /// Drop the whole pages inside `range` from the process.
        pub(super) fn release(&self, range: Range<usize>) {
            let start = range.start.div_ceil(self.page) * self.page;
            let end = (range.end.min(self.len) / self.page) * self.page;
            if end > start {
                // SAFETY: the range is page-aligned and inside the mapping;
                // `MADV_DONTNEED` on a private read-only file mapping only
                // unmaps the pages (a later read faults them back in from
                // the file, the bytes are unchanged).
                unsafe {
                    libc::madvise(self.ptr.cast::<u8>().add(start).cast(), end - start, libc::MADV_DONTNEED);
                }
            }
        }
    }

    impl Drop for Map {
        fn drop(&mut self) {
            // SAFETY: unmaps exactly the mapping made in `open`; no slice of
            // it outlives `self` (they borrow it).
            unsafe {
                libc::munmap(self.ptr, self.len);
            }
        }
    }
}

#[cfg(not(unix))]
mod mapped {
    use std::fs::File;
    use std::ops::Range;

    pub(super) struct Map;

    impl Map {
        pub(super) fn open(_file: &File, _len: usize) -> Option<Self> {
            None
        }
        pub(super) fn bytes(&self) -> &[u8] {
            &[]
        }
        pub(super) fn release(&self, _range: Range<usize>) {}
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
    fn mapped_files_give_the_lines_streams_give() {
        let dir = std::env::temp_dir().join(format!("tunesmith-reader-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for (k, data) in [
            &b"{\"a\": 1}\r\n\nxx\nlonger line here\nend"[..],
            b"one\ntwo\n",
            b"\n\n\n",
            b"x",
            b"",
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.join(format!("m{k}.jsonl"));
            std::fs::write(&path, data).unwrap();
            let want: Vec<(u64, Vec<u8>)> =
                LineReader::from_bytes(data.to_vec()).read_all().into_iter().map(|l| (l.line, l.bytes)).collect();
            for target in [1, 2, 5, 16, 1000] {
                let mut r = open_lines(&path).unwrap();
                assert_eq!(matches!(r.inner, Source::Mapped(..)), !data.is_empty());
                let mut got = Vec::new();
                while let Some(b) = r.next_block(target) {
                    assert!(!b.is_empty());
                    for i in 0..b.len() {
                        got.push((b.number(i), b.line(i).to_vec()));
                        if let Some(range) = b.with_newline(i) {
                            assert_eq!(&b.data[range.clone()], [b.line(i), b"\n"].concat().as_slice());
                        }
                    }
                    assert!(b.release().is_none());
                }
                assert_eq!(got, want, "{k} target {target}");
            }
        }
    }

    #[test]
    fn compressed_files_are_recognised_by_their_first_bytes() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("tunesmith-reader-magic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = b"{\"text\": \"a\"}\nsecond\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text).unwrap();
        for (name, bytes) in [
            ("gz.jsonl", gz.finish().unwrap()),
            ("zst.jsonl", zstd::stream::encode_all(&text[..], 3).unwrap()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).unwrap();
            let lines = open_lines(&path).unwrap().read_all();
            let got: Vec<&[u8]> = lines.iter().map(|l| l.bytes.as_slice()).collect();
            assert_eq!(got, vec![&b"{\"text\": \"a\"}"[..], b"second"], "{name}");
        }
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
