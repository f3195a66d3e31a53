//! Deterministic float arithmetic: a fixed operation order and basic IEEE operations only, so
//! every CPU computes the same bits (Rust never contracts `a * b + c` into a fused multiply-add).

/// Lanes of every dot product: products accumulate into 16 lane sums, which a fixed tree then
/// reduces. The SIMD kernels (`engine/kernels`) reproduce exactly this order at any width.
pub const LANES: usize = 16;

/// Dot product with the fixed reduction order (16 lane accumulators, then [`finish_lanes`]).
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let body = n - n % LANES;
    let mut acc = [0f32; LANES];
    for (x, y) in a[..body].chunks_exact(LANES).zip(b[..body].chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += x[k] * y[k];
        }
    }
    finish_lanes(acc, a, b, body)
}

/// Adds the scalar tail `a[from..] · b[from..]` to the lane sums (tail element `k` into lane
/// `k`) and reduces them by the tree `k += k + 8`, `k += k + 4`, `k += k + 2`, `k += k + 1`.
#[inline(always)]
pub fn finish_lanes(mut acc: [f32; LANES], a: &[f32], b: &[f32], from: usize) -> f32 {
    for k in 0..a.len() - from {
        acc[k] += a[from + k] * b[from + k];
    }
    let mut w = LANES;
    while w > 1 {
        w /= 2;
        for k in 0..w {
            acc[k] += acc[k + w];
        }
    }
    acc[0]
}

/// `e^x` from basic IEEE operations only, so every machine gets the same bits; 0 below -40
/// (e^-40 is negligible in any sum here, and the cut keeps subnormals, which are very slow, out).
/// Relative error under 1e-6. Branch-free so that loops over it vectorise.
#[inline(always)]
pub const fn exp_det(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    let xc = x.clamp(-87.0, 88.0);
    let t = xc * std::f32::consts::LOG2_E + ROUND;
    let n = t - ROUND;
    let r = (xc - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (0.166_666_67 + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    // the integer n, read from t's low bits (ROUND's unit is 1), as integer arithmetic that
    // vectorises (`n as i32` would not)
    let ni = t.to_bits() as i32 - ROUND.to_bits() as i32;
    let e = f32::from_bits(((ni + 127) as u32) << 23) * p;
    if x < -40.0 {
        0.0
    } else {
        e
    }
}

/// `v = exp(v - m)` over a slice.
#[inline(always)]
pub fn exp_shifted(v: &mut [f32], m: f32) {
    for x in v.iter_mut() {
        *x = exp_det(*x - m);
    }
}

/// `ln(x)` for positive normal `x` from basic operations only (identical on every IEEE machine);
/// absolute error under 1e-6.
pub fn ln_det(x: f32) -> f32 {
    let bits = x.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f80_0000);
    // ln m = 2 atanh(s), s = (m-1)/(m+1) in [0, 1/3)
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let series = 1.0 + s2 * (1.0 / 3.0 + s2 * (1.0 / 5.0 + s2 * (1.0 / 7.0 + s2 * (1.0 / 9.0 + s2 * (1.0 / 11.0)))));
    e as f32 * std::f32::consts::LN_2 + 2.0 * s * series
}

/// RMS normalisation of each row (`d` values) in place, times the gains `w`.
#[inline(always)]
pub fn rms_norm(x: &mut [f32], d: usize, w: &[f32]) {
    for row in x.chunks_exact_mut(d) {
        let ss = dot(row, row);
        let s = 1.0 / (ss / d as f32 + 1e-6).sqrt();
        for (v, g) in row.iter_mut().zip(w) {
            *v = *v * s * *g;
        }
    }
}

/// Softmax of one row in place (own `exp`, sequential sum).
#[inline(always)]
pub fn softmax(s: &mut [f32]) {
    let m = s.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    exp_shifted(s, m);
    let mut tot = 0.0;
    for v in s.iter() {
        tot += *v;
    }
    let inv = 1.0 / tot;
    for v in s.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_libm_closely() {
        let mut x = -40.0f32;
        while x <= 0.0 {
            let (a, b) = (exp_det(x), x.exp());
            assert!(((a - b) / b).abs() < 1e-6, "{x}: {a} vs {b}");
            x += 0.01;
        }
        assert_eq!(exp_det(0.0), 1.0);
        assert_eq!(exp_det(-100.0), 0.0);
        // the exponent read from bits is the conversion's
        for i in -8700..=8800 {
            let x = i as f32 * 0.01;
            let xc = x.clamp(-87.0, 88.0);
            let n = (xc * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
            let by_conversion = f32::from_bits(((n as i32 + 127) as u32) << 23);
            let t = xc * std::f32::consts::LOG2_E + 12_582_912.0;
            let by_bits = f32::from_bits(((t.to_bits() as i32 - 12_582_912f32.to_bits() as i32 + 127) as u32) << 23);
            assert_eq!(by_bits.to_bits(), by_conversion.to_bits(), "{x}");
        }
    }

    #[test]
    fn ln_det_is_accurate() {
        for i in 1..5000 {
            let x = i as f32 * 0.37;
            assert!((ln_det(x) - x.ln()).abs() < 2e-6, "{x}");
        }
    }
}
