//! Blocks of a context-mixing frame: bytes coded bit by bit with the predictions of
//! [`crate::predict::cm`], whose statistics span the frame. In profile 4 every byte is coded
//! alone; in profile 5 text blocks are coded token by token ([`Lane::code_token`]), the network's
//! token distribution giving the mixer one more input for every bit.
//!
//! A frame's blocks are dealt round-robin to `lanes` independent predictors (block `i` to lane
//! `i mod lanes`). A lane learns every block dealt to it, whether the block was coded with it or
//! stored, so its statistics cover its share of the whole frame, not one block, and the lanes
//! can run in parallel in both directions. A lane of several streams (profile 5, format
//! version 6) codes that many of its blocks at once, so that the network steps them together:
//! each block on its own stream (slot), with its own cursor (recent bytes, place in the match
//! model's history), all sharing the lane's tables, mixers and history, token by token in a
//! fixed order.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::coder::{BitCoder, Decoder, Encoder, Replay};
use super::trie::Trie;
use super::CodingError;
use crate::engine::kernels::{Kernel, Vectorised};
use crate::format::CmRevision;
use crate::predict::cm::{Cursor, NetBit, Predictor, TokenEnd};

/// One lane: a predictor that carries over from block to block.
#[derive(Clone)]
pub struct Lane {
    predictor: Predictor,
    /// With several streams, each one's cursor while another is coded (`None` for the one
    /// in the predictor, `active`); empty with one stream.
    slots: Vec<Option<Cursor>>,
    active: usize,
    /// Bytes of the blocks given so far ([`begin_group`](Self::begin_group)).
    seen: usize,
    /// Whether a token ends where a longer one could go on.
    end: TokenEnd,
    /// The compressor's only (`pipeline::compress::lane_group`): groups that will not try
    /// context mixing alone beside the network, since it lost by far the last time.
    pub skip_alone: u32,
    /// The compressor's only: groups coded without the network, since the network lost by far
    /// the last time.
    pub skip_network: u32,
    /// The compressor's only: how many groups the next such run will be if the network loses
    /// by far again (0 once it has not).
    pub network_rest: u32,
    /// The compressor's only: groups coded without trying the network (for [`Stats`]).
    ///
    /// [`Stats`]: crate::pipeline::Stats
    pub sat_out: u64,
    /// The variant the byte loops are compiled for (the same bits on every one).
    kernel: Kernel,
    /// Where the bytes this lane codes are counted, for progress reports (a copy of the lane
    /// that only tries an alternative counts nowhere); never read by the coder.
    pub progress: Option<Arc<AtomicU64>>,
}

/// `part / whole` in 12 bits, kept codable (`1..=4095`).
fn p12(part: u32, whole: u32) -> u32 {
    ((u64::from(part) << 12) / u64::from(whole.max(1))).clamp(1, 4095) as u32
}

impl Lane {
    /// A fresh lane with `2^table_bits` buckets of hashed statistics and `streams` streams;
    /// `network`: whether it codes tokens under the network's prediction (profile 5) as well as
    /// bytes.
    pub fn new(table_bits: u32, revision: CmRevision, network: bool, streams: usize) -> Self {
        let slots = if streams > 1 { (0..streams).map(|i| (i > 0).then(Cursor::default)).collect() } else { Vec::new() };
        let predictor = Predictor::new(table_bits, revision, network, Cursor::default());
        let (end, kernel) = (TokenEnd::default(), Kernel::best());
        let progress = None;
        Self { predictor, slots, active: 0, seen: 0, end, skip_alone: 0, skip_network: 0, network_rest: 0, sat_out: 0, kernel, progress }
    }

    /// From now on, also measures what each component of the predictor saves
    /// ([`Predictor::analyse`]).
    pub fn analyse(&mut self) {
        self.predictor.analyse();
    }

    /// The bits each component saved since the last call (empty unless analysing).
    pub fn take_saved(&mut self) -> Vec<(&'static str, f64)> {
        self.predictor.take_saved()
    }

    /// Starts a group of blocks, `(stream, length)` in group order (a stream at most once): each
    /// block's bytes get the next region of the match model's history. With one stream, the
    /// region of each block starts where the previous one's ended.
    pub fn begin_group(&mut self, blocks: impl IntoIterator<Item = (usize, usize)>) {
        for (slot, len) in blocks {
            let seen = self.seen;
            self.cursor(slot).seek(seen);
            self.seen += len;
        }
    }

    fn cursor(&mut self, slot: usize) -> &mut Cursor {
        match self.slots.get_mut(slot).and_then(Option::as_mut) {
            Some(c) => c,
            None => self.predictor.cursor(),
        }
    }

    /// Moves the predictor to stream `slot` (`< streams()`).
    fn select(&mut self, slot: usize) {
        if slot != self.active && !self.slots.is_empty() {
            let next = self.slots[slot].take().expect("a stream not in the predictor keeps its cursor");
            self.slots[self.active] = Some(self.predictor.swap_cursor(next));
            self.active = slot;
        }
    }

    #[inline(always)]
    fn code_byte(&mut self, coder: &mut impl BitCoder, byte: u8) -> Result<u8, CodingError> {
        let mut c = 0u32;
        for k in (0..8).rev() {
            let bit = coder.code_bit(self.predictor.predict(None), u32::from(byte >> k) & 1)?;
            self.predictor.update(bit);
            c = (c << 1) | bit;
        }
        Ok(c as u8)
    }

    /// Codes token `want` (encoder; ignored by the decoder) as decisions along `trie`, given two
    /// distributions over the tokens (`weighed`: the network's own and its mixture with the
    /// block's token models, each in the trie's order, cumulated by [`Trie::weigh`]), and
    /// returns the token coded. From the root, each byte of the token is 8 bits, most
    /// significant first, each predicted by the context mixer with each distribution's
    /// probability of that bit (summed over the tokens still possible) as inputs; a bit that
    /// only one value of could continue a token is not coded. After each byte, where the bytes
    /// so far are a token that longer tokens extend, one more decision says whether the token
    /// ends there ([`TokenEnd`]).
    pub fn code_token(
        &mut self,
        slot: usize,
        coder: &mut impl BitCoder,
        trie: &Trie,
        weighed: [&[u32]; 2],
        want: u32,
    ) -> Result<u32, CodingError> {
        self.select(slot);
        let [a, b] = weighed;
        // the probability of ranks from..to among ranks lo..hi, in each distribution
        let p = |from: usize, to: usize, lo: usize, hi: usize| [p12(a[to] - a[from], a[hi] - a[lo]), p12(b[to] - b[from], b[hi] - b[lo])];
        let want = trie.bytes_of(want.min(trie.len() as u32 - 1));
        let (mut lo, mut hi) = (0, trie.len());
        // every path ends: each step keeps lo..hi non-empty, and tokens are finite
        let mut k = 0;
        loop {
            if k > 0 {
                // ranks lo..hi share k bytes; the shortest, first, may be those k bytes alone
                let exact = trie.token(lo).len() == k;
                let ends = if exact && hi - lo > 1 {
                    let before = if k < 8 { self.predictor.last_bytes() >> (8 * k) } else { 0 };
                    let p = self.end.predict(p(lo, lo + 1, lo, hi), k, lo, before);
                    let bit = coder.code_bit(p, u32::from(want.len() == k))?;
                    self.end.update(bit);
                    bit == 1
                } else {
                    exact
                };
                if ends {
                    return Ok(trie.id(lo));
                }
                lo += usize::from(exact);
            }
            let byte = u32::from(want.get(k).copied().unwrap_or(0));
            let mut c = 0u32;
            for j in (0..8).rev() {
                let m = trie.split(lo, hi, k, ((c << 1) | 1) << j);
                let bit = if m == lo || m == hi {
                    let forced = u32::from(m == lo);
                    self.predictor.skip(forced);
                    forced
                } else {
                    let net = NetBit { p: p(m, hi, lo, hi), place: k as u32 };
                    let bit = coder.code_bit(self.predictor.predict(Some(net)), (byte >> j) & 1)?;
                    self.predictor.update(bit);
                    bit
                };
                if bit == 1 {
                    lo = m;
                } else {
                    hi = m;
                }
                c = (c << 1) | bit;
            }
            k += 1;
        }
    }

    /// Counts `bytes` coded, for progress reports.
    pub fn count(&self, bytes: usize) {
        if let Some(p) = &self.progress {
            p.fetch_add(bytes as u64, Ordering::Relaxed);
        }
    }

    /// Codes `data` as the next block of stream `slot`; returns the payload.
    pub fn compress(&mut self, slot: usize, data: &[u8]) -> Result<Vec<u8>, CodingError> {
        self.select(slot);
        let mut enc = Encoder::default();
        self.kernel.vectorised(Bytes { lane: self, coder: &mut enc, input: data, out: None })?;
        self.count(data.len());
        Ok(enc.finish())
    }

    /// Decodes the next block of stream `slot`, `len` bytes, from `payload`.
    pub fn decompress(&mut self, slot: usize, payload: &[u8], len: usize) -> Result<Vec<u8>, CodingError> {
        self.select(slot);
        let mut dec = Decoder::new(payload)?;
        let mut out = Vec::with_capacity(len);
        self.kernel.vectorised(Bytes { lane: self, coder: &mut dec, input: &[], out: Some((&mut out, len)) })?;
        self.count(len);
        Ok(out)
    }

    /// Learns `data`, a block another lane coded (format version 8: before its next group, a
    /// lane absorbs the blocks the others coded in the last one, in frame order): a region of the match
    /// model's history after everything given so far, and the hashed contexts' bit histories,
    /// seen through a fresh cursor ([`Predictor::absorb`]). The streams' own cursors are untouched.
    pub fn absorb(&mut self, data: &[u8]) {
        let mut cursor = Cursor::default();
        cursor.seek(self.seen);
        self.seen += data.len();
        let own = self.predictor.swap_cursor(cursor);
        for &b in data {
            self.predictor.absorb(b);
        }
        self.predictor.swap_cursor(own);
    }

    /// Learns `data` without coding it (stream `slot`'s next block, stored as it is).
    pub fn learn(&mut self, slot: usize, data: &[u8]) {
        self.select(slot);
        let _ = self.kernel.vectorised(Bytes { lane: self, coder: &mut Replay, input: data, out: None });
    }
}

/// A lane's bytes coded by `coder`, as work for [`Kernel::vectorised`]: the context mixer's
/// loops (its mixers' dot products and updates) compiled for the widest vectors this CPU has.
/// All of it is integer arithmetic, so the bits are the same on every variant.
struct Bytes<'a, C> {
    lane: &'a mut Lane,
    coder: &'a mut C,
    /// The bytes to code, or (decoding) where to put how many.
    input: &'a [u8],
    out: Option<(&'a mut Vec<u8>, usize)>,
}

impl<C: BitCoder> Vectorised for Bytes<'_, C> {
    type Output = Result<(), CodingError>;

    #[inline(always)]
    fn run(self) -> Self::Output {
        match self.out {
            None => {
                for &b in self.input {
                    self.lane.code_byte(self.coder, b)?;
                }
            }
            Some((out, len)) => {
                for _ in 0..len {
                    out.push(self.lane.code_byte(self.coder, 0)?);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::numeric::quantize::Cdf;

    #[test]
    fn blocks_round_trip_with_statistics_carried_over() {
        let text: Vec<u8> = (0..3000).flat_map(|i| format!("line {} of the test, value {}\n", i % 97, i * 7 % 13).into_bytes()).collect();
        let (a, b, c) = (&text[..20_000], &text[20_000..40_000], &text[40_000..]);
        let mut enc = Lane::new(16, CmRevision::LATEST, false, 1);
        let pa = enc.compress(0, a).unwrap();
        enc.learn(0, b);
        let pc = enc.compress(0, c).unwrap();
        let fresh = Lane::new(16, CmRevision::LATEST, false, 1).compress(0, c).unwrap();
        assert!(pc.len() * 2 < fresh.len(), "the lane remembers: {} vs {}", pc.len(), fresh.len());
        let mut dec = Lane::new(16, CmRevision::LATEST, false, 1);
        assert_eq!(dec.decompress(0, &pa, a.len()).unwrap(), a);
        dec.learn(0, b);
        assert_eq!(dec.decompress(0, &pc, c.len()).unwrap(), c);
    }

    #[test]
    fn every_kernel_codes_the_same_bits() {
        // the byte loops are compiled once per vector width; integer arithmetic must not notice
        let text: Vec<u8> =
            (0..2500u32).flat_map(|i| format!("{},{};word{} {}\n", i % 89, i * 31 % 1009, i % 7, i * i % 10_007).into_bytes()).collect();
        for revision in [CmRevision::First, CmRevision::Second, CmRevision::Third, CmRevision::Fourth, CmRevision::Fifth] {
            let code = |kernel: Kernel| {
                let mut lane = Lane::new(16, revision, false, 1);
                lane.kernel = kernel;
                let first = lane.compress(0, &text[..20_000]).unwrap();
                [first, lane.compress(0, &text[20_000..]).unwrap()]
            };
            let kernels = Kernel::available();
            let reference = code(kernels[0]);
            for &k in &kernels[1..] {
                assert!(code(k) == reference, "{revision:?} {}", k.name());
            }
            // and what one variant wrote, another reads
            let mut dec = Lane::new(16, revision, false, 1);
            dec.kernel = *kernels.last().unwrap();
            assert_eq!(dec.decompress(0, &reference[0], 20_000).unwrap(), &text[..20_000]);
            assert_eq!(dec.decompress(0, &reference[1], text.len() - 20_000).unwrap(), &text[20_000..]);
        }
    }

    #[test]
    fn a_lane_learns_what_it_absorbs_and_its_streams_carry_on() {
        // (c repeats b's lines in another order; a is unrelated)
        let line = |i: u64| format!("{:x} {} {:o}\n", i.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40, i * i % 1009, i * 7919);
        let a: Vec<u8> = (0..2000).flat_map(|i| format!("plain line {i}\n").into_bytes()).collect();
        let b: Vec<u8> = (0..1000).flat_map(|i| line(i).into_bytes()).collect();
        let c: Vec<u8> = (0..1000).flat_map(|i| line(i * 7 % 1000).into_bytes()).collect();
        let (a, b, c) = (&a[..], &b[..], &c[..]);
        let code = |absorb: bool| {
            let mut lane = Lane::new(16, CmRevision::LATEST, false, 2);
            lane.begin_group([(0, a.len())]);
            let pa = lane.compress(0, a).unwrap();
            if absorb {
                lane.absorb(b);
            }
            lane.begin_group([(1, c.len())]);
            (pa, lane.compress(1, c).unwrap())
        };
        let ((pa, pc), (_, alone)) = (code(true), code(false));
        assert!(pc.len() * 2 < alone.len(), "absorbed statistics pay: {} vs {}", pc.len(), alone.len());
        let mut dec = Lane::new(16, CmRevision::LATEST, false, 2);
        dec.begin_group([(0, a.len())]);
        assert_eq!(dec.decompress(0, &pa, a.len()).unwrap(), a);
        dec.absorb(b);
        dec.begin_group([(1, c.len())]);
        assert_eq!(dec.decompress(1, &pc, c.len()).unwrap(), c);
    }

    #[test]
    fn tokens_round_trip_through_the_trie_whatever_the_distribution() {
        let words = ["a", "b", "c", "ab", "abc", "abd", "b c", "bc", "c\n", "\n", " ", "abcd", "ca", "\u{e9}"];
        let trie = Trie::new(words.iter().map(|w| w.as_bytes()));
        let cdfs: Vec<[Cdf; 2]> = (0..40)
            .map(|i| {
                let logits = |k: usize| (0..words.len()).map(|t| ((t * 7 + i * k) % 11) as f32 * 0.7 - 3.0).collect::<Vec<_>>();
                let (mut a, mut b) = (Cdf::default(), Cdf::default());
                a.from_logits(&logits(3));
                b.from_logits(&logits(5));
                [a, b]
            })
            .collect();
        let tokens: Vec<u32> = (0..40u32).map(|i| (i * 5 + i / 3) % words.len() as u32).collect();
        let mut lane = Lane::new(12, CmRevision::LATEST, true, 1);
        let mut enc = Encoder::default();
        let weighed: Vec<[Vec<u32>; 2]> = cdfs
            .iter()
            .map(|cdfs| {
                cdfs.each_ref().map(|c| {
                    let mut cum = Vec::new();
                    trie.weigh(c, &mut cum);
                    cum
                })
            })
            .collect();
        for (t, [a, b]) in tokens.iter().zip(&weighed) {
            assert_eq!(lane.code_token(0, &mut enc, &trie, [a, b], *t).unwrap(), *t);
        }
        let payload = enc.finish();
        let mut lane = Lane::new(12, CmRevision::LATEST, true, 1);
        let mut dec = Decoder::new(&payload).unwrap();
        let back: Vec<u32> = weighed.iter().map(|[a, b]| lane.code_token(0, &mut dec, &trie, [a, b], 0).unwrap()).collect();
        assert_eq!(back, tokens);
    }

    #[test]
    fn analysis_measures_components_without_changing_the_code() {
        let text: Vec<u8> = (0..2000).flat_map(|i| format!("item {} costs {} coins\n", i * 37 % 101, i % 7).into_bytes()).collect();
        let plain = Lane::new(16, CmRevision::LATEST, false, 1).compress(0, &text).unwrap();
        let mut lane = Lane::new(16, CmRevision::LATEST, false, 1);
        assert!(lane.take_saved().is_empty());
        lane.analyse();
        assert_eq!(lane.compress(0, &text).unwrap(), plain, "analysing changes no coded bit");
        let saved = lane.take_saved();
        let names: Vec<&str> = saved.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            ["orders 1-2", "orders 3-4", "orders 5-7", "words", "column", "sparse", "fields", "indirect", "order-0", "match", "APMs"]
        );
        // lines of one shape: what followed the last bytes where they occurred before carries
        // them most, and the contexts of the byte above (by column, and by field) help too
        let most = saved.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
        assert_eq!(most.0, "indirect", "{saved:?}");
        assert!(most.1 > 200.0, "{saved:?}");
        assert!(saved.iter().filter(|(n, _)| ["column", "fields"].contains(n)).all(|(_, b)| *b > 0.0), "{saved:?}");
        assert!(saved.iter().all(|(_, b)| b.is_finite() && b.abs() < 8.0 * text.len() as f64), "{saved:?}");
        // taken, the counts start again
        assert!(lane.take_saved().iter().all(|(_, b)| *b == 0.0));
        let mut net = Lane::new(12, CmRevision::LATEST, true, 1);
        net.analyse();
        assert!(net.take_saved().iter().any(|(n, _)| *n == "network"));
    }

    #[test]
    fn damaged_payloads_fail_or_differ() {
        let data = b"abcabcabcabcabd".repeat(50);
        let mut p = Lane::new(12, CmRevision::LATEST, false, 1).compress(0, &data).unwrap();
        p[5] ^= 0x40;
        if let Ok(out) = Lane::new(12, CmRevision::LATEST, false, 1).decompress(0, &p, data.len()) {
            assert_ne!(out, data);
        }
    }
}
