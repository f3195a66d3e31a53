//! The match model: finds the last occurrence of the recent bytes in the history and predicts
//! the byte that followed it, bit by bit, with a confidence learned per match length.

use super::counter::Counter;

/// Bytes of history the model can point back into (a ring).
const HISTORY_BITS: u32 = 24;
/// Entries of the table from context hash to position.
const TABLE_BITS: u32 = 20;
/// Bytes a context must share with its match.
const MIN_LEN: usize = 6;
/// Bytes compared backwards to confirm a candidate.
const VERIFY: usize = 48;
/// Largest length the model counts to.
const MAX_LEN: u32 = 65_535;

pub struct MatchModel {
    hist: Vec<u8>,
    /// Bytes seen so far.
    pos: usize,
    table: Vec<u32>,
    /// Where the predicted byte is in the history, when `len > 0`.
    ptr: usize,
    len: u32,
    /// The predicted byte, or `None` once a bit of this byte disagreed.
    expected: Option<u8>,
    counters: [u32; 64],
    cx: usize,
}

impl Default for MatchModel {
    fn default() -> Self {
        Self {
            hist: vec![0; 1 << HISTORY_BITS],
            pos: 0,
            table: vec![0; 1 << TABLE_BITS],
            ptr: 0,
            len: 0,
            expected: None,
            counters: [0; 64],
            cx: 0,
        }
    }
}

impl MatchModel {
    fn at(&self, i: usize) -> u8 {
        self.hist[i & ((1 << HISTORY_BITS) - 1)]
    }

    /// The length band of the current match (0: none), for selecting weights elsewhere.
    pub fn band(&self) -> usize {
        match (self.expected, self.len) {
            (None, _) | (_, 0) => 0,
            (_, 1..=15) => 1,
            (_, 16..=31) => 2,
            _ => 3,
        }
    }

    /// After a whole byte: extends or drops the match and looks for a new one.
    pub fn byte(&mut self, c: u8) {
        let mask = (1 << HISTORY_BITS) - 1;
        self.hist[self.pos & mask] = c;
        self.pos += 1;
        if self.len > 0 && self.expected == Some(c) {
            self.len = (self.len + 1).min(MAX_LEN);
            self.ptr += 1;
        } else {
            self.len = 0;
        }
        if self.pos < MIN_LEN {
            return;
        }
        let mut h: u32 = 0;
        for k in 1..=MIN_LEN {
            h = (h ^ u32::from(self.at(self.pos - k))).wrapping_mul(0x2F0B_4A13).rotate_left(11);
        }
        let slot = (h >> (32 - TABLE_BITS)) as usize;
        if self.len == 0 {
            let cand = self.table[slot] as usize;
            if cand > 0 && self.pos - cand < (1 << HISTORY_BITS) - VERIFY {
                let n = (1..=VERIFY.min(cand)).take_while(|&k| self.at(cand - k) == self.at(self.pos - k)).count();
                if n >= MIN_LEN {
                    self.len = n as u32;
                    self.ptr = cand;
                }
            }
        }
        self.table[slot] = self.pos as u32;
        self.expected = (self.len > 0).then(|| self.at(self.ptr));
    }

    /// The 12-bit probability that bit `bitpos` (0 = most significant) of the byte is a 1, if a
    /// match is active and has agreed with the byte's bits so far.
    #[inline(always)]
    pub fn predict(&mut self, bitpos: u32) -> Option<u32> {
        let e = self.expected?;
        let bit = u32::from(e >> (7 - bitpos)) & 1;
        self.cx = (self.len.min(31) as usize) * 2 + bit as usize;
        Some(Counter::p(self.counters[self.cx]))
    }

    /// Learns from the coded bit (after [`predict`](Self::predict)).
    #[inline(always)]
    pub fn update(&mut self, bitpos: u32, bit: u32) {
        if self.expected.is_some() {
            Counter::update(&mut self.counters[self.cx], bit, 1023);
        }
        self.follow(bitpos, bit);
    }

    /// Follows a bit without learning from it: drops the match once it disagrees.
    #[inline(always)]
    pub fn follow(&mut self, bitpos: u32, bit: u32) {
        if let Some(e) = self.expected {
            if u32::from(e >> (7 - bitpos)) & 1 != bit {
                self.expected = None;
            }
        }
    }
}
