//! The tokenised corpus: training examples and fixed validation segments.

use std::path::Path;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::corpus;
use super::io::write_atomic;
use super::plan::Plan;
use crate::error::{Error, Result};
use crate::tokenizer::ByteTokenizer;

/// Tokenised training and validation splits of every source.
pub(super) struct Data {
    pub(super) train: Vec<Vec<u32>>,
    pub(super) val: Vec<Vec<u32>>,
    /// Sampling weight of each source (square root of its size: small sources still count).
    pub(super) weights: Vec<f64>,
}

/// One training example: the context before a segment, and the segment.
#[derive(Clone)]
pub(super) struct Example {
    pub(super) context: Vec<u32>,
    pub(super) segment: Vec<u32>,
}

impl Data {
    pub(super) fn load(plan: &Plan, tok: &ByteTokenizer, cache: &Path) -> Result<Self> {
        std::fs::create_dir_all(cache)?;
        let (mut train, mut val) = (Vec::new(), Vec::new());
        for s in corpus::load(&plan.corpus)? {
            let cut = |b: &[u8]| if plan.max_bytes > 0 { b[..b.len().min(plan.max_bytes)].to_vec() } else { b.to_vec() };
            for (split, bytes, out) in [("train", cut(s.train()), &mut train), ("val", cut(s.validation()), &mut val)] {
                let path = cache.join(format!("{}.{split}.u32", s.name));
                let ids = match std::fs::read(&path) {
                    Ok(b) => b.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
                    Err(_) => {
                        let ids = tok.encode(&bytes)?;
                        write_atomic(&path, &ids.iter().flat_map(|t| t.to_le_bytes()).collect::<Vec<u8>>())?;
                        ids
                    }
                };
                out.push(ids);
            }
        }
        let need = plan.context + plan.segment + 1;
        let weights = train.iter().map(|t: &Vec<u32>| if t.len() > need { (t.len() as f64).sqrt() } else { 0.0 }).collect::<Vec<_>>();
        if weights.iter().all(|&w| w == 0.0) {
            return Err(Error::Train(format!("corpus too small: no source has {need} training tokens")));
        }
        Ok(Self { train, val, weights })
    }

    pub(super) fn sample(&self, plan: &Plan, rng: &mut ChaCha8Rng, n: usize) -> Vec<Example> {
        let total: f64 = self.weights.iter().sum();
        (0..n)
            .map(|_| {
                let mut r = rng.random::<f64>() * total;
                let src = self.weights.iter().position(|&w| {
                    r -= w;
                    r < 0.0
                });
                let src = src.unwrap_or_else(|| self.weights.iter().rposition(|&w| w > 0.0).unwrap_or(0));
                let t = &self.train[src];
                let s = rng.random_range(plan.context..t.len() - plan.segment);
                Example { context: t[s - plan.context..s].to_vec(), segment: t[s..s + plan.segment].to_vec() }
            })
            .collect()
    }

    /// Fixed validation segments: evenly spaced through each source's held-out split.
    pub(super) fn validation(&self, plan: &Plan) -> Vec<Example> {
        let mut out = Vec::new();
        for v in &self.val {
            let span = plan.context + plan.segment;
            if v.len() < span {
                continue;
            }
            let k = plan.val_segments.min(v.len() / span);
            for i in 0..k {
                let s = plan.context + i * (v.len() - span) / k.max(1);
                out.push(Example { context: v[s - plan.context..s].to_vec(), segment: v[s..s + plan.segment].to_vec() });
            }
        }
        out
    }
}
