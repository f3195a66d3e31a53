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

/// A binary decision coded with the 12-bit probability `.0` of a 1 (`1..=4095`).
#[derive(Clone, Copy)]
struct Bit(u32);

impl EntropyModel<12> for Bit {
    type Symbol = u32;
    type Probability = u32;
}

impl EncoderModel<12> for Bit {
    fn left_cumulative_and_probability(&self, bit: impl Borrow<u32>) -> Option<(u32, NonZeroU32)> {
        let zero = 4096 - self.0;
        Some(if *bit.borrow() == 0 { (0, NonZeroU32::new(zero)?) } else { (zero, NonZeroU32::new(self.0)?) })
    }
}

impl DecoderModel<12> for Bit {
    fn quantile_function(&self, quantile: u32) -> (u32, u32, NonZeroU32) {
        let zero = 4096 - self.0;
        let (bit, lo, p) = if quantile < zero { (0, 0, zero) } else { (1, zero, self.0) };
        (bit, lo, NonZeroU32::new(p).expect("bit probabilities are kept in 1..=4095"))
    }
}

/// Codes binary decisions one at a time: the same call sequence compresses, decompresses, or
/// (for bytes stored as they are) only replays the bits for the models to learn.
pub trait BitCoder {
    /// Codes `bit` (encoder, learner) or returns the decoded bit (decoder; `bit` is ignored),
    /// with `p1` (`1..=4095`) the 12-bit probability of a 1.
    fn code_bit(&mut self, p1: u32, bit: u32) -> Result<u32, CodingError>;
}

impl BitCoder for Encoder {
    #[inline]
    fn code_bit(&mut self, p1: u32, bit: u32) -> Result<u32, CodingError> {
        self.0.encode_symbol(bit, Bit(p1)).map_err(|_| CodingError::Unencodable { symbol: bit, symbols: 2 })?;
        Ok(bit)
    }
}

impl BitCoder for Decoder {
    #[inline]
    fn code_bit(&mut self, p1: u32, _bit: u32) -> Result<u32, CodingError> {
        self.0.decode_symbol(Bit(p1)).map_err(|_| CodingError::InvalidPayload)
    }
}

/// Replays known bits without coding them.
pub struct Replay;

impl BitCoder for Replay {
    #[inline]
    fn code_bit(&mut self, _p1: u32, bit: u32) -> Result<u32, CodingError> {
        Ok(bit)
    }
}

impl SymbolCoder for Replay {
    #[inline]
    fn code(&mut self, _cdf: &Cdf, symbol: u32) -> Result<u32, CodingError> {
        Ok(symbol)
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

/// A decoder, or a replay of a block already known (a stored block that a lane learns in
/// lockstep with the blocks it decodes).
pub enum DecodeOrReplay {
    Decode(Decoder),
    Replay,
}

impl SymbolCoder for DecodeOrReplay {
    fn code(&mut self, cdf: &Cdf, symbol: u32) -> Result<u32, CodingError> {
        match self {
            Self::Decode(d) => d.code(cdf, symbol),
            Self::Replay => Ok(symbol),
        }
    }
}

impl BitCoder for DecodeOrReplay {
    #[inline]
    fn code_bit(&mut self, p1: u32, bit: u32) -> Result<u32, CodingError> {
        match self {
            Self::Decode(d) => d.code_bit(p1, bit),
            Self::Replay => Ok(bit),
        }
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
    fn bits_round_trip_at_their_cost() {
        let msg: Vec<(u32, u32)> = (0..5000u32).map(|i| ((i * 7919) % 4095 + 1, u32::from((i * 31) % 7 < 3))).collect();
        let mut enc = Encoder::default();
        let mut bits = 0.0;
        for &(p, b) in &msg {
            assert_eq!(enc.code_bit(p, b).unwrap(), b);
            bits -= (f64::from(if b == 1 { p } else { 4096 - p }) / 4096.0).log2();
        }
        let bytes = enc.finish();
        assert!((bytes.len() * 8) as f64 <= bits + 64.0);
        let mut dec = Decoder::new(&bytes).unwrap();
        for &(p, b) in &msg {
            assert_eq!(dec.code_bit(p, 0).unwrap(), b);
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
