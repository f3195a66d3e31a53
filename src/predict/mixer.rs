//! Mixes the neural decoder with the adaptive models ([`super::adaptive`]) in the logit domain: a
//! product of experts whose weights are learned online, token by token, by the gradient of the
//! code length. f32 arithmetic in a fixed order with the deterministic `exp` and `ln` of
//! [`crate::numeric`], so both sides compute the same bits on every machine.
//!
//! Normative: the constants and the update below are part of numeric profiles 2 and 3
//! (`format::Profile`); changing them needs a new profile and new golden files.

use super::adaptive::{Counts, MatchModel, OrderModel};
use crate::engine::Kernel;
use crate::numeric::detmath::ln_det;
use crate::numeric::quantize::{Cdf, Softmax};

/// Context orders of the token statistics.
const ORDERS: [usize; 5] = [0, 1, 2, 3, 4];
/// Weight sets per order, chosen by how much (and how one-sided) the context's evidence is.
const CONF_SETS: usize = 12;
/// Weight sets of the match model, chosen by match length.
const MATCH_SETS: usize = 9;
const MATCH_BASE: usize = ORDERS.len() * CONF_SETS;
/// Shortest context (tokens) each match model follows: recent short repeats, and long ones.
const MATCH_MIN: [usize; 2] = [2, 6];
const SETS: usize = MATCH_BASE + MATCH_MIN.len() * MATCH_SETS;
/// Match-model table size (entries, log2).
const MATCH_BITS: u32 = 16;

/// Learning rates of the adaptive models' weights and of the network's logit scale (chosen by
/// measurement on held-out files: 0.005 favours prose, 0.02 code).
const LR: f32 = 0.01;
const LR_NEURAL: f32 = 0.002;

/// Starting weights of the features "seen" and "ln(n/N)" per set: the mean final weights over 22
/// blocks of the corpus' training split (11 sources; order 4 starts from order 3's). Part of the
/// numeric profile: changing them changes the coded bits.
#[rustfmt::skip]
const INIT_SEEN: [f32; SETS] = [
    0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.22, 0.00,
    0.00, 1.23, 0.76, 0.98, 0.87, 0.95, 1.23, 0.68, 1.53, 0.47, 1.45, 0.42,
    0.00, 0.89, 0.32, 1.50, 0.47, 1.60, 0.76, 1.40, 0.76, 1.01, 0.72, 0.74,
    0.00, 1.22, 0.24, 1.47, 0.40, 1.49, 0.62, 1.26, 0.60, 0.90, 0.61, 0.64,
    0.00, 1.22, 0.24, 1.47, 0.40, 1.49, 0.62, 1.26, 0.60, 0.90, 0.61, 0.64,
    1.05, 1.04, 1.48, 1.69, 1.18, 1.13, 1.30, 0.66, 0.40, 0.00, 0.00, 0.00,
    0.64, 1.17, 1.15, 1.33, 0.67, 0.40,
];
#[rustfmt::skip]
const INIT_LNP: [f32; SETS] = [
    0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.05, 0.00,
    0.00, 0.00, -0.52, 0.00, -0.33, 0.00, -0.01, 0.00, 0.17, 0.00, 0.11, 0.00,
    0.00, 0.00, -0.22, 0.00, -0.01, 0.00, 0.12, 0.00, 0.12, 0.00, 0.01, 0.00,
    0.00, 0.00, -0.17, 0.00, -0.10, 0.00, 0.04, 0.00, 0.05, 0.00, 0.05, 0.00,
    0.00, 0.00, -0.17, 0.00, -0.10, 0.00, 0.04, 0.00, 0.05, 0.00, 0.05, 0.00,
    0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 0.00,
    0.00, 0.00, 0.00, 0.00, 0.00, 0.00,
];

/// Weight set of an order's context: six bands of total count, split by whether one token so far.
fn conf_set(c: &Counts) -> usize {
    let band = match c.total {
        0..=1 => 0,
        2 => 1,
        3..=4 => 2,
        5..=8 => 3,
        9..=16 => 4,
        _ => 5,
    };
    band * 2 + usize::from(c.seen.len() == 1)
}

/// Weight set of a match of length `len` (at least 2).
fn match_set(len: u32) -> usize {
    match len {
        0..=4 => len.saturating_sub(2) as usize,
        5..=7 => 3,
        8..=11 => 4,
        12..=15 => 5,
        16..=31 => 6,
        32..=63 => 7,
        _ => 8,
    }
}

/// The mixture's components, as [`ContextMix::leave_one_out`] reports them.
pub const COMPONENTS: [&str; 8] = ["network", "order-0", "order-1", "order-2", "order-3", "order-4", "match", "long-match"];

fn component(set: usize) -> usize {
    if set >= MATCH_BASE {
        1 + ORDERS.len() + (set - MATCH_BASE) / MATCH_SETS
    } else {
        1 + set / CONF_SETS
    }
}

/// One model's vote for a token: its weight set and its log-probability (0 for the match model).
struct Hit {
    token: u32,
    set: usize,
    lnp: f32,
}

/// Per-block mixing state: the history, the adaptive models and the learned weights.
pub struct ContextMix {
    hist: Vec<u32>,
    orders: Vec<OrderModel>,
    matchers: Vec<MatchModel>,
    w_neural: f32,
    w_seen: [f32; SETS],
    w_lnp: [f32; SETS],
    hits: Vec<Hit>,
    z: Vec<f32>,
    /// The softmax of `z` that the last prediction was quantised from (what `update` learns by).
    softmax: Softmax,
}

impl Default for ContextMix {
    fn default() -> Self {
        Self {
            hist: Vec::new(),
            orders: ORDERS.iter().map(|&k| OrderModel::new(k)).collect(),
            matchers: MATCH_MIN.iter().map(|&n| MatchModel::new(MATCH_BITS, n)).collect(),
            w_neural: 1.0,
            w_seen: INIT_SEEN,
            w_lnp: INIT_LNP,
            hits: Vec::new(),
            z: Vec::new(),
            softmax: Softmax::default(),
        }
    }
}

impl ContextMix {
    /// Sets `cdf` to the distribution of the next token, given the decoder's logits for it (or
    /// `None` to code with the adaptive models alone).
    pub fn predict(&mut self, logits: Option<&[f32]>, vocab: usize, cdf: &mut Cdf) {
        self.hits.clear();
        for (k, m) in self.orders.iter().enumerate() {
            if let Some(c) = m.lookup(&self.hist) {
                let set = k * CONF_SETS + conf_set(c);
                let ln_total = ln_det(c.total as f32);
                self.hits.extend(c.seen.iter().map(|&(token, n)| Hit { token, set, lnp: ln_det(n as f32) - ln_total }));
            }
        }
        for (i, m) in self.matchers.iter().enumerate() {
            if let Some((token, len)) = m.predict(&self.hist) {
                self.hits.push(Hit { token, set: MATCH_BASE + i * MATCH_SETS + match_set(len), lnp: 0.0 });
            }
        }
        self.z.clear();
        match logits {
            Some(l) => self.z.extend(l.iter().map(|&v| v * self.w_neural)),
            None => self.z.resize(vocab, 0.0),
        }
        for h in &self.hits {
            self.z[h.token as usize] += self.w_seen[h.set] + self.w_lnp[h.set] * h.lnp;
        }
        Kernel::best().on_logits(&mut (&mut self.softmax, cdf), &self.z);
    }

    /// Analysis only (not the coding path): adds to `saved[c]` the bits that leaving component
    /// `c` out of the last prediction (same weights) would have added to coding `token`.
    pub fn leave_one_out(&self, logits: Option<&[f32]>, token: u32, saved: &mut [f64; COMPONENTS.len()]) {
        let m = self.z.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let sum: f64 = self.z.iter().map(|&v| (v as f64 - m).exp()).sum();
        let bits = |sum: f64, zt: f64| (sum.ln() + m - zt) / std::f64::consts::LN_2;
        let zt = self.z[token as usize] as f64;
        let with = bits(sum, zt);
        if let Some(l) = logits {
            let w = self.w_neural as f64;
            let without: f64 = self.z.iter().zip(l).map(|(&v, &x)| (v as f64 - w * x as f64 - m).exp()).sum();
            saved[0] += bits(without, zt - w * l[token as usize] as f64) - with;
        }
        for (c, out) in saved.iter_mut().enumerate().skip(1) {
            let (mut s, mut z_tok) = (sum, zt);
            for h in self.hits.iter().filter(|h| component(h.set) == c) {
                let t = h.token as usize;
                let contrib = (self.w_seen[h.set] + self.w_lnp[h.set] * h.lnp) as f64;
                s += (self.z[t] as f64 - contrib - m).exp() - (self.z[t] as f64 - m).exp();
                if h.token == token {
                    z_tok -= contrib;
                }
            }
            *out += bits(s, z_tok) - with;
        }
    }

    /// Learns from the coded `token`; `logits` are those of the preceding `predict`.
    pub fn update(&mut self, logits: Option<&[f32]>, token: u32) {
        // d(-ln P(token))/dw = E_P[f] - f(token) for each feature f with weight w
        if let Some(l) = logits {
            self.w_neural += LR_NEURAL * (l[token as usize] - self.softmax.expect(l));
        }
        let mut g_seen = [0f32; SETS];
        let mut g_lnp = [0f32; SETS];
        let mut active = [false; SETS];
        for h in &self.hits {
            let p = self.softmax.prob(h.token);
            active[h.set] = true;
            g_seen[h.set] -= p;
            g_lnp[h.set] -= p * h.lnp;
            if h.token == token {
                g_seen[h.set] += 1.0;
                g_lnp[h.set] += h.lnp;
            }
        }
        for s in 0..SETS {
            if active[s] {
                self.w_seen[s] += LR * g_seen[s];
                self.w_lnp[s] += LR * g_lnp[s];
            }
        }
        for m in &mut self.orders {
            m.update(&self.hist, token);
        }
        self.hist.push(token);
        for m in &mut self.matchers {
            m.update(&self.hist);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coded_size_is_the_mixture_code_length_and_decodes() {
        use crate::codec::coder::{Decoder, Encoder, SymbolCoder};
        let vocab = 300;
        let text: Vec<u32> = (0..3000u32).map(|i| (i * i / 7 + i / 50) % 97 + (i % 13) * 11).collect();
        let logits = |i: usize| -> Vec<f32> { (0..vocab).map(|t| ((t * 31 + i * 7) % 17) as f32 * 0.3).collect() };
        let (mut mix, mut cdf, mut enc, mut bits) = (ContextMix::default(), Cdf::default(), Encoder::default(), 0.0);
        for (i, &t) in text.iter().enumerate() {
            let l = logits(i);
            mix.predict(Some(&l), vocab, &mut cdf);
            bits += cdf.bits(t);
            enc.code(&cdf, t).unwrap();
            mix.update(Some(&l), t);
        }
        let bytes = enc.finish();
        let coded = bytes.len() as f64 * 8.0;
        assert!(coded >= bits && coded < bits + 64.0, "{coded} vs {bits}");
        let (mut mix, mut dec) = (ContextMix::default(), Decoder::new(&bytes).unwrap());
        for (i, &t) in text.iter().enumerate() {
            let l = logits(i);
            mix.predict(Some(&l), vocab, &mut cdf);
            assert_eq!(dec.code(&cdf, 0).unwrap(), t);
            mix.update(Some(&l), t);
        }
    }

    #[test]
    fn leaving_out_a_useful_component_costs_bits() {
        let vocab = 50;
        let text: Vec<u32> = (0..1500).map(|i| [3, 9, 12, 40, 7, 7, 1, 22, 5, 30, 31][i % 11]).collect();
        let (mut mix, mut cdf, mut saved) = (ContextMix::default(), Cdf::default(), [0.0; COMPONENTS.len()]);
        for &t in &text {
            mix.predict(None, vocab, &mut cdf);
            mix.leave_one_out(None, t, &mut saved);
            mix.update(None, t);
        }
        assert_eq!(saved[0], 0.0, "no network, nothing saved by it");
        let by_name = |n: &str| saved[COMPONENTS.iter().position(|c| *c == n).unwrap()];
        assert!(by_name("order-1") > 0.0 && by_name("match") > 0.0, "{saved:?}");
    }

    #[test]
    fn repeated_text_gets_cheap() {
        let vocab = 64;
        let text: Vec<u32> = (0..2000).map(|i| [3, 9, 12, 40, 7, 7, 1, 22, 5][i % 9] + (i / 400) as u32).collect();
        let mut mix = ContextMix::default();
        let mut cdf = Cdf::default();
        let mut bits = 0.0;
        for &t in &text {
            mix.predict(None, vocab, &mut cdf);
            bits += cdf.bits(t);
            mix.update(None, t);
        }
        assert!(bits < 1.0 * text.len() as f64, "{bits}");
    }
}
