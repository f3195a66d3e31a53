//! Adaptive bit probabilities and the hashed table that holds them per context.

use super::zeroed::Zeroed;
use crate::engine::kernels::prefetch;

/// A probability with its confidence in one `u32`: bits 31..10 the probability of a 1 in 22 bits
/// (stored XOR 2^21, so that zeroed memory reads as 1/2), bits 9..0 how often it was updated.
/// The step after `n` updates is `1 / (n + 1.5)` until `n` reaches the counter's limit: a fresh
/// context learns fast, an old one averages (a low limit keeps it adapting).
#[derive(Clone, Copy)]
pub struct Counter;

/// `65536 / (n + 1.5)`.
const RECIPROCAL: [u32; 1024] = {
    let mut t = [0u32; 1024];
    let mut n = 0;
    while n < 1024 {
        t[n] = 131_072 / (2 * n as u32 + 3);
        n += 1;
    }
    t
};

impl Counter {
    /// The probability of a 1 in 12 bits.
    #[inline(always)]
    pub fn p(slot: u32) -> u32 {
        ((slot >> 10) ^ (1 << 21)) >> 10
    }

    /// Moves the probability towards `bit`.
    #[inline(always)]
    pub fn update(slot: &mut u32, bit: u32, limit: u32) {
        let s = *slot;
        let n = s & 1023;
        let p = ((s >> 10) ^ (1 << 21)) as i64;
        let target = if bit != 0 { (1 << 22) - 1 } else { 0 };
        let p = p + (((target - p) * i64::from(RECIPROCAL[n as usize])) >> 16);
        *slot = (((p as u32) ^ (1 << 21)) << 10) | (n + u32::from(n < limit));
    }
}

/// Bytes of one bucket: a check byte, then the bit-history states of the 15 nodes of a
/// nibble's binary tree.
pub const BUCKET: usize = 16;

/// A hashed table of buckets, each holding one context's bit histories for one nibble. A
/// context looks in two neighbouring buckets; on a miss it takes the less used one and clears it.
#[derive(Clone)]
pub struct HashTable {
    slots: Zeroed,
    mask: usize,
}

impl HashTable {
    /// A table of `2^bits` buckets (16 bytes each). The memory is zeroed lazily by the OS.
    pub fn new(bits: u32) -> Self {
        Self { slots: Zeroed::new(BUCKET << bits), mask: (1 << bits) - 1 }
    }

    /// The bucket's first byte for context hash `h`.
    #[inline(always)]
    pub fn find(&mut self, h: u64, states: &States) -> usize {
        let check = (h >> 56) as u8;
        let i = h as usize & self.mask;
        let a = i * BUCKET;
        let b = (i ^ 1) * BUCKET;
        let slots = self.slots();
        if slots[a] == check {
            return a;
        }
        if slots[b] == check {
            return b;
        }
        let victim = if states.total(slots[a + 1]) <= states.total(slots[b + 1]) { a } else { b };
        let bucket = &mut slots[victim..victim + BUCKET];
        bucket.fill(0);
        bucket[0] = check;
        victim
    }

    /// Starts loading the bucket [`find`](Self::find) will look in for `h`.
    #[inline(always)]
    pub fn prefetch(&self, h: u64) {
        prefetch(&self.slots, (h as usize & self.mask) * BUCKET);
    }

    /// The buckets' bytes: at a bucket's start from [`find`](Self::find) plus a node `1..16`,
    /// that node's state. (Loops over the contexts take this once: each look into the mapping
    /// costs a few instructions, and they run 16 times a bit.)
    #[inline(always)]
    pub fn slots(&mut self) -> &mut [u8] {
        &mut self.slots
    }
}

/// Bit histories as states: each state stands for a pair of counts `(n0, n1)` of the zeros and
/// ones seen in a context, kept small and biased to the recent past: a bit increments its own
/// count and, when the other count is above 2, halves it (plus one). Counts are capped so that
/// all reachable pairs fit in a byte (state 0 is the empty history).
#[derive(Clone)]
pub struct States {
    len: usize,
    /// Per state (indexed by the state's byte, so without bounds checks): its successors, its
    /// counts, whether it is one-sided, its total count.
    next: [[u8; 2]; 256],
    counts: [(u8, u8); 256],
    one_sided: [bool; 256],
    total: [u8; 256],
}

impl States {
    /// The largest count `hi` allowed beside a smaller count `lo`.
    fn cap(lo: u8) -> u8 {
        match lo {
            0 => 40,
            1 => 24,
            2 => 12,
            3 => 8,
            _ => 6,
        }
    }

    fn clamp(n0: u8, n1: u8) -> (u8, u8) {
        if n0 <= n1 {
            (n0.min(6), n1.min(Self::cap(n0.min(6))))
        } else {
            (n0.min(Self::cap(n1.min(6))), n1.min(6))
        }
    }

    fn successor(n: (u8, u8), bit: u32) -> (u8, u8) {
        let cut = |x: u8| if x > 2 { x / 2 + 1 } else { x };
        if bit == 1 {
            Self::clamp(cut(n.0), n.1 + 1)
        } else {
            Self::clamp(n.0 + 1, cut(n.1))
        }
    }

    /// The table, numbering states in the order a breadth-first walk from `(0, 0)` reaches them.
    pub fn new() -> Self {
        let mut counts = vec![(0u8, 0u8)];
        let mut next = Vec::new();
        let mut i = 0;
        while i < counts.len() {
            let mut edge = [0u8; 2];
            for bit in 0..2 {
                let s = Self::successor(counts[i], bit);
                let j = counts.iter().position(|&c| c == s).unwrap_or_else(|| {
                    counts.push(s);
                    counts.len() - 1
                });
                edge[bit as usize] = j as u8;
            }
            next.push(edge);
            i += 1;
        }
        assert!(counts.len() <= 256);
        let mut s = Self { len: counts.len(), next: [[0; 2]; 256], counts: [(0, 0); 256], one_sided: [false; 256], total: [0; 256] };
        for (i, (&(a, b), edge)) in counts.iter().zip(next).enumerate() {
            (s.next[i], s.counts[i]) = (edge, (a, b));
            s.one_sided[i] = (a == 0) != (b == 0);
            s.total[i] = a + b;
        }
        s
    }

    /// Number of states.
    pub fn len(&self) -> usize {
        self.len
    }

    /// The state after seeing `bit` in state `s`.
    #[inline(always)]
    pub fn next(&self, s: u8, bit: u32) -> u8 {
        self.next[usize::from(s)][bit as usize]
    }

    /// The counts a state stands for.
    pub fn counts(&self, s: u8) -> (u8, u8) {
        self.counts[usize::from(s)]
    }

    /// Whether a state has seen bits of one value only (and some).
    #[inline(always)]
    pub fn one_sided(&self, s: u8) -> bool {
        self.one_sided[usize::from(s)]
    }

    /// How much history a state holds.
    #[inline(always)]
    fn total(&self, s: u8) -> u8 {
        self.total[usize::from(s)]
    }
}

/// Maps each bit-history state of one context kind to an adaptive probability.
#[derive(Clone)]
pub struct StateMap {
    /// Indexed by the state's byte (those past the last state unused).
    p: [u32; 256],
}

impl StateMap {
    /// A map starting from each state's count ratio `(n1 + 1/2) / (n0 + n1 + 1)`.
    pub fn new(states: &States) -> Self {
        let mut p = [0; 256];
        for (s, p) in p.iter_mut().enumerate().take(states.len()) {
            let (n0, n1) = states.counts(s as u8);
            let p22 = ((2 * u64::from(n1) + 1) << 22) / (2 * (u64::from(n0) + u64::from(n1)) + 2);
            *p = ((p22 as u32) ^ (1 << 21)) << 10;
        }
        Self { p }
    }

    /// The probability of a 1 in state `s`, in 12 bits.
    #[inline(always)]
    pub fn p(&self, s: u8) -> u32 {
        Counter::p(self.p[usize::from(s)])
    }

    /// Learns that state `s` was followed by `bit`.
    #[inline(always)]
    pub fn update(&mut self, s: u8, bit: u32) {
        Counter::update(&mut self.p[usize::from(s)], bit, 1023);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_learn_and_saturate() {
        let mut s = 0u32;
        assert_eq!(Counter::p(s), 2048);
        for _ in 0..2000 {
            Counter::update(&mut s, 1, 60);
        }
        assert!(Counter::p(s) >= 4090 && s & 1023 == 60);
        for _ in 0..2000 {
            Counter::update(&mut s, 0, 60);
        }
        assert!(Counter::p(s) <= 5);
    }

    #[test]
    fn buckets_are_found_again_and_replaced() {
        let states = States::new();
        let mut t = HashTable::new(4);
        let a = t.find(0x1234_5678_9abc_def0, &states);
        t.slots()[a + 3] = 77;
        assert_eq!(t.find(0x1234_5678_9abc_def0, &states), a);
        assert_eq!(t.slots()[a + 3], 77);
        t.slots()[a + 1] = states.next(0, 1);
        let b = t.find(0x5634_5678_9abc_def0, &states);
        assert_ne!(a, b);
        assert_eq!(t.slots()[b + 3], 0);
    }

    #[test]
    fn states_count_recent_bits() {
        let st = States::new();
        assert!(st.len() > 100 && st.len() <= 256, "{}", st.len());
        let mut s = 0;
        for _ in 0..5 {
            s = st.next(s, 1);
        }
        assert_eq!(st.counts(s), (0, 5));
        s = st.next(s, 0);
        assert_eq!(st.counts(s), (1, 3));
        // counts of 1 and 2 are kept: a long run caps beside them
        for _ in 0..100 {
            s = st.next(s, 0);
        }
        assert_eq!(st.counts(s), (12, 2));
        let mut s = 0;
        for _ in 0..100 {
            s = st.next(s, 0);
        }
        assert_eq!(st.counts(s), (40, 0));
    }
}
