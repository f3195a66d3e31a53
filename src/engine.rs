//! The coding engine: a deterministic CPU implementation of the model's inference.
//!
//! Every number that reaches the entropy coder is computed here with a fixed operation order:
//! dot products reduce over 16 lanes and then a fixed tree, no fused multiply-add, `exp` is our
//! own polynomial, position buckets are integers. Rows never interact, so the result of one
//! stream does not depend on how many streams are batched together, on the thread count, or on
//! which SIMD width the compiler picked. candle (see `model.rs`) defines and cross-checks the
//! same network; this module is what compression and decompression run.

use std::collections::HashMap;

use half::{f16, slice::HalfFloatSliceExt};

use crate::error::{Error, Result};
use crate::model::{bucket_bidir, bucket_causal, Config};

const LANES: usize = 16;

/// Dot product with a fixed reduction order (16 lane accumulators, then a fixed tree).
#[inline(always)]
fn dot_body(a: &[f32], b: &[f32]) -> f32 {
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

fn matmul_portable(x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
    for r in 0..rows {
        let xr = &x[r * inp..(r + 1) * inp];
        for j in 0..out {
            y[r * out + j] = dot_body(xr, &w[j * inp..(j + 1) * inp]);
        }
    }
}

fn matmul_portable_h(x: &[f32], rows: usize, w: &[f16], inp: usize, out: usize, y: &mut [f32], buf: &mut [f32]) {
    let wj = &mut buf[..inp];
    for j in 0..out {
        w[j * inp..(j + 1) * inp].convert_to_f32_slice(wj);
        for r in 0..rows {
            y[r * out + j] = dot_body(&x[r * inp..(r + 1) * inp], wj);
        }
    }
}

/// Attention scores `out[j] = q · key_j` for keys stored transposed (`kt[e * cap + j]` is
/// element `e` of key `j`), sixteen keys at a time. Each score gets exactly the arithmetic of
/// `dot_body(q, key_j)`: the same 16 lanes in the same order and the same final tree.
#[inline(always)]
fn scores_body(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    let dh = q.len();
    let body = dh - dh % LANES;
    for (b, chunk) in out.chunks_mut(LANES).enumerate() {
        let j0 = b * LANES;
        let mut acc = [[0f32; LANES]; LANES]; // acc[lane][key]
        let mut lane_add = |lane: usize, e: usize| {
            let qe = q[e];
            let keys: &[f32; LANES] = kt[e * cap + j0..e * cap + j0 + LANES].try_into().unwrap();
            for jj in 0..LANES {
                acc[lane][jj] += qe * keys[jj];
            }
        };
        for c in (0..body).step_by(LANES) {
            for lane in 0..LANES {
                lane_add(lane, c + lane);
            }
        }
        for e in body..dh {
            lane_add(e - body, e);
        }
        let mut w = LANES;
        while w > 1 {
            w /= 2;
            for lane in 0..w {
                let (lo, hi) = acc.split_at_mut(w);
                for (a, b) in lo[lane].iter_mut().zip(&hi[lane]) {
                    *a += *b;
                }
            }
        }
        chunk.copy_from_slice(&acc[0][..chunk.len()]);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn scores_avx512(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    scores_body(q, kt, cap, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn scores_avx2(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    scores_body(q, kt, cap, out)
}

/// Keys per transposed cache row: a whole number of 16-key groups.
pub fn key_capacity(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

/// Adds the scalar tail to the lane sums and reduces them exactly as `dot_body` does.
#[inline(always)]
fn finish_lanes(mut acc: [f32; LANES], a: &[f32], b: &[f32], from: usize) -> f32 {
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

/// SIMD kernels with the 16-lane semantics of `dot_body`: each lane accumulates the same
/// products in the same order whatever the register width, and mul and add stay separate.
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{finish_lanes, LANES};
    use half::{f16, slice::HalfFloatSliceExt};
    use std::arch::x86_64::*;

    // Horizontal sums with the lane tree of `finish_lanes`: k += k+8, k += k+4, k += k+2, k += k+1.
    #[target_feature(enable = "sse2")]
    unsafe fn tree4(lo: __m128, hi: __m128) -> f32 {
        let t = _mm_add_ps(lo, hi);
        let u = _mm_add_ps(t, _mm_movehl_ps(t, t));
        _mm_cvtss_f32(_mm_add_ss(u, _mm_shuffle_ps(u, u, 1)))
    }

    #[target_feature(enable = "sse2")]
    unsafe fn hsum_sse2(v: [__m128; 4]) -> f32 {
        tree4(_mm_add_ps(v[0], v[2]), _mm_add_ps(v[1], v[3]))
    }

    #[target_feature(enable = "avx2")]
    unsafe fn hsum_avx2(v: [__m256; 2]) -> f32 {
        let s = _mm256_add_ps(v[0], v[1]);
        tree4(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn hsum_avx512(v: [__m512; 1]) -> f32 {
        let lo = _mm512_castps512_ps256(v[0]);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[0]), 1));
        let s = _mm256_add_ps(lo, hi);
        tree4(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }

    // f16 to f32 widening (exact on every path).
    fn widen_sse2(src: &[f16], dst: &mut [f32]) {
        src.convert_to_f32_slice(dst);
    }

    #[target_feature(enable = "avx2,f16c")]
    unsafe fn widen_avx2(src: &[f16], dst: &mut [f32]) {
        let body = src.len() - src.len() % 8;
        for i in (0..body).step_by(8) {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
        for i in body..src.len() {
            dst[i] = src[i].to_f32();
        }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn widen_avx512(src: &[f16], dst: &mut [f32]) {
        let body = src.len() - src.len() % 16;
        for i in (0..body).step_by(16) {
            let h = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
        }
        for i in body..src.len() {
            dst[i] = src[i].to_f32();
        }
    }

    macro_rules! kernel {
        ($name:ident, $name_h:ident, $feat:literal, $v:ty, $w:expr, $rb:expr, $zero:ident, $load:ident, $mul:ident, $add:ident, $store:ident, $hsum:ident, $widen:ident) => {
            /// Dot products of rows `r..r + RB` of `x` with the first CB rows of `w`, into columns
            /// `j..j + CB` of `y`: RB × CB independent chains, each with `dot_body`'s arithmetic.
            #[target_feature(enable = $feat)]
            unsafe fn tile<const RB: usize, const CB: usize>(x: &[f32], r: usize, w: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
                const N: usize = LANES / $w;
                let body = inp - inp % LANES;
                let mut acc: [[[$v; N]; CB]; RB] = [[[$zero(); N]; CB]; RB];
                let mut i = 0;
                while i < body {
                    let mut wv: [[$v; N]; CB] = [[$zero(); N]; CB];
                    for c in 0..CB {
                        for n in 0..N {
                            wv[c][n] = $load(w.as_ptr().add(c * inp + i + n * $w));
                        }
                    }
                    for q in 0..RB {
                        let xp = x.as_ptr().add((r + q) * inp + i);
                        for n in 0..N {
                            let xv = $load(xp.add(n * $w));
                            for c in 0..CB {
                                acc[q][c][n] = $add(acc[q][c][n], $mul(xv, wv[c][n]));
                            }
                        }
                    }
                    i += LANES;
                }
                for q in 0..RB {
                    for c in 0..CB {
                        y[(r + q) * out + j + c] = if body == inp {
                            $hsum(acc[q][c])
                        } else {
                            let mut lanes = [0f32; LANES];
                            for n in 0..N {
                                $store(lanes.as_mut_ptr().add(n * $w), acc[q][c][n]);
                            }
                            finish_lanes(lanes, &x[(r + q) * inp..(r + q + 1) * inp], &w[c * inp..(c + 1) * inp], body)
                        };
                    }
                }
            }

            #[target_feature(enable = $feat)]
            unsafe fn block<const RB: usize>(x: &[f32], r: usize, wj: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
                tile::<RB, 1>(x, r, wj, inp, out, j, y)
            }

            /// Dot products of row `r` of `x` with the first CB rows of `w`, into columns
            /// `j..j + CB` of `y` (independent chains for one row).
            #[target_feature(enable = $feat)]
            unsafe fn cols<const CB: usize>(x: &[f32], r: usize, w: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
                const N: usize = LANES / $w;
                let body = inp - inp % LANES;
                let xr = &x[r * inp..(r + 1) * inp];
                let mut acc: [[$v; N]; CB] = [[$zero(); N]; CB];
                let mut i = 0;
                while i < body {
                    let mut xv: [$v; N] = [$zero(); N];
                    for n in 0..N {
                        xv[n] = $load(xr.as_ptr().add(i + n * $w));
                    }
                    for c in 0..CB {
                        let wp = w.as_ptr().add(c * inp + i);
                        for n in 0..N {
                            acc[c][n] = $add(acc[c][n], $mul(xv[n], $load(wp.add(n * $w))));
                        }
                    }
                    i += LANES;
                }
                for c in 0..CB {
                    let wj = &w[c * inp..(c + 1) * inp];
                    y[r * out + j + c] = if body == inp {
                        $hsum(acc[c])
                    } else {
                        let mut lanes = [0f32; LANES];
                        for n in 0..N {
                            $store(lanes.as_mut_ptr().add(n * $w), acc[c][n]);
                        }
                        finish_lanes(lanes, xr, wj, body)
                    };
                }
            }

            /// Every row of `x` against weight row `wj`, written to column `j` of `y`.
            #[target_feature(enable = $feat)]
            unsafe fn all_rows(x: &[f32], rows: usize, wj: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
                let full = rows - rows % $rb;
                for r in (0..full).step_by($rb) {
                    block::<$rb>(x, r, wj, inp, out, j, y);
                }
                match rows - full {
                    0 => {}
                    1 => block::<1>(x, full, wj, inp, out, j, y),
                    2 => block::<2>(x, full, wj, inp, out, j, y),
                    3 => block::<3>(x, full, wj, inp, out, j, y),
                    4 => block::<4>(x, full, wj, inp, out, j, y),
                    5 => block::<5>(x, full, wj, inp, out, j, y),
                    6 => block::<6>(x, full, wj, inp, out, j, y),
                    _ => block::<7>(x, full, wj, inp, out, j, y),
                }
            }

            // Each weight row is read once and used for every row of `x` while it is in L1;
            // a single row (attention scores) runs eight weight rows side by side instead.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name(x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
                if rows == 1 {
                    let mut j = 0;
                    while j + 8 <= out {
                        cols::<8>(x, 0, &w[j * inp..], inp, out, j, y);
                        j += 8;
                    }
                    for j in j..out {
                        cols::<1>(x, 0, &w[j * inp..], inp, out, j, y);
                    }
                    return;
                }
                for j in 0..out {
                    all_rows(x, rows, &w[j * inp..(j + 1) * inp], inp, out, j, y);
                }
            }

            /// As above with f16 weights, widened (exactly) a few rows at a time into L1: half
            /// the memory traffic, the same products in the same order.
            #[target_feature(enable = $feat)]
            pub unsafe fn $name_h(x: &[f32], rows: usize, w: &[f16], inp: usize, out: usize, y: &mut [f32], buf: &mut [f32]) {
                // Weight rows per widening: enough independent chains when few rows are batched.
                let per = match rows {
                    1 => 8,
                    2 => ($rb / 2).max(1),
                    3 | 4 => ($rb / 4).max(1),
                    _ => 1,
                };
                let mut j = 0;
                while j < out {
                    let cb = (out - j).min(per);
                    $widen(&w[j * inp..(j + cb) * inp], &mut buf[..cb * inp]);
                    match (rows, cb) {
                        (1, 8) => cols::<8>(x, 0, buf, inp, out, j, y),
                        (1, _) => (0..cb).for_each(|c| cols::<1>(x, 0, &buf[c * inp..], inp, out, j + c, y)),
                        (2, 4) => tile::<2, 4>(x, 0, buf, inp, out, j, y),
                        (2, 2) => tile::<2, 2>(x, 0, buf, inp, out, j, y),
                        (3, 2) => tile::<3, 2>(x, 0, buf, inp, out, j, y),
                        (4, 2) => tile::<4, 2>(x, 0, buf, inp, out, j, y),
                        _ => (0..cb).for_each(|c| all_rows(x, rows, &buf[c * inp..(c + 1) * inp], inp, out, j + c, y)),
                    }
                    j += cb;
                }
            }
        };
    }

    mod sse2_impl { use super::*; kernel!(matmul_sse2, matmul_sse2_h, "sse2", __m128, 4, 2, _mm_setzero_ps, _mm_loadu_ps, _mm_mul_ps, _mm_add_ps, _mm_storeu_ps, hsum_sse2, widen_sse2); }
    pub use sse2_impl::{matmul_sse2, matmul_sse2_h};
    mod avx2_impl { use super::*; kernel!(matmul_avx2, matmul_avx2_h, "avx2,f16c", __m256, 8, 4, _mm256_setzero_ps, _mm256_loadu_ps, _mm256_mul_ps, _mm256_add_ps, _mm256_storeu_ps, hsum_avx2, widen_avx2); }
    pub use avx2_impl::{matmul_avx2, matmul_avx2_h};
    mod avx512_impl { use super::*; kernel!(matmul_avx512, matmul_avx512_h, "avx512f", __m512, 16, 8, _mm512_setzero_ps, _mm512_loadu_ps, _mm512_mul_ps, _mm512_add_ps, _mm512_storeu_ps, hsum_avx512, widen_avx512); }
    pub use avx512_impl::{matmul_avx512, matmul_avx512_h};
}

/// Which compiled variant of the kernels runs. All give identical bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// Plain Rust, any CPU.
    Portable,
    Sse2,
    /// AVX2 with F16C.
    Avx2,
    Avx512,
}

impl Kernel {
    /// The fastest variant this CPU supports.
    pub fn detect() -> Self {
        *Self::available().last().expect("portable is always available")
    }

    /// Every variant this CPU can run, slowest first.
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel::Portable];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Kernel::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
                v.push(Kernel::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Kernel::Avx512);
            }
        }
        v
    }

    /// `y = x · wᵀ` for `rows` rows of `x` (`rows × inp`) and `w` (`out × inp`).
    pub fn matmul(self, x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
        assert!(x.len() >= rows * inp && w.len() >= out * inp && y.len() >= rows * out);
        match self {
            // SAFETY: bounds are asserted above; a variant is only used when the CPU has it.
            #[cfg(target_arch = "x86_64")]
            Kernel::Sse2 => unsafe { x86::matmul_sse2(x, rows, w, inp, out, y) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { x86::matmul_avx2(x, rows, w, inp, out, y) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { x86::matmul_avx512(x, rows, w, inp, out, y) },
            _ => matmul_portable(x, rows, w, inp, out, y),
        }
    }

    /// Attention scores of `q` against `out.len()` keys stored transposed with row length `cap`
    /// (a multiple of 16, unused keys zero); bit-identical to `matmul` against the keys.
    pub fn scores(self, q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
        assert!(cap.is_multiple_of(LANES) && out.len() <= cap && kt.len() >= q.len() * cap);
        match self {
            // SAFETY: a variant is only used when the CPU has it.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { scores_avx512(q, kt, cap, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { scores_avx2(q, kt, cap, out) },
            _ => scores_body(q, kt, cap, out),
        }
    }

    /// `y = x · wᵀ` for a weight matrix in either precision (same bits as its f32 widening).
    pub fn matmul_weights(self, x: &[f32], rows: usize, w: &Weights, inp: usize, out: usize, y: &mut [f32]) {
        let w = match w {
            Weights::F32(w) => return self.matmul(x, rows, w, inp, out, y),
            Weights::F16(w) => w,
        };
        assert!(x.len() >= rows * inp && w.len() >= out * inp && y.len() >= rows * out);
        // Widened weight rows land in a per-thread buffer: no allocation per call.
        thread_local!(static WIDE: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) });
        WIDE.with_borrow_mut(|buf| {
            if buf.len() < 8 * inp {
                buf.resize(8 * inp, 0.0);
            }
            match self {
                // SAFETY: as in `matmul`.
                #[cfg(target_arch = "x86_64")]
                Kernel::Sse2 => unsafe { x86::matmul_sse2_h(x, rows, w, inp, out, y, buf) },
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx2 => unsafe { x86::matmul_avx2_h(x, rows, w, inp, out, y, buf) },
                #[cfg(target_arch = "x86_64")]
                Kernel::Avx512 => unsafe { x86::matmul_avx512_h(x, rows, w, inp, out, y, buf) },
                _ => matmul_portable_h(x, rows, w, inp, out, y, buf),
            }
        })
    }
}

/// A weight matrix (`out × inp`, row-major), kept in f16 when every value is exactly an f16
/// (as in shipped models), which halves the memory the hot loop streams.
pub enum Weights {
    F16(Vec<f16>),
    F32(Vec<f32>),
}

impl Weights {
    /// Narrows to f16 only when that loses nothing.
    pub fn new(v: Vec<f32>) -> Self {
        let narrow: Vec<f16> = v.iter().map(|&x| f16::from_f32(x)).collect();
        if narrow.iter().zip(&v).all(|(h, &x)| h.to_f32().to_bits() == x.to_bits()) {
            Weights::F16(narrow)
        } else {
            Weights::F32(v)
        }
    }

    /// Row `i` of a matrix with `n` columns, widened to f32, appended to `out`.
    fn extend_row(&self, i: usize, n: usize, out: &mut Vec<f32>) {
        match self {
            Weights::F32(w) => out.extend_from_slice(&w[i * n..(i + 1) * n]),
            Weights::F16(w) => out.extend(w[i * n..(i + 1) * n].iter().map(|h| h.to_f32())),
        }
    }
}

/// `e^x` from basic IEEE operations only, so every machine gets the same bits; 0 below -40
/// (e^-40 is negligible in any sum here, and the cut keeps subnormals, which are very slow, out).
/// Relative error under 1e-6. Branch-free so that loops over it vectorise.
#[inline(always)]
pub fn exp_det(x: f32) -> f32 {
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding and subtracting rounds to an integer
    let xc = x.clamp(-87.0, 88.0);
    let n = (xc * std::f32::consts::LOG2_E + ROUND) - ROUND;
    let r = (xc - n * 0.693_145_75) - n * 1.428_606_8e-6;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67 + r * (0.041_666_668 + r * (0.008_333_334 + r * 0.001_388_889)))));
    let e = f32::from_bits(((n as i32 + 127) as u32) << 23) * p;
    if x < -40.0 { 0.0 } else { e }
}

/// `v = exp(v - m)` over a slice.
#[inline(always)]
pub fn exp_shifted(v: &mut [f32], m: f32) {
    for x in v.iter_mut() {
        *x = exp_det(*x - m);
    }
}

/// RMS normalisation of each row in place.
#[inline(always)]
fn rms_norm(x: &mut [f32], d: usize, w: &[f32]) {
    for row in x.chunks_exact_mut(d) {
        let ss = dot_body(row, row);
        let s = 1.0 / (ss / d as f32 + 1e-6).sqrt();
        for (v, g) in row.iter_mut().zip(w) {
            *v = *v * s * *g;
        }
    }
}

/// Softmax of one row in place (own `exp`, sequential sum).
#[inline(always)]
fn softmax(s: &mut [f32]) {
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

/// Rows `start..start + n` of a `rows × d` matrix, regrouped per head: `h × n × dh`.
fn split_heads(x: &[f32], start: usize, n: usize, d: usize, h: usize) -> Vec<f32> {
    let dh = d / h;
    let mut out = Vec::with_capacity(n * d);
    for hd in 0..h {
        for i in start..start + n {
            out.extend_from_slice(&x[i * d + hd * dh..i * d + (hd + 1) * dh]);
        }
    }
    out
}

/// Rows `start..start + n` of a `rows × d` matrix as transposed keys per head:
/// `h × dh × cap`, element `e` of key `j` of head `hd` at `(hd * dh + e) * cap + j`.
fn split_heads_transposed(x: &[f32], start: usize, n: usize, d: usize, h: usize) -> Vec<f32> {
    let dh = d / h;
    let cap = key_capacity(n);
    let mut out = vec![0f32; d * cap];
    for j in 0..n {
        for (e, v) in x[(start + j) * d..(start + j + 1) * d].iter().enumerate() {
            out[e * cap + j] = *v;
        }
    }
    debug_assert_eq!(out.len(), h * dh * cap);
    out
}

/// `out += Σ_j p[j] · v[j]` over rows of `v` (`p.len() × out.len()`), in order of `j`.
#[inline(always)]
fn weighted_sum(p: &[f32], v: &[f32], out: &mut [f32]) {
    let dh = out.len();
    for (j, &pj) in p.iter().enumerate() {
        for (o, vv) in out.iter_mut().zip(&v[j * dh..(j + 1) * dh]) {
            *o += pj * vv;
        }
    }
}

struct Attn {
    q: Weights,
    k: Weights,
    v: Weights,
    o: Weights,
}

struct Ffn {
    wi0: Weights,
    wi1: Weights,
    wo: Weights,
}

struct EncLayer {
    attn_norm: Vec<f32>,
    attn: Attn,
    ffn_norm: Vec<f32>,
    ffn: Ffn,
}

struct DecLayer {
    self_norm: Vec<f32>,
    self_attn: Attn,
    cross_norm: Vec<f32>,
    cross_attn: Attn,
    ffn_norm: Vec<f32>,
    ffn: Ffn,
}

/// The model's weights in f32, laid out for the engine.
pub struct Engine {
    pub cfg: Config,
    kernel: Kernel,
    embed: Weights,
    enc_rel: Vec<f32>,
    dec_rel: Vec<f32>,
    enc: Vec<EncLayer>,
    dec: Vec<DecLayer>,
    enc_norm: Vec<f32>,
    dec_norm: Vec<f32>,
}

/// Per-stream state while decoding one segment.
pub struct StreamState {
    /// Cross-attention keys per decoder layer, transposed per head (`h × dh × key_capacity(n_enc)`).
    cross_k: Vec<Vec<f32>>,
    /// Cross-attention values per decoder layer, per head (`h × n_enc × dh`).
    cross_v: Vec<Vec<f32>>,
    n_enc: usize,
    /// Self-attention keys per decoder layer, transposed per head (`h × dh × key_capacity(segment)`).
    self_k: Vec<Vec<f32>>,
    /// Self-attention values per decoder layer, per head (`h × segment × dh`).
    self_v: Vec<Vec<f32>>,
    /// Position of the next decoder input.
    pub pos: usize,
}

impl Engine {
    /// Builds the engine from named f32 tensors (PyTorch layout: linear weights are `out × in`).
    pub fn from_tensors(cfg: Config, mut t: HashMap<String, Vec<f32>>, kernel: Kernel) -> Result<Self> {
        let d = cfg.d_model;
        let mut take = |name: &str, len: usize| -> Result<Vec<f32>> {
            let v = t.remove(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))?;
            if v.len() != len {
                return Err(Error::Model(format!("tensor {name} has {} values, expected {len}", v.len())));
            }
            Ok(v)
        };
        let (f, h) = (cfg.d_ff, cfg.n_heads);
        let attn = |take: &mut dyn FnMut(&str, usize) -> Result<Vec<f32>>, p: &str| -> Result<Attn> {
            Ok(Attn {
                q: Weights::new(take(&format!("{p}.q.weight"), d * d)?),
                k: Weights::new(take(&format!("{p}.k.weight"), d * d)?),
                v: Weights::new(take(&format!("{p}.v.weight"), d * d)?),
                o: Weights::new(take(&format!("{p}.o.weight"), d * d)?),
            })
        };
        let ffn = |take: &mut dyn FnMut(&str, usize) -> Result<Vec<f32>>, p: &str| -> Result<Ffn> {
            Ok(Ffn {
                wi0: Weights::new(take(&format!("{p}.wi0.weight"), f * d)?),
                wi1: Weights::new(take(&format!("{p}.wi1.weight"), f * d)?),
                wo: Weights::new(take(&format!("{p}.wo.weight"), d * f)?),
            })
        };
        let mut enc = Vec::new();
        for i in 0..cfg.enc_layers {
            enc.push(EncLayer {
                attn_norm: take(&format!("enc.{i}.attn_norm.weight"), d)?,
                attn: attn(&mut take, &format!("enc.{i}.attn"))?,
                ffn_norm: take(&format!("enc.{i}.ffn_norm.weight"), d)?,
                ffn: ffn(&mut take, &format!("enc.{i}.ffn"))?,
            });
        }
        let mut dec = Vec::new();
        for i in 0..cfg.dec_layers {
            dec.push(DecLayer {
                self_norm: take(&format!("dec.{i}.self_norm.weight"), d)?,
                self_attn: attn(&mut take, &format!("dec.{i}.self_attn"))?,
                cross_norm: take(&format!("dec.{i}.cross_norm.weight"), d)?,
                cross_attn: attn(&mut take, &format!("dec.{i}.cross_attn"))?,
                ffn_norm: take(&format!("dec.{i}.ffn_norm.weight"), d)?,
                ffn: ffn(&mut take, &format!("dec.{i}.ffn"))?,
            });
        }
        Ok(Self {
            embed: Weights::new(take("embed.weight", (cfg.vocab + 2) * d)?),
            enc_rel: take("enc_rel.weight", 32 * h)?,
            dec_rel: take("dec_rel.weight", 16 * h)?,
            enc_norm: take("enc_norm.weight", d)?,
            dec_norm: take("dec_norm.weight", d)?,
            enc,
            dec,
            cfg,
            kernel,
        })
    }

    /// The kernel variant in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    /// Same weights, another kernel variant (for tests and benchmarks).
    pub fn set_kernel(&mut self, kernel: Kernel) {
        self.kernel = kernel;
    }

    fn mm(&self, x: &[f32], rows: usize, w: &Weights, inp: usize, out: usize) -> Vec<f32> {
        let mut y = vec![0f32; rows * out];
        self.kernel.matmul_weights(x, rows, w, inp, out, &mut y);
        y
    }

    fn embed_rows(&self, ids: &[u32]) -> Vec<f32> {
        let d = self.cfg.d_model;
        let mut x = Vec::with_capacity(ids.len() * d);
        for &id in ids {
            self.embed.extend_row(id as usize, d, &mut x);
        }
        x
    }

    fn ffn(&self, f: &Ffn, y: &[f32], rows: usize) -> Vec<f32> {
        let (d, ff) = (self.cfg.d_model, self.cfg.d_ff);
        let mut a = self.mm(y, rows, &f.wi0, d, ff);
        let b = self.mm(y, rows, &f.wi1, d, ff);
        for (a, b) in a.iter_mut().zip(&b) {
            *a = a.max(0.0) * *b;
        }
        self.mm(&a, rows, &f.wo, ff, d)
    }

    /// Starts a segment for several streams at once: runs the encoder over each stream's
    /// `context ++ [SEP] ++ latent` and prepares its decoder state. Returns one state per input.
    pub fn begin_segments(&self, inputs: &[(&[u32], &[u32])]) -> Vec<StreamState> {
        let c = &self.cfg;
        let (d, h) = (c.d_model, c.n_heads);
        let dh = d / h;
        let scale = 1.0 / (dh as f32).sqrt();
        let seqs: Vec<Vec<u32>> = inputs
            .iter()
            .map(|(ctx, lat)| {
                let mut s = ctx.to_vec();
                s.push(c.sep_id());
                s.extend_from_slice(lat);
                s
            })
            .collect();
        let all: Vec<u32> = seqs.iter().flatten().copied().collect();
        let rows = all.len();
        let mut x = self.embed_rows(&all);
        for l in &self.enc {
            let mut y = x.clone();
            rms_norm(&mut y, d, &l.attn_norm);
            let q = self.mm(&y, rows, &l.attn.q, d, d);
            let k = self.mm(&y, rows, &l.attn.k, d, d);
            let v = self.mm(&y, rows, &l.attn.v, d, d);
            let mut ctx = vec![0f32; rows * d];
            let mut start = 0;
            for s in &seqs {
                let n = s.len();
                let (qh, kh, vh) = (split_heads(&q, start, n, d, h), split_heads(&k, start, n, d, h), split_heads(&v, start, n, d, h));
                let mut scores = vec![0f32; n * n];
                for hd in 0..h {
                    let blk = hd * n * dh..(hd + 1) * n * dh;
                    self.kernel.matmul(&qh[blk.clone()], n, &kh[blk.clone()], dh, n, &mut scores);
                    for i in 0..n {
                        let row = &mut scores[i * n..(i + 1) * n];
                        for (j, sc) in row.iter_mut().enumerate() {
                            *sc = *sc * scale + self.enc_rel[bucket_bidir(j as i64 - i as i64) * h + hd];
                        }
                        softmax(row);
                        let o = (start + i) * d + hd * dh;
                        weighted_sum(row, &vh[blk.clone()], &mut ctx[o..o + dh]);
                    }
                }
                start += n;
            }
            let o = self.mm(&ctx, rows, &l.attn.o, d, d);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            let mut y = x.clone();
            rms_norm(&mut y, d, &l.ffn_norm);
            let f = self.ffn(&l.ffn, &y, rows);
            for (a, b) in x.iter_mut().zip(&f) {
                *a += b;
            }
        }
        rms_norm(&mut x, d, &self.enc_norm);
        let ks: Vec<Vec<f32>> = self.dec.iter().map(|l| self.mm(&x, rows, &l.cross_attn.k, d, d)).collect();
        let vs: Vec<Vec<f32>> = self.dec.iter().map(|l| self.mm(&x, rows, &l.cross_attn.v, d, d)).collect();
        let mut out = Vec::with_capacity(seqs.len());
        let mut start = 0;
        for s in &seqs {
            let n = s.len();
            let seg = |m: &Vec<f32>| split_heads(m, start, n, d, h);
            out.push(StreamState {
                cross_k: ks.iter().map(|m| split_heads_transposed(m, start, n, d, h)).collect(),
                cross_v: vs.iter().map(seg).collect(),
                n_enc: n,
                self_k: vec![vec![0f32; key_capacity(c.segment) * d]; self.dec.len()],
                self_v: vec![vec![0f32; c.segment * d]; self.dec.len()],
                pos: 0,
            });
            start += n;
        }
        out
    }

    /// One decoder step for several streams: feeds each stream's next input token and writes
    /// the logits over the text vocabulary (`streams.len() × vocab`) into `logits`.
    pub fn step(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        // The element-wise code compiled for wider vectors: the same IEEE operations per
        // element (Rust never fuses or reorders them), so the same bits.
        match self.kernel {
            // SAFETY: a variant is only used when the CPU has it.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { self.step_avx512(streams, inputs, logits) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2 => unsafe { self.step_avx2(streams, inputs, logits) },
            _ => self.step_body(streams, inputs, logits),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn step_avx512(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        self.step_body(streams, inputs, logits)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn step_avx2(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        self.step_body(streams, inputs, logits)
    }

    #[inline(always)]
    fn step_body(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        let c = &self.cfg;
        let (d, h) = (c.d_model, c.n_heads);
        let dh = d / h;
        let scale = 1.0 / (dh as f32).sqrt();
        let rows = streams.len();
        let mut x = self.embed_rows(inputs);
        for (li, l) in self.dec.iter().enumerate() {
            // self-attention with the cache
            let mut y = x.clone();
            rms_norm(&mut y, d, &l.self_norm);
            let q = self.mm(&y, rows, &l.self_attn.q, d, d);
            let k = self.mm(&y, rows, &l.self_attn.k, d, d);
            let v = self.mm(&y, rows, &l.self_attn.v, d, d);
            let mut ctx = vec![0f32; rows * d];
            let seg = c.segment;
            let mut scores = vec![0f32; seg.max(1)];
            for (r, s) in streams.iter_mut().enumerate() {
                let t = s.pos;
                assert!(t < seg, "decoder position beyond the segment");
                for hd in 0..h {
                    let at = (hd * seg + t) * dh;
                    let kcap = key_capacity(seg);
                    let kt = &mut s.self_k[li][hd * dh * kcap..(hd + 1) * dh * kcap];
                    for (e, kv) in k[r * d + hd * dh..r * d + (hd + 1) * dh].iter().enumerate() {
                        kt[e * kcap + t] = *kv;
                    }
                    s.self_v[li][at..at + dh].copy_from_slice(&v[r * d + hd * dh..r * d + (hd + 1) * dh]);
                    let cache = hd * seg * dh..(hd * seg + t + 1) * dh;
                    let sc = &mut scores[..t + 1];
                    self.kernel.scores(&q[r * d + hd * dh..r * d + (hd + 1) * dh], kt, kcap, sc);
                    for (j, x) in sc.iter_mut().enumerate() {
                        *x = *x * scale + self.dec_rel[bucket_causal(t - j) * h + hd];
                    }
                    softmax(sc);
                    weighted_sum(sc, &s.self_v[li][cache], &mut ctx[r * d + hd * dh..r * d + (hd + 1) * dh]);
                }
            }
            let o = self.mm(&ctx, rows, &l.self_attn.o, d, d);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            // cross-attention over the segment's encoder output
            let mut y = x.clone();
            rms_norm(&mut y, d, &l.cross_norm);
            let q = self.mm(&y, rows, &l.cross_attn.q, d, d);
            let mut ctx = vec![0f32; rows * d];
            for (r, s) in streams.iter().enumerate() {
                let n = s.n_enc;
                let mut scores = vec![0f32; n];
                for hd in 0..h {
                    let blk = hd * n * dh..(hd + 1) * n * dh;
                    let kcap = key_capacity(n);
                    let kt = &s.cross_k[li][hd * dh * kcap..(hd + 1) * dh * kcap];
                    self.kernel.scores(&q[r * d + hd * dh..r * d + (hd + 1) * dh], kt, kcap, &mut scores);
                    for x in scores.iter_mut() {
                        *x *= scale;
                    }
                    softmax(&mut scores);
                    weighted_sum(&scores, &s.cross_v[li][blk], &mut ctx[r * d + hd * dh..r * d + (hd + 1) * dh]);
                }
            }
            let o = self.mm(&ctx, rows, &l.cross_attn.o, d, d);
            for (a, b) in x.iter_mut().zip(&o) {
                *a += b;
            }
            let mut y = x.clone();
            rms_norm(&mut y, d, &l.ffn_norm);
            let f = self.ffn(&l.ffn, &y, rows);
            for (a, b) in x.iter_mut().zip(&f) {
                *a += b;
            }
        }
        for s in streams.iter_mut() {
            s.pos += 1;
        }
        rms_norm(&mut x, d, &self.dec_norm);
        logits.resize(rows * c.vocab, 0.0);
        self.kernel.matmul_weights(&x, rows, &self.embed, d, c.vocab, logits);
        let out_scale = 1.0 / (d as f32).sqrt();
        for v in logits.iter_mut() {
            *v *= out_scale;
        }
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
    }

    #[test]
    fn kernels_agree_bit_for_bit() {
        for (inp, out) in [(75, 37), (64, 9), (256, 20), (16, 3), (5, 2)] {
            kernels_agree_on(inp, out);
        }
    }

    #[test]
    fn transposed_scores_match_the_matmul_bit_for_bit() {
        for dh in [5, 16, 20, 64] {
            for n in [1, 15, 16, 17, 40] {
                let keys: Vec<f32> = (0..n * dh).map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 1e-3).collect();
                let q: Vec<f32> = (0..dh).map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-2).collect();
                let cap = key_capacity(n);
                let mut kt = vec![0f32; dh * cap];
                for j in 0..n {
                    for e in 0..dh {
                        kt[e * cap + j] = keys[j * dh + e];
                    }
                }
                let mut reference = vec![0f32; n];
                Kernel::Portable.matmul(&q, 1, &keys, dh, n, &mut reference);
                for k in Kernel::available() {
                    let mut got = vec![0f32; n];
                    k.scores(&q, &kt, cap, &mut got);
                    let same = got.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{k:?}, dh {dh}, {n} keys");
                }
            }
        }
    }

    fn kernels_agree_on(inp: usize, out: usize) {
        let w: Vec<f32> = (0..inp * out).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3).collect();
        let x: Vec<f32> = (0..9 * inp).map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-2).collect();
        let mut reference = vec![0f32; 9 * out];
        Kernel::Portable.matmul(&x, 9, &w, inp, out, &mut reference);
        // the same values held as f16 must give the same bits through the f16 paths
        let w16 = Weights::new(w.clone());
        assert!(matches!(w16, Weights::F16(_)) == w.iter().all(|&v| f16::from_f32(v).to_f32() == v));
        let w16 = Weights::F16(w.iter().map(|&v| f16::from_f32(v)).collect());
        let widened: Vec<f32> = match &w16 {
            Weights::F16(h) => h.iter().map(|v| v.to_f32()).collect(),
            Weights::F32(_) => unreachable!(),
        };
        let mut reference16 = vec![0f32; 9 * out];
        Kernel::Portable.matmul(&x, 9, &widened, inp, out, &mut reference16);
        for k in Kernel::available() {
            for rows in 1..=9 {
                let mut y = vec![0f32; rows * out];
                k.matmul(&x, rows, &w, inp, out, &mut y);
                let same = y.iter().zip(&reference).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{k:?} with {rows} rows differs");
                k.matmul_weights(&x, rows, &w16, inp, out, &mut y);
                let same = y.iter().zip(&reference16).all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{k:?} with {rows} rows and f16 weights differs");
            }
        }
    }
}
