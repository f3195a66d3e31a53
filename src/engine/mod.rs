//! The coding engine: a deterministic CPU implementation of the network's inference.
//!
//! Every number that reaches the entropy coder is computed with a fixed operation order (the
//! arithmetic of [`crate::numeric::detmath`], the kernels of [`kernels`], integer position
//! buckets). Rows never interact, so the result of one stream does not depend on how many
//! streams are batched together, on the thread count, or on which SIMD width runs. The candle
//! network (`model::reference`) defines the same network and is the cross-check.
//!
//! [`encoder`] starts segments (the encoder pass and the cross-attention cache), [`decoder`]
//! steps them one token at a time; [`attention`] holds what both share.

#![deny(unsafe_code)]

mod attention;
mod decoder;
mod encoder;
pub mod kernels;
mod weights;

pub use kernels::Kernel;
pub use weights::{I8Rows, Weights};

use crate::format::NetArith;
use crate::model::schema::{self, Attn as AttnNames, Ffn as FfnNames};
use crate::model::{Checkpoint, Config};
use crate::numeric::detmath::LANES;

/// Keys per transposed cache row: a whole number of 16-key groups.
pub fn key_capacity(n: usize) -> usize {
    n.div_ceil(LANES) * LANES
}

struct Attn {
    q: Weights,
    k: Weights,
    v: Weights,
    o: Weights,
}

struct Ffn {
    wi0: Weights,
    wi1: Weights,
    wo: Weights,
}

struct EncLayer {
    attn_norm: Vec<f32>,
    attn: Attn,
    ffn_norm: Vec<f32>,
    ffn: Ffn,
}

struct DecLayer {
    self_norm: Vec<f32>,
    self_attn: Attn,
    cross_norm: Vec<f32>,
    cross_attn: Attn,
    ffn_norm: Vec<f32>,
    ffn: Ffn,
}

/// The network's weights laid out for the kernels.
pub struct Engine {
    cfg: Config,
    kernel: Kernel,
    /// The arithmetic of the linear layers and the decoder's attention scores.
    arith: NetArith,
    /// The token embedding (the inputs' vectors, always as stored).
    embed: Weights,
    /// The output projection when it differs from `embed` (int8); tied to it otherwise.
    unembed: Option<Weights>,
    enc_rel: Vec<f32>,
    dec_rel: Vec<f32>,
    enc: Vec<EncLayer>,
    dec: Vec<DecLayer>,
    enc_norm: Vec<f32>,
    dec_norm: Vec<f32>,
}

/// Per-stream state while decoding one segment.
pub struct StreamState {
    /// Cross-attention keys per decoder layer, transposed per head (`h × dh × key_capacity(n_enc)`).
    cross_k: Vec<Vec<f32>>,
    /// Cross-attention values per decoder layer, per head (`h × n_enc × dh`).
    cross_v: Vec<Vec<f32>>,
    n_enc: usize,
    /// Self-attention keys per decoder layer, transposed per head (`h × dh × key_capacity(segment)`).
    self_k: Vec<Vec<f32>>,
    /// Self-attention values per decoder layer, per head (`h × segment × dh`).
    self_v: Vec<Vec<f32>>,
    /// Position of the next decoder input.
    pos: usize,
}

impl StreamState {
    /// Decoder inputs fed so far in this segment.
    pub fn pos(&self) -> usize {
        self.pos
    }
}

impl Engine {
    /// Lays out a checkpoint's weights (already checked against the schema) for `kernel`, in
    /// the arithmetic `arith`.
    pub fn new(ck: &Checkpoint, kernel: Kernel, arith: NetArith) -> Self {
        let cfg = ck.config.clone();
        let (d, ff) = (cfg.d_model, cfg.d_ff);
        let vec = |name: &str| ck.values(name).to_vec();
        // the matrices of the linear layers, `inp` values a row
        let mat = |name: &str, inp: usize| match arith {
            NetArith::F32 => Weights::new(ck.values(name).to_vec()),
            NetArith::Int8 => Weights::int8(ck.values(name), inp),
        };
        let attn = |a: &AttnNames| Attn { q: mat(&a.q, d), k: mat(&a.k, d), v: mat(&a.v, d), o: mat(&a.o, d) };
        let ffn = |f: &FfnNames| Ffn { wi0: mat(&f.wi0, d), wi1: mat(&f.wi1, d), wo: mat(&f.wo, ff) };
        let enc = (0..cfg.enc_layers)
            .map(|i| {
                let l = schema::enc_layer(i);
                EncLayer { attn_norm: vec(&l.attn_norm), attn: attn(&l.attn), ffn_norm: vec(&l.ffn_norm), ffn: ffn(&l.ffn) }
            })
            .collect();
        let dec = (0..cfg.dec_layers)
            .map(|i| {
                let l = schema::dec_layer(i);
                DecLayer {
                    self_norm: vec(&l.self_norm),
                    self_attn: attn(&l.self_attn),
                    cross_norm: vec(&l.cross_norm),
                    cross_attn: attn(&l.cross_attn),
                    ffn_norm: vec(&l.ffn_norm),
                    ffn: ffn(&l.ffn),
                }
            })
            .collect();
        Self {
            embed: Weights::new(vec(schema::EMBED)),
            unembed: (arith == NetArith::Int8).then(|| mat(schema::EMBED, d)),
            enc_rel: vec(schema::ENC_REL),
            dec_rel: vec(schema::DEC_REL),
            enc_norm: vec(schema::ENC_NORM),
            dec_norm: vec(schema::DEC_NORM),
            enc,
            dec,
            cfg,
            kernel,
            arith,
        }
    }

    /// The network's config.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The output projection (the tied embedding, or its int8 copy).
    fn unembed(&self) -> &Weights {
        self.unembed.as_ref().unwrap_or(&self.embed)
    }

    /// A query's attention scores against keys stored transposed (`cap` a row), in the
    /// engine's arithmetic.
    fn scores(&self, q: &[f32], kt: &[f32], cap: usize, out: &mut [f32]) {
        match self.arith {
            NetArith::F32 => self.kernel.scores(q, kt, cap, out),
            NetArith::Int8 => self.kernel.scores_in_order(q, kt, cap, out),
        }
    }

    /// The kernel variant in use.
    pub fn kernel(&self) -> Kernel {
        self.kernel
    }

    fn mm(&self, x: &[f32], rows: usize, w: &Weights, inp: usize, out: usize) -> Vec<f32> {
        let mut y = vec![0f32; rows * out];
        self.kernel.matmul_weights(x, rows, w, inp, out, &mut y);
        y
    }

    #[inline(always)]
    fn embed_rows(&self, ids: &[u32]) -> Vec<f32> {
        let d = self.cfg.d_model;
        let mut x = Vec::with_capacity(ids.len() * d);
        for &id in ids {
            self.embed.extend_row(id as usize, d, &mut x);
        }
        x
    }

    #[inline(always)]
    fn ffn(&self, f: &Ffn, y: &[f32], rows: usize) -> Vec<f32> {
        let (d, ff) = (self.cfg.d_model, self.cfg.d_ff);
        let mut a = self.mm(y, rows, &f.wi0, d, ff);
        let b = self.mm(y, rows, &f.wi1, d, ff);
        for (a, b) in a.iter_mut().zip(&b) {
            *a = a.max(0.0) * *b;
        }
        self.mm(&a, rows, &f.wo, ff, d)
    }

    /// `x += ffn(rms_norm(x))`: the feed-forward sublayer every layer ends with.
    #[inline(always)]
    fn ffn_sublayer(&self, x: &mut [f32], norm: &[f32], f: &Ffn, rows: usize) {
        let mut y = x.to_vec();
        crate::numeric::detmath::rms_norm(&mut y, self.cfg.d_model, norm);
        attention::residual_add(x, &self.ffn(f, &y, rows));
    }
}
