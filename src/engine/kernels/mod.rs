//! The compute kernels: the only `unsafe` code in the crate.
//!
//! A [`Kernel`] names one compiled variant (portable, SSE2, AVX2 + F16C, AVX-512F, AVX-512 with
//! VNNI). It is a token: only [`Kernel::detect`] and [`Kernel::available`] make one, and they
//! only make variants this CPU runs, so the safe methods below can call the `#[target_feature]`
//! code without any caller-side promise. Every variant gives identical bits (tested in this module
//! and through the engine): the lane order of `numeric::detmath::dot` at every width.

#![allow(unsafe_code)]

mod portable;
#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(target_arch = "x86_64")]
pub(super) use x86::PackedRows;

use super::weights::{I8Rows, Weights};
use crate::numeric::detmath::LANES;
use crate::numeric::int8;
use crate::numeric::quantize::{Cdf, Softmax};

/// Asks the CPU to start loading the cache line that holds `data[i]` (nothing if `i` is out of
/// range): a hint that changes no result, for the context mixer's tables, whose lines it needs a
/// few steps later and would otherwise wait for one after another.
#[inline(always)]
pub fn prefetch<T>(data: &[T], i: usize) {
    #[cfg(target_arch = "x86_64")]
    if let Some(at) = data.get(i) {
        // SAFETY: a prefetch never faults and reads nothing into the program; SSE is part of
        // x86-64's baseline.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((at as *const T).cast()) }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (data, i);
}

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
    /// AVX-512 with BW and VNNI: AVX-512's variant, with a `vpdpbusd` integer kernel.
    #[cfg(target_arch = "x86_64")]
    Vnni,
}

/// Work to compile for a kernel's vector width (see [`Kernel::vectorised`]). `run` must be
/// `#[inline(always)]`, with the work inlined into it, so that it is compiled inside the
/// `#[target_feature]` trampoline (a closure would be compiled on its own, for the base ISA).
pub trait Vectorised {
    type Output;
    fn run(self) -> Self::Output;
}

/// Element-wise work on a row of logits that [`Kernel::on_logits`] compiles for the widest
/// vectors: a softmax, or a softmax quantised to a CDF. `on_logits` must be `#[inline(always)]`.
pub trait OnLogits {
    fn on_logits(&mut self, logits: &[f32]);
}

impl OnLogits for Softmax {
    #[inline(always)]
    fn on_logits(&mut self, logits: &[f32]) {
        self.compute(logits)
    }
}

impl OnLogits for Cdf {
    #[inline(always)]
    fn on_logits(&mut self, logits: &[f32]) {
        self.from_logits(logits)
    }
}

/// A softmax kept (for learning from it) and quantised to a CDF.
impl OnLogits for (&mut Softmax, &mut Cdf) {
    #[inline(always)]
    fn on_logits(&mut self, logits: &[f32]) {
        self.0.compute(logits);
        self.1.from_softmax(self.0);
    }
}

/// A kernel variant this CPU can run (see the module doc: only CPU detection makes one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kernel(Isa);

impl Kernel {
    /// The fastest variant this CPU supports, or the one the environment variable `S2S2S_KERNEL`
    /// names among those it supports (`portable`, `sse2`, `avx2`, ...: for measuring a slower
    /// variant on a faster CPU; every variant codes the same bits).
    pub fn detect() -> Self {
        let available = Self::available();
        let named = std::env::var("S2S2S_KERNEL").ok().and_then(|name| available.iter().copied().find(|k| k.name() == name));
        named.unwrap_or(*available.last().expect("portable is always available"))
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
            // (only where AVX2 is present too: the AVX-512 variant runs AVX2's int8 kernel)
            if v.len() == 3 && std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Kernel(Isa::Avx512));
            }
            if v.len() == 4 && std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("avx512vnni") {
                v.push(Kernel(Isa::Vnni));
            }
        }
        v
    }

    /// The variant's name (`portable`, `sse2`, `avx2`, `avx512`, `avx512vnni`).
    pub fn name(self) -> &'static str {
        match self.0 {
            Isa::Portable => "portable",
            #[cfg(target_arch = "x86_64")]
            Isa::Sse2 => "sse2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => "avx2",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512",
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => "avx512vnni",
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
            Isa::Avx512 | Isa::Vnni => unsafe { x86::matmul_avx512(x, rows, w, inp, out, y) },
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
            Isa::Avx512 | Isa::Vnni => unsafe { x86::scores_avx512(q, kt, cap, out) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::scores_avx2(q, kt, cap, out) },
            _ => portable::scores(q, kt, cap, out),
        }
    }

    /// Attention scores of the int8 arithmetic ([`int8`]): as [`Kernel::scores`], each summed in
    /// element order instead of `dot`'s lanes (the same bits on every variant).
    pub fn scores_in_order(self, q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
        assert!(cap.is_multiple_of(LANES) && out.len() <= cap && kt.len() >= q.len() * cap);
        match self.0 {
            // SAFETY: the token proves the CPU has the ISA; the body is safe code.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Vnni => unsafe { x86::scores_in_order_avx512(q, kt, cap, out) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::scores_in_order_avx2(q, kt, cap, out) },
            _ => portable::scores_in_order(q, kt, cap, out),
        }
    }

    /// `y = x · wᵀ` for a weight matrix in either precision (same bits as its f32 widening).
    pub fn matmul_weights(self, x: &[f32], rows: usize, w: &Weights, inp: usize, out: usize, y: &mut [f32]) {
        let w = match w {
            Weights::F32(w) => return self.matmul(x, rows, w, inp, out, y),
            Weights::I8 { q, scale } => return self.matmul_int8(x, rows, q, scale, inp, out, y),
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
                Isa::Avx512 | Isa::Vnni => unsafe { x86::matmul_avx512_h(x, rows, w, inp, out, y, buf) },
                Isa::Portable => portable::matmul_h(x, rows, w, inp, out, y, buf),
            }
        })
    }

    /// `y = x · wᵀ` in the int8 arithmetic ([`int8`]): each row of `x` quantised, exact integer
    /// sums against the int8 rows of `w` (scales `scale`), rescaled.
    #[allow(clippy::too_many_arguments)]
    fn matmul_int8(self, x: &[f32], rows: usize, w: &I8Rows, scale: &[f32], inp: usize, out: usize, y: &mut [f32]) {
        assert!(x.len() >= rows * inp && scale.len() >= out && y.len() >= rows * out);
        type Buffers = (Vec<i8>, Vec<f32>, Vec<i32>);
        thread_local!(static BUF: std::cell::RefCell<Buffers> = const { std::cell::RefCell::new((Vec::new(), Vec::new(), Vec::new())) });
        BUF.with_borrow_mut(|(xq, row_scale, sums)| {
            xq.resize(rows * inp, 0);
            row_scale.resize(rows, 0.0);
            sums.resize(rows * out, 0);
            // (quantising and rescaling compiled for the variant's vector width: the same bits)
            struct Quantise<'a>(&'a [f32], &'a mut [i8], &'a mut [f32], usize);
            impl Vectorised for Quantise<'_> {
                type Output = ();
                #[inline(always)]
                fn run(self) {
                    let rows = self.0.chunks_exact(self.3).zip(self.1.chunks_exact_mut(self.3));
                    for ((x, q), s) in rows.zip(self.2.iter_mut()) {
                        *s = int8::quantise(x, q);
                    }
                }
            }
            struct Rescale<'a>(&'a [i32], &'a [f32], &'a [f32], &'a mut [f32]);
            impl Vectorised for Rescale<'_> {
                type Output = ();
                #[inline(always)]
                fn run(self) {
                    let (sums, row_scale, scale, y) = (self.0, self.1, self.2, self.3);
                    let out = scale.len();
                    for ((y, sums), &rs) in y.chunks_exact_mut(out).zip(sums.chunks_exact(out)).zip(row_scale) {
                        for ((y, &s), &ws) in y.iter_mut().zip(sums).zip(scale) {
                            *y = int8::rescale(s, rs, ws);
                        }
                    }
                }
            }
            self.vectorised(Quantise(&x[..rows * inp], xq, row_scale, inp));
            self.matmul_i8(xq, rows, w, inp, out, sums);
            self.vectorised(Rescale(sums, row_scale, &scale[..out], &mut y[..rows * out]));
        })
    }

    /// `y = x · wᵀ` in exact integers: `x` holds `rows` rows; values of `x` and `w` in
    /// -127..=127 (what [`int8::quantise`] makes).
    pub fn matmul_i8(self, x: &[i8], rows: usize, w: &I8Rows, inp: usize, out: usize, y: &mut [i32]) {
        let q = w.values();
        assert!(w.row_len() == inp && x.len() >= rows * inp && q.len() >= out * inp && y.len() >= rows * out);
        // (-128 would make the AVX2 kernel's sums differ from the portable one's)
        debug_assert!(!x[..rows * inp].contains(&i8::MIN) && !q[..out * inp].contains(&i8::MIN));
        match self.0 {
            // SAFETY: lengths asserted above (the packed rows are those of `q`); the token
            // proves the CPU has the ISA (AVX-512 variants are only made where AVX2 is present
            // too).
            #[cfg(target_arch = "x86_64")]
            Isa::Vnni => unsafe { x86::matmul_i8_vnni(x, rows, w.packed(), inp, out, y) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 | Isa::Avx512 => unsafe { x86::matmul_i8_avx2(x, rows, w.packed(), inp, out, y) },
            _ => portable::matmul_i8(x, rows, q, inp, out, y),
        }
    }

    /// The fastest variant this CPU supports, detected once.
    pub fn best() -> Self {
        static BEST: std::sync::OnceLock<Kernel> = std::sync::OnceLock::new();
        *BEST.get_or_init(Self::detect)
    }

    /// `t`'s work on a row of logits ([`OnLogits`]) compiled for this variant's vector width
    /// (the same bits).
    pub fn on_logits<T: OnLogits>(self, t: &mut T, logits: &[f32]) {
        struct Work<'a, T>(&'a mut T, &'a [f32]);
        impl<T: OnLogits> Vectorised for Work<'_, T> {
            type Output = ();
            #[inline(always)]
            fn run(self) {
                self.0.on_logits(self.1)
            }
        }
        self.vectorised(Work(t, logits))
    }

    /// Runs `f` compiled for this variant's vector width: element-wise loops inlined into `f`
    /// vectorise wider, with the same IEEE operations per element (Rust never fuses or
    /// reorders them), so the same bits.
    #[inline(always)]
    pub fn vectorised<W: Vectorised>(self, f: W) -> W::Output {
        match self.0 {
            // SAFETY: the token proves the CPU has the ISA; `f` is safe code.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 | Isa::Vnni => unsafe { x86::with_avx512(f) },
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

    #[test]
    fn widened_softmax_and_cdf_give_the_plain_bits_on_every_kernel() {
        let logits: Vec<f32> = (0..4099).map(|i| ((i * 7919 % 2003) as f32 - 1001.0) * 0.013).collect();
        let (mut plain, mut plain_cdf) = (Softmax::default(), Cdf::default());
        plain.compute(&logits);
        plain_cdf.from_logits(&logits);
        for k in Kernel::available() {
            let (mut s, mut c) = (Softmax::default(), Cdf::default());
            k.on_logits(&mut s, &logits);
            k.on_logits(&mut c, &logits);
            let same = (0..logits.len() as u32).all(|t| s.prob(t).to_bits() == plain.prob(t).to_bits());
            assert!(same, "{k:?}");
            assert_eq!((c.cumulative(), c.argmax), (plain_cdf.cumulative(), plain_cdf.argmax), "{k:?}");
        }
    }

    #[test]
    fn integer_kernels_agree_exactly_even_at_the_extremes() {
        // (the VNNI kernel's wide tiles need 64 columns or more: 8 blocks of 16 for one or two
        // rows, 4 for more)
        let wide = [(1, 256, 300), (2, 64, 130), (5, 96, 70), (4, 31, 64)];
        for (rows, inp, out) in
            [(1, 512, 20), (4, 512, 9), (7, 75, 37), (3, 16, 3), (9, 5, 2), (2, 384, 17), (1, 100, 19), (2, 77, 9)].into_iter().chain(wide)
        {
            // the largest magnitudes everywhere, signs matched (rows of even length): the sums
            // reach 512 · 127², still exact
            for extreme in [false, true] {
                let w: Vec<i8> =
                    (0..out * inp).map(|i| if extreme { [127, -127][i % 2] } else { ((i * 7919 % 255) as i32 - 127) as i8 }).collect();
                let x: Vec<i8> = (0..rows * inp)
                    .map(|i| if extreme { [127, -127][(i % inp) % 2] } else { ((i * 104_729 % 255) as i32 - 127) as i8 })
                    .collect();
                let reference: Vec<i32> = (0..rows * out)
                    .map(|k| {
                        let (r, j) = (k / out, k % out);
                        (0..inp).map(|e| i64::from(x[r * inp + e]) * i64::from(w[j * inp + e])).sum::<i64>() as i32
                    })
                    .collect();
                let w = I8Rows::new(w.clone(), inp);
                for k in Kernel::available() {
                    let mut got = vec![0i32; rows * out];
                    k.matmul_i8(&x, rows, &w, inp, out, &mut got);
                    assert_eq!(got, reference, "{k:?}, {rows} × {inp} × {out}, extreme {extreme}");
                }
            }
        }
    }

    #[test]
    fn int8_weights_give_the_rescaled_integer_products() {
        let (rows, inp, out) = (5, 48, 11);
        let w: Vec<f32> = (0..inp * out).map(|i| ((i * 7919 % 1000) as f32 - 500.0) * 1e-3).collect();
        let x: Vec<f32> = (0..rows * inp).map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-2).collect();
        let wq = Weights::int8(&w, inp);
        let Weights::I8 { q, scale } = &wq else { unreachable!() };
        let mut expected = vec![0f32; rows * out];
        for r in 0..rows {
            let mut xq = vec![0i8; inp];
            let rs = int8::quantise(&x[r * inp..(r + 1) * inp], &mut xq);
            for j in 0..out {
                let s: i32 = (0..inp).map(|e| i32::from(xq[e]) * i32::from(q.values()[j * inp + e])).sum();
                expected[r * out + j] = int8::rescale(s, rs, scale[j]);
            }
        }
        let mut exact = vec![0f32; rows * out];
        Kernel(Isa::Portable).matmul(&x, rows, &w, inp, out, &mut exact);
        for k in Kernel::available() {
            let mut got = vec![0f32; rows * out];
            k.matmul_weights(&x, rows, &wq, inp, out, &mut got);
            assert!(got.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()), "{k:?}");
            // and close to the float product: each factor is within half a step (1/254 of its
            // row's largest magnitude) of its value
            for (i, (a, b)) in got.iter().zip(&exact).enumerate() {
                let (r, j) = (i / out, i % out);
                let (xr, wr) = (&x[r * inp..(r + 1) * inp], &w[j * inp..(j + 1) * inp]);
                let (xm, wm) = (xr.iter().fold(0f32, |m, v| m.max(v.abs())), wr.iter().fold(0f32, |m, v| m.max(v.abs())));
                let bound: f32 = xr.iter().zip(wr).map(|(x, w)| (x.abs() * wm + w.abs() * xm) / 254.0 + xm * wm / 254f32.powi(2)).sum();
                assert!((a - b).abs() <= bound * 1.001, "{k:?}: {a} vs {b}, bound {bound}");
            }
        }
    }

    #[test]
    fn scores_in_order_sum_each_key_in_element_order_on_every_kernel() {
        for dh in [5, 16, 64] {
            for n in [1, 15, 16, 17, 63, 64, 65, 130] {
                let keys: Vec<f32> = (0..n * dh).map(|i| ((i * 7919 % 1009) as f32 - 504.0) * 1e-3).collect();
                let q: Vec<f32> = (0..dh).map(|i| ((i * 104_729 % 997) as f32 - 498.0) * 1e-2).collect();
                let cap = key_capacity(n);
                let mut kt = vec![0f32; dh * cap];
                for j in 0..n {
                    for e in 0..dh {
                        kt[e * cap + j] = keys[j * dh + e];
                    }
                }
                let reference: Vec<f32> = (0..n).map(|j| (0..dh).fold(0f32, |s, e| s + q[e] * keys[j * dh + e])).collect();
                for k in Kernel::available() {
                    let mut got = vec![0f32; n];
                    k.scores_in_order(&q, &kt, cap, &mut got);
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
            Weights::F32(_) | Weights::I8 { .. } => unreachable!(),
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
