//! Models that learn a block's own statistics as it is coded: a match model (the token that
//! followed the longest earlier occurrence of the current context) and order-k token counts.
//! All state is integers updated identically by the compressor and the decompressor.
//!
//! Normative: the table sizes and limits below are part of numeric profiles 2 and 3
//! (`format::Profile`); changing them needs a new profile and new golden files.

use rustc_hash::FxHashMap;

use crate::numeric::hash::context_hash;

/// Longest match length tracked (longer matches count as this).
const MATCH_CAP: u32 = 64;
/// Counts in one context are halved when their total reaches this, so statistics keep adapting.
const COUNT_LIMIT: u32 = 1 << 12;

/// Follows the most recent earlier occurrence of the current context.
pub struct MatchModel {
    /// Context hash -> position (+1) of the token that followed it; 0 means empty.
    table: Vec<u32>,
    bits: u32,
    /// Tokens of context hashed to find a candidate (and the shortest match followed).
    min_len: usize,
    /// Position in the history of the predicted token, and the current match length.
    ptr: usize,
    len: u32,
}

impl MatchModel {
    /// A model that follows contexts of at least `min_len` tokens, with a `2^bits`-entry table.
    pub fn new(bits: u32, min_len: usize) -> Self {
        Self { table: vec![0; 1 << bits], bits, min_len, ptr: 0, len: 0 }
    }

    /// The predicted next token and the current match length, if a match is active.
    pub fn predict(&self, hist: &[u32]) -> Option<(u32, u32)> {
        (self.len > 0).then(|| (hist[self.ptr], self.len))
    }

    /// Learns the token just appended to `hist`.
    pub fn update(&mut self, hist: &[u32]) {
        let n = hist.len();
        if self.len > 0 {
            if hist[self.ptr] == hist[n - 1] {
                self.len = (self.len + 1).min(MATCH_CAP);
                self.ptr += 1;
            } else {
                self.len = 0;
            }
        }
        if n < self.min_len {
            return;
        }
        let slot = (context_hash(hist, self.min_len) >> (64 - self.bits)) as usize;
        if self.len == 0 {
            let cand = self.table[slot] as usize;
            if cand > 0 {
                // verify (hashes collide) and measure how far back the match reaches
                let mut len = 0;
                while len < MATCH_CAP as usize && len < cand && hist[cand - 1 - len] == hist[n - 1 - len] {
                    len += 1;
                }
                if len >= self.min_len {
                    self.len = len as u32;
                    self.ptr = cand;
                }
            }
        }
        self.table[slot] = n as u32;
    }
}

/// Counts of the tokens seen after one context, in first-seen order.
#[derive(Default)]
pub struct Counts {
    pub total: u32,
    pub seen: Vec<(u32, u32)>,
}

/// Adaptive statistics of the token following each context of the last `order` tokens.
pub struct OrderModel {
    order: usize,
    contexts: FxHashMap<u64, Counts>,
}

impl OrderModel {
    /// An empty model over contexts of `order` tokens.
    pub fn new(order: usize) -> Self {
        Self { order, contexts: FxHashMap::default() }
    }

    /// The counts after the current context (the last `order` tokens of `hist`).
    pub fn lookup(&self, hist: &[u32]) -> Option<&Counts> {
        if hist.len() < self.order {
            return None;
        }
        self.contexts.get(&context_hash(hist, self.order))
    }

    /// Counts `token` after the context `hist` (the history before it).
    pub fn update(&mut self, hist: &[u32], token: u32) {
        if hist.len() < self.order {
            return;
        }
        let c = self.contexts.entry(context_hash(hist, self.order)).or_default();
        match c.seen.iter_mut().find(|(t, _)| *t == token) {
            Some(e) => e.1 += 1,
            None => c.seen.push((token, 1)),
        }
        c.total += 1;
        if c.total >= COUNT_LIMIT {
            c.total = 0;
            c.seen.retain_mut(|(_, n)| {
                *n /= 2;
                *n > 0
            });
            c.total = c.seen.iter().map(|e| e.1).sum();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn match_model_predicts_a_repeat() {
        let text: Vec<u32> = [5, 6, 7, 8, 9, 1, 2, 5, 6, 7, 8, 9].to_vec();
        let mut m = MatchModel::new(10, 2);
        let mut hits = 0;
        for i in 0..text.len() {
            if let Some((t, _)) = m.predict(&text[..i]) {
                hits += u32::from(t == text[i]);
            }
            m.update(&text[..=i]);
        }
        // after "5 6" repeats, "7 8 9" are predicted
        assert_eq!(hits, 3);
    }

    #[test]
    fn order_model_counts_and_halves() {
        let mut m = OrderModel::new(1);
        for _ in 0..COUNT_LIMIT {
            m.update(&[3], 4);
        }
        m.update(&[3], 9);
        let c = m.lookup(&[1, 3]).unwrap();
        assert_eq!(c.seen, vec![(4, COUNT_LIMIT / 2), (9, 1)]);
        assert_eq!(c.total, COUNT_LIMIT / 2 + 1);
        assert!(m.lookup(&[4]).is_none());
    }
}
