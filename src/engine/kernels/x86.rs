//! x86-64 kernels with the 16-lane semantics of `numeric::detmath::dot`: each lane accumulates
//! the same products in the same order whatever the register width, and mul and add stay
//! separate, so every variant gives the portable kernel's bits.

#![deny(unsafe_op_in_unsafe_fn)]

use crate::numeric::detmath::{finish_lanes, LANES};
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
    // SAFETY: register operations only; the caller has SSE2.
    unsafe { tree4(_mm_add_ps(v[0], v[2]), _mm_add_ps(v[1], v[3])) }
}

#[target_feature(enable = "avx2")]
unsafe fn hsum_avx2(v: [__m256; 2]) -> f32 {
    // SAFETY: register operations only; the caller has AVX2.
    unsafe {
        let s = _mm256_add_ps(v[0], v[1]);
        tree4(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn hsum_avx512(v: [__m512; 1]) -> f32 {
    // SAFETY: register operations only; the caller has AVX-512F.
    unsafe {
        let lo = _mm512_castps512_ps256(v[0]);
        let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v[0]), 1));
        let s = _mm256_add_ps(lo, hi);
        tree4(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1))
    }
}

// f16 to f32 widening (exact on every path).
fn widen_sse2(src: &[f16], dst: &mut [f32]) {
    src.convert_to_f32_slice(dst);
}

#[target_feature(enable = "avx2,f16c")]
unsafe fn widen_avx2(src: &[f16], dst: &mut [f32]) {
    assert!(dst.len() >= src.len());
    let body = src.len() - src.len() % 8;
    for i in (0..body).step_by(8) {
        // SAFETY: `i + 8 <= body <= src.len() <= dst.len()`: both accesses are in bounds.
        unsafe {
            let h = _mm_loadu_si128(src.as_ptr().add(i).cast());
            _mm256_storeu_ps(dst.as_mut_ptr().add(i), _mm256_cvtph_ps(h));
        }
    }
    for i in body..src.len() {
        dst[i] = src[i].to_f32();
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn widen_avx512(src: &[f16], dst: &mut [f32]) {
    assert!(dst.len() >= src.len());
    let body = src.len() - src.len() % 16;
    for i in (0..body).step_by(16) {
        // SAFETY: `i + 16 <= body <= src.len() <= dst.len()`: both accesses are in bounds.
        unsafe {
            let h = _mm256_loadu_si256(src.as_ptr().add(i).cast());
            _mm512_storeu_ps(dst.as_mut_ptr().add(i), _mm512_cvtph_ps(h));
        }
    }
    for i in body..src.len() {
        dst[i] = src[i].to_f32();
    }
}

macro_rules! kernel {
    ($name:ident, $name_h:ident, $feat:literal, $v:ty, $w:expr, $rb:expr, $zero:ident, $load:ident, $mul:ident, $add:ident, $store:ident, $hsum:ident, $widen:ident) => {
        /// Dot products of rows `r..r + RB` of `x` with the first CB rows of `w`, into columns
        /// `j..j + CB` of `y`: RB × CB independent chains, each with `dot`'s arithmetic.
        ///
        /// # Safety
        /// The CPU has the target features; `x` holds rows `r..r + RB` (`(r + RB) * inp`
        /// values), `w` at least `CB * inp` values, `y` row `r + RB - 1` up to column `j + CB`.
        #[target_feature(enable = $feat)]
        unsafe fn tile<const RB: usize, const CB: usize>(x: &[f32], r: usize, w: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
            debug_assert!(x.len() >= (r + RB) * inp && w.len() >= CB * inp && y.len() >= (r + RB - 1) * out + j + CB);
            const N: usize = LANES / $w;
            let body = inp - inp % LANES;
            let mut acc: [[[$v; N]; CB]; RB] = [[[$zero(); N]; CB]; RB];
            let mut i = 0;
            while i < body {
                // SAFETY: `i + LANES <= body <= inp`, so every load reads within the rows the
                // caller guarantees (weight row `c < CB`, input row `r + q < r + RB`).
                unsafe {
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
                }
                i += LANES;
            }
            for q in 0..RB {
                for c in 0..CB {
                    y[(r + q) * out + j + c] = if body == inp {
                        // SAFETY: the caller's CPU has the features.
                        unsafe { $hsum(acc[q][c]) }
                    } else {
                        let mut lanes = [0f32; LANES];
                        for n in 0..N {
                            // SAFETY: `n * $w + $w <= LANES`: the store stays in `lanes`.
                            unsafe { $store(lanes.as_mut_ptr().add(n * $w), acc[q][c][n]) };
                        }
                        finish_lanes(lanes, &x[(r + q) * inp..(r + q + 1) * inp], &w[c * inp..(c + 1) * inp], body)
                    };
                }
            }
        }

        /// # Safety
        /// As [`tile`] with `CB = 1`.
        #[target_feature(enable = $feat)]
        unsafe fn block<const RB: usize>(x: &[f32], r: usize, wj: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
            // SAFETY: the caller's guarantees are `tile`'s.
            unsafe { tile::<RB, 1>(x, r, wj, inp, out, j, y) }
        }

        /// Dot products of row `r` of `x` with the first CB rows of `w`, into columns
        /// `j..j + CB` of `y` (independent chains for one row).
        ///
        /// # Safety
        /// The CPU has the target features; `x` holds row `r`, `w` at least `CB * inp` values,
        /// `y` row `r` up to column `j + CB`.
        #[target_feature(enable = $feat)]
        unsafe fn cols<const CB: usize>(x: &[f32], r: usize, w: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
            debug_assert!(x.len() >= (r + 1) * inp && w.len() >= CB * inp && y.len() >= r * out + j + CB);
            const N: usize = LANES / $w;
            let body = inp - inp % LANES;
            let xr = &x[r * inp..(r + 1) * inp];
            let mut acc: [[$v; N]; CB] = [[$zero(); N]; CB];
            let mut i = 0;
            while i < body {
                // SAFETY: `i + LANES <= body <= inp`: loads stay within `xr` and weight row `c`.
                unsafe {
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
                }
                i += LANES;
            }
            for c in 0..CB {
                let wj = &w[c * inp..(c + 1) * inp];
                y[r * out + j + c] = if body == inp {
                    // SAFETY: the caller's CPU has the features.
                    unsafe { $hsum(acc[c]) }
                } else {
                    let mut lanes = [0f32; LANES];
                    for n in 0..N {
                        // SAFETY: `n * $w + $w <= LANES`: the store stays in `lanes`.
                        unsafe { $store(lanes.as_mut_ptr().add(n * $w), acc[c][n]) };
                    }
                    finish_lanes(lanes, xr, wj, body)
                };
            }
        }

        /// Every row of `x` against weight row `wj`, written to column `j` of `y`.
        ///
        /// # Safety
        /// The CPU has the target features; `x` holds `rows` rows, `wj` at least `inp` values,
        /// `y` holds `rows` rows of `out` with `j < out`.
        #[target_feature(enable = $feat)]
        unsafe fn all_rows(x: &[f32], rows: usize, wj: &[f32], inp: usize, out: usize, j: usize, y: &mut [f32]) {
            debug_assert!(x.len() >= rows * inp && wj.len() >= inp && j < out && y.len() >= rows * out);
            let full = rows - rows % $rb;
            // SAFETY: each block covers rows below `rows`, within what the caller guarantees.
            unsafe {
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
        }

        /// `y = x · wᵀ`. Each weight row is read once and used for every row of `x` while it is
        /// in L1; a single row (attention scores) runs eight weight rows side by side instead.
        ///
        /// # Safety
        /// The CPU has the target features; `x.len() >= rows * inp`, `w.len() >= out * inp`,
        /// `y.len() >= rows * out` (the safe entry point asserts these).
        #[target_feature(enable = $feat)]
        pub unsafe fn $name(x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
            debug_assert!(x.len() >= rows * inp && w.len() >= out * inp && y.len() >= rows * out);
            // SAFETY: every call below covers weight rows below `out` and input rows below `rows`.
            unsafe {
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
        }

        /// As above with f16 weights, widened (exactly) a few rows at a time into L1: half
        /// the memory traffic, the same products in the same order.
        ///
        /// # Safety
        /// As for the f32 variant, and `buf.len() >= 8 * inp`.
        #[target_feature(enable = $feat)]
        pub unsafe fn $name_h(x: &[f32], rows: usize, w: &[f16], inp: usize, out: usize, y: &mut [f32], buf: &mut [f32]) {
            debug_assert!(x.len() >= rows * inp && w.len() >= out * inp && y.len() >= rows * out && buf.len() >= 8 * inp);
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
                // SAFETY: `buf` holds `cb <= 8` widened weight rows; the tiles match `(rows, cb)`.
                unsafe {
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
                }
                j += cb;
            }
        }
    };
}

mod sse2_impl {
    use super::*;
    kernel!(
        matmul_sse2,
        matmul_sse2_h,
        "sse2",
        __m128,
        4,
        2,
        _mm_setzero_ps,
        _mm_loadu_ps,
        _mm_mul_ps,
        _mm_add_ps,
        _mm_storeu_ps,
        hsum_sse2,
        widen_sse2
    );
}
pub use sse2_impl::{matmul_sse2, matmul_sse2_h};
mod avx2_impl {
    use super::*;
    kernel!(
        matmul_avx2,
        matmul_avx2_h,
        "avx2,f16c",
        __m256,
        8,
        4,
        _mm256_setzero_ps,
        _mm256_loadu_ps,
        _mm256_mul_ps,
        _mm256_add_ps,
        _mm256_storeu_ps,
        hsum_avx2,
        widen_avx2
    );
}
pub use avx2_impl::{matmul_avx2, matmul_avx2_h};
mod avx512_impl {
    use super::*;
    kernel!(
        matmul_avx512,
        matmul_avx512_h,
        "avx512f",
        __m512,
        16,
        8,
        _mm512_setzero_ps,
        _mm512_loadu_ps,
        _mm512_mul_ps,
        _mm512_add_ps,
        _mm512_storeu_ps,
        hsum_avx512,
        widen_avx512
    );
}
pub use avx512_impl::{matmul_avx512, matmul_avx512_h};

/// Attention scores compiled for AVX-512 (the portable body, wider vectors, the same bits).
///
/// # Safety
/// The CPU has AVX-512F; lengths as `Kernel::scores` asserts.
#[target_feature(enable = "avx512f")]
pub unsafe fn scores_avx512(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    super::portable::scores(q, kt, cap, out)
}

/// Attention scores compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2; lengths as `Kernel::scores` asserts.
#[target_feature(enable = "avx2")]
pub unsafe fn scores_avx2(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    super::portable::scores(q, kt, cap, out)
}

/// Attention scores in element order compiled for AVX-512 (the portable body, the same bits:
/// each key is its own chain whatever the width; a block of 64 keys is 4 registers instead of 8).
///
/// # Safety
/// The CPU has AVX-512F; lengths as `Kernel::scores_in_order` asserts.
#[target_feature(enable = "avx512f")]
pub unsafe fn scores_in_order_avx512(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    super::portable::scores_in_order(q, kt, cap, out)
}

/// Attention scores in element order compiled for AVX2 (the portable body, the same bits).
///
/// # Safety
/// The CPU has AVX2; lengths as `Kernel::scores_in_order` asserts.
#[target_feature(enable = "avx2")]
pub unsafe fn scores_in_order_avx2(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    super::portable::scores_in_order(q, kt, cap, out)
}

/// Runs `f` in a function compiled for AVX-512 (element-wise loops in `f` vectorise wider).
///
/// # Safety
/// The CPU has AVX-512F.
#[target_feature(enable = "avx512f")]
pub unsafe fn with_avx512<W: super::Vectorised>(f: W) -> W::Output {
    f.run()
}

/// Runs `f` in a function compiled for AVX2.
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
pub unsafe fn with_avx2<W: super::Vectorised>(f: W) -> W::Output {
    f.run()
}

/// int8 weight rows packed for [`matmul_i8_vnni`] and [`matmul_i8_avx2`]: blocks of 16
/// rows (zero rows beyond the matrix), each a run of 64-byte groups, group `g` holding values
/// `4g..4g + 4` of each of the 16 rows (zeros beyond the row): one `vpdpbusd` adds four products
/// to each of 16 columns' sums (AVX2: half a group to 8 columns), with no horizontal sums at the
/// end. Also each row's sum times 128 (see [`vtile`]).
pub struct PackedRows {
    data: Vec<i8>,
    offsets: Vec<i32>,
    groups: usize,
}

impl PackedRows {
    /// Packs rows of `inp` values.
    pub fn pack(w: &[i8], inp: usize) -> Self {
        let groups = inp.div_ceil(4);
        let blocks = (w.len() / inp).div_ceil(16);
        let mut data = vec![0i8; blocks * groups * 64];
        let mut offsets = vec![0i32; blocks * 16];
        for (j, row) in w.chunks_exact(inp).enumerate() {
            let (b, lane) = (j / 16, j % 16);
            for (k, &v) in row.iter().enumerate() {
                data[((b * groups + k / 4) * 16 + lane) * 4 + k % 4] = v;
            }
            // (wrapping: the kernel's sums are exact modulo 2³²)
            offsets[j] = row.iter().map(|&v| i32::from(v)).sum::<i32>().wrapping_mul(128);
        }
        PackedRows { data, offsets, groups }
    }
}

/// Integer products of rows `r..r + RB` of `xu` (row stride `4 · p.groups`) with blocks
/// `b..b + NB` of `p`, into `y`. `vpdpbusd` multiplies unsigned by signed bytes and adds each
/// four into an i32 lane, without saturation; the inputs come as unsigned `x + 128` (their sign
/// bit flipped), so each sum holds `128 · Σ w` too, which the row's offset takes back off. Every
/// step wraps modulo 2³², so the result is exact whenever the true sum fits in an i32 (always,
/// for rows of at most `int8::MAX_ROW` values), a -128 anywhere included.
///
/// # Safety
/// The CPU has AVX-512F, BW and VNNI; `xu` holds rows `r..r + RB` of `4 · p.groups` bytes, `p`
/// blocks `b..b + NB`, and `y` row `r + RB - 1` up to column `min(out, 16 · (b + NB))`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn vtile<const RB: usize, const NB: usize>(xu: &[u8], r: usize, p: &PackedRows, b: usize, out: usize, y: &mut [i32]) {
    let (groups, stride) = (p.groups, 4 * p.groups);
    debug_assert!(xu.len() >= (r + RB) * stride && p.data.len() >= (b + NB) * groups * 64);
    debug_assert!(y.len() >= (r + RB - 1) * out + out.min(16 * (b + NB)));
    let mut acc = [[_mm512_setzero_si512(); NB]; RB];
    // SAFETY: group `g < groups` of rows `r + q < r + RB` and of blocks `b + n < b + NB` lies
    // within `xu` and `p.data`, which the caller guarantees.
    unsafe {
        let w = p.data.as_ptr().add(b * groups * 64);
        for g in 0..groups {
            let mut xb = [_mm512_setzero_si512(); RB];
            for (q, xb) in xb.iter_mut().enumerate() {
                *xb = _mm512_set1_epi32(xu.as_ptr().add((r + q) * stride + 4 * g).cast::<i32>().read_unaligned());
            }
            for n in 0..NB {
                let wv = _mm512_loadu_si512(w.add((n * groups + g) * 64).cast());
                for (acc, xb) in acc.iter_mut().zip(&xb) {
                    acc[n] = _mm512_dpbusd_epi32(acc[n], *xb, wv);
                }
            }
        }
    }
    for (q, acc) in acc.iter().enumerate() {
        for (n, a) in acc.iter().enumerate() {
            let col = 16 * (b + n);
            // SAFETY: `offsets` holds every block's 16 columns; the stores stay within row
            // `r + q` up to column `out`, which the caller guarantees.
            unsafe {
                let v = _mm512_sub_epi32(*a, _mm512_loadu_si512(p.offsets.as_ptr().add(col).cast()));
                let dst = y.as_mut_ptr().add((r + q) * out + col);
                if col + 16 <= out {
                    _mm512_storeu_si512(dst.cast(), v);
                } else {
                    _mm512_mask_storeu_epi32(dst, (1u16 << (out - col)) - 1, v);
                }
            }
        }
    }
}

/// Defines `$name::<NB>(xp, rows, p, b, out, y)`: rows `0..rows` of the padded inputs `xp`
/// against blocks `b..b + NB` of `p` with the tile `$tile`, four rows at a time (the same walk
/// for every packed kernel).
macro_rules! packed_cols {
    ($name:ident, $tile:ident, $feat:literal) => {
        /// Rows `0..rows` against blocks `b..b + NB`, four rows at a time.
        ///
        /// # Safety
        /// As the tile's for every row block.
        #[target_feature(enable = $feat)]
        unsafe fn $name<const NB: usize>(xp: &[u8], rows: usize, p: &PackedRows, b: usize, out: usize, y: &mut [i32]) {
            let full = rows - rows % 4;
            // SAFETY: each tile covers rows below `rows` and blocks of `p` below `b + NB`.
            unsafe {
                for r in (0..full).step_by(4) {
                    $tile::<4, NB>(xp, r, p, b, out, y);
                }
                match rows - full {
                    0 => {}
                    1 => $tile::<1, NB>(xp, full, p, b, out, y),
                    2 => $tile::<2, NB>(xp, full, p, b, out, y),
                    _ => $tile::<3, NB>(xp, full, p, b, out, y),
                }
            }
        }
    };
}

packed_cols!(vcols, vtile, "avx512f,avx512bw,avx512vnni");

/// Runs `f` on the rows of `x` (`inp` values each) copied with rows padded to whole groups of
/// `p` (the padding meets zero weights), each byte xor `flip`.
fn with_padded_rows<R>(x: &[i8], rows: usize, inp: usize, p: &PackedRows, flip: u8, f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local!(static PADDED: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) });
    let stride = 4 * p.groups;
    PADDED.with_borrow_mut(|xp| {
        xp.clear();
        xp.resize(rows * stride, 0);
        for (u, x) in xp.chunks_exact_mut(stride).zip(x.chunks_exact(inp)) {
            for (u, &x) in u.iter_mut().zip(x) {
                *u = x as u8 ^ flip;
            }
        }
        f(xp)
    })
}

/// `y = x · wᵀ` in exact integers with AVX-512 VNNI (`x`: `rows × inp`; `y`: i32). One or
/// two rows run 8 blocks (128 columns) side by side, more rows 4 blocks across blocks of four
/// input rows (tiles that fit the 32 registers).
///
/// # Safety
/// The CPU has AVX-512F, BW and VNNI; `x.len() >= rows * inp`, `p` packs `out` rows of `inp`
/// values, `y.len() >= rows * out`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn matmul_i8_vnni(x: &[i8], rows: usize, p: &PackedRows, inp: usize, out: usize, y: &mut [i32]) {
    let blocks = out.div_ceil(16);
    debug_assert!(x.len() >= rows * inp && 4 * p.groups >= inp && p.data.len() >= blocks * p.groups * 64 && y.len() >= rows * out);
    // the inputs as unsigned bytes `x + 128`
    with_padded_rows(x, rows, inp, p, 0x80, |xu| {
        let nb = if rows <= 2 { 8 } else { 4 };
        let mut b = 0;
        // SAFETY: every call covers blocks below `blocks` and rows below `rows`; `xu` holds
        // `rows` rows of `stride` bytes.
        unsafe {
            while b + nb <= blocks {
                match nb {
                    8 => vcols::<8>(xu, rows, p, b, out, y),
                    _ => vcols::<4>(xu, rows, p, b, out, y),
                }
                b += nb;
            }
            for b in b..blocks {
                vcols::<1>(xu, rows, p, b, out, y);
            }
        }
    })
}

/// Integer products of rows `r..r + RB` of `xp` (row stride `4 · p.groups`) with blocks
/// `b..b + NB` of `p`, into `y`, on AVX2: each half group (four values of 8 rows) against the
/// row's four values broadcast, as `vpmaddubsw(|w|, x · sign w)` (pair sums of at most
/// 2 · 127² = 32,258, never saturated, as neither side holds -128) and `vpmaddwd` by ones, which
/// leaves each column's four products summed in its own i32 lane.
///
/// # Safety
/// The CPU has AVX2; as [`vtile`].
#[target_feature(enable = "avx2")]
unsafe fn ptile<const RB: usize, const NB: usize>(xp: &[u8], r: usize, p: &PackedRows, b: usize, out: usize, y: &mut [i32]) {
    let (groups, stride) = (p.groups, 4 * p.groups);
    debug_assert!(xp.len() >= (r + RB) * stride && p.data.len() >= (b + NB) * groups * 64);
    debug_assert!(y.len() >= (r + RB - 1) * out + out.min(16 * (b + NB)));
    let ones = _mm256_set1_epi16(1);
    let mut acc = [[[_mm256_setzero_si256(); 2]; NB]; RB];
    // SAFETY: as in `vtile`.
    unsafe {
        let w = p.data.as_ptr().add(b * groups * 64);
        for g in 0..groups {
            let mut xb = [_mm256_setzero_si256(); RB];
            for (q, xb) in xb.iter_mut().enumerate() {
                *xb = _mm256_set1_epi32(xp.as_ptr().add((r + q) * stride + 4 * g).cast::<i32>().read_unaligned());
            }
            for n in 0..NB {
                for h in 0..2 {
                    let wv = _mm256_loadu_si256(w.add((n * groups + g) * 64 + 32 * h).cast());
                    let wabs = _mm256_abs_epi8(wv);
                    for (acc, xb) in acc.iter_mut().zip(&xb) {
                        let pairs = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(*xb, wv));
                        acc[n][h] = _mm256_add_epi32(acc[n][h], _mm256_madd_epi16(pairs, ones));
                    }
                }
            }
        }
    }
    for (q, acc) in acc.iter().enumerate() {
        for (n, halves) in acc.iter().enumerate() {
            for (h, a) in halves.iter().enumerate() {
                let col = 16 * (b + n) + 8 * h;
                if col >= out {
                    continue;
                }
                // SAFETY: the stores stay within row `r + q` up to column `out`.
                unsafe {
                    let dst = y.as_mut_ptr().add((r + q) * out + col);
                    if col + 8 <= out {
                        _mm256_storeu_si256(dst.cast(), *a);
                    } else {
                        let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                        let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((out - col) as i32), lanes);
                        _mm256_maskstore_epi32(dst, mask, *a);
                    }
                }
            }
        }
    }
}

packed_cols!(pcols, ptile, "avx2");

/// `y = x · wᵀ` in exact integers on AVX2 (`x`: `rows × inp`, values in -127..=127, as those
/// of `w`; `y`: i32; a -128 in `x` facing a negative weight gives a wrong sum, never undefined
/// behaviour). One row runs 4 blocks (64 columns) side by side, two rows 2, more rows one
/// block across blocks of four input rows (tiles that fit the 16 registers).
///
/// # Safety
/// The CPU has AVX2; `x.len() >= rows * inp`, `p` packs `out` rows of `inp` values,
/// `y.len() >= rows * out`.
#[target_feature(enable = "avx2")]
pub unsafe fn matmul_i8_avx2(x: &[i8], rows: usize, p: &PackedRows, inp: usize, out: usize, y: &mut [i32]) {
    let blocks = out.div_ceil(16);
    debug_assert!(x.len() >= rows * inp && 4 * p.groups >= inp && p.data.len() >= blocks * p.groups * 64 && y.len() >= rows * out);
    with_padded_rows(x, rows, inp, p, 0, |xp| {
        let nb = match rows {
            1 => 4,
            2 => 2,
            _ => 1,
        };
        let mut b = 0;
        // SAFETY: every call covers blocks below `blocks` and rows below `rows`; `xp` holds
        // `rows` rows of `4 · p.groups` bytes.
        unsafe {
            while b + nb <= blocks {
                match nb {
                    4 => pcols::<4>(xp, rows, p, b, out, y),
                    2 => pcols::<2>(xp, rows, p, b, out, y),
                    _ => pcols::<1>(xp, rows, p, b, out, y),
                }
                b += nb;
            }
            for b in b..blocks {
                pcols::<1>(xp, rows, p, b, out, y);
            }
        }
    })
}
