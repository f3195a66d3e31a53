//! Weight matrices as the kernels read them.

#![forbid(unsafe_code)]

use half::f16;

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
    pub fn extend_row(&self, i: usize, n: usize, out: &mut Vec<f32>) {
        match self {
            Weights::F32(w) => out.extend_from_slice(&w[i * n..(i + 1) * n]),
            Weights::F16(w) => out.extend(w[i * n..(i + 1) * n].iter().map(|h| h.to_f32())),
        }
    }
}
