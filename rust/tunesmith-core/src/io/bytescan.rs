//! Byte-class masks over 64-byte windows: the scanning primitive of the
//! one-pass JSON string decoder + normaliser
//! ([`crate::dedup::exact::normalize_json_string`]).
//!
//! One call classifies 64 bytes into bit masks (bit `j` is byte `j`), so the
//! decoder finds the next byte that needs attention with one `trailing_zeros`
//! instead of a branch per byte. On x86-64 this is SSE2 (part of the base
//! ISA, so no runtime detection); elsewhere a scalar loop gives the same
//! masks.
//!
//! On x86-64 CPUs with AVX2 (runtime check), [`normalize_window`] goes further
//! for the common windows — printable text, spaces and the escapes `\n`, `\t`,
//! `\r`, `\f`, `\"`, `\/`, `\\` — and decodes, collapses and copies a whole
//! window at once from its masks (bit arithmetic for the whitespace runs, one
//! byte shuffle per 8 bytes to drop what goes), with no branch per escape or
//! run. Any other window is left to the per-event path.

/// The classes of the 64 bytes of one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Masks {
    /// Bytes a JSON string decoder + normaliser must look at: `"`, `\`, the
    /// controls below 0x20, DEL, and the UTF-8 lead bytes of every non-ASCII
    /// whitespace or control character (`C2`: U+0080..U+00BF, which holds the
    /// C1 controls, NEL and NBSP; `E1`..`E3`: U+1000..U+3FFF, which holds
    /// U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F and U+3000).
    pub special: u64,
    /// Spaces (0x20).
    pub space: u64,
    /// Bytes `>= 0xCC`: UTF-8 lead bytes of characters from U+0300 up, the
    /// only ones that can make a text not NFC.
    pub high: u64,
}

/// Whether `b` is a byte [`Masks::special`] marks.
#[inline(always)]
pub(crate) fn is_special(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\' || b == 0x7f || b == 0xC2 || b.wrapping_sub(0xE1) < 3
}

/// Classify the 64 bytes of `w`.
#[inline(always)]
pub(crate) fn classify(w: &[u8; 64]) -> Masks {
    #[cfg(target_arch = "x86_64")]
    {
        use crate::simd::mask;
        Masks {
            special: mask(w, |v| {
                v.eq(b'"')
                    .or(v.eq(b'\\'))
                    .or(v.at_most(0x1f))
                    .or(v.eq(0x7f))
                    .or(v.eq(0xC2))
                    .or(v.in_range(0xE1, 3))
            }),
            space: mask(w, |v| v.eq(b' ')),
            high: mask(w, |v| v.at_least(0xCC)),
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        classify_scalar(w)
    }
}

/// [`Masks::high`] alone: the bytes `>= 0xCC` of `w`.
#[inline(always)]
pub(crate) fn high(w: &[u8; 64]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        crate::simd::mask(w, |v| v.at_least(0xCC))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        classify_scalar(w).high
    }
}

/// The outcome of [`normalize_window`] for a window it took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stretch {
    /// Index in the line of the first byte not consumed.
    pub next: usize,
    /// Whitespace followed the last kept character (and the output is not empty).
    pub pending: bool,
    /// A character from U+0300 up may have been copied.
    pub high: bool,
    /// The window had escapes.
    pub escaped: bool,
}

#[cfg(test)]
thread_local! {
    /// Tests set this to run the per-event path alone, as on CPUs without AVX2.
    pub(crate) static NO_WINDOW_DECODER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run `f` with the window decoder (where the CPU has one) and without it.
#[cfg(test)]
pub(crate) fn with_and_without_window_decoder(mut f: impl FnMut()) {
    for off in [false, true] {
        NO_WINDOW_DECODER.with(|c| c.set(off));
        f();
    }
    NO_WINDOW_DECODER.with(|c| c.set(false));
}

/// Whether [`normalize_window`] can run here (x86-64 with AVX2 and POPCNT),
/// so a caller can skip it up front.
#[inline]
pub(crate) fn window_decoder() -> bool {
    #[cfg(test)]
    if NO_WINDOW_DECODER.with(std::cell::Cell::get) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Decode and normalise the bytes of a JSON string literal from `line[i]` on,
/// one window (up to 62 bytes), when the window holds nothing but printable
/// characters that are neither whitespace nor controls, spaces, and the
/// escapes `\n`, `\t`, `\r`, `\f` (whitespace), `\"`, `\/` and `\\` (kept),
/// appending to `out` what [`crate::text::normalize`] keeps of them (a
/// whitespace run ending the window is not written but reported as `pending`).
///
/// `line[..i]` must be decoded up to `i` (never between a backslash and the
/// character it escapes); `pending` says whether whitespace precedes `i`
/// since the last kept character, `out_empty` whether nothing has been kept
/// yet. `None`: the window needs the per-event path (or the line ends within
/// 64 bytes, or the CPU has no AVX2), and `out` is untouched.
#[inline]
pub(crate) fn normalize_window(
    line: &str,
    i: usize,
    pending: bool,
    out_empty: bool,
    out: &mut String,
) -> Option<Stretch> {
    #[cfg(target_arch = "x86_64")]
    {
        avx2::window(line, i, pending, out_empty, out)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (line, i, pending, out_empty, out);
        None
    }
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[inline(always)]
pub(crate) fn classify_scalar(w: &[u8; 64]) -> Masks {
    let mut m = Masks {
        special: 0,
        space: 0,
        high: 0,
    };
    for (j, &b) in w.iter().enumerate() {
        m.special |= u64::from(is_special(b)) << j;
        m.space |= u64::from(b == b' ') << j;
        m.high |= u64::from(b >= 0xCC) << j;
    }
    m
}

/// The AVX2 window decoder of [`normalize_window`].
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx2 {
    use std::arch::x86_64::{
        __m128i, __m256i, _mm256_and_si256, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8,
        _mm256_min_epu8, _mm256_movemask_epi8, _mm256_or_si256, _mm256_set1_epi8, _mm256_sub_epi8,
        _mm_and_si128, _mm_andnot_si128, _mm_loadu_si128, _mm_or_si128, _mm_set1_epi8,
        _mm_set_epi64x, _mm_shuffle_epi8, _mm_storeu_si128,
    };

    use super::Stretch;

    /// For each 8-bit keep mask, the indices of its set bits in order, one per
    /// byte, then 0x80 (a `pshufb` index that yields 0).
    static KEEP8: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut m = 0;
        while m < 256 {
            let mut v = 0x8080_8080_8080_8080u64;
            let (mut j, mut k) = (0, 0);
            while j < 8 {
                if m & (1 << j) != 0 {
                    v = (v & !(0xFF << (8 * k))) | ((j as u64) << (8 * k));
                    k += 1;
                }
                j += 1;
            }
            t[m] = v;
            m += 1;
        }
        t
    };

    /// For each 8-bit mask, its bits spread to bytes (0xFF where set).
    static SPREAD8: [u64; 256] = {
        let mut t = [0u64; 256];
        let mut m = 0;
        while m < 256 {
            let mut j = 0;
            while j < 8 {
                if m & (1 << j) != 0 {
                    t[m] |= 0xFF << (8 * j);
                }
                j += 1;
            }
            m += 1;
        }
        t
    };

    /// For `c` bytes kept from the first half of 16, the shuffle that moves
    /// the kept bytes of the second half (at 8..) right after them.
    static COMBINE: [[u8; 16]; 9] = {
        let mut t = [[0x80u8; 16]; 9];
        let mut c = 0;
        while c <= 8 {
            let mut j = 0;
            while j < 16 {
                if j < c {
                    t[c][j] = j as u8;
                } else if j < c + 8 {
                    t[c][j] = (8 + j - c) as u8;
                }
                j += 1;
            }
            c += 1;
        }
        t
    };

    /// Room the decoder may write past the text (whole 16-byte stores).
    const SLACK: usize = 80;

    /// [`super::normalize_window`] on x86-64.
    #[inline]
    pub(super) fn window(
        line: &str,
        i: usize,
        pending: bool,
        out_empty: bool,
        out: &mut String,
    ) -> Option<Stretch> {
        if i == 0 || !line.is_char_boundary(i) || !super::window_decoder() {
            return None;
        }
        let w: &[u8; 64] = line.as_bytes().get(i - 1..i + 63)?.try_into().ok()?;
        out.reserve(SLACK);
        // SAFETY: `normalize` only writes into the spare capacity (at least
        // SLACK bytes, reserved above) and returns how many bytes it wrote
        // there; they are counted into the string only after that. They are
        // bytes 1..=consumed of the window, i.e. `line[i..i + consumed]`,
        // which starts at a character boundary (checked above) and ends at
        // one (`normalize` stops before a character that crosses the window's
        // end), with ASCII bytes dropped or replaced by a space, plus possibly
        // a space in front: whole characters of a `str`, so UTF-8. The CPU
        // has AVX2 and POPCNT (checked above).
        unsafe {
            let v = out.as_mut_vec();
            let (len, consumed, pending, high, escaped) =
                normalize(w, pending, out_empty, v.as_mut_ptr().add(v.len()))?;
            let start = v.len();
            v.set_len(start + len);
            debug_assert!(std::str::from_utf8(&v[start..]).is_ok());
            Some(Stretch {
                next: i + consumed,
                pending,
                high,
                escaped,
            })
        }
    }

    /// See [`super::normalize_window`]: on success, (bytes written at `out`,
    /// bytes of the line consumed from bit 1 on, pending, high, escaped).
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT; `out` must be valid for writing
    /// `SLACK` bytes.
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn normalize(
        w: &[u8; 64],
        pending: bool,
        out_empty: bool,
        out: *mut u8,
    ) -> Option<(usize, usize, bool, bool, bool)> {
        // SAFETY: both 32-byte loads are inside `w`; `loadu` has no alignment requirement.
        let (a, b) = unsafe {
            (
                _mm256_loadu_si256(w.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(w.as_ptr().add(32).cast::<__m256i>()),
            )
        };
        macro_rules! splat {
            ($c:expr) => {
                _mm256_set1_epi8($c as i8)
            };
        }
        macro_rules! eq {
            ($v:expr, $c:expr) => {
                _mm256_cmpeq_epi8($v, splat!($c))
            };
        }
        // The 64 bits of a per-byte test over both halves.
        macro_rules! bits {
            (|$v:ident| $test:expr) => {{
                let lo = {
                    let $v = a;
                    _mm256_movemask_epi8($test) as u32
                };
                let hi = {
                    let $v = b;
                    _mm256_movemask_epi8($test) as u32
                };
                // Opaque: LLVM would otherwise turn the bit arithmetic below
                // back into vectors of single bits, one byte insert per bit.
                std::hint::black_box(u64::from(lo) | (u64::from(hi) << 32))
            }};
        }
        // Unsigned v <= k  <=>  min(v, k) == v; v >= k  <=>  max(v, k) == v.
        macro_rules! bad {
            ($v:expr) => {{
                let v = $v;
                let e = _mm256_sub_epi8(v, splat!(0xE1u8));
                _mm256_or_si256(
                    _mm256_or_si256(
                        _mm256_cmpeq_epi8(_mm256_min_epu8(v, splat!(0x1f)), v),
                        eq!(v, 0x7f),
                    ),
                    _mm256_or_si256(
                        eq!(v, 0xC2u8),
                        _mm256_cmpeq_epi8(_mm256_min_epu8(e, splat!(2)), e),
                    ),
                )
            }};
        }
        // A control, DEL or possible Unicode space anywhere (bit 0 and a
        // character crossing the end included, which only costs a fallback).
        if _mm256_movemask_epi8(_mm256_or_si256(bad!(a), bad!(b))) != 0 {
            return None;
        }
        let space = bits!(|v| eq!(v, b' '));
        let backslash = bits!(|v| eq!(v, b'\\'));
        let quote = bits!(|v| eq!(v, b'"'));
        let letter = bits!(|v| _mm256_or_si256(
            _mm256_or_si256(eq!(v, b'n'), eq!(v, b't')),
            _mm256_or_si256(eq!(v, b'r'), eq!(v, b'f'))
        ));
        let escapable = letter | quote | bits!(|v| eq!(v, b'/'));
        let high = {
            let hi = |v: __m256i| _mm256_cmpeq_epi8(_mm256_max_epu8(v, splat!(0xCCu8)), v);
            _mm256_movemask_epi8(_mm256_or_si256(hi(a), hi(b))) != 0
        };
        let cont = u64::from(
            _mm256_movemask_epi8(eq!(_mm256_and_si256(b, splat!(0xC0u8)), 0x80u8)) as u32,
        ) << 32;
        // Bytes 1..=last are this window's; a character crossing the end is
        // left whole for the next window.
        let tail = (!cont).leading_zeros();
        if tail > 3 {
            return None;
        }
        let mut last = if tail == 0 { 62 } else { 62 - tail };
        // Escapes start at the first backslash of each run (the one before
        // `i` ended an escape: windows never split one); `\\` is a run of
        // two, whose second byte is the escaped character.
        let runs = backslash & !1;
        let mut escape = runs & !(runs << 1);
        if escape & (1 << last) != 0 {
            // An escape across the end: leave it to the next window.
            last -= 1;
            escape &= !(1 << (last + 1));
        }
        let inner = (u64::MAX >> (63 - last)) & !1;
        let escape = escape & inner;
        let escaped = escape << 1;
        if runs & (runs << 1) & (runs << 2) & inner != 0
            || escaped & !(escapable | backslash) != 0
            || quote & inner & !escaped != 0
        {
            // A run of three or more backslashes, `\b`, `\u`, the closing
            // quote: the per-event path.
            return None;
        }
        // Whitespace: spaces and both bytes of `\n` `\t` `\r` `\f`; dropped:
        // the backslash of `\"`, `\/` and `\\`; kept: everything else.
        let ws_escape = escape & (letter >> 1);
        let ws = (space & inner) | ws_escape | (ws_escape << 1);
        let kept = inner & !ws & !(escape & !ws_escape);
        // Pending whitespace is a run that starts at bit 0 (the byte before).
        let ws_runs = if pending { ws | 1 } else { ws };
        let starts = ws_runs & !(ws_runs << 1);
        // A run becomes one space when a kept character follows it in the
        // window (else it is pending) and one precedes it (or is in `out`).
        let (before_last, last_kept) = match kept {
            0 => (0, 0),
            _ => {
                let top = 63 - kept.leading_zeros();
                ((1u64 << top) - 1, 1u64 << top)
            }
        };
        let mut spaces = starts & before_last;
        if out_empty && !pending {
            let first_kept = kept & kept.wrapping_neg();
            spaces &= !first_kept.wrapping_sub(1);
        }
        let keep = kept | spaces;
        let pending = match kept {
            0 => pending || (ws != 0 && !out_empty),
            _ => ws & !(before_last | last_kept) != 0,
        };
        let mut written = 0usize;
        for k in 0..4 {
            let at = 16 * k;
            let keep16 = (keep >> at) as u16;
            // SAFETY: the 16 bytes at `w[at..]` are in bounds (k < 4).
            let v = unsafe { _mm_loadu_si128(w.as_ptr().add(at).cast::<__m128i>()) };
            // The byte that stands for a run becomes a space (no branch: the
            // lanes are as likely to have runs as not).
            let space16 = (spaces >> at) as u16;
            let m = _mm_set_epi64x(
                SPREAD8[usize::from((space16 >> 8) as u8)] as i64,
                SPREAD8[usize::from(space16 as u8)] as i64,
            );
            let v = _mm_or_si128(
                _mm_andnot_si128(m, v),
                _mm_and_si128(m, _mm_set1_epi8(b' ' as i8)),
            );
            let (lo, hi) = (keep16 as u8, (keep16 >> 8) as u8);
            let shuffle = _mm_set_epi64x(
                (KEEP8[usize::from(hi)] + 0x0808_0808_0808_0808) as i64,
                KEEP8[usize::from(lo)] as i64,
            );
            let halves = _mm_shuffle_epi8(v, shuffle);
            let lo_kept = lo.count_ones() as usize;
            // SAFETY: `COMBINE[lo_kept]` is 16 bytes (lo_kept <= 8); the store
            // writes `out[written..written + 16]` with `written` at most the
            // 48 bytes of the three lanes before, inside the SLACK bytes the
            // caller guarantees.
            unsafe {
                let combine = _mm_loadu_si128(COMBINE[lo_kept].as_ptr().cast::<__m128i>());
                _mm_storeu_si128(
                    out.add(written).cast::<__m128i>(),
                    _mm_shuffle_epi8(halves, combine),
                );
            }
            written += keep16.count_ones() as usize;
        }
        Some((written, last as usize, pending, high, escape != 0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_windows_take_the_window_decoder() {
        let line = format!(
            "\"{}\"",
            "  word  and\\n  more \\\"quoted\\\" a\\/b\\\\".repeat(5)
        );
        let mut out = String::new();
        let got = normalize_window(&line, 1, false, true, &mut out);
        assert_eq!(got.is_some(), window_decoder());
        if let Some(st) = got {
            // Leading spaces dropped, runs collapsed, escapes decoded: the
            // 62 bytes of the window, up to `quo`.
            assert_eq!(out, "word and more \"quoted\" a/b\\ word and more \"quo");
            assert_eq!((st.next, st.pending, st.escaped), (63, false, true));
            let again = normalize_window(&line, st.next, st.pending, false, &mut out).unwrap();
            assert!(out
                .starts_with("word and more \"quoted\" a/b\\ word and more \"quoted\" a/b\\ word"));
            assert!(again.next > st.next);
        }
    }

    #[test]
    fn simd_matches_scalar_on_every_byte() {
        for base in 0..=255u8 {
            let mut w = [0u8; 64];
            for (j, b) in w.iter_mut().enumerate() {
                *b = base.wrapping_add((j * 37) as u8);
            }
            assert_eq!(classify(&w), classify_scalar(&w), "{base}");
            assert_eq!(high(&w), classify_scalar(&w).high, "{base}");
        }
    }
}
