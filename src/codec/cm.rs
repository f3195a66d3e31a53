//! Blocks of a context-mixing frame (numeric profile 4): bytes coded bit by bit with the
//! predictions of [`crate::predict::cm`], whose statistics span the frame.
//!
//! A frame's blocks are dealt round-robin to `lanes` independent predictors (block `i` to lane
//! `i mod lanes`). A lane learns every block dealt to it, in order, whether the block was coded
//! with it or stored, so its statistics cover its share of the whole frame, not one block, and
//! the lanes can run in parallel in both directions.

use super::coder::{BitCoder, Decoder, Encoder, Replay};
use super::CodingError;
use crate::predict::cm::Predictor;

/// One lane: a predictor that carries over from block to block.
pub struct Lane(Predictor);

impl Lane {
    /// A fresh lane with `2^table_bits` buckets of hashed statistics.
    pub fn new(table_bits: u32) -> Self {
        Self(Predictor::new(table_bits))
    }

    fn code_byte(&mut self, coder: &mut impl BitCoder, byte: u8) -> Result<u8, CodingError> {
        let mut c = 0u32;
        for k in (0..8).rev() {
            let bit = coder.code_bit(self.0.p(), u32::from(byte >> k) & 1)?;
            self.0.update(bit);
            c = (c << 1) | bit;
        }
        Ok(c as u8)
    }

    /// Codes `data` as the lane's next block; returns the payload.
    pub fn compress(&mut self, data: &[u8]) -> Result<Vec<u8>, CodingError> {
        let mut enc = Encoder::default();
        for &b in data {
            self.code_byte(&mut enc, b)?;
        }
        Ok(enc.finish())
    }

    /// Decodes the lane's next block of `len` bytes from `payload`.
    pub fn decompress(&mut self, payload: &[u8], len: usize) -> Result<Vec<u8>, CodingError> {
        let mut dec = Decoder::new(payload)?;
        let mut out = Vec::with_capacity(len);
        for _ in 0..len {
            out.push(self.code_byte(&mut dec, 0)?);
        }
        Ok(out)
    }

    /// Learns `data` without coding it (the lane's next block, stored as it is).
    pub fn learn(&mut self, data: &[u8]) {
        for &b in data {
            let _ = self.code_byte(&mut Replay, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip_with_statistics_carried_over() {
        let text: Vec<u8> = (0..3000).flat_map(|i| format!("line {} of the test, value {}\n", i % 97, i * 7 % 13).into_bytes()).collect();
        let (a, b, c) = (&text[..20_000], &text[20_000..40_000], &text[40_000..]);
        let mut enc = Lane::new(16);
        let pa = enc.compress(a).unwrap();
        enc.learn(b);
        let pc = enc.compress(c).unwrap();
        let fresh = Lane::new(16).compress(c).unwrap();
        assert!(pc.len() * 2 < fresh.len(), "the lane remembers: {} vs {}", pc.len(), fresh.len());
        let mut dec = Lane::new(16);
        assert_eq!(dec.decompress(&pa, a.len()).unwrap(), a);
        dec.learn(b);
        assert_eq!(dec.decompress(&pc, c.len()).unwrap(), c);
    }

    #[test]
    fn damaged_payloads_fail_or_differ() {
        let data = b"abcabcabcabcabd".repeat(50);
        let mut p = Lane::new(12).compress(&data).unwrap();
        p[5] ^= 0x40;
        if let Ok(out) = Lane::new(12).decompress(&p, data.len()) {
            assert_ne!(out, data);
        }
    }
}
