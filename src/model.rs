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
use crate::latent::Policy;
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
    /// The latent policy, if the model has one (not part of the identity: decoders never run it).
    pub policy: Option<Policy>,
}

/// Named f32 weights and their shapes.
pub type Tensors = (HashMap<String, Vec<f32>>, HashMap<String, Vec<usize>>);

/// Reads a safetensors file (f16 or f32) into f32 tensors.
pub fn read_weights(weights: &[u8]) -> Result<Tensors> {
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
    Ok((tensors, shapes))
}

/// Parses and validates a `config.json`.
fn read_config(config: &[u8]) -> Result<Config> {
    let cfg: Config = serde_json::from_slice(config).map_err(|e| Error::Model(format!("config.json: {e}")))?;
    cfg.validate()?;
    Ok(cfg)
}

/// The tokenizer every built-in model shares, embedded in the binary.
static BUILTIN_TOKENIZER: &[u8] = include_bytes!("../models/tokenizer.json");

/// The tokenizer of the built-in models (`tokenizer.json`).
pub fn builtin_tokenizer() -> &'static [u8] {
    BUILTIN_TOKENIZER
}

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

    /// Writes the model as a model directory (to train from it).
    pub fn write_to(self, dir: &Path) -> Result<()> {
        let (config, weights) = self.files();
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("tokenizer.json"), BUILTIN_TOKENIZER)?;
        std::fs::write(dir.join("config.json"), config)?;
        std::fs::write(dir.join("model.safetensors"), weights)?;
        Ok(())
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
        let mut model = Self::from_bytes(&read("tokenizer.json")?, &read("config.json")?, &read("model.safetensors")?)?;
        if dir.join("policy").is_dir() {
            model.set_policy(&read("policy/config.json")?, &read("policy/model.safetensors")?)?;
        }
        Ok(model)
    }

    /// Attaches a latent policy from its `config.json` and weights.
    pub fn set_policy(&mut self, config: &[u8], weights: &[u8]) -> Result<()> {
        let (tensors, shapes) = read_weights(weights)?;
        let policy = Policy { config: read_config(config)?, tensors, shapes };
        policy.check(&self.config)?;
        self.policy = Some(policy);
        Ok(())
    }

    /// Builds a model from the three files' bytes.
    pub fn from_bytes(tokenizer: &[u8], config: &[u8], weights: &[u8]) -> Result<Self> {
        let tok = ByteTokenizer::from_json(tokenizer)?;
        let cfg = read_config(config)?;
        if cfg.vocab != tok.vocab_size() {
            return Err(Error::Model(format!(
                "config says {} tokens, tokenizer has {}",
                cfg.vocab,
                tok.vocab_size()
            )));
        }
        let (tensors, shapes) = read_weights(weights)?;
        Ok(Self { config: cfg, tokenizer: tok, tensors, shapes, id: model_id(tokenizer, config, weights), policy: None })
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
    fn new(m: &Model, device: &Device) -> Result<Self> {
        let mut w = HashMap::new();
        for (name, v) in &m.tensors {
            w.insert(name.clone(), Tensor::from_slice(v, m.shapes[name].as_slice(), device)?);
        }
        Ok(Self { cfg: m.config.clone(), w, device: device.clone() })
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
        self.w.get(name).ok_or_else(|| Error::Model(format!("missing tensor {name}")))
    }

    /// `x` (`B × T × d_in`) times the transposed weight `name` (`d_out × d_in`).
    fn linear(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let w = self.t(name)?;
        Ok(x.reshape((b * t, d))?.matmul(&w.t()?)?.reshape((b, t, w.dim(0)?))?)
    }

    fn rms(&self, x: &Tensor, name: &str) -> Result<Tensor> {
        let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
        Ok(x.broadcast_div(&(ms + 1e-6)?.sqrt()?)?.broadcast_mul(self.t(name)?)?)
    }

    /// Multi-head attention of `x` (`B × T × d`) over `kv` (`B × S × d`) with an additive
    /// position bias (`h × T × S`) and key mask (`B × 1 × 1 × S`).
    fn attn(&self, x: &Tensor, kv: &Tensor, p: &str, bias: Option<&Tensor>, mask: Option<&Tensor>) -> Result<Tensor> {
        let (b, t, d) = x.dims3()?;
        let s = kv.dim(1)?;
        let h = self.cfg.n_heads;
        let dh = d / h;
        let heads = |y: Tensor, n: usize| -> Result<Tensor> { Ok(y.reshape((b, n, h, dh))?.transpose(1, 2)?.contiguous()?) };
        let q = heads(self.linear(x, &format!("{p}.q.weight"))?, t)?;
        let k = heads(self.linear(kv, &format!("{p}.k.weight"))?, s)?;
        let v = heads(self.linear(kv, &format!("{p}.v.weight"))?, s)?;
        let mut sc = (q.matmul(&k.t()?.contiguous()?)? / (dh as f64).sqrt())?;
        if let Some(bias) = bias {
            sc = sc.broadcast_add(bias)?;
        }
        if let Some(mask) = mask {
            sc = sc.broadcast_add(mask)?;
        }
        let p_attn = candle_nn::ops::softmax_last_dim(&sc)?;
        let o = p_attn.matmul(&v)?.transpose(1, 2)?.reshape((b, t, d))?;
        self.linear(&o, &format!("{p}.o.weight"))
    }

    fn ffn(&self, x: &Tensor, p: &str) -> Result<Tensor> {
        let a = self.linear(x, &format!("{p}.wi0.weight"))?.relu()?;
        let b = self.linear(x, &format!("{p}.wi1.weight"))?;
        self.linear(&(a * b)?, &format!("{p}.wo.weight"))
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
        let e = self.t("embed.weight")?;
        Ok(e.index_select(&ids.flatten_all()?, 0)?.reshape((b, n, e.dim(1)?))?)
    }

    /// Key mask (`B × 1 × 1 × N`) from per-row lengths: keys at or past a row's length are padding.
    pub fn key_mask(&self, lens: &[usize], n: usize) -> Result<Tensor> {
        let v: Vec<f32> = lens.iter().flat_map(|&l| (0..n).map(move |j| if j < l { 0.0 } else { MASKED })).collect();
        Ok(Tensor::from_vec(v, (lens.len(), 1, 1, n), &self.device)?)
    }

    /// Encoder output (`B × N × d`) for right-padded inputs `ids` (`B × N`, u32) with key `mask`.
    pub fn encode_batch(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let n = ids.dim(1)?;
        let mut x = self.embed(ids)?;
        let bias = self.bias("enc_rel.weight", n, n, false)?;
        for i in 0..self.cfg.enc_layers {
            let y = self.rms(&x, &format!("enc.{i}.attn_norm.weight"))?;
            x = (&x + self.attn(&y, &y, &format!("enc.{i}.attn"), Some(&bias), Some(mask))?)?;
            let y = self.rms(&x, &format!("enc.{i}.ffn_norm.weight"))?;
            x = (&x + self.ffn(&y, &format!("enc.{i}.ffn"))?)?;
        }
        self.rms(&x, "enc_norm.weight")
    }

    /// Teacher-forced logits (`B × T × rows`) of the decoder fed `inputs` (`B × T`, starting with
    /// BOS), over the first `rows` embedding rows (`vocab` for the coding model).
    pub fn decode_batch(&self, enc: &Tensor, mask: &Tensor, inputs: &Tensor, rows: usize) -> Result<Tensor> {
        let t = inputs.dim(1)?;
        let mut x = self.embed(inputs)?;
        let bias = self.bias("dec_rel.weight", t, t, true)?;
        for i in 0..self.cfg.dec_layers {
            let y = self.rms(&x, &format!("dec.{i}.self_norm.weight"))?;
            x = (&x + self.attn(&y, &y, &format!("dec.{i}.self_attn"), Some(&bias), None)?)?;
            let y = self.rms(&x, &format!("dec.{i}.cross_norm.weight"))?;
            x = (&x + self.attn(&y, enc, &format!("dec.{i}.cross_attn"), None, Some(mask))?)?;
            let y = self.rms(&x, &format!("dec.{i}.ffn_norm.weight"))?;
            x = (&x + self.ffn(&y, &format!("dec.{i}.ffn"))?)?;
        }
        let h = self.rms(&x, "dec_norm.weight")?;
        let out = self.t("embed.weight")?.narrow(0, 0, rows)?;
        let (b, t, d) = h.dims3()?;
        Ok((h.reshape((b * t, d))?.matmul(&out.t()?)?.reshape((b, t, rows))? / (self.cfg.d_model as f64).sqrt())?)
    }

    /// Encoder output (`1 × n × d`) for `context ++ [SEP] ++ latent`.
    pub fn encode(&self, context: &[u32], latent: &[u32]) -> Result<Tensor> {
        let mut ids = context.to_vec();
        ids.push(self.cfg.sep_id());
        ids.extend_from_slice(latent);
        let n = ids.len();
        let ids = Tensor::from_vec(ids, (1, n), &self.device)?;
        self.encode_batch(&ids, &self.key_mask(&[n], n)?)
    }

    /// Teacher-forced logits (`segment.len() × vocab`) for a segment given [`T5::encode`]'s output.
    pub fn decode(&self, enc: &Tensor, segment: &[u32]) -> Result<Tensor> {
        let mut ids = vec![self.cfg.bos_id()];
        ids.extend_from_slice(&segment[..segment.len().saturating_sub(1)]);
        let (t, n) = (ids.len(), enc.dim(1)?);
        let ids = Tensor::from_vec(ids, (1, t), &self.device)?;
        Ok(self.decode_batch(enc, &self.key_mask(&[n], n)?, &ids, self.cfg.vocab)?.squeeze(0)?)
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
    fn buckets_match_the_trained_definition() {
        // values the built-in models were trained with (the PyTorch trainer of commit ef2701e)
        let expect = [(0, 0), (7, 7), (8, 8), (11, 8), (12, 9), (16, 10), (32, 12), (64, 14), (91, 15), (500, 15)];
        for (n, b) in expect {
            assert_eq!(bucket_causal(n), b, "n={n}");
        }
        assert_eq!(bucket_bidir(3), 19);
        assert_eq!(bucket_bidir(-3), 3);
    }
}
