//! The match model: finds the last occurrence of the recent bytes in the history and predicts
//! the byte that followed it, bit by bit, with a confidence learned per match length.
//!
//! The history, its index and the confidences are the lane's; where each stream is in them is
//! its [`MatchCursor`]. A lane of several streams gives each block of a group its own region of
//! the history, in group order, so every stream writes its bytes contiguously and can point into
//! the blocks of earlier groups and into the other streams' bytes written so far.

use super::counter::Counter;
use super::zeroed::Zeroed;

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

#[derive(Clone)]
pub struct MatchModel {
    hist: Zeroed,
    /// Positions (`u32`).
    table: Zeroed,
    counters: [u32; 64],
}

/// Where one stream is in the history.
#[derive(Clone, Default)]
pub struct MatchCursor {
    /// Where its next byte goes (positions count from the lane's first byte; the history is a
    /// ring of the last `2^HISTORY_BITS`).
    pos: usize,
    /// Where the predicted byte is in the history, when `len > 0`.
    ptr: usize,
    len: u32,
    /// The predicted byte, or `None` once a bit of this byte disagreed.
    expected: Option<u8>,
    cx: usize,
}

impl MatchCursor {
    /// Moves the stream to position `pos` (the start of its next block's region).
    pub fn seek(&mut self, pos: usize) {
        self.pos = pos;
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

impl Default for MatchModel {
    fn default() -> Self {
        Self { hist: Zeroed::new(1 << HISTORY_BITS), table: Zeroed::new(4 << TABLE_BITS), counters: [0; 64] }
    }
}

impl MatchModel {
    /// After a whole byte of stream `c`: extends or drops its match and looks for a new one.
    pub fn byte(&mut self, c: &mut MatchCursor, byte: u8) {
        let mask = (1 << HISTORY_BITS) - 1;
        self.hist[c.pos & mask] = byte;
        c.pos += 1;
        if c.len > 0 && c.expected == Some(byte) {
            c.len = (c.len + 1).min(MAX_LEN);
            c.ptr += 1;
        } else {
            c.len = 0;
        }
        if c.pos < MIN_LEN {
            return;
        }
        // (the mapping looked into once, not per byte read)
        let hist = &*self.hist;
        let at = |i: usize| hist[i & mask];
        let mut h: u32 = 0;
        for k in 1..=MIN_LEN {
            h = (h ^ u32::from(at(c.pos - k))).wrapping_mul(0x2F0B_4A13).rotate_left(11);
        }
        let slot = (h >> (32 - TABLE_BITS)) as usize;
        if c.len == 0 {
            let cand = self.table.u32_at(slot) as usize;
            // (a candidate beyond `pos` is another stream's region of the same group, written
            // this far already)
            if cand > 0 && (cand > c.pos || c.pos - cand < (1 << HISTORY_BITS) - VERIFY) {
                let n = (1..=VERIFY.min(cand)).take_while(|&k| at(cand - k) == at(c.pos - k)).count();
                if n >= MIN_LEN {
                    c.len = n as u32;
                    c.ptr = cand;
                }
            }
        }
        self.table.set_u32(slot, c.pos as u32);
        c.expected = (c.len > 0).then(|| at(c.ptr));
    }

    /// The 12-bit probability that bit `bitpos` (0 = most significant) of stream `c`'s byte is a
    /// 1, if a match is active and has agreed with the byte's bits so far.
    #[inline(always)]
    pub fn predict(&self, c: &mut MatchCursor, bitpos: u32) -> Option<u32> {
        let e = c.expected?;
        let bit = u32::from(e >> (7 - bitpos)) & 1;
        c.cx = (c.len.min(31) as usize) * 2 + bit as usize;
        Some(Counter::p(self.counters[c.cx]))
    }

    /// Learns from the coded bit (after [`predict`](Self::predict)).
    #[inline(always)]
    pub fn update(&mut self, c: &mut MatchCursor, bitpos: u32, bit: u32) {
        if c.expected.is_some() {
            Counter::update(&mut self.counters[c.cx], bit, 1023);
        }
        c.follow(bitpos, bit);
    }
}
