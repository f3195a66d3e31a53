//! The network in candle: teacher-forced scoring of whole batches at once, the network the
//! trainer differentiates, and the reference the coding engine is tested against. Tensor names
//! come from [`super::schema`], input layouts from [`super::layout`].

use std::collections::HashMap;

use candle_core::{DType, Device, Result, Tensor, D};

use super::schema::{self, Attn, Ffn};
use super::{Checkpoint, Config};
use crate::numeric::buckets::{bucket_bidir, bucket_causal};

/// Additive attention mask value for padding keys (finite, so no row can become NaN).
const MASKED: f32 = -1e9;

/// The T5 network in candle: teacher-forced scoring of whole batches at once, and the network
/// `train` differentiates (its weights may be [`candle_core::Var`]s).
pub struct T5 {
    cfg: Config,
    w: HashMap<String, Tensor>,
    device: Device,
}

impl T5 {
    /// The network of a checkpoint, on `device`.
    pub fn new(ck: &Checkpoint, device: &Device) -> Result<Self> {
        let mut w = HashMap::new();
        for (name, shape, v) in ck.tensors() {
            w.insert(name.clone(), Tensor::from_slice(v, shape, device)?);
        }
        Ok(Self { cfg: ck.config.clone(), w, device: device.clone() })
    }

    /// A network over the given weights (trainable when they are variables).
    pub fn from_weights(cfg: Config, w: HashMap<String, Tensor>, device: &Device) -> Self {
        Self { cfg, w, device: device.clone() }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    fn t(&self, name: &str) -> Result<&Tensor> {
        self.w.get(name).ok_or_else(|| candle_core::Error::Msg(format!("missing tensor {name}")))
    }

    /// `x` (`B × T × d_in`) times the transposed weight `name` (`d_out × d_in`).
    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let w = self.t(name)?;
        x.reshape((b * t, d))?.matmul(&w.t()?)?.reshape((b, t, w.dim(0)?))
    }

    fn rms(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        x.broadcast_div(&(ms + 1e-6)?.sqrt()?)?.broadcast_mul(self.t(name)?)
    }

    /// Multi-head attention of `x` (`B × T × d`) over `kv` (`B × S × d`) with an additive
    /// position bias (`h × T × S`) and key mask (`B × 1 × 1 × S`).
    fn attn(&self, x: &Tensor, kv: &Tensor, p: &Attn, bias: Option<&Tensor>, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let s = kv.dim(1)?;
        let h = self.cfg.n_heads;
        let dh = d / h;
        let heads = |y: Tensor, n: usize| -> Result<Tensor> { y.reshape((b, n, h, dh))?.transpose(1, 2)?.contiguous() };
        let q = heads(self.linear(x, &p.q)?, t)?;
        let k = heads(self.linear(kv, &p.k)?, s)?;
        let v = heads(self.linear(kv, &p.v)?, s)?;
        let mut sc = (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?;
        if let Some(bias) = bias {
            sc = sc.broadcast_add(bias)?;
        }
        if let Some(mask) = mask {
            sc = sc.broadcast_add(mask)?;
        }
        let p_attn = candle_nn::ops::softmax_last_dim(&sc)?;
        let o = p_attn.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.linear(&o, &p.o)
    }

    fn ffn(&self, x: &Tensor, p: &Ffn) -> Result<Tensor> {
        let a = self.linear(x, &p.wi0)?.relu()?;
        let b = self.linear(x, &p.wi1)?;
        self.linear(&(a * b)?, &p.wo)
    }

    /// Position bias `h × n × m` gathered from the bucket table (differentiable).
    fn bias(&self, table: &str, n: usize, m: usize, causal: bool) -> Result<Tensor> {
        let h = self.cfg.n_heads;
        let mut idx = Vec::with_capacity(n * m);
        let mut mask = Vec::with_capacity(if causal { n * m } else { 0 });
        for i in 0..n {
            for j in 0..m {
                idx.push(if causal { bucket_causal(i.saturating_sub(j)) } else { bucket_bidir(j as i64 - i as i64) } as u32);
                if causal {
                    mask.push(if j > i { f32::NEG_INFINITY } else { 0.0 });
                }
            }
        }
        let idx = Tensor::from_vec(idx, n * m, &self.device)?;
        let b = self.t(table)?.index_select(&idx, 0)?.reshape((n, m, h))?.permute((2, 0, 1))?;
        if causal {
            Ok(b.broadcast_add(&Tensor::from_vec(mask, (n, m), &self.device)?)?)
        } else {
            Ok(b)
        }
    }

    fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        let (b, n) = ids.dims2()?;
        let e = self.t(schema::EMBED)?;
        e.index_select(&ids.flatten_all()?, 0)?.reshape((b, n, e.dim(1)?))
    }

    /// Key mask (`B × 1 × 1 × N`) from per-row lengths: keys at or past a row's length are padding.
    pub fn key_mask(&self, lens: &[usize], n: usize) -> Result<Tensor> {
        let v: Vec<f32> = lens.iter().flat_map(|&l| (0..n).map(move |j| if j < l { 0.0 } else { MASKED })).collect();
        Tensor::from_vec(v, (lens.len(), 1, 1, n), &self.device)
    }

    /// Encoder output (`B × N × d`) for right-padded inputs `ids` (`B × N`, u32) with key `mask`.
    pub fn encode_batch(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let n = ids.dim(1)?;
        let mut x = self.embed(ids)?;
        let bias = self.bias(schema::ENC_REL, n, n, false)?;
        for i in 0..self.cfg.enc_layers {
            let l = schema::enc_layer(i);
            let y = self.rms(&x, &l.attn_norm)?;
            x = (&x + self.attn(&y, &y, &l.attn, Some(&bias), Some(mask))?)?;
            let y = self.rms(&x, &l.ffn_norm)?;
            x = (&x + self.ffn(&y, &l.ffn)?)?;
        }
        self.rms(&x, schema::ENC_NORM)
    }

    /// Teacher-forced logits (`B × T × rows`) of the decoder fed `inputs` (`B × T`, starting with
    /// BOS), over the first `rows` embedding rows (`vocab` for the coding model).
    pub fn decode_batch(&self, enc: &Tensor, mask: &Tensor, inputs: &Tensor, rows: usize) -> Result<Tensor> {
        let t = inputs.dim(1)?;
        let mut x = self.embed(inputs)?;
        let bias = self.bias(schema::DEC_REL, t, t, true)?;
        for i in 0..self.cfg.dec_layers {
            let l = schema::dec_layer(i);
            let y = self.rms(&x, &l.self_norm)?;
            x = (&x + self.attn(&y, &y, &l.self_attn, Some(&bias), None)?)?;
            let y = self.rms(&x, &l.cross_norm)?;
            x = (&x + self.attn(&y, enc, &l.cross_attn, None, Some(mask))?)?;
            let y = self.rms(&x, &l.ffn_norm)?;
            x = (&x + self.ffn(&y, &l.ffn)?)?;
        }
        let h = self.rms(&x, schema::DEC_NORM)?;
        let out = self.t(schema::EMBED)?.narrow(0, 0, rows)?;
        let (b, t, d) = h.dims3()?;
        h.reshape((b * t, d))?.matmul(&out.t()?)?.reshape((b, t, rows))? / (self.cfg.d_model as f64).sqrt()
    }

    /// Encoder output (`1 × n × d`) for `context ++ [SEP] ++ latent`.
    pub fn encode(&self, context: &[u32], latent: &[u32]) -> Result<Tensor> {
        let ids = self.cfg.encoder_input(context, latent);
        let n = ids.len();
        let ids = Tensor::from_vec(ids, (1, n), &self.device)?;
        self.encode_batch(&ids, &self.key_mask(&[n], n)?)
    }

    /// Teacher-forced logits (`segment.len() × vocab`) for a segment given [`T5::encode`]'s output.
    pub fn decode(&self, enc: &Tensor, segment: &[u32]) -> Result<Tensor> {
        let ids = self.cfg.decoder_input(segment);
        let (t, n) = (ids.len(), enc.dim(1)?);
        let ids = Tensor::from_vec(ids, (1, t), &self.device)?;
        self.decode_batch(enc, &self.key_mask(&[n], n)?, &ids, self.cfg.vocab)?.squeeze(0)
    }

    /// Bits to code `segment` under the model (teacher-forced, f64 sum of -log2 p).
    pub fn segment_bits(&self, context: &[u32], latent: &[u32], segment: &[u32]) -> Result<f64> {
        if segment.is_empty() {
            return Ok(0.0);
        }
        let enc = self.encode(context, latent)?;
        let logp = candle_nn::ops::log_softmax(&self.decode(&enc, segment)?, D::Minus1)?;
        let idx = Tensor::new(segment, &self.device)?.unsqueeze(1)?;
        let picked = logp.gather(&idx, 1)?.to_dtype(DType::F64)?.sum_all()?.to_scalar::<f64>()?;
        Ok(-picked / std::f64::consts::LN_2)
    }
}
