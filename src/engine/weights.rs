//! Weight matrices as the kernels read them.

#![forbid(unsafe_code)]

use half::f16;

#[cfg(target_arch = "x86_64")]
use super::kernels::PackedRows;
use crate::numeric::int8;
#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;

/// A weight matrix (`out × inp`, row-major): f32, f16 when every value is exactly an f16 (as in
/// shipped models), which halves the memory the hot loop streams, or int8 with a scale per row
/// for the int8 arithmetic.
pub enum Weights {
    F16(Vec<f16>),
    F32(Vec<f32>),
    I8 { q: I8Rows, scale: Vec<f32> },
}

/// Rows of int8 weights (values in -127..=127) as the integer kernels read them: row by row
/// (portable), and packed for the x86 kernels, a copy made the first time one of them runs.
pub struct I8Rows {
    q: Vec<i8>,
    inp: usize,
    #[cfg(target_arch = "x86_64")]
    packed: OnceLock<PackedRows>,
}

impl I8Rows {
    /// Rows of `inp` values.
    pub fn new(q: Vec<i8>, inp: usize) -> Self {
        assert!(inp > 0 && q.len().is_multiple_of(inp));
        I8Rows {
            q,
            inp,
            #[cfg(target_arch = "x86_64")]
            packed: OnceLock::new(),
        }
    }

    pub fn values(&self) -> &[i8] {
        &self.q
    }

    /// Values per row.
    pub fn row_len(&self) -> usize {
        self.inp
    }

    /// The rows packed for the x86 kernels.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn packed(&self) -> &PackedRows {
        self.packed.get_or_init(|| PackedRows::pack(&self.q, self.inp))
    }
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

    /// Quantises rows of `inp` values to int8 ([`int8::quantise`] per row).
    pub fn int8(v: &[f32], inp: usize) -> Self {
        assert!(inp > 0 && v.len().is_multiple_of(inp) && inp <= int8::MAX_ROW);
        let mut q = vec![0i8; v.len()];
        let scale = v.chunks_exact(inp).zip(q.chunks_exact_mut(inp)).map(|(row, q)| int8::quantise(row, q)).collect();
        Weights::I8 { q: I8Rows::new(q, inp), scale }
    }

    /// Row `i` of a matrix with `n` columns, widened to f32, appended to `out`.
    pub fn extend_row(&self, i: usize, n: usize, out: &mut Vec<f32>) {
        match self {
            Weights::F32(w) => out.extend_from_slice(&w[i * n..(i + 1) * n]),
            Weights::F16(w) => out.extend(w[i * n..(i + 1) * n].iter().map(|h| h.to_f32())),
            Weights::I8 { q, scale } => out.extend(q.values()[i * n..(i + 1) * n].iter().map(|&v| f32::from(v) * scale[i])),
        }
    }
}
