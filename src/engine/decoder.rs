//! Stepping segments: one decoder token for many streams at once, with per-stream caches.

#![forbid(unsafe_code)]

use super::attention::{attend, residual_add};
use super::kernels::Vectorised;
use super::{key_capacity, DecLayer, Engine, StreamState};
use crate::numeric::buckets::bucket_causal;
use crate::numeric::detmath::rms_norm;

impl Engine {
    /// One decoder step for several streams: feeds each stream's next input token and writes
    /// the logits over the text vocabulary (`streams.len() × vocab`) into `logits`.
    pub fn step(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        self.kernel.vectorised(Step { engine: self, streams, inputs, logits })
    }

    #[inline(always)]
    fn step_body(&self, streams: &mut [&mut StreamState], inputs: &[u32], logits: &mut Vec<f32>) {
        let c = &self.cfg;
        let d = c.d_model;
        let rows = streams.len();
        let mut x = self.embed_rows(inputs);
        for (li, l) in self.dec.iter().enumerate() {
            self.self_attention(li, l, streams, &mut x);
            self.cross_attention(li, l, streams, &mut x);
            self.ffn_sublayer(&mut x, &l.ffn_norm, &l.ffn, rows);
        }
        for s in streams.iter_mut() {
            s.pos += 1;
        }
        rms_norm(&mut x, d, &self.dec_norm);
        logits.resize(rows * c.vocab, 0.0);
        self.kernel.matmul_weights(&x, rows, self.unembed(), d, c.vocab, logits);
        let out_scale = 1.0 / (d as f32).sqrt();
        for v in logits.iter_mut() {
            *v *= out_scale;
        }
    }

    /// Causal self-attention of layer `li`, appending this step's keys and values to each
    /// stream's cache.
    #[inline(always)]
    fn self_attention(&self, li: usize, l: &DecLayer, streams: &mut [&mut StreamState], x: &mut [f32]) {
        let c = &self.cfg;
        let (d, h, seg) = (c.d_model, c.n_heads, c.segment);
        let dh = d / h;
        let scale = 1.0 / (dh as f32).sqrt();
        let rows = streams.len();
        let mut y = x.to_vec();
        rms_norm(&mut y, d, &l.self_norm);
        let q = self.mm(&y, rows, &l.self_attn.q, d, d);
        let k = self.mm(&y, rows, &l.self_attn.k, d, d);
        let v = self.mm(&y, rows, &l.self_attn.v, d, d);
        let mut ctx = vec![0f32; rows * d];
        let mut scores = vec![0f32; seg.max(1)];
        let kcap = key_capacity(seg);
        for (r, s) in streams.iter_mut().enumerate() {
            let t = s.pos;
            assert!(t < seg, "decoder position beyond the segment");
            for hd in 0..h {
                let head = r * d + hd * dh..r * d + (hd + 1) * dh;
                let kt = &mut s.self_k[li][hd * dh * kcap..(hd + 1) * dh * kcap];
                for (e, kv) in k[head.clone()].iter().enumerate() {
                    kt[e * kcap + t] = *kv;
                }
                let at = (hd * seg + t) * dh;
                s.self_v[li][at..at + dh].copy_from_slice(&v[head.clone()]);
                let sc = &mut scores[..t + 1];
                self.scores(&q[head.clone()], kt, kcap, sc);
                let bias = |j: usize| self.dec_rel[bucket_causal(t - j) * h + hd];
                attend(sc, scale, bias, &s.self_v[li][hd * seg * dh..(hd * seg + t + 1) * dh], &mut ctx[head]);
            }
        }
        residual_add(x, &self.mm(&ctx, rows, &l.self_attn.o, d, d));
    }

    /// Cross-attention of layer `li` over each stream's encoder output.
    #[inline(always)]
    fn cross_attention(&self, li: usize, l: &DecLayer, streams: &[&mut StreamState], x: &mut [f32]) {
        let (d, h) = (self.cfg.d_model, self.cfg.n_heads);
        let dh = d / h;
        let scale = 1.0 / (dh as f32).sqrt();
        let rows = streams.len();
        let mut y = x.to_vec();
        rms_norm(&mut y, d, &l.cross_norm);
        let q = self.mm(&y, rows, &l.cross_attn.q, d, d);
        let mut ctx = vec![0f32; rows * d];
        for (r, s) in streams.iter().enumerate() {
            let n = s.n_enc;
            let kcap = key_capacity(n);
            let mut scores = vec![0f32; n];
            for hd in 0..h {
                let head = r * d + hd * dh..r * d + (hd + 1) * dh;
                let kt = &s.cross_k[li][hd * dh * kcap..(hd + 1) * dh * kcap];
                self.scores(&q[head.clone()], kt, kcap, &mut scores);
                attend(&mut scores, scale, |_| 0.0, &s.cross_v[li][hd * n * dh..(hd + 1) * n * dh], &mut ctx[head]);
            }
        }
        residual_add(x, &self.mm(&ctx, rows, &l.cross_attn.o, d, d));
    }
}

/// One decoder step as work for [`super::Kernel::vectorised`].
struct Step<'a, 's> {
    engine: &'a Engine,
    streams: &'a mut [&'s mut StreamState],
    inputs: &'a [u32],
    logits: &'a mut Vec<f32>,
}

impl Vectorised for Step<'_, '_> {
    type Output = ();

    #[inline(always)]
    fn run(self) {
        self.engine.step_body(self.streams, self.inputs, self.logits)
    }
}
