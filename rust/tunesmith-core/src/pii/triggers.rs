//! One pass over a text that marks the frequent bytes the detectors start
//! from: `:` and `=` (IPv6 addresses, assignments), ASCII digits (the
//! numeric detectors) and `A` (AWS key prefixes). The marks are bitmaps, one
//! bit per byte, so each detector walks its positions with a few bit
//! operations instead of restarting a `memchr` search at every hit (code and
//! docs hold a `:` or `=` every 80 bytes or so, and each restart costs more
//! than the bytes between).

/// Bitmaps of the trigger bytes of one text: bit `i % 64` of word `i / 64`
/// is set when byte `i` is that trigger.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Triggers {
    /// `:` and `=` (callers tell them apart by the byte itself).
    pub colon_or_equals: Vec<u64>,
    pub digit: Vec<u64>,
    pub capital_a: Vec<u64>,
}

/// The masks of one 64-byte block, in [`Triggers`]' field order.
type BlockMasks = [u64; 3];

impl Triggers {
    pub fn of(t: &[u8]) -> Triggers {
        let words = t.len().div_ceil(64);
        let mut marks = Triggers { colon_or_equals: vec![0; words], digit: vec![0; words], capital_a: vec![0; words] };
        let mut blocks = t.chunks_exact(64);
        for (w, block) in (&mut blocks).enumerate() {
            // `chunks_exact(64)` yields 64-byte blocks only; the fallback never runs.
            let block: &[u8; 64] = block.try_into().unwrap_or(&[0; 64]);
            [marks.colon_or_equals[w], marks.digit[w], marks.capital_a[w]] = block_masks(block);
        }
        let rest = blocks.remainder();
        if !rest.is_empty() {
            // Zero padding is none of the trigger bytes.
            let mut last = [0u8; 64];
            last[..rest.len()].copy_from_slice(rest);
            [marks.colon_or_equals[words - 1], marks.digit[words - 1], marks.capital_a[words - 1]] = block_masks(&last);
        }
        marks
    }
}

/// Positions of the set bits of `bits`, ascending.
pub(crate) fn positions(bits: &[u64]) -> impl Iterator<Item = usize> + '_ {
    bits.iter().enumerate().flat_map(|(w, &word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let i = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                w * 64 + i
            })
        })
    })
}

/// Call `f(start, end)` for every maximal run of set bits of `bits`, in order
/// (runs may cross words). `len` is the number of valid bits.
pub(crate) fn runs(bits: &[u64], len: usize, mut f: impl FnMut(usize, usize)) {
    let mut open: Option<usize> = None;
    for (w, &word) in bits.iter().enumerate() {
        let carry = u64::from(open.is_some());
        // Bit i of `edges` is set where set-ness changes between bits i-1 and i.
        let mut edges = word ^ ((word << 1) | carry);
        while edges != 0 {
            let i = w * 64 + edges.trailing_zeros() as usize;
            edges &= edges - 1;
            match open.take() {
                Some(s) => f(s, i),
                None => open = Some(i),
            }
        }
    }
    if let Some(s) = open {
        f(s, len);
    }
}

/// [`scalar_block_masks`] 16 bytes at a time ([`crate::simd`]).
#[cfg(target_arch = "x86_64")]
fn block_masks(block: &[u8; 64]) -> BlockMasks {
    use crate::simd::mask;
    [
        mask(block, |v| v.eq(b':').or(v.eq(b'='))),
        mask(block, |v| v.in_range(b'0', 10)),
        mask(block, |v| v.eq(b'A')),
    ]
}

#[cfg(not(target_arch = "x86_64"))]
fn block_masks(block: &[u8; 64]) -> BlockMasks {
    scalar_block_masks(block)
}

/// The portable definition of [`block_masks`] (and the fallback off x86_64).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn scalar_block_masks(block: &[u8; 64]) -> BlockMasks {
    let mut m = [0u64; 3];
    for (i, &b) in block.iter().enumerate() {
        m[0] |= u64::from(b == b':' || b == b'=') << i;
        m[1] |= u64::from(b.is_ascii_digit()) << i;
        m[2] |= u64::from(b == b'A') << i;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_masks_match_the_scalar_definition() {
        for b in 0..=255u8 {
            for pos in [0, 7, 8, 15, 16, 31, 40, 63] {
                let mut block = [b'x'; 64];
                block[pos] = b;
                assert_eq!(block_masks(&block), scalar_block_masks(&block), "byte {b} at {pos}");
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn bitmaps_match_a_plain_scan(t in proptest::collection::vec(proptest::sample::select(b"0123456789aA @:=/.-\xc3\xa9".to_vec()), 0..200)) {
            let marks = Triggers::of(&t);
            let plain = |want: &dyn Fn(u8) -> bool| t.iter().enumerate().filter(|(_, &b)| want(b)).map(|(i, _)| i).collect::<Vec<_>>();
            proptest::prop_assert_eq!(
                positions(&marks.colon_or_equals).collect::<Vec<_>>(),
                plain(&|b| b == b'=' || b == b':')
            );
            proptest::prop_assert_eq!(positions(&marks.capital_a).collect::<Vec<_>>(), plain(&|b| b == b'A'));
            let mut fast = Vec::new();
            runs(&marks.digit, t.len(), |s, e| fast.push((s, e)));
            let mut slow = Vec::new();
            let mut i = 0;
            while i < t.len() {
                if t[i].is_ascii_digit() {
                    let s = i;
                    while i < t.len() && t[i].is_ascii_digit() {
                        i += 1;
                    }
                    slow.push((s, i));
                } else {
                    i += 1;
                }
            }
            proptest::prop_assert_eq!(fast, slow);
        }
    }
}
