//! The network's int8 arithmetic (`format::NetArith::Int8`): weights quantised to int8 with one
//! scale per output row, each activation row to int8 with its own scale, products summed in
//! i32. Integer sums are exact in any order, so the kernels (`engine/kernels`) may block and
//! vectorise them freely; only the quantisation and the rescaling below define bits, and they
//! use single IEEE operations (a multiply, a division, a round to nearest-even). The decoder's
//! attention scores in this arithmetic are f32 sums in element order (`engine/kernels`'
//! `scores_in_order`), which vectorise across keys without `detmath::dot`'s lanes.
//!
//! The sums cannot overflow: a dot product of `n` terms is at most `n · 127²`, within i32 for
//! `n` up to 133,000 (networks here have rows of at most a few thousand).

/// The largest quantised magnitude (`-128` is never used, so negating a value is exact).
pub const QMAX: i32 = 127;

/// Largest row length whose products fit an i32 sum.
pub const MAX_ROW: usize = (i32::MAX / (QMAX * QMAX)) as usize;

/// Quantises `v` into `q` (same length) with the scale `max |v| / 127`, which it returns
/// (0 for a zero row, whose values all quantise to 0, and for a row with an infinity or NaN).
#[inline(always)]
pub fn quantise<T: From<i8>>(v: &[f32], q: &mut [T]) -> f32 {
    assert_eq!(v.len(), q.len());
    // the largest magnitude, as the largest bit pattern without the sign (which orders finite
    // floats as their values, and puts infinities and NaNs above them): an integer reduction
    let m = f32::from_bits(v.iter().fold(0, |m, x| m.max(x.to_bits() & 0x7fff_ffff)));
    if !(m > 0.0 && m.is_finite()) {
        q.iter_mut().for_each(|q| *q = T::from(0));
        return 0.0;
    }
    let inv = QMAX as f32 / m;
    for (q, &x) in q.iter_mut().zip(v) {
        // |x · inv| <= 127 up to a rounding; the clamp makes the bound exact (integer
        // operations throughout: a float-to-byte cast does not vectorise)
        *q = T::from(round_even(x * inv).clamp(-QMAX, QMAX) as i8);
    }
    m / QMAX as f32
}

/// `v` rounded to the nearest integer, ties to even, for `|v| <= 2^22`: `v + 1.5 · 2^23` has no
/// fraction bits, as IEEE addition rounds to nearest-even on every CPU, and lies in
/// [2^23, 2^24), where consecutive integers have consecutive bit patterns, so its bits less those
/// of 1.5 · 2^23 are the rounded value (plain operations that vectorise, where
/// `f32::round_ties_even` may be a library call).
#[inline(always)]
fn round_even(v: f32) -> i32 {
    const SHIFT: f32 = 12_582_912.0;
    (v + SHIFT).to_bits() as i32 - SHIFT.to_bits() as i32
}

/// The value of an exact integer dot product of a row with scale `row` and a weight row with
/// scale `weight` (exact conversion for sums below 2^24, rows of up to 1,040 values; rounded
/// to nearest beyond, the same on every CPU).
#[inline(always)]
pub fn rescale(sum: i32, row: f32, weight: f32) -> f32 {
    sum as f32 * (row * weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_keeps_the_largest_value_and_rounds_half_to_even() {
        let v = [127.0f32, -127.0, 0.5, 1.5, 2.5, -0.5, 3.0];
        let mut q = [0i16; 7];
        assert_eq!(quantise(&v, &mut q), 1.0);
        assert_eq!(q, [127, -127, 0, 2, 2, 0, 3]);
        let mut q = [0i8; 2];
        assert_eq!(quantise(&[-0.2f32, 0.1], &mut q), 0.2 / 127.0);
        assert_eq!(q, [-127, 64]);
        let mut z = [7i8; 3];
        assert_eq!(quantise(&[0.0, -0.0, 0.0], &mut z), 0.0);
        assert_eq!(z, [0; 3]);
        // a non-finite row quantises to zeros rather than to arbitrary values
        assert_eq!(quantise(&[f32::INFINITY, 1.0, 0.0], &mut z), 0.0);
        assert_eq!(z, [0; 3]);
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        for (v, r) in [(0.5f32, 0.0f32), (1.5, 2.0), (2.5, 2.0), (-0.5, -0.0), (-1.5, -2.0), (126.49, 126.0), (-126.51, -127.0), (0.0, 0.0)]
        {
            assert_eq!(round_even(v) as f32, r, "{v}");
            assert_eq!(round_even(v) as f32, v.round_ties_even(), "{v}");
        }
        // every quarter and odd fraction across the range the quantiser uses, and beyond
        for i in -80_000..=80_000 {
            for v in [i as f32 / 256.0, i as f32 * 0.013_7] {
                assert_eq!(round_even(v) as f32, v.round_ties_even(), "{v}");
            }
        }
    }

    #[test]
    fn the_largest_row_cannot_overflow() {
        let worst = MAX_ROW as i64 * i64::from(QMAX * QMAX);
        assert!(worst <= i64::from(i32::MAX));
    }
}
