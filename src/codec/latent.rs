//! The discrete latent: what it costs to code, and how the compressor chooses one per segment
//! (the policy's proposal or the heuristic, kept only where its exact code length wins).
//!
//! The policy is a second, small T5 of the same definition as the coding model: its encoder
//! reads `context ++ [SEP] ++ segment`, its decoder writes latent tokens and then END (see
//! `model::layout`). Only the compressor runs it: the chosen latent is in the stream, so
//! decoders never need the policy, and training it can never disturb the coding network.

use super::segments::{segments, SegmentRef};
use crate::engine::{Engine, StreamState};
use crate::numeric::quantize::Cdf;

/// Probability (out of 2^24) that a segment carries a latent sequence. Normative: the coding
/// loop codes each segment's latent flag with it.
pub const LATENT_FLAG_PROB: u32 = 1 << 12;

/// Segments scored together by the engine (bounds the memory of the search).
const SCORE_ROWS: usize = 64;

/// How the compressor chooses each segment's latent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatentSearch {
    /// Always the empty latent (one pass per segment).
    #[default]
    Off,
    /// The segment's costliest tokens under the empty latent, where that is cheaper in total.
    Heuristic,
    /// The policy's greedy proposal, where that is cheaper in total (needs a model with a policy).
    Policy,
}

/// Exact bits the container spends on a segment's latent (flag, length, tokens), as the coder
/// codes them: the latent's prior.
pub fn latent_bits(latent: &[u32], max: usize, vocab: usize) -> f64 {
    let mut cdf = Cdf::default();
    cdf.binary(LATENT_FLAG_PROB);
    let mut bits = cdf.bits(u32::from(!latent.is_empty()));
    if latent.is_empty() || max == 0 {
        return bits;
    }
    cdf.uniform(max);
    bits += cdf.bits(latent.len() as u32 - 1);
    cdf.uniform(vocab);
    bits + latent.iter().map(|&t| cdf.bits(t)).sum::<f64>()
}

/// The heuristic latent: the segment's tokens that cost more under the empty latent than a
/// latent token does (`log2 vocab` bits), costliest first, distinct, at most `max`, in text order.
pub fn heuristic(segment: &[u32], bits: &[f64], max: usize, vocab: usize) -> Vec<u32> {
    let price = (vocab as f64).log2();
    let mut order: Vec<usize> = (0..segment.len()).filter(|&i| bits[i] > price).collect();
    order.sort_by(|&a, &b| bits[b].total_cmp(&bits[a]).then(a.cmp(&b)));
    let mut picked: Vec<usize> = Vec::new();
    for i in order {
        if picked.len() == max {
            break;
        }
        if picked.iter().all(|&p| segment[p] != segment[i]) {
            picked.push(i);
        }
    }
    picked.sort_unstable();
    picked.into_iter().map(|i| segment[i]).collect()
}

/// One segment to score: its context, a latent, its tokens.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub context: &'a [u32],
    pub latent: &'a [u32],
    pub segment: &'a [u32],
}

/// Exact per-token code lengths (bits) of each row's segment under the network's quantised
/// distribution, given its context and latent: what the `Neural` profile spends.
pub fn score(engine: &Engine, rows: &[Row]) -> Vec<Vec<f64>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut cdf = Cdf::default();
    let mut logits = Vec::new();
    let vocab = engine.config().vocab;
    for chunk in rows.chunks(SCORE_ROWS) {
        let inputs: Vec<(&[u32], &[u32])> = chunk.iter().map(|r| (r.context, r.latent)).collect();
        let mut states = engine.begin_segments(&inputs);
        let mut bits: Vec<Vec<f64>> = chunk.iter().map(|r| Vec::with_capacity(r.segment.len())).collect();
        let dec_inputs: Vec<Vec<u32>> = chunk.iter().map(|r| engine.config().decoder_input(r.segment)).collect();
        let longest = chunk.iter().map(|r| r.segment.len()).max().unwrap_or(0);
        #[allow(clippy::needless_range_loop)] // `pos` indexes every row's segment and inputs
        for pos in 0..longest {
            let live: Vec<usize> = (0..chunk.len()).filter(|&i| pos < chunk[i].segment.len()).collect();
            let ins: Vec<u32> = live.iter().map(|&i| dec_inputs[i][pos]).collect();
            let mut refs: Vec<&mut StreamState> =
                states.iter_mut().enumerate().filter(|(i, _)| pos < chunk[*i].segment.len()).map(|(_, s)| s).collect();
            engine.step(&mut refs, &ins, &mut logits);
            for (r, &i) in live.iter().enumerate() {
                cdf.from_logits(&logits[r * vocab..(r + 1) * vocab]);
                bits[i].push(cdf.bits(chunk[i].segment[pos]));
            }
        }
        out.extend(bits);
    }
    out
}

/// The policy's greedy latent for each `(context, segment)`: latent tokens until END, at most
/// `max` (deterministic: the engine's bits and the first maximal logit).
pub fn propose(policy: &Engine, rows: &[(&[u32], &[u32])], max: usize) -> Vec<Vec<u32>> {
    let end = policy.config().end_id();
    let v = policy.config().vocab;
    let mut out = Vec::with_capacity(rows.len());
    let mut logits = Vec::new();
    for chunk in rows.chunks(SCORE_ROWS) {
        let mut states = policy.begin_segments(chunk);
        let mut latents: Vec<Vec<u32>> = vec![Vec::new(); chunk.len()];
        let mut open: Vec<usize> = (0..chunk.len()).collect();
        let mut input = vec![policy.config().bos_id(); chunk.len()];
        while !open.is_empty() {
            let ins: Vec<u32> = open.iter().map(|&i| input[i]).collect();
            let mut refs: Vec<&mut StreamState> = states.iter_mut().enumerate().filter(|(i, _)| open.contains(i)).map(|(_, s)| s).collect();
            policy.step(&mut refs, &ins, &mut logits);
            let mut still = Vec::new();
            for (r, &i) in open.iter().enumerate() {
                let row = &logits[r * v..(r + 1) * v];
                let best = row.iter().enumerate().fold(0, |b, (k, &x)| if x > row[b] { k } else { b }) as u32;
                if best != end {
                    latents[i].push(best);
                    input[i] = best;
                    if latents[i].len() < max {
                        still.push(i);
                    }
                }
            }
            open = still;
        }
        out.extend(latents);
    }
    out
}

/// A segment with the empty latent.
fn empty_row<'a>(s: &SegmentRef<'a>) -> Row<'a> {
    Row { context: s.context, latent: &[], segment: s.tokens }
}

/// Chooses the latent of every segment of one block's `tokens` (the schedule of
/// [`super::segments`]): the candidate (`search`) where its exact total code length, latent
/// included, is below the empty latent's, else empty.
pub fn choose(engine: &Engine, policy: Option<&Engine>, search: LatentSearch, tokens: &[u32]) -> Vec<Vec<u32>> {
    let cfg = engine.config();
    let segs: Vec<SegmentRef> = segments(tokens, cfg.segment, cfg.context).collect();
    let none = vec![Vec::new(); segs.len()];
    if search == LatentSearch::Off || cfg.max_latent == 0 || (search == LatentSearch::Policy && policy.is_none()) {
        return none;
    }
    let (candidates, empty_bits) = match (search, policy) {
        (LatentSearch::Policy, Some(p)) => {
            let rows: Vec<(&[u32], &[u32])> = segs.iter().map(|s| (s.context, s.tokens)).collect();
            let proposed = propose(p, &rows, cfg.max_latent);
            // only segments with a proposal need the empty latent's length
            let empty: Vec<Row> = segs.iter().zip(&proposed).filter(|(_, l)| !l.is_empty()).map(|(s, _)| empty_row(s)).collect();
            let mut scored = score(engine, &empty).into_iter();
            let bits = proposed.iter().map(|l| if l.is_empty() { Vec::new() } else { scored.next().unwrap_or_default() }).collect();
            (proposed, bits)
        }
        _ => {
            let empty: Vec<Row> = segs.iter().map(empty_row).collect();
            let bits = score(engine, &empty);
            (segs.iter().zip(&bits).map(|(s, b)| heuristic(s.tokens, b, cfg.max_latent, cfg.vocab)).collect(), bits)
        }
    };
    let tried: Vec<usize> = (0..segs.len()).filter(|&i| !candidates[i].is_empty()).collect();
    let rows: Vec<Row> = tried.iter().map(|&i| Row { context: segs[i].context, latent: &candidates[i], segment: segs[i].tokens }).collect();
    let tried_bits = score(engine, &rows);
    let mut out = none;
    for (&i, bits) in tried.iter().zip(&tried_bits) {
        let with = latent_bits(&candidates[i], cfg.max_latent, cfg.vocab) + bits.iter().sum::<f64>();
        let without = latent_bits(&[], cfg.max_latent, cfg.vocab) + empty_bits[i].iter().sum::<f64>();
        if with < without {
            out[i] = candidates[i].clone();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heuristic_picks_costly_distinct_tokens_in_order() {
        let seg = [5, 9, 7, 9, 3];
        let bits = [1.0, 20.0, 14.0, 19.0, 30.0];
        // price is log2(4096) = 12 bits: tokens 9 (twice), 7, 3 qualify; 9 only once
        assert_eq!(heuristic(&seg, &bits, 8, 4096), vec![9, 7, 3]);
        assert_eq!(heuristic(&seg, &bits, 2, 4096), vec![9, 3]);
        assert!(heuristic(&seg, &[1.0; 5], 8, 4096).is_empty());
    }

    #[test]
    fn latent_costs_its_flag_length_and_tokens() {
        let empty = latent_bits(&[], 16, 4096);
        assert!(empty > 0.0 && empty < 0.001, "{empty}");
        let two = latent_bits(&[1, 2], 16, 4096);
        assert!((two - (12.0 + 4.0 + 24.0)).abs() < 0.01, "{two}");
    }
}
