//! Entropy coding: deterministic quantisation of the model's logits to an integer CDF, and
//! constriction's range coder over it.

use std::borrow::Borrow;
use std::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use crate::engine::exp_shifted;
use crate::error::{Error, Result};

/// Bits of precision of the coded probabilities.
pub const PRECISION: usize = 24;
const TOTAL: u32 = 1 << PRECISION;

/// A quantised distribution over `0..n` as a cumulative table (`cdf[0] = 0`, `cdf[n] = 2^24`).
/// Every symbol has a probability of at least `2^-24`, so any token can be coded.
#[derive(Default)]
pub struct Cdf {
    cdf: Vec<u32>,
    /// `exp(logit - max)` of the last `from_logits`, and their sum.
    scratch: Vec<f32>,
    sum: f32,
    /// The most probable symbol (what greedy decoding would emit).
    pub argmax: u32,
}

impl Cdf {
    /// Quantises `softmax(logits)` with integer-exact bookkeeping: floors of scaled
    /// probabilities plus one, the remainder given to the most probable symbol.
    pub fn from_logits(&mut self, logits: &[f32]) {
        let n = logits.len();
        let mut argmax = 0;
        for (i, &l) in logits.iter().enumerate() {
            if l > logits[argmax] {
                argmax = i;
            }
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(logits);
        exp_shifted(&mut self.scratch, logits[argmax]);
        let mut tot = 0f32;
        for &e in &self.scratch {
            tot += e;
        }
        self.sum = tot;
        let scale = (TOTAL - n as u32) as f32 * 0.999_9 / tot;
        self.cdf.clear();
        self.cdf.push(0);
        let mut acc = 0u32;
        for &e in &self.scratch {
            acc += 1 + (e * scale) as u32;
            self.cdf.push(acc);
        }
        // the rounding remainder goes to the most probable symbol
        let extra = TOTAL - acc;
        for c in &mut self.cdf[argmax + 1..] {
            *c += extra;
        }
        self.argmax = argmax as u32;
    }

    /// Softmax probability of `symbol` under the last `from_logits` (before quantisation).
    pub fn prob(&self, symbol: u32) -> f32 {
        self.scratch[symbol as usize] / self.sum
    }

    /// Expectation of `f` under the last `from_logits` softmax, summed in index order.
    pub fn expect(&self, f: &[f32]) -> f32 {
        let mut acc = 0f32;
        for (e, v) in self.scratch.iter().zip(f) {
            acc += e * v;
        }
        acc / self.sum
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

    /// Exact code length of `symbol` in bits.
    pub fn bits(&self, symbol: u32) -> f64 {
        let s = symbol as usize;
        PRECISION as f64 - ((self.cdf[s + 1] - self.cdf[s]) as f64).log2()
    }
}

impl EntropyModel<PRECISION> for &Cdf {
    type Symbol = u32;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for &Cdf {
    fn left_cumulative_and_probability(&self, symbol: impl Borrow<u32>) -> Option<(u32, NonZeroU32)> {
        let s = *symbol.borrow() as usize;
        let lo = *self.cdf.get(s)?;
        let hi = *self.cdf.get(s + 1)?;
        Some((lo, NonZeroU32::new(hi - lo)?))
    }
}

impl DecoderModel<PRECISION> for &Cdf {
    fn quantile_function(&self, quantile: u32) -> (u32, u32, NonZeroU32) {
        // last index with cdf[i] <= quantile
        let i = self.cdf.partition_point(|&c| c <= quantile) - 1;
        let (lo, hi) = (self.cdf[i], self.cdf[i + 1]);
        (i as u32, lo, NonZeroU32::new(hi - lo).expect("cdf is strictly increasing"))
    }
}

/// Codes symbols one at a time: the same call sequence compresses and decompresses.
pub trait SymbolCoder {
    /// Codes `symbol` (encoder) or returns the decoded symbol (decoder; `symbol` is ignored).
    fn code(&mut self, cdf: &Cdf, symbol: u32) -> Result<u32>;
}

/// Range encoder into 32-bit words.
pub struct Encoder(DefaultRangeEncoder);

impl Default for Encoder {
    fn default() -> Self {
        Self(DefaultRangeEncoder::new())
    }
}

impl Encoder {
    /// The coded bytes (little-endian words).
    pub fn finish(self) -> Vec<u8> {
        let words = self.0.into_compressed().unwrap_or_else(|e| match e {});
        words.iter().flat_map(|w| w.to_le_bytes()).collect()
    }
}

impl SymbolCoder for Encoder {
    fn code(&mut self, cdf: &Cdf, symbol: u32) -> Result<u32> {
        self.0
            .encode_symbol(symbol, cdf)
            .map_err(|_| Error::Model(format!("symbol {symbol} cannot be coded")))?;
        Ok(symbol)
    }
}

/// Range decoder over coded bytes.
pub struct Decoder(DefaultRangeDecoder);

impl Decoder {
    /// Starts decoding `bytes` (a whole number of 32-bit words).
    pub fn new(bytes: &[u8]) -> Result<Self> {
        if !bytes.len().is_multiple_of(4) {
            return Err(Error::Corrupt("coded payload is not a whole number of words"));
        }
        let words: Vec<u32> =
            bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let d = DefaultRangeDecoder::from_compressed(words)
            .map_err(|_| Error::Corrupt("invalid range-coder payload"))?;
        Ok(Self(d))
    }
}

impl SymbolCoder for Decoder {
    fn code(&mut self, cdf: &Cdf, _symbol: u32) -> Result<u32> {
        self.0.decode_symbol(cdf).map_err(|_| Error::Corrupt("invalid range-coder payload"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdf_is_valid_and_round_trips() {
        let logits: Vec<f32> = (0..500).map(|i| ((i * 37 % 101) as f32) * 0.2 - 5.0).collect();
        let mut cdf = Cdf::default();
        cdf.from_logits(&logits);
        assert_eq!(cdf.len(), 500);
        assert!(cdf.cdf.windows(2).all(|w| w[1] > w[0]));
        assert_eq!(*cdf.cdf.last().unwrap(), TOTAL);
        let msg: Vec<u32> = (0..300).map(|i| (i * 7 % 500) as u32).collect();
        let mut enc = Encoder::default();
        for &s in &msg {
            enc.code(&cdf, s).unwrap();
        }
        let bytes = enc.finish();
        let mut dec = Decoder::new(&bytes).unwrap();
        for &s in &msg {
            assert_eq!(dec.code(&cdf, 0).unwrap(), s);
        }
    }

    #[test]
    fn coded_size_matches_information_content() {
        let mut cdf = Cdf::default();
        cdf.from_logits(&[3.0, 1.0, 0.0, -2.0]);
        let msg: Vec<u32> = (0..4000).map(|i| [0, 0, 0, 1, 2, 0, 3, 1][i % 8]).collect();
        let bits: f64 = msg.iter().map(|&s| cdf.bits(s)).sum();
        let mut enc = Encoder::default();
        for &s in &msg {
            enc.code(&cdf, s).unwrap();
        }
        let coded = enc.finish().len() as f64 * 8.0;
        assert!(coded >= bits && coded < bits + 64.0, "{coded} vs {bits}");
    }
}
