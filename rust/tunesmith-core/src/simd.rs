//! Byte-class bitmaps of 64-byte blocks, 16 bytes at a time with SSE2.
//!
//! The scanners that walk text a block at a time (MinHash word splitting,
//! the PII trigger pass, the JSON decode-and-normalise pass) each ask which
//! bytes of a block are in a few classes and get one bit per byte back. They
//! build their classes from the compares of [`Lane`]. LLVM does not turn the
//! equivalent scalar loops into vector code (the bit packing defeats it), so
//! these are written with intrinsics; SSE2 is part of the x86-64 baseline,
//! so no runtime check is needed. Off x86-64 the callers use their scalar
//! definitions, which their tests compare with these.

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_max_epu8, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };

    /// Sixteen bytes of a block, or sixteen byte-wise compare results
    /// (0xFF where true).
    #[derive(Clone, Copy)]
    pub(crate) struct Lane(__m128i);

    #[inline(always)]
    fn splat(b: u8) -> __m128i {
        // SAFETY: SSE2 is part of the x86-64 baseline.
        unsafe { _mm_set1_epi8(b as i8) }
    }

    impl Lane {
        /// Bytes `16 * q .. 16 * q + 16` of `block` (`q < 4`).
        #[inline(always)]
        pub(crate) fn load(block: &[u8; 64], q: usize) -> Self {
            let bytes: &[u8; 16] = block[16 * q..16 * q + 16].try_into().unwrap_or(&[0; 16]);
            // SAFETY: `bytes` is 16 readable bytes and `loadu` has no
            // alignment requirement; SSE2 is baseline.
            Self(unsafe { _mm_loadu_si128(bytes.as_ptr().cast::<__m128i>()) })
        }

        #[inline(always)]
        pub(crate) fn eq(self, b: u8) -> Self {
            // SAFETY: SSE2 is baseline.
            Self(unsafe { _mm_cmpeq_epi8(self.0, splat(b)) })
        }

        /// Bytes `<= k`, unsigned (`min(v, k) == v`).
        #[inline(always)]
        pub(crate) fn at_most(self, k: u8) -> Self {
            // SAFETY: SSE2 is baseline.
            Self(unsafe { _mm_cmpeq_epi8(_mm_min_epu8(self.0, splat(k)), self.0) })
        }

        /// Bytes `>= k`, unsigned (`max(v, k) == v`).
        #[inline(always)]
        pub(crate) fn at_least(self, k: u8) -> Self {
            // SAFETY: SSE2 is baseline.
            Self(unsafe { _mm_cmpeq_epi8(_mm_max_epu8(self.0, splat(k)), self.0) })
        }

        /// Bytes in `lo .. lo + width` (`width >= 1`): the distance above `lo`,
        /// wrapping, is at most `width - 1`.
        #[inline(always)]
        pub(crate) fn in_range(self, lo: u8, width: u8) -> Self {
            // SAFETY: SSE2 is baseline.
            Self(unsafe { _mm_sub_epi8(self.0, splat(lo)) }).at_most(width.wrapping_sub(1))
        }

        #[inline(always)]
        pub(crate) fn or(self, other: Self) -> Self {
            // SAFETY: SSE2 is baseline.
            Self(unsafe { _mm_or_si128(self.0, other.0) })
        }

        /// One bit per byte of a compare result, bit `j` for byte `j`.
        #[inline(always)]
        pub(crate) fn bits(self) -> u64 {
            // SAFETY: SSE2 is baseline. `movemask` fills the low 16 bits of
            // an i32; the casts keep exactly those.
            u64::from(unsafe { _mm_movemask_epi8(self.0) } as u32 as u16)
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use sse2::Lane;

/// The 64-bit mask of `class` over the four lanes of `block` (bit `j` for
/// byte `j`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn mask(block: &[u8; 64], class: impl Fn(Lane) -> Lane) -> u64 {
    (0..4).fold(0u64, |m, q| m | class(Lane::load(block, q)).bits() << (16 * q))
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn compares_match_their_definitions(block in proptest::collection::vec(any::<u8>(), 64), k in any::<u8>(),
                                            width in 1u8..=255) {
            let block: [u8; 64] = block.try_into().unwrap();
            let scalar = |f: &dyn Fn(u8) -> bool| {
                block.iter().enumerate().fold(0u64, |m, (j, &b)| m | u64::from(f(b)) << j)
            };
            prop_assert_eq!(mask(&block, |l| l.eq(k)), scalar(&|b| b == k));
            prop_assert_eq!(mask(&block, |l| l.at_most(k)), scalar(&|b| b <= k));
            prop_assert_eq!(mask(&block, |l| l.at_least(k)), scalar(&|b| b >= k));
            prop_assert_eq!(
                mask(&block, |l| l.in_range(k, width)),
                scalar(&|b| b.wrapping_sub(k) < width)
            );
            prop_assert_eq!(
                mask(&block, |l| l.eq(k).or(l.at_most(7))),
                scalar(&|b| b == k || b <= 7)
            );
        }
    }
}
