//! Column helpers shared by every vectorized entry point: numpy-style
//! broadcasting of length-1 columns, and chunked rayon loops whose output does
//! not depend on the thread count.

use crate::CoreError;

/// Rows per rayon task. Large enough that scheduling cost is noise, small
/// enough that two cores share a 10-million-row sweep evenly.
pub const CHUNK_ROWS: usize = 1 << 16;

/// The common length of columns that are each either of length 1 or of length `n`.
pub fn broadcast_len(columns: &[(&str, usize)]) -> Result<usize, CoreError> {
    let n = columns.iter().map(|(_, len)| *len).max().unwrap_or(0);
    if columns.iter().any(|(_, len)| *len == 0) {
        return Ok(0);
    }
    for (name, len) in columns {
        if *len != 1 && *len != n {
            return Err(CoreError::Broadcast {
                argument: (*name).to_string(),
                got: *len,
                expected: n,
            });
        }
    }
    Ok(n)
}

/// Element `i` of a column that is either broadcast (length 1) or full length.
#[inline(always)]
pub fn at<T: Copy>(column: &[T], i: usize) -> T {
    if column.len() == 1 {
        column[0]
    } else {
        column[i]
    }
}

/// A zeroed `f64` column of `n` rows for outputs that are about to be written
/// in full.
///
/// Why not just `vec![0.0; n]`: a fresh 80 MB column costs ~20 k page faults on
/// first touch, and on the shared VMs we run on those faults, not the
/// arithmetic, dominated a 10-million-row sweep. The allocation is
/// `calloc`-backed (pages are mapped lazily), so advising the kernel to back it
/// with transparent huge pages before the first write cuts the faults ~500×.
/// The advice is best-effort: where THP is off, nothing changes.
pub fn zeroed_f64_column(n: usize) -> Vec<f64> {
    let column = vec![0.0f64; n];
    advise_huge_pages(column.as_ptr().cast(), n * std::mem::size_of::<f64>());
    column
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
fn advise_huge_pages(ptr: *const u8, len: usize) {
    const HUGE: usize = 2 << 20;
    if len < HUGE {
        return;
    }
    let page = 4096usize;
    let start = (ptr as usize).div_ceil(page) * page;
    let end = (ptr as usize + len) / page * page;
    if end > start {
        // SAFETY: the range lies inside one live allocation owned by the caller;
        // MADV_HUGEPAGE changes only how the kernel backs it, never its contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_ptr: *const u8, _len: usize) {}
