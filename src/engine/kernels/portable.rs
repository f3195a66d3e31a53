//! The portable kernels: plain Rust with the arithmetic of `numeric::detmath::dot`, on any CPU.

use half::{f16, slice::HalfFloatSliceExt};

use crate::numeric::detmath::{dot, LANES};

/// `y = x · wᵀ` for `rows` rows of `x` (`rows × inp`) and `w` (`out × inp`).
pub fn matmul(x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
    for r in 0..rows {
        let xr = &x[r * inp..(r + 1) * inp];
        for j in 0..out {
            y[r * out + j] = dot(xr, &w[j * inp..(j + 1) * inp]);
        }
    }
}

/// As [`matmul`] with f16 weights, each row widened into `buf` (`inp` values at least).
pub fn matmul_h(x: &[f32], rows: usize, w: &[f16], inp: usize, out: usize, y: &mut [f32], buf: &mut [f32]) {
    let wj = &mut buf[..inp];
    for j in 0..out {
        w[j * inp..(j + 1) * inp].convert_to_f32_slice(wj);
        for r in 0..rows {
            y[r * out + j] = dot(&x[r * inp..(r + 1) * inp], wj);
        }
    }
}

/// Attention scores `out[j] = q · key_j` for keys stored transposed (`kt[e * cap + j]` is
/// element `e` of key `j`), sixteen keys at a time. Each score gets exactly the arithmetic of
/// `dot(q, key_j)`: the same 16 lanes in the same order and the same final tree.
#[inline(always)]
pub fn scores(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    let dh = q.len();
    let body = dh - dh % LANES;
    for (b, chunk) in out.chunks_mut(LANES).enumerate() {
        let j0 = b * LANES;
        let mut acc = [[0f32; LANES]; LANES]; // acc[lane][key]
        let mut lane_add = |lane: usize, e: usize| {
            let qe = q[e];
            let keys: &[f32; LANES] = kt[e * cap + j0..e * cap + j0 + LANES].try_into().expect("a whole group of keys");
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

/// `y = x · wᵀ` in exact integers (the int8 arithmetic).
pub fn matmul_i8(x: &[i8], rows: usize, w: &[i8], inp: usize, out: usize, y: &mut [i32]) {
    for j in 0..out {
        let wj = &w[j * inp..(j + 1) * inp];
        for r in 0..rows {
            let xr = &x[r * inp..(r + 1) * inp];
            y[r * out + j] = xr.iter().zip(wj).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum();
        }
    }
}

/// Attention scores in the int8 arithmetic: `out[j] = q · key_j` summed in element order (one
/// chain per key, from `q[0] · key_j[0]`), keys stored transposed as for [`scores`]. Keys run 64
/// side by side, so that the chains vectorise across keys and hide the adds' latency.
#[inline(always)]
pub fn scores_in_order(q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
    const WIDE: usize = 64;
    let mut j0 = 0;
    while j0 < out.len() {
        let n = (out.len() - j0).min(WIDE);
        if j0 + WIDE <= cap {
            let mut acc = [0f32; WIDE];
            for (e, &qe) in q.iter().enumerate() {
                let keys: &[f32; WIDE] = kt[e * cap + j0..e * cap + j0 + WIDE].try_into().expect("a whole block of keys");
                for (a, k) in acc.iter_mut().zip(keys) {
                    *a += qe * k;
                }
            }
            out[j0..j0 + n].copy_from_slice(&acc[..n]);
        } else {
            let mut acc = [0f32; LANES];
            for (e, &qe) in q.iter().enumerate() {
                let keys: &[f32; LANES] = kt[e * cap + j0..e * cap + j0 + LANES].try_into().expect("a whole group of keys");
                for (a, k) in acc.iter_mut().zip(keys) {
                    *a += qe * k;
                }
            }
            let n = n.min(LANES);
            out[j0..j0 + n].copy_from_slice(&acc[..n]);
        }
        j0 += if j0 + WIDE <= cap { WIDE } else { LANES };
    }
}
