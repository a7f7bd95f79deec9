//! Atomic output files: write a sibling temp file, then rename it over the
//! target, so an interrupted run leaves the old file or none, never half a file.
//!
//! The rename is atomic for every reader and for a run that stops (Ctrl-C, an
//! error, a crash of the process): the file appears whole or not at all. The
//! data is not forced to disk before the rename (no `fsync`, as in the peers
//! and the Ray path), which would cost a disk round trip of the whole output at
//! the end of every run; durability across a power loss is the file system's
//! ordinary writeback unless [`AtomicWriter::sync_on_commit`] asks for it.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;

use super::{CleanError, Compression};

const WRITE_BUFFER: usize = 1 << 20;
/// Runs at least this long bypass the write buffer.
const DIRECT_WRITE: usize = 64 << 10;

enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
    Zstd(zstd::stream::write::Encoder<'static, BufWriter<File>>),
}

/// A line writer whose file appears at `path` only when [`AtomicWriter::commit`] succeeds.
pub struct AtomicWriter {
    sink: Option<Sink>,
    temp: PathBuf,
    path: PathBuf,
    bytes: u64,
    /// Disk was allocated up front ([`AtomicWriter::preallocate`]): cut the
    /// file to what was written at commit.
    preallocated: bool,
    /// `fsync` the file before the rename and the directory after it.
    sync: bool,
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

impl AtomicWriter {
    /// Start writing `path`; compression follows its extension (`.gz`, `.zst`).
    pub fn create(path: &Path) -> Result<Self, CleanError> {
        let temp = temp_path(path);
        let file = File::create(&temp).map_err(|e| CleanError::io(&temp, &e))?;
        let buffered = BufWriter::with_capacity(WRITE_BUFFER, file);
        let sink = match Compression::from_path(path) {
            Compression::None => Sink::Plain(buffered),
            Compression::Gzip => Sink::Gzip(GzEncoder::new(buffered, flate2::Compression::new(6))),
            Compression::Zstd => Sink::Zstd(
                zstd::stream::write::Encoder::new(buffered, 3).map_err(|e| CleanError::io(path, &e))?,
            ),
        };
        Ok(Self {
            sink: Some(sink),
            temp,
            path: path.to_path_buf(),
            bytes: 0,
            preallocated: false,
            sync: false,
        })
    }

    /// Force the data to disk before the rename and the rename itself after
    /// it, so the output survives a power loss or a kernel crash too (costs
    /// a disk round trip of the whole file at commit).
    pub fn sync_on_commit(&mut self) {
        self.sync = true;
    }

    /// Best effort: allocate `bytes` of disk for a plain (uncompressed) output
    /// before writing it, e.g. the size of the input for the kept records, so
    /// the file system does not reserve blocks page by page as the writes come
    /// (a fifth of the write cost on ext4). The file is cut to what was
    /// written at commit. Nothing happens where the file system cannot
    /// allocate without writing (no emulation by writing zeros).
    pub fn preallocate(&mut self, bytes: u64) {
        if let Some(Sink::Plain(w)) = &self.sink {
            self.preallocated |= bytes > 0 && allocate(w.get_ref(), bytes);
        }
    }

    fn err(&self, e: &std::io::Error) -> CleanError {
        CleanError::io(&self.path, e)
    }

    /// Append `line` and a newline.
    pub fn write_line(&mut self, line: &[u8]) -> Result<(), CleanError> {
        let result = match self.sink.as_mut() {
            Some(Sink::Plain(w)) => w.write_all(line).and_then(|()| w.write_all(b"\n")),
            Some(Sink::Gzip(w)) => w.write_all(line).and_then(|()| w.write_all(b"\n")),
            Some(Sink::Zstd(w)) => w.write_all(line).and_then(|()| w.write_all(b"\n")),
            None => Ok(()),
        };
        self.bytes += line.len() as u64 + 1;
        result.map_err(|e| self.err(&e))
    }

    /// Append bytes that already end in a newline (whole lines, e.g. a run
    /// of kept lines copied from the input block in one piece).
    pub fn write_lines(&mut self, lines: &[u8]) -> Result<(), CleanError> {
        let result = match self.sink.as_mut() {
            // A long run goes to the file as it is instead of through the
            // buffer (one copy fewer); the buffer is flushed first, for order.
            Some(Sink::Plain(w)) if lines.len() >= DIRECT_WRITE => {
                w.flush().and_then(|()| w.get_mut().write_all(lines))
            }
            Some(Sink::Plain(w)) => w.write_all(lines),
            Some(Sink::Gzip(w)) => w.write_all(lines),
            Some(Sink::Zstd(w)) => w.write_all(lines),
            None => Ok(()),
        };
        self.bytes += lines.len() as u64;
        result.map_err(|e| self.err(&e))
    }

    /// Uncompressed bytes written so far.
    pub fn bytes_written(&self) -> u64 {
        self.bytes
    }

    /// Flush the temp file and rename it onto the target path.
    pub fn commit(mut self) -> Result<(), CleanError> {
        let file = match self.sink.take() {
            Some(Sink::Plain(w)) => w.into_inner().map_err(|e| self.err(e.error())).and_then(|file| {
                if self.preallocated {
                    file.set_len(self.bytes).map_err(|e| self.err(&e))?;
                }
                Ok(file)
            }),
            Some(Sink::Gzip(w)) => w
                .finish()
                .and_then(|b| b.into_inner().map_err(std::io::IntoInnerError::into_error))
                .map_err(|e| self.err(&e)),
            Some(Sink::Zstd(w)) => w
                .finish()
                .and_then(|b| b.into_inner().map_err(std::io::IntoInnerError::into_error))
                .map_err(|e| self.err(&e)),
            None => return Ok(()),
        }?;
        if self.sync {
            file.sync_all().map_err(|e| self.err(&e))?;
        }
        drop(file);
        std::fs::rename(&self.temp, &self.path).map_err(|e| self.err(&e))?;
        if self.sync {
            sync_parent(&self.path).map_err(|e| self.err(&e))?;
        }
        Ok(())
    }
}

/// `fsync` of the directory holding `path`, which makes a rename in it durable.
#[cfg(unix)]
fn sync_parent(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_parent(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// `fallocate(2)` of the first `len` bytes of `file` (the size grows to `len`).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn allocate(file: &File, len: u64) -> bool {
    use std::os::unix::io::AsRawFd;
    let Ok(len) = libc::off_t::try_from(len) else {
        return false;
    };
    // SAFETY: a plain system call on a file descriptor this writer owns; it
    // touches no memory of the process.
    unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) == 0 }
}

#[cfg(not(target_os = "linux"))]
fn allocate(_file: &File, _len: u64) -> bool {
    false
}

impl Drop for AtomicWriter {
    fn drop(&mut self) {
        if self.sink.take().is_some() {
            // Not committed: the partial temp file must not survive.
            let _ = std::fs::remove_file(&self.temp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::open_lines;

    fn dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("tunesmith-writer-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn round_trip_every_compression() {
        for name in ["a.jsonl", "a.jsonl.gz", "a.jsonl.zst"] {
            let path = dir().join(name);
            let mut w = AtomicWriter::create(&path).unwrap();
            w.write_line(b"{\"text\": \"x\"}").unwrap();
            w.write_line(b"second").unwrap();
            assert!(!path.exists());
            w.commit().unwrap();
            let lines = open_lines(&path).unwrap().read_all();
            assert_eq!(lines.len(), 2, "{name}");
            assert_eq!(lines[1].bytes, b"second");
        }
    }

    #[test]
    fn synced_commit_writes_the_same_file() {
        let path = dir().join("synced.jsonl");
        let mut w = AtomicWriter::create(&path).unwrap();
        w.sync_on_commit();
        w.write_line(b"{\"text\": \"durable\"}").unwrap();
        w.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"{\"text\": \"durable\"}\n");
    }

    #[test]
    fn preallocated_files_end_where_the_writes_do() {
        for (name, reserve) in [("pre.jsonl", 1 << 20), ("pre-small.jsonl", 3), ("pre.jsonl.gz", 1 << 20)] {
            let path = dir().join(name);
            let mut w = AtomicWriter::create(&path).unwrap();
            w.preallocate(reserve);
            w.write_line(b"{\"text\": \"x\"}").unwrap();
            w.write_lines(b"second\n").unwrap();
            w.commit().unwrap();
            let lines = open_lines(&path).unwrap().read_all();
            assert_eq!(lines.len(), 2, "{name}");
            if !name.ends_with(".gz") {
                assert_eq!(std::fs::read(&path).unwrap(), b"{\"text\": \"x\"}\nsecond\n");
            }
        }
    }

    #[test]
    fn dropped_writer_leaves_old_file() {
        let path = dir().join("keep.jsonl");
        std::fs::write(&path, "old\n").unwrap();
        {
            let mut w = AtomicWriter::create(&path).unwrap();
            w.write_line(b"new").unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old\n");
        assert!(!temp_path(&path).exists());
    }
}
