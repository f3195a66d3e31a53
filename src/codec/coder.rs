//! The range coder: constriction's, over the integer tables of [`crate::numeric::quantize`].

use std::borrow::Borrow;
use std::num::NonZeroU32;

use constriction::stream::model::{DecoderModel, EncoderModel, EntropyModel};
use constriction::stream::queue::{DefaultRangeDecoder, DefaultRangeEncoder};
use constriction::stream::{Decode, Encode};

use super::CodingError;
use crate::numeric::quantize::{Cdf, PRECISION};

impl EntropyModel<PRECISION> for &Cdf {
    type Symbol = u32;
    type Probability = u32;
}

impl EncoderModel<PRECISION> for &Cdf {
    fn left_cumulative_and_probability(&self, symbol: impl Borrow<u32>) -> Option<(u32, NonZeroU32)> {
        let (lo, p) = self.interval(*symbol.borrow())?;
        Some((lo, NonZeroU32::new(p)?))
    }
}

impl DecoderModel<PRECISION> for &Cdf {
    fn quantile_function(&self, quantile: u32) -> (u32, u32, NonZeroU32) {
        let (s, lo, p) = self.find(quantile);
        (s, lo, NonZeroU32::new(p).expect("every symbol has a probability of at least 2^-24"))
    }
}

/// Codes symbols one at a time: the same call sequence compresses and decompresses.
pub trait SymbolCoder {
    /// Codes `symbol` (encoder) or returns the decoded symbol (decoder; `symbol` is ignored).
    fn code(&mut self, cdf: &Cdf, symbol: u32) -> Result<u32, CodingError>;
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
    fn code(&mut self, cdf: &Cdf, symbol: u32) -> Result<u32, CodingError> {
        self.0.encode_symbol(symbol, cdf).map_err(|_| CodingError::Unencodable { symbol, symbols: cdf.len() })?;
        Ok(symbol)
    }
}

/// Range decoder over coded bytes.
pub struct Decoder(DefaultRangeDecoder);

impl Decoder {
    /// Starts decoding `bytes` (a whole number of 32-bit words).
    pub fn new(bytes: &[u8]) -> Result<Self, CodingError> {
        if !bytes.len().is_multiple_of(4) {
            return Err(CodingError::PartialWord { len: bytes.len() });
        }
        let words: Vec<u32> = bytes.chunks_exact(4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let d = DefaultRangeDecoder::from_compressed(words).map_err(|_| CodingError::InvalidPayload)?;
        Ok(Self(d))
    }
}

impl SymbolCoder for Decoder {
    fn code(&mut self, cdf: &Cdf, _symbol: u32) -> Result<u32, CodingError> {
        self.0.decode_symbol(cdf).map_err(|_| CodingError::InvalidPayload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_round_trip() {
        let logits: Vec<f32> = (0..500).map(|i| ((i * 37 % 101) as f32) * 0.2 - 5.0).collect();
        let mut cdf = Cdf::default();
        cdf.from_logits(&logits);
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
