//! Quantisation of a softmax to the integer cumulative table the range coder codes with.

use super::detmath::exp_shifted;

/// Bits of precision of the coded probabilities.
pub const PRECISION: usize = 24;
/// The table's total: every table ends at `2^24`.
pub const TOTAL: u32 = 1 << PRECISION;

/// `exp(logit - max)` of one row of logits, their sum in index order, and the first maximal
/// index: the softmax before quantisation, kept for whoever learns from it (the mixer).
#[derive(Default)]
pub struct Softmax {
    exp: Vec<f32>,
    sum: f32,
    argmax: usize,
}

impl Softmax {
    /// Computes the softmax of `logits` (at least one).
    #[inline(always)]
    pub fn compute(&mut self, logits: &[f32]) {
        // the first maximal index, in two passes that vectorise: the running maximum, in 16
        // lanes, as a strict comparison (a NaN first logit stays the maximum, as it never
        // compares greater; otherwise any order finds the same value, up to the sign of a zero,
        // which `==` ignores), then its first index
        let mut lanes = [logits[0]; 16];
        let mut chunks = logits.chunks_exact(16);
        for c in &mut chunks {
            for (m, &l) in lanes.iter_mut().zip(c) {
                *m = if l > *m { l } else { *m };
            }
        }
        let mut m = logits[0];
        for &l in lanes.iter().chain(chunks.remainder()) {
            m = if l > m { l } else { m };
        }
        let argmax = if m.is_nan() { 0 } else { logits.iter().position(|&l| l == m).unwrap_or(0) };
        self.exp.clear();
        self.exp.extend_from_slice(logits);
        exp_shifted(&mut self.exp, logits[argmax]);
        let mut tot = 0f32;
        for &e in &self.exp {
            tot += e;
        }
        self.sum = tot;
        self.argmax = argmax;
    }

    /// Probability of `symbol` (before quantisation).
    pub fn prob(&self, symbol: u32) -> f32 {
        self.exp[symbol as usize] / self.sum
    }

    /// Expectation of `f`, summed in index order.
    pub fn expect(&self, f: &[f32]) -> f32 {
        let mut acc = 0f32;
        for (e, v) in self.exp.iter().zip(f) {
            acc += e * v;
        }
        acc / self.sum
    }
}

/// A quantised distribution over `0..n` as a cumulative table (`cdf[0] = 0`, `cdf[n] = 2^24`).
/// Every symbol has a probability of at least `2^-24`, so any token can be coded.
#[derive(Default)]
pub struct Cdf {
    cdf: Vec<u32>,
    /// Scratch for [`Cdf::from_logits`].
    softmax: Softmax,
    /// The most probable symbol (what greedy decoding would emit).
    pub argmax: u32,
}

impl Cdf {
    /// Quantises `softmax(logits)`.
    #[inline(always)]
    pub fn from_logits(&mut self, logits: &[f32]) {
        let mut s = std::mem::take(&mut self.softmax);
        s.compute(logits);
        self.from_softmax(&s);
        self.softmax = s;
    }

    /// Quantises a softmax with integer-exact bookkeeping: floors of scaled probabilities plus
    /// one, the remainder given to the most probable symbol.
    #[inline(always)]
    pub fn from_softmax(&mut self, s: &Softmax) {
        let n = s.exp.len();
        let scale = (TOTAL - n as u32) as f32 * 0.999_9 / s.sum;
        self.cdf.clear();
        self.cdf.push(0);
        let mut acc = 0u32;
        for &e in &s.exp {
            acc += 1 + (e * scale) as u32;
            self.cdf.push(acc);
        }
        // the rounding remainder goes to the most probable symbol
        let extra = TOTAL - acc;
        for c in &mut self.cdf[s.argmax + 1..] {
            *c += extra;
        }
        self.argmax = s.argmax as u32;
    }

    /// A uniform distribution over `0..n`.
    pub fn uniform(&mut self, n: usize) {
        self.cdf.clear();
        let base = TOTAL / n as u32;
        let rem = TOTAL % n as u32;
        let mut acc = 0;
        self.cdf.push(0);
        for i in 0..n as u32 {
            acc += base + u32::from(i < rem);
            self.cdf.push(acc);
        }
        self.argmax = 0;
    }

    /// A two-symbol distribution with `P(1) = p1 / 2^24`.
    pub fn binary(&mut self, p1: u32) {
        self.cdf.clear();
        self.cdf.extend([0, TOTAL - p1, TOTAL]);
        self.argmax = 0;
    }

    /// Number of symbols.
    pub fn len(&self) -> usize {
        self.cdf.len().saturating_sub(1)
    }

    /// Whether the distribution has no symbols.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cumulative table itself (`len + 1` entries, from 0 to `2^24`).
    pub fn cumulative(&self) -> &[u32] {
        &self.cdf
    }

    /// `(cdf[s], cdf[s + 1] - cdf[s])` of a symbol, `None` beyond the table.
    pub fn interval(&self, symbol: u32) -> Option<(u32, u32)> {
        let s = symbol as usize;
        let lo = *self.cdf.get(s)?;
        Some((lo, *self.cdf.get(s + 1)? - lo))
    }

    /// The symbol whose interval holds `quantile` (below `2^24`), with its interval.
    pub fn find(&self, quantile: u32) -> (u32, u32, u32) {
        let s = self.cdf.partition_point(|&c| c <= quantile) - 1;
        (s as u32, self.cdf[s], self.cdf[s + 1] - self.cdf[s])
    }

    /// Exact code length of `symbol` in bits.
    pub fn bits(&self, symbol: u32) -> f64 {
        let s = symbol as usize;
        PRECISION as f64 - ((self.cdf[s + 1] - self.cdf[s]) as f64).log2()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_valid() {
        let logits: Vec<f32> = (0..500).map(|i| ((i * 37 % 101) as f32) * 0.2 - 5.0).collect();
        let mut cdf = Cdf::default();
        cdf.from_logits(&logits);
        assert_eq!(cdf.len(), 500);
        assert!(cdf.cdf.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(*cdf.cdf.last().unwrap(), TOTAL);
        for q in [0, 1, TOTAL / 2, TOTAL - 1] {
            let (s, lo, p) = cdf.find(q);
            assert!(lo <= q && q < lo + p && cdf.interval(s) == Some((lo, p)));
        }
    }
}
