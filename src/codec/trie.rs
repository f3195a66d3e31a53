//! The vocabulary as a byte trie (profile 5): token ids sorted by their bytes, so that the
//! tokens sharing any prefix, and among them those whose next byte lies in any range, are one
//! run of the order. Summing the network's probabilities over a run is then two lookups in a
//! cumulative table built once per token ([`Trie::weigh`]), which is how a token distribution
//! becomes the probability of each binary decision of `codec::cm::Lane::code_token`.
//!
//! **Part of the format** (numeric profile 5): the order (bytewise lexicographic, a prefix
//! before its extensions) decides which tokens each decision separates.

#![forbid(unsafe_code)]

use crate::numeric::quantize::Cdf;

/// Token ids in byte order, with their bytes.
pub struct Trie {
    /// Token id at each rank.
    order: Vec<u32>,
    /// Bytes of the token at each rank, concatenated; rank `r` is `bytes[start[r]..start[r + 1]]`.
    bytes: Vec<u8>,
    start: Vec<u32>,
    /// Rank of each token id.
    rank: Vec<u32>,
}

impl Trie {
    /// The trie of a vocabulary given as each id's bytes (distinct and non-empty, as a
    /// tokenizer's are).
    pub fn new<'a>(tokens: impl ExactSizeIterator<Item = &'a [u8]>) -> Self {
        let tokens: Vec<&[u8]> = tokens.collect();
        let mut order: Vec<u32> = (0..tokens.len() as u32).collect();
        order.sort_by(|&a, &b| tokens[a as usize].cmp(tokens[b as usize]));
        let mut bytes = Vec::new();
        let mut start = vec![0];
        let mut rank = vec![0; tokens.len()];
        for (r, &id) in order.iter().enumerate() {
            bytes.extend_from_slice(tokens[id as usize]);
            start.push(bytes.len() as u32);
            rank[id as usize] = r as u32;
        }
        Self { order, bytes, start, rank }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// The token id at rank `r`.
    pub fn id(&self, r: usize) -> u32 {
        self.order[r]
    }

    /// The bytes of the token at rank `r`.
    pub fn token(&self, r: usize) -> &[u8] {
        &self.bytes[self.start[r] as usize..self.start[r + 1] as usize]
    }

    /// The bytes of token `id`.
    pub fn bytes_of(&self, id: u32) -> &[u8] {
        self.token(self.rank[id as usize] as usize)
    }

    /// `cum[r]`: the probability (out of `2^24`) of the tokens ranked below `r`, for `r` in
    /// `0..=len`, from the quantised distribution over token ids.
    pub fn weigh(&self, cdf: &Cdf, cum: &mut Vec<u32>) {
        let c = cdf.cumulative();
        cum.clear();
        cum.push(0);
        let mut acc = 0u32;
        for &id in &self.order {
            acc += c[id as usize + 1] - c[id as usize];
            cum.push(acc);
        }
    }

    /// The first rank in `lo..hi` whose byte `k` is at least `value`, where the tokens of
    /// `lo..hi` all share their first `k` bytes and are longer than `k`.
    pub fn split(&self, lo: usize, hi: usize, k: usize, value: u32) -> usize {
        let (mut a, mut b) = (lo, hi);
        while a < b {
            let m = a + (b - a) / 2;
            if u32::from(self.bytes[self.start[m] as usize + k]) < value {
                a = m + 1;
            } else {
                b = m;
            }
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(words: &[&str]) -> Trie {
        Trie::new(words.iter().map(|w| w.as_bytes()))
    }

    #[test]
    fn prefixes_are_runs_and_come_first() {
        let t = trie(&["th", "a", "the", "t", "then", "b", "to"]);
        let ranked: Vec<&[u8]> = (0..t.len()).map(|r| t.token(r)).collect();
        assert_eq!(ranked, [&b"a"[..], b"b", b"t", b"th", b"the", b"then", b"to"]);
        assert_eq!((t.id(0), t.bytes_of(4)), (1, &b"then"[..]));
        // after "t" (ranks 3..7 once "t" itself is excluded), byte 1 splits at 'o'
        assert_eq!(t.split(3, 7, 1, u32::from(b'o')), 6);
        assert_eq!(t.split(3, 7, 1, u32::from(b'h')), 3);
        assert_eq!(t.split(3, 7, 1, 0x80), 7);
    }

    #[test]
    fn weights_are_the_distribution_in_rank_order() {
        let t = trie(&["b", "a", "c"]);
        let mut cdf = Cdf::default();
        cdf.from_logits(&[0.0, 1.0, 2.0]);
        let mut cum = Vec::new();
        t.weigh(&cdf, &mut cum);
        let p = |id| cdf.interval(id).unwrap().1;
        assert_eq!(cum, [0, p(1), p(1) + p(0), 1 << 24]);
    }
}
