//! Whether a token ends where a longer token could go on (profile 5). The tokenizer decides
//! that from the bytes that follow, so the bytes before a token and its bytes so far predict it
//! well where the network is unsure: counters in hashed contexts of those, mixed with the
//! network's own probability.

use super::counter::Counter;
use super::mix64;
use super::mixer::{padded, Apm, Mixer};
use crate::numeric::logistic::{squash, stretch};

/// Counters of the hashed contexts (4 bytes each).
const TABLE_BITS: u32 = 18;
/// Bytes before the token that the hashed contexts see (each with the token so far).
const ORDERS: [u32; 6] = [0, 1, 2, 3, 4, 6];
/// Inputs: the network and its mixture, one counter per context, a bias.
const INPUTS: usize = ORDERS.len() + 3;
/// The mixer's input vector: the inputs, then zeros to whole vectors.
const X_LEN: usize = padded(INPUTS);
/// Token lengths told apart.
const LENGTHS: usize = 16;

#[derive(Clone)]
pub struct TokenEnd {
    counters: Vec<u32>,
    slots: [usize; ORDERS.len()],
    /// The mixer's inputs for the decision being predicted (zeros to whole vectors).
    x: [i32; X_LEN],
    mixer: Mixer<X_LEN>,
    apm: Apm,
}

impl Default for TokenEnd {
    fn default() -> Self {
        Self {
            counters: vec![0; 1 << TABLE_BITS],
            slots: [0; ORDERS.len()],
            x: [0; X_LEN],
            mixer: Mixer::new(INPUTS, LENGTHS * 4, 6),
            apm: Apm::new(LENGTHS, 7),
        }
    }
}

impl TokenEnd {
    /// The 12-bit probability that the token ends after its first `len` bytes, which are the
    /// token of rank `rank`, given the network's `p_net` (alone and mixed) and `before`: the bytes before the
    /// token, newest in the low byte.
    pub fn predict(&mut self, p_net: [u32; 2], len: usize, rank: usize, before: u64) -> u32 {
        let st = stretch(p_net[1]);
        (self.x[0], self.x[1]) = (stretch(p_net[0]), st);
        for (i, &n) in ORDERS.iter().enumerate() {
            let ctx = if n == 0 { 0 } else { before & ((1u64 << (8 * n)) - 1) };
            let h = mix64(ctx ^ (rank as u64) << 32 ^ (i as u64 + 1) << 60);
            self.slots[i] = (h >> (64 - TABLE_BITS)) as usize;
            self.x[2 + i] = stretch(Counter::p(self.counters[self.slots[i]]));
        }
        self.x[INPUTS - 1] = 256;
        let len = len.min(LENGTHS - 1);
        let band = (st.unsigned_abs() as usize >> 9).min(3);
        let p = squash(self.mixer.mix(&self.x, len * 4 + band));
        ((p + self.apm.refine(p, len)) / 2).clamp(1, 4095)
    }

    /// Learns the coded decision (after [`predict`](Self::predict)).
    pub fn update(&mut self, bit: u32) {
        for &s in &self.slots {
            Counter::update(&mut self.counters[s], bit, 255);
        }
        self.mixer.update(&self.x, bit);
        self.apm.update(bit);
    }
}
