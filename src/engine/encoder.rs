//! Starting segments: the encoder pass over `context ++ [SEP] ++ latent` and the decoder's
//! cross-attention cache.

#![forbid(unsafe_code)]

use super::attention::{attend, residual_add, split_heads, split_heads_transposed};
use super::kernels::Vectorised;
use super::{key_capacity, EncLayer, Engine, StreamState};
use crate::numeric::buckets::bucket_bidir;
use crate::numeric::detmath::rms_norm;

impl Engine {
    /// Starts a segment for several streams at once: runs the encoder over each stream's
    /// `context ++ [SEP] ++ latent` and prepares its decoder state. Returns one state per input.
    pub fn begin_segments(&self, inputs: &[(&[u32], &[u32])]) -> Vec<StreamState> {
        self.kernel.vectorised(Begin { engine: self, inputs })
    }

    #[inline(always)]
    fn begin_body(&self, inputs: &[(&[u32], &[u32])]) -> Vec<StreamState> {
        let c = &self.cfg;
        let d = c.d_model;
        let seqs: Vec<Vec<u32>> = inputs.iter().map(|(ctx, lat)| c.encoder_input(ctx, lat)).collect();
        let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
        let all: Vec<u32> = seqs.into_iter().flatten().collect();
        let rows = all.len();
        let mut x = self.embed_rows(&all);
        for l in &self.enc {
            self.encoder_layer(l, &mut x, &lens);
        }
        rms_norm(&mut x, d, &self.enc_norm);
        let ks: Vec<Vec<f32>> = self.dec.iter().map(|l| self.mm(&x, rows, &l.cross_attn.k, d, d)).collect();
        let vs: Vec<Vec<f32>> = self.dec.iter().map(|l| self.mm(&x, rows, &l.cross_attn.v, d, d)).collect();
        let mut out = Vec::with_capacity(lens.len());
        let mut start = 0;
        for &n in &lens {
            out.push(StreamState {
                cross_k: ks.iter().map(|m| split_heads_transposed(m, start, n, d, c.n_heads)).collect(),
                cross_v: vs.iter().map(|m| split_heads(m, start, n, d, c.n_heads)).collect(),
                n_enc: n,
                self_k: vec![vec![0f32; key_capacity(c.segment) * d]; self.dec.len()],
                self_v: vec![vec![0f32; c.segment * d]; self.dec.len()],
                pos: 0,
            });
            start += n;
        }
        out
    }

    /// One encoder layer over the concatenated sequences of lengths `lens` (each attends only
    /// within itself).
    #[inline(always)]
    fn encoder_layer(&self, l: &EncLayer, x: &mut [f32], lens: &[usize]) {
        let (d, h) = (self.cfg.d_model, self.cfg.n_heads);
        let dh = d / h;
        let scale = 1.0 / (dh as f32).sqrt();
        let rows = lens.iter().sum();
        let mut y = x.to_vec();
        rms_norm(&mut y, d, &l.attn_norm);
        let q = self.mm(&y, rows, &l.attn.q, d, d);
        let k = self.mm(&y, rows, &l.attn.k, d, d);
        let v = self.mm(&y, rows, &l.attn.v, d, d);
        let mut ctx = vec![0f32; rows * d];
        let mut start = 0;
        for &n in lens {
            let (qh, kh, vh) = (split_heads(&q, start, n, d, h), split_heads(&k, start, n, d, h), split_heads(&v, start, n, d, h));
            let mut scores = vec![0f32; n * n];
            for hd in 0..h {
                let blk = hd * n * dh..(hd + 1) * n * dh;
                self.kernel.matmul(&qh[blk.clone()], n, &kh[blk.clone()], dh, n, &mut scores);
                for i in 0..n {
                    let o = (start + i) * d + hd * dh;
                    let bias = |j: usize| self.enc_rel[bucket_bidir(j as i64 - i as i64) * h + hd];
                    attend(&mut scores[i * n..(i + 1) * n], scale, bias, &vh[blk.clone()], &mut ctx[o..o + dh]);
                }
            }
            start += n;
        }
        residual_add(x, &self.mm(&ctx, rows, &l.attn.o, d, d));
        self.ffn_sublayer(x, &l.ffn_norm, &l.ffn, rows);
    }
}

/// Starting segments as work for [`super::Kernel::vectorised`].
struct Begin<'a, 'i> {
    engine: &'a Engine,
    inputs: &'a [(&'i [u32], &'i [u32])],
}

impl Vectorised for Begin<'_, '_> {
    type Output = Vec<StreamState>;

    #[inline(always)]
    fn run(self) -> Vec<StreamState> {
        self.engine.begin_body(self.inputs)
    }
}
