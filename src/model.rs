//! The model: its configuration, its weights file, and a candle implementation of the T5
//! encoder-decoder used for teacher-forced scoring and for cross-checking the coding engine.
//!
//! Architecture (T5 v1.1 style): shared token embedding tied to the output layer, pre-RMS-norm
//! blocks, relative position bias from an integer bucket table (bidirectional in the encoder,
//! causal in the decoder), gated-ReLU feed-forward. The encoder reads
//! `context ++ [SEP] ++ latent`; the decoder predicts the segment from `[BOS] ++ segment`.

use std::collections::HashMap;
use std::path::Path;
use std::sync::OnceLock;

use candle_core::{DType, Device, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::engine::{Engine, Kernel};
use crate::error::{Error, Result};
use crate::tokenizer::ByteTokenizer;

/// Model hyper-parameters, stored as `config.json` beside the weights.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Text vocabulary size (the tokenizer's); SEP and BOS follow it.
    pub vocab: usize,
    pub d_model: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    pub enc_layers: usize,
    pub dec_layers: usize,
    /// Tokens the decoder predicts per segment.
    pub segment: usize,
    /// Preceding tokens the encoder reads.
    pub context: usize,
    /// Longest latent sequence.
    pub max_latent: usize,
}

impl Config {
    /// Separator between context and latent in the encoder input.
    pub fn sep_id(&self) -> u32 {
        self.vocab as u32
    }
    /// Decoder start token.
    pub fn bos_id(&self) -> u32 {
        self.vocab as u32 + 1
    }
    fn validate(&self) -> Result<()> {
        let ok = self.vocab >= 256
            && self.vocab <= 1 << 16
            && self.d_model > 0
            && self.n_heads > 0
            && self.d_model.is_multiple_of(self.n_heads)
            && self.d_ff > 0
            && self.segment > 0
            && self.segment <= 4096
            && self.context <= 4096
            && self.max_latent <= 255;
        if ok {
            Ok(())
        } else {
            Err(Error::Model(format!("invalid model config {self:?}")))
        }
    }
}

const EXACT: usize = 8;
const HALF_BUCKETS: usize = 16;

/// Relative-position bucket for a causal distance `n >= 0`: exact below 8, then
/// logarithmic, by integer arithmetic only (`8 + floor(log2(n² / 64))`, capped at 15).
pub fn bucket_causal(n: usize) -> usize {
    if n < EXACT {
        n
    } else {
        let q = (n * n) / (EXACT * EXACT);
        (EXACT + q.ilog2() as usize).min(HALF_BUCKETS - 1)
    }
}

/// Bidirectional bucket for `rel = key_position - query_position`.
pub fn bucket_bidir(rel: i64) -> usize {
    bucket_causal(rel.unsigned_abs() as usize) + if rel > 0 { HALF_BUCKETS } else { 0 }
}

/// A model directory's contents: tokenizer, config and weights, plus its identity hash.
pub struct Model {
    pub config: Config,
    pub tokenizer: ByteTokenizer,
    /// Named weights as f32.
    pub tensors: HashMap<String, Vec<f32>>,
    /// Shapes of the named weights.
    pub shapes: HashMap<String, Vec<usize>>,
    /// BLAKE3 of tokenizer, config and weights: what a container records.
    pub id: [u8; 16],
}

/// The tokenizer every built-in model shares, embedded in the binary.
static BUILTIN_TOKENIZER: &[u8] = include_bytes!("../models/tokenizer.json");

/// The models embedded in the binary (they share one tokenizer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// The default network (`models/`).
    Default,
    /// A smaller, ~4x faster network for the fast levels (`models/small/`).
    Small,
}

impl Builtin {
    /// Every built-in model.
    pub const ALL: [Builtin; 2] = [Builtin::Default, Builtin::Small];

    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Default => "default",
            Builtin::Small => "small",
        }
    }

    /// Config and weights bytes.
    fn files(self) -> (&'static [u8], &'static [u8]) {
        match self {
            Builtin::Default => (include_bytes!("../models/config.json"), include_bytes!("../models/model.safetensors")),
            Builtin::Small => (include_bytes!("../models/small/config.json"), include_bytes!("../models/small/model.safetensors")),
        }
    }

    /// The identity a container records for this model (hashed once per process; nothing is
    /// parsed).
    pub fn id(self) -> [u8; 16] {
        static IDS: [OnceLock<[u8; 16]>; Builtin::ALL.len()] = [const { OnceLock::new() }; Builtin::ALL.len()];
        *IDS[self as usize].get_or_init(|| {
            let (config, weights) = self.files();
            model_id(BUILTIN_TOKENIZER, config, weights)
        })
    }

    /// The built-in model with this identity, if any.
    pub fn from_id(id: &[u8; 16]) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.id() == *id)
    }

    /// Loads the model.
    pub fn load(self) -> Result<Model> {
        let (config, weights) = self.files();
        Model::from_bytes(BUILTIN_TOKENIZER, config, weights)
    }
}

/// BLAKE3 of tokenizer, config and weights, each prefixed by its length.
fn model_id(tokenizer: &[u8], config: &[u8], weights: &[u8]) -> [u8; 16] {
    let mut h = blake3::Hasher::new();
    for part in [tokenizer, config, weights] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    let mut id = [0u8; 16];
    id.copy_from_slice(&h.finalize().as_bytes()[..16]);
    id
}

impl Model {
    /// Loads `tokenizer.json`, `config.json` and `model.safetensors` from a directory.
    pub fn load(dir: &Path) -> Result<Self> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| {
                Error::Model(format!("cannot read {}: {e}", dir.join(name).display()))
            })
        };
        Self::from_bytes(&read("tokenizer.json")?, &read("config.json")?, &read("model.safetensors")?)
    }

    /// Builds a model from the three files' bytes.
    pub fn from_bytes(tokenizer: &[u8], config: &[u8], weights: &[u8]) -> Result<Self> {
        let tok = ByteTokenizer::from_json(tokenizer)?;
        let cfg: Config =
            serde_json::from_slice(config).map_err(|e| Error::Model(format!("config.json: {e}")))?;
        cfg.validate()?;
        if cfg.vocab != tok.vocab_size() {
            return Err(Error::Model(format!(
                "config says {} tokens, tokenizer has {}",
                cfg.vocab,
                tok.vocab_size()
            )));
        }
        let st = safetensors::SafeTensors::deserialize(weights)
            .map_err(|e| Error::Model(format!("model.safetensors: {e}")))?;
        let mut tensors = HashMap::new();
        let mut shapes = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let vals: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F16 => data
                    .chunks_exact(2)
                    .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
                safetensors::Dtype::F32 => {
                    data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
                }
                other => return Err(Error::Model(format!("tensor {name}: unsupported dtype {other:?}"))),
            };
            shapes.insert(name.clone(), view.shape().to_vec());
            tensors.insert(name, vals);
        }
        Ok(Self { config: cfg, tokenizer: tok, tensors, shapes, id: model_id(tokenizer, config, weights) })
    }

    /// The identity as hex, as shown to users.
    pub fn id_hex(&self) -> String {
        hex(&self.id)
    }

    /// The deterministic coding engine for this model.
    pub fn engine(&self, kernel: Kernel) -> Result<Engine> {
        Engine::from_tensors(self.config.clone(), self.tensors.clone(), kernel)
    }

    /// The candle reference network on `device`.
    pub fn candle(&self, device: &Device) -> Result<T5> {
        T5::new(self, device)
    }
}

/// Lower-case hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The T5 network in candle, for teacher-forced scoring (all positions at once).
pub struct T5 {
    cfg: Config,
    w: HashMap<String, Tensor>,
    device: Device,
}

impl T5 {
    fn new(m: &Model, device: &Device) -> Result<Self> {
        let mut w = HashMap::new();
        for (name, v) in &m.tensors {
            w.insert(name.clone(), Tensor::from_slice(v, m.shapes[name].as_slice(), device)?);
        }
        Ok(Self { cfg: m.config.clone(), w, device: device.clone() })
    }

    fn t(&self, name: &str) -> Result<&Tensor> {
        self.w.get(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))
    }

    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        Ok(x.broadcast_matmul(&self.t(name)?.t()?)?)
    }

    fn rms(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        Ok(x.broadcast_div(&(ms + 1e-6)?.sqrt()?)?.broadcast_mul(self.t(name)?)?)
    }

    /// Multi-head attention of `x` (`T × d`) over `kv` (`S × d`) with an optional additive bias (`h × T × S`).
    fn attn(&self, x: &Tensor, kv: &Tensor, p: &str, bias: Option<&Tensor>) -> Result<Tensor> {
        let (t, d) = x.dims2()?;
        let s = kv.dims2()?.0;
        let h = self.cfg.n_heads;
        let dh = d / h;
        let q = self.linear(x, &format!("{p}.q.weight"))?.reshape((t, h, dh))?.transpose(0, 1)?.contiguous()?;
        let k = self.linear(kv, &format!("{p}.k.weight"))?.reshape((s, h, dh))?.transpose(0, 1)?.contiguous()?;
        let v = self.linear(kv, &format!("{p}.v.weight"))?.reshape((s, h, dh))?.transpose(0, 1)?.contiguous()?;
        let mut sc = (q.matmul(&k.t()?)? / (dh as f64).sqrt())?;
        if let Some(b) = bias {
            sc = (sc + b)?;
        }
        let p_attn = candle_nn::ops::softmax(&sc, D::Minus1)?;
        let o = p_attn.matmul(&v)?.transpose(0, 1)?.reshape((t, d))?;
        self.linear(&o, &format!("{p}.o.weight"))
    }

    fn ffn(&self, x: &Tensor, p: &str) -> Result<Tensor> {
        let a = self.linear(x, &format!("{p}.wi0.weight"))?.relu()?;
        let b = self.linear(x, &format!("{p}.wi1.weight"))?;
        self.linear(&(a * b)?, &format!("{p}.wo.weight"))
    }

    fn bias(&self, table: &str, n: usize, m: usize, causal: bool) -> Result<Tensor> {
        let h = self.cfg.n_heads;
        let rel = self.t(table)?.to_vec2::<f32>()?;
        let mut v = vec![0f32; h * n * m];
        for i in 0..n {
            for j in 0..m {
                let b = if causal {
                    if j > i {
                        for hd in 0..h {
                            v[hd * n * m + i * m + j] = f32::NEG_INFINITY;
                        }
                        continue;
                    }
                    bucket_causal(i - j)
                } else {
                    bucket_bidir(j as i64 - i as i64)
                };
                for hd in 0..h {
                    v[hd * n * m + i * m + j] = rel[b][hd];
                }
            }
        }
        Ok(Tensor::from_vec(v, (h, n, m), &self.device)?)
    }

    /// Encoder output (`n × d`) for `context ++ [SEP] ++ latent`.
    pub fn encode(&self, context: &[u32], latent: &[u32]) -> Result<Tensor> {
        let mut ids = context.to_vec();
        ids.push(self.cfg.sep_id());
        ids.extend_from_slice(latent);
        let n = ids.len();
        let mut x = self.t("embed.weight")?.index_select(&Tensor::new(ids.as_slice(), &self.device)?, 0)?;
        let bias = self.bias("enc_rel.weight", n, n, false)?;
        for i in 0..self.cfg.enc_layers {
            let y = self.rms(&x, &format!("enc.{i}.attn_norm.weight"))?;
            x = (&x + self.attn(&y, &y, &format!("enc.{i}.attn"), Some(&bias))?)?;
            let y = self.rms(&x, &format!("enc.{i}.ffn_norm.weight"))?;
            x = (&x + self.ffn(&y, &format!("enc.{i}.ffn"))?)?;
        }
        self.rms(&x, "enc_norm.weight")
    }

    /// Teacher-forced logits (`segment.len() × vocab`) for a segment given the encoder output.
    pub fn decode(&self, enc: &Tensor, segment: &[u32]) -> Result<Tensor> {
        let mut ids = vec![self.cfg.bos_id()];
        ids.extend_from_slice(&segment[..segment.len().saturating_sub(1)]);
        let n = ids.len();
        let emb = self.t("embed.weight")?;
        let mut x = emb.index_select(&Tensor::new(ids.as_slice(), &self.device)?, 0)?;
        let bias = self.bias("dec_rel.weight", n, n, true)?;
        for i in 0..self.cfg.dec_layers {
            let y = self.rms(&x, &format!("dec.{i}.self_norm.weight"))?;
            x = (&x + self.attn(&y, &y, &format!("dec.{i}.self_attn"), Some(&bias))?)?;
            let y = self.rms(&x, &format!("dec.{i}.cross_norm.weight"))?;
            x = (&x + self.attn(&y, enc, &format!("dec.{i}.cross_attn"), None)?)?;
            let y = self.rms(&x, &format!("dec.{i}.ffn_norm.weight"))?;
            x = (&x + self.ffn(&y, &format!("dec.{i}.ffn"))?)?;
        }
        let h = self.rms(&x, "dec_norm.weight")?;
        let out = emb.narrow(0, 0, self.cfg.vocab)?;
        Ok((h.matmul(&out.t()?)? / (self.cfg.d_model as f64).sqrt())?)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_the_python_definition() {
        // values from train/common.py's bucket_causal
        let expect = [(0, 0), (7, 7), (8, 8), (11, 8), (12, 9), (16, 10), (32, 12), (64, 14), (91, 15), (500, 15)];
        for (n, b) in expect {
            assert_eq!(bucket_causal(n), b, "n={n}");
        }
        assert_eq!(bucket_bidir(3), 19);
        assert_eq!(bucket_bidir(-3), 3);
    }
}
