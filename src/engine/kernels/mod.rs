//! The compute kernels: the only `unsafe` code in the crate.
//!
//! A [`Kernel`] names one compiled variant (portable, SSE2, AVX2 + F16C, AVX-512F). It is a
//! token: only [`Kernel::detect`] and [`Kernel::available`] make one, and they only make
//! variants this CPU runs, so the safe methods below can call the `#[target_feature]` code
//! without any caller-side promise. Every variant gives identical bits (tested in this module
//! and through the engine): the lane order of `numeric::detmath::dot` at every width.

#![allow(unsafe_code)]

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

use super::weights::Weights;
use crate::numeric::detmath::LANES;

/// Instruction sets with a compiled variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Isa {
    Portable,
    #[cfg(target_arch = "x86_64")]
    Sse2,
    /// AVX2 with F16C.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    #[cfg(target_arch = "x86_64")]
    Avx512,
}

/// Work to compile for a kernel's vector width (see [`Kernel::vectorised`]). `run` must be
/// `#[inline(always)]`, with the work inlined into it, so that it is compiled inside the
/// `#[target_feature]` trampoline (a closure would be compiled on its own, for the base ISA).
pub trait Vectorised {
    type Output;
    fn run(self) -> Self::Output;
}

/// A kernel variant this CPU can run (see the module doc: only CPU detection makes one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Isa);

impl Kernel {
    /// The fastest variant this CPU supports.
    pub fn detect() -> Self {
        *Self::available().last().expect("portable is always available")
    }

    /// Every variant this CPU can run, slowest first.
    pub fn available() -> Vec<Self> {
        #[allow(unused_mut)]
        let mut v = vec![Kernel(Isa::Portable)];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Kernel(Isa::Sse2));
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("f16c") {
                v.push(Kernel(Isa::Avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Kernel(Isa::Avx512));
            }
        }
        v
    }

    /// The variant's name (`portable`, `sse2`, `avx2`, `avx512`).
    pub fn name(self) -> &'static str {
        match self.0 {
            Isa::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => "sse2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
        }
    }

    /// `y = x · wᵀ` for `rows` rows of `x` (`rows × inp`) and `w` (`out × inp`).
    pub fn matmul(self, x: &[f32], rows: usize, w: &[f32], inp: usize, out: usize, y: &mut [f32]) {
        assert!(x.len() >= rows * inp && w.len() >= out * inp && y.len() >= rows * out);
        match self.0 {
            // SAFETY: the lengths are asserted above; the token proves the CPU has the ISA.
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => unsafe { x86::matmul_sse2(x, rows, w, inp, out, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::matmul_avx2(x, rows, w, inp, out, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::matmul_avx512(x, rows, w, inp, out, y) },
            Isa::Portable => portable::matmul(x, rows, w, inp, out, y),
        }
    }

    /// Attention scores of `q` against `out.len()` keys stored transposed with row length `cap`
    /// (a multiple of 16, unused keys zero); bit-identical to `matmul` against the keys.
    pub fn scores(self, q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
        assert!(cap.is_multiple_of(LANES) && out.len() <= cap && kt.len() >= q.len() * cap);
        match self.0 {
            // SAFETY: the token proves the CPU has the ISA; the body is safe code.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::scores_avx512(q, kt, cap, out) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::scores_avx2(q, kt, cap, out) },
            _ => portable::scores(q, kt, cap, out),
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
            match self.0 {
                // SAFETY: lengths asserted above, `buf` holds 8 rows; the token proves the ISA.
                #[cfg(target_arch = "x86_64")]
                Isa::Sse2 => unsafe { x86::matmul_sse2_h(x, rows, w, inp, out, y, buf) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => unsafe { x86::matmul_avx2_h(x, rows, w, inp, out, y, buf) },
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => unsafe { x86::matmul_avx512_h(x, rows, w, inp, out, y, buf) },
                Isa::Portable => portable::matmul_h(x, rows, w, inp, out, y, buf),
            }
        })
    }

    /// Runs `f` compiled for this variant's vector width: element-wise loops inlined into `f`
    /// vectorise wider, with the same IEEE operations per element (Rust never fuses or
    /// reorders them), so the same bits.
    #[inline(always)]
    pub fn vectorised<W: Vectorised>(self, f: W) -> W::Output {
        match self.0 {
            // SAFETY: the token proves the CPU has the ISA; `f` is safe code.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::with_avx512(f) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::with_avx2(f) },
            _ => f.run(),
        }
    }
}

#[cfg(test)]
mod tests {
    use half::f16;

    use super::*;
    use crate::engine::key_capacity;

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
                Kernel(Isa::Portable).matmul(&q, 1, &keys, dh, n, &mut reference);
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
        Kernel(Isa::Portable).matmul(&x, 9, &w, inp, out, &mut reference);
        // the same values held as f16 must give the same bits through the f16 paths
        let w16 = Weights::new(w.clone());
        assert!(matches!(w16, Weights::F16(_)) == w.iter().all(|&v| f16::from_f32(v).to_f32() == v));
        let w16 = Weights::F16(w.iter().map(|&v| f16::from_f32(v)).collect());
        let widened: Vec<f32> = match &w16 {
            Weights::F16(h) => h.iter().map(|v| v.to_f32()).collect(),
            Weights::F32(_) => unreachable!(),
        };
        let mut reference16 = vec![0f32; 9 * out];
        Kernel(Isa::Portable).matmul(&x, 9, &widened, inp, out, &mut reference16);
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
