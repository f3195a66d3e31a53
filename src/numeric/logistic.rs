//! The logistic domain of the bitwise context mixer (`predict::cm`): 12-bit probabilities and
//! their stretch `ln(p / (1 - p))`, in integers.
//!
//! `squash(d) = 4096 / (1 + e^(-d / 256))` for `d` in `-2047..=2047`, rounded down and kept in
//! `1..=4095`; `stretch` is its inverse (the smallest `d` whose squash reaches `p`). Both tables
//! are built at compile time from [`exp_det`](super::detmath::exp_det), so every machine holds the same
//! integers; everything after that is integer arithmetic.

use super::detmath::exp_det;

/// Largest stretched value (and minus the smallest).
pub const STRETCH_MAX: i32 = 2047;

struct Tables {
    squash: [u16; 4096],
    stretch: [i16; 4096],
}

/// Built at compile time (IEEE arithmetic, the same bits as at run time), so that the hot loops
/// read them without first checking that they exist.
static TABLES: Tables = tables();

const fn tables() -> Tables {
    let mut squash = [0u16; 4096];
    let mut i = 0;
    while i < 4096 {
        let d = i as f32 - 2048.0;
        let p = (4096.0 / (1.0 + exp_det(-d / 256.0))) as i32;
        squash[i] = if p < 1 {
            1
        } else if p > 4095 {
            4095
        } else {
            p as u16
        };
        i += 1;
    }
    let mut stretch = [0i16; 4096];
    let (mut p, mut d) = (0usize, 0usize);
    while p < 4096 {
        while d < 4095 && (squash[d] as usize) < p {
            d += 1;
        }
        let s = d as i32 - 2048;
        stretch[p] = (if s < -STRETCH_MAX {
            -STRETCH_MAX
        } else if s > STRETCH_MAX {
            STRETCH_MAX
        } else {
            s
        }) as i16;
        p += 1;
    }
    Tables { squash, stretch }
}

/// The probability (12 bits, `1..=4095`) of stretched value `d` (clamped to ±2047).
#[inline(always)]
pub fn squash(d: i32) -> u32 {
    u32::from(TABLES.squash[(d.clamp(-STRETCH_MAX, STRETCH_MAX) + 2048) as usize])
}

/// The stretched value (`-2047..=2047`) of a 12-bit probability `p < 4096`.
#[inline(always)]
pub fn stretch(p: u32) -> i32 {
    i32::from(TABLES.stretch[p as usize & 4095])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squash_and_stretch_are_monotone_inverses() {
        assert_eq!(squash(0), 2048);
        assert!(squash(-2047) <= 2 && squash(2047) >= 4094);
        for d in -2046..2047 {
            assert!(squash(d) <= squash(d + 1));
        }
        for p in 1..4095u32 {
            assert!(stretch(p) <= stretch(p + 1));
            // stretch lands on the first d that squashes to p or above
            assert!(squash(stretch(p)) >= p || stretch(p) == STRETCH_MAX, "{p}");
        }
    }

    #[test]
    fn tables_are_pinned() {
        // part of the format: a change here changes every bit the context mixer codes
        let sq: u64 = (-2047..=2047).map(|d| u64::from(squash(d)) * (d + 2048) as u64).sum();
        let st: i64 = (0..4096).map(|p| i64::from(stretch(p)) * i64::from(p)).sum();
        assert_eq!((sq, st), (SQUASH_SUM, STRETCH_SUM));
    }

    const SQUASH_SUM: u64 = 25_317_331_777;
    const STRETCH_SUM: i64 = 2_145_966_405;
}
