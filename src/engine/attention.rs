//! What the encoder's and decoder's attention share: head layouts, the attention of one query
//! row over its keys, residual connections.

#![forbid(unsafe_code)]

use super::key_capacity;
use crate::numeric::detmath::softmax;

/// Rows `start..start + n` of a `rows × d` matrix, regrouped per head: `h × n × dh`.
#[inline(always)]
pub(super) fn split_heads(x: &[f32], start: usize, n: usize, d: usize, h: usize) -> Vec<f32> {
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
#[inline(always)]
pub(super) fn split_heads_transposed(x: &[f32], start: usize, n: usize, d: usize, h: usize) -> Vec<f32> {
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
    // the built-in models' heads (64 values) with the sums held in registers: the same
    // operations in the same order
    if let Ok(out) = <&mut [f32; 64]>::try_from(&mut *out) {
        let mut acc = *out;
        for (&pj, row) in p.iter().zip(v.chunks_exact(64)) {
            for (o, vv) in acc.iter_mut().zip(row) {
                *o += pj * vv;
            }
        }
        *out = acc;
        return;
    }
    let dh = out.len();
    for (j, &pj) in p.iter().enumerate() {
        for (o, vv) in out.iter_mut().zip(&v[j * dh..(j + 1) * dh]) {
            *o += pj * vv;
        }
    }
}

/// One query row's attention: `scores` holds its raw dot products with the keys; each is
/// scaled and given its position bias (`bias(j)`), then `out += softmax(scores) · values`.
#[inline(always)]
pub(super) fn attend(scores: &mut [f32], scale: f32, bias: impl Fn(usize) -> f32, values: &[f32], out: &mut [f32]) {
    for (j, s) in scores.iter_mut().enumerate() {
        *s = *s * scale + bias(j);
    }
    softmax(scores);
    weighted_sum(scores, values, out);
}

/// `x += y`, element by element.
#[inline(always)]
pub(super) fn residual_add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
