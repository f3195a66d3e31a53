//! `s2s2s train`: the tokenizer, then the model in three stages on candle, in one resumable run
//! directory:
//!
//! 1. **pretrain**: maximum likelihood of segments given their context (empty latent);
//! 2. **imitate**: cold start of the latent. The heuristic latent (the segment's costliest tokens
//!    under the empty latent, [`latent::heuristic`]) is the target: the decoder learns to use it
//!    (likelihood, half the rows keep the empty latent), the policy learns to produce it;
//! 3. **rl**: off-policy REINFORCE. The policy samples latents at a temperature; each sample's
//!    reward is its total code length against the empty latent's (the baseline),
//!    `bits(empty) − bits(latent) − bits(block | context, latent)`, teacher-forced; samples stay
//!    in a replay buffer and are reused with clipped importance weights. The decoder keeps
//!    learning by likelihood on the latents the compressor would keep.
//!
//! The network is [`T5`], the same definition the compressor's engine is checked against; the
//! run exports a model directory (`RUN/model`) that `--model` loads. Deterministic for a seed.

#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub mod corpus;

use crate::codec::latent;
use crate::error::{Error, Result};
use crate::model::reference::T5;
use crate::model::schema::{self, Init};
use crate::model::{Config, Model};
use crate::tokenizer::ByteTokenizer;

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Train(e.to_string())
    }
}

/// Trains the byte-level BPE on at most `max_bytes` of each source's training split.
pub fn train_tokenizer(corpus_dir: &Path, vocab_size: usize, max_bytes: usize) -> Result<ByteTokenizer> {
    let sources = corpus::load(corpus_dir)?;
    let mut texts = Vec::new();
    for s in &sources {
        let train = s.train();
        let train = &train[..train.len().min(max_bytes)];
        // 10 kB pieces keep the trainer's word counting parallel; cuts fall on char boundaries.
        let text = String::from_utf8_lossy(train).into_owned();
        let mut start = 0;
        while start < text.len() {
            let mut end = (start + 10_000).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            texts.push(text[start..end].to_string());
            start = end;
        }
    }
    Ok(ByteTokenizer::train(texts.into_iter(), vocab_size)?)
}

/// Shape of a network trained from scratch.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Shape {
    pub d_model: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    pub enc_layers: usize,
    pub dec_layers: usize,
}

/// Everything a training run needs; stored in the run directory on first start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Plan {
    /// Corpus directory (`*.xz` / `*.txt`; each file's tail is held out, see [`corpus`]).
    pub corpus: PathBuf,
    /// `tokenizer.json` to use.
    pub tokenizer: PathBuf,
    /// Start the coding model from this model directory instead of from scratch.
    pub init: Option<PathBuf>,
    /// Coding model shape when trained from scratch.
    pub model: Shape,
    /// Policy network shape.
    pub policy: Shape,
    pub segment: usize,
    pub context: usize,
    pub max_latent: usize,
    pub pretrain_steps: usize,
    pub imitate_steps: usize,
    pub rl_steps: usize,
    /// Segments per step.
    pub batch: usize,
    pub lr: f64,
    pub policy_lr: f64,
    pub seed: u64,
    /// Sampling temperature of the behaviour policy.
    pub temperature: f64,
    /// Replay buffer capacity (samples) and the importance-weight clip.
    pub replay: usize,
    pub clip: f64,
    /// Bytes of each source's training split read (0: all).
    pub max_bytes: usize,
    /// Validation segments per source, scored at every evaluation.
    pub val_segments: usize,
    /// Steps between checkpoints (and evaluations).
    pub checkpoint_every: usize,
}

/// The stages, in order.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Pretrain,
    Imitate,
    Rl,
    Done,
}

/// Where a run stands (`RUN/state.json`; the tensors are in `RUN/state.safetensors`).
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Progress {
    stage: Stage,
    step: usize,
    adam_steps: [usize; 2],
}

/// Validation figures of one evaluation.
#[derive(Clone, Debug, Default)]
pub struct Eval {
    /// Bits per byte with the empty latent, the heuristic latent and the policy's greedy latent
    /// (each segment keeps its latent only where that is cheaper, as the compressor does).
    pub empty_bpb: f64,
    pub heuristic_bpb: f64,
    pub policy_bpb: f64,
    /// Mean latent tokens of the policy's proposals and share of segments that kept them.
    pub policy_len: f64,
    pub policy_kept: f64,
    /// Mean bits per segment the heuristic latent saves in the segment itself, and what it
    /// costs to code (over segments where it is not empty): what the decoder has learnt to use.
    pub heuristic_saved: f64,
    pub heuristic_cost: f64,
    /// Upper bound on what any latent can save, bits per segment: the segment's tokens' cost
    /// beyond what a latent token costs (`log2 vocab`), summed, as if the decoder then
    /// predicted them for free; and the mean bits per segment with the empty latent.
    pub bound: f64,
    pub segment_bits: f64,
}

/// Trainable tensors with their Adam moments.
struct Params {
    names: Vec<String>,
    vars: Vec<Var>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
}

impl Params {
    fn new(tensors: Vec<(String, Tensor)>) -> Result<Self> {
        let mut p = Self { names: Vec::new(), vars: Vec::new(), m: Vec::new(), v: Vec::new() };
        for (name, t) in tensors {
            p.m.push(t.zeros_like()?);
            p.v.push(t.zeros_like()?);
            p.vars.push(Var::from_tensor(&t)?);
            p.names.push(name);
        }
        Ok(p)
    }

    /// The network over these weights: trainable, or detached for scoring.
    fn net(&self, cfg: &Config, trainable: bool, dev: &Device) -> T5 {
        let w = self
            .names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| (n.clone(), if trainable { v.as_tensor().clone() } else { v.as_tensor().detach() }))
            .collect();
        T5::from_weights(cfg.clone(), w, dev)
    }

    /// One AdamW step (gradient norm clipped to 1; no decay on norms, embeddings, position tables).
    fn step(&mut self, loss: &Tensor, lr: f64, t: &mut usize) -> Result<()> {
        let grads = loss.backward()?;
        let mut sq = 0f64;
        for v in &self.vars {
            if let Some(g) = grads.get(v.as_tensor()) {
                sq += g.sqr()?.sum_all()?.to_dtype(DType::F64)?.to_scalar::<f64>()?;
            }
        }
        let scale = 1.0 / sq.sqrt().max(1.0);
        *t += 1;
        let (b1, b2, eps) = (0.9f64, 0.98f64, 1e-8);
        let (c1, c2) = (1.0 - b1.powi(*t as i32), 1.0 - b2.powi(*t as i32));
        for i in 0..self.vars.len() {
            let Some(g) = grads.get(self.vars[i].as_tensor()) else { continue };
            let g = (g * scale)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?;
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?;
            let upd = ((&self.m[i] / c1)? / ((&self.v[i] / c2)?.sqrt()? + eps)?)?;
            let w = self.vars[i].as_tensor();
            let decay = if w.rank() == 2 && !self.names[i].starts_with("embed") && !self.names[i].contains("rel") { 0.05 } else { 0.0 };
            let next = ((w * (1.0 - lr * decay))? - (upd * lr)?)?;
            self.vars[i].set(&next)?;
        }
        Ok(())
    }

    fn save_into(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for i in 0..self.names.len() {
            out.insert(format!("{prefix}.w.{}", self.names[i]), self.vars[i].as_tensor().clone());
            out.insert(format!("{prefix}.m.{}", self.names[i]), self.m[i].clone());
            out.insert(format!("{prefix}.v.{}", self.names[i]), self.v[i].clone());
        }
    }

    fn load_from(&mut self, prefix: &str, st: &HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| st.get(&k).cloned().ok_or_else(|| Error::Train(format!("checkpoint lacks {k}")));
        for i in 0..self.names.len() {
            self.vars[i].set(&get(format!("{prefix}.w.{}", self.names[i]))?)?;
            self.m[i] = get(format!("{prefix}.m.{}", self.names[i]))?;
            self.v[i] = get(format!("{prefix}.v.{}", self.names[i]))?;
        }
        Ok(())
    }

    /// Writes the weights as f16 safetensors with `config.json` into `dir`.
    fn export(&self, cfg: &Config, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut data = Vec::new();
        for (n, v) in self.names.iter().zip(&self.vars) {
            data.push((n.clone(), v.as_tensor().to_dtype(DType::F16)?));
        }
        write_atomic(&dir.join("model.safetensors"), &safetensors_bytes(&data)?)?;
        write_atomic(&dir.join("config.json"), serde_json::to_string_pretty(cfg).map_err(json_err)?.as_bytes())
    }
}

fn json_err(e: serde_json::Error) -> Error {
    Error::Train(format!("json: {e}"))
}

fn safetensors_bytes(data: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("t.safetensors");
    candle_core::safetensors::save(&data.iter().cloned().collect::<HashMap<_, _>>(), &path)?;
    Ok(std::fs::read(path)?)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Initial weights for a network of `cfg`, as the schema says, drawn in its order.
fn init_weights(cfg: &Config, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Vec<(String, Tensor)>> {
    schema::specs(cfg)
        .into_iter()
        .map(|spec| {
            let t = match spec.init {
                Init::Ones => Tensor::ones(spec.shape.as_slice(), DType::F32, dev)?,
                Init::Zeros => Tensor::zeros(spec.shape.as_slice(), DType::F32, dev)?,
                Init::Normal(std) => {
                    let n = spec.shape.iter().product();
                    let v: Vec<f32> = (0..n)
                        .map(|_| {
                            // Box-Muller from two uniforms: reproducible across platforms for a seed.
                            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                            ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos() * std) as f32
                        })
                        .collect();
                    Tensor::from_vec(v, spec.shape.as_slice(), dev)?
                }
            };
            Ok((spec.name, t))
        })
        .collect()
}

/// The coding model a run starts from: the `--init` model's weights, or new ones of the plan's
/// shape (drawn from `rng`).
fn initial_model(plan: &Plan, vocab: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<(Config, Vec<(String, Tensor)>)> {
    let Some(dir) = &plan.init else {
        let s = &plan.model;
        let cfg = Config {
            vocab,
            d_model: s.d_model,
            n_heads: s.n_heads,
            d_ff: s.d_ff,
            enc_layers: s.enc_layers,
            dec_layers: s.dec_layers,
            segment: plan.segment,
            context: plan.context,
            max_latent: plan.max_latent,
        };
        let w = init_weights(&cfg, rng, dev)?;
        return Ok((cfg, w));
    };
    let m = Model::load(dir)?;
    if m.config().vocab != vocab {
        return Err(Error::Train(format!("{} has {} tokens, the tokenizer {vocab}", dir.display(), m.config().vocab)));
    }
    let mut w = m.weights.tensors().map(|(n, shape, v)| Ok((n.clone(), Tensor::from_slice(v, shape, dev)?))).collect::<Result<Vec<_>>>()?;
    w.sort_by(|a, b| a.0.cmp(&b.0));
    Ok((m.config().clone(), w))
}

/// Tokenised training and validation splits of every source.
struct Data {
    train: Vec<Vec<u32>>,
    val: Vec<Vec<u32>>,
    /// Sampling weight of each source (square root of its size: small sources still count).
    weights: Vec<f64>,
}

/// One training example: the context before a segment, and the segment.
#[derive(Clone)]
struct Example {
    context: Vec<u32>,
    segment: Vec<u32>,
}

impl Data {
    fn load(plan: &Plan, tok: &ByteTokenizer, cache: &Path) -> Result<Self> {
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

    fn sample(&self, plan: &Plan, rng: &mut ChaCha8Rng, n: usize) -> Vec<Example> {
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
    fn validation(&self, plan: &Plan) -> Vec<Example> {
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

/// A policy sample kept for reuse.
#[derive(Clone)]
struct Replayed {
    ex: Example,
    latent: Vec<u32>,
    /// Log-probability of the latent (END included) under the behaviour policy.
    behaviour_logp: f64,
    /// Bits saved against the empty latent (the reward minus the baseline).
    advantage: f64,
}

/// A training run: the coding model, the policy, their optimisers, data and log.
pub struct Trainer {
    plan: Plan,
    run: PathBuf,
    dev: Device,
    tok: ByteTokenizer,
    tok_json: String,
    cfg: Config,
    pcfg: Config,
    model: Params,
    policy: Params,
    data: Data,
    progress: Progress,
    replay: VecDeque<Replayed>,
    log: std::fs::File,
}

impl Trainer {
    /// Opens `run` (resuming its checkpoint if there is one, with the plan it was started with).
    pub fn open(run: &Path, plan: Plan) -> Result<Self> {
        std::fs::create_dir_all(run)?;
        let plan_path = run.join("plan.json");
        let (mut plan, new) = match std::fs::read(&plan_path) {
            Ok(b) => (serde_json::from_slice::<Plan>(&b).map_err(json_err)?, false),
            Err(_) => (plan, true),
        };
        let dev = Device::Cpu;
        let tok_json = std::fs::read_to_string(&plan.tokenizer).map_err(|e| Error::Train(format!("{}: {e}", plan.tokenizer.display())))?;
        let tok = ByteTokenizer::from_json(tok_json.as_bytes())?;
        let vocab = tok.vocab_size();
        let mut rng = ChaCha8Rng::seed_from_u64(plan.seed);
        let (cfg, weights) = initial_model(&plan, vocab, &mut rng, &dev)?;
        // A model trained from another keeps its segment, context and latent length.
        plan.segment = cfg.segment;
        plan.context = cfg.context;
        plan.max_latent = cfg.max_latent;
        if new {
            write_atomic(&plan_path, serde_json::to_string_pretty(&plan).map_err(json_err)?.as_bytes())?;
        }
        let s = &plan.policy;
        let pcfg = cfg.policy_config(s.d_model, s.n_heads, s.d_ff, s.enc_layers);
        let pw = init_weights(&pcfg, &mut rng, &dev)?;
        let data = Data::load(&plan, &tok, &run.join("tokens"))?;
        let log = std::fs::OpenOptions::new().create(true).append(true).open(run.join("log.txt"))?;
        let mut t = Self {
            progress: Progress { stage: Stage::Pretrain, step: 0, adam_steps: [0, 0] },
            model: Params::new(weights)?,
            policy: Params::new(pw)?,
            plan,
            run: run.to_path_buf(),
            dev,
            tok,
            tok_json,
            cfg,
            pcfg,
            data,
            replay: VecDeque::new(),
            log,
        };
        t.resume()?;
        Ok(t)
    }

    fn resume(&mut self) -> Result<()> {
        let Ok(state) = std::fs::read(self.run.join("state.json")) else { return Ok(()) };
        self.progress = serde_json::from_slice(&state).map_err(json_err)?;
        let st = candle_core::safetensors::load(self.run.join("state.safetensors"), &self.dev)?;
        self.model.load_from("model", &st)?;
        self.policy.load_from("policy", &st)?;
        let msg = format!(
            "resumed at {:?} step {} with the plan in {}",
            self.progress.stage,
            self.progress.step,
            self.run.join("plan.json").display()
        );
        self.say(&msg);
        Ok(())
    }

    fn checkpoint(&mut self) -> Result<()> {
        let mut st = HashMap::new();
        self.model.save_into("model", &mut st);
        self.policy.save_into("policy", &mut st);
        let tmp = self.run.join("state.partial");
        candle_core::safetensors::save(&st, &tmp)?;
        std::fs::rename(&tmp, self.run.join("state.safetensors"))?;
        write_atomic(&self.run.join("state.json"), serde_json::to_string(&self.progress).map_err(json_err)?.as_bytes())?;
        self.export(&self.run.join("model"))
    }

    /// Writes a model directory the compressor loads with `--model` (f16 weights, with policy).
    pub fn export(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        write_atomic(&dir.join("tokenizer.json"), self.tok_json.as_bytes())?;
        self.model.export(&self.cfg, dir)?;
        if self.progress.stage > Stage::Imitate || (self.progress.stage == Stage::Imitate && self.progress.step > 0) {
            self.policy.export(&self.pcfg, &dir.join("policy"))?;
        }
        Ok(())
    }

    fn say(&mut self, line: &str) {
        eprintln!("{line}");
        let _ = writeln!(self.log, "{line}");
    }

    fn steps_of(&self, stage: Stage) -> usize {
        match stage {
            Stage::Pretrain => self.plan.pretrain_steps,
            Stage::Imitate => self.plan.imitate_steps,
            Stage::Rl => self.plan.rl_steps,
            Stage::Done => 0,
        }
    }

    /// Learning rate: 50-step warm-up, then cosine to a tenth over the stage.
    fn lr(&self, base: f64) -> f64 {
        let (s, n) = (self.progress.step as f64, self.steps_of(self.progress.stage).max(1) as f64);
        base * ((s + 1.0) / 50.0).min(1.0) * (0.1 + 0.45 * (1.0 + (std::f64::consts::PI * s / n).cos()))
    }

    /// Runs the remaining stages, stopping early (after a checkpoint) once `minutes` have passed.
    pub fn run(&mut self, minutes: Option<f64>) -> Result<Eval> {
        let start = Instant::now();
        while self.progress.stage != Stage::Done {
            if self.progress.step >= self.steps_of(self.progress.stage) {
                let ev = self.evaluate()?;
                self.report(&ev, "end of stage");
                self.progress.stage = match self.progress.stage {
                    Stage::Pretrain => Stage::Imitate,
                    Stage::Imitate => Stage::Rl,
                    _ => Stage::Done,
                };
                self.progress.step = 0;
                self.checkpoint()?;
                continue;
            }
            // The step's randomness depends only on the seed, the stage and the step.
            let mut rng = ChaCha8Rng::seed_from_u64(self.plan.seed ^ ((self.progress.stage as u64) << 40) ^ self.progress.step as u64);
            let line = match self.progress.stage {
                Stage::Pretrain => self.pretrain_step(&mut rng)?,
                Stage::Imitate => self.imitate_step(&mut rng)?,
                Stage::Rl => self.rl_step(&mut rng)?,
                Stage::Done => unreachable!(),
            };
            self.progress.step += 1;
            if self.progress.step.is_multiple_of(10) {
                let msg = format!("{:?} step {} {line} ({:.0} s)", self.progress.stage, self.progress.step, start.elapsed().as_secs_f64());
                self.say(&msg);
            }
            if self.progress.step.is_multiple_of(self.plan.checkpoint_every.max(1)) {
                let ev = self.evaluate()?;
                self.report(&ev, "validation");
                self.checkpoint()?;
            }
            if minutes.is_some_and(|m| start.elapsed().as_secs_f64() > m * 60.0) {
                self.checkpoint()?;
                self.say("time budget spent; checkpoint written, run again to resume");
                return self.evaluate();
            }
        }
        self.evaluate()
    }

    /// Logs an evaluation.
    pub fn report(&mut self, ev: &Eval, what: &str) {
        let line = format!(
            "{what}: bits/byte empty {:.4} heuristic {:.4} policy {:.4}; heuristic latent saves {:.1} bits/segment, costs {:.1}; policy latent {:.2} tokens, kept in {:.1}% of segments",
            ev.empty_bpb,
            ev.heuristic_bpb,
            ev.policy_bpb,
            ev.heuristic_saved,
            ev.heuristic_cost,
            ev.policy_len,
            100.0 * ev.policy_kept
        ) + &format!("; a latent could save at most {:.1} of {:.1} bits/segment", ev.bound, ev.segment_bits);
        self.say(&line);
    }

    /// Encoder inputs `context ++ [SEP] ++ extra`, right-padded, with their key mask.
    fn enc_inputs(&self, net: &T5, rows: &[(&[u32], &[u32])], cfg: &Config) -> Result<(Tensor, Tensor)> {
        let seqs: Vec<Vec<u32>> = rows.iter().map(|(c, x)| cfg.encoder_input(c, x)).collect();
        let lens: Vec<usize> = seqs.iter().map(Vec::len).collect();
        let n = lens.iter().copied().max().unwrap_or(1);
        let mut ids = Vec::with_capacity(rows.len() * n);
        for (s, &l) in seqs.iter().zip(&lens) {
            ids.extend_from_slice(s);
            ids.extend(std::iter::repeat_n(0, n - l));
        }
        Ok((Tensor::from_vec(ids, (rows.len(), n), &self.dev)?, net.key_mask(&lens, n)?))
    }

    /// Per-token bits (`B × T`, differentiable when `net` is) of each example's segment given
    /// its latent.
    fn segment_bits(&self, net: &T5, exs: &[Example], latents: &[Vec<u32>]) -> Result<Tensor> {
        let rows: Vec<(&[u32], &[u32])> = exs.iter().zip(latents).map(|(e, l)| (e.context.as_slice(), l.as_slice())).collect();
        let (ids, mask) = self.enc_inputs(net, &rows, &self.cfg)?;
        let enc = net.encode_batch(&ids, &mask)?;
        let t = self.plan.segment.min(exs[0].segment.len());
        let mut inp = Vec::with_capacity(exs.len() * t);
        let mut tgt = Vec::with_capacity(exs.len() * t);
        for e in exs {
            inp.extend(self.cfg.decoder_input(&e.segment[..t]));
            tgt.extend_from_slice(&e.segment[..t]);
        }
        let inp = Tensor::from_vec(inp, (exs.len(), t), &self.dev)?;
        let tgt = Tensor::from_vec(tgt, (exs.len(), t, 1), &self.dev)?;
        let logp = candle_nn::ops::log_softmax(&net.decode_batch(&enc, &mask, &inp, self.cfg.vocab)?, D::Minus1)?;
        Ok((logp.gather(&tgt, 2)?.squeeze(2)? * (-1.0 / std::f64::consts::LN_2))?)
    }

    /// Per-token bits as numbers (no gradient).
    fn bits_now(&self, exs: &[Example], latents: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let net = self.model.net(&self.cfg, false, &self.dev);
        Ok(self.segment_bits(&net, exs, latents)?.to_vec2::<f32>()?)
    }

    /// Log-probability (`B`, nats, differentiable) under the policy of each latent followed by END.
    fn policy_logp(&self, net: &T5, exs: &[Example], latents: &[Vec<u32>]) -> Result<Tensor> {
        let rows: Vec<(&[u32], &[u32])> = exs.iter().map(|e| (e.context.as_slice(), e.segment.as_slice())).collect();
        let (ids, mask) = self.enc_inputs(net, &rows, &self.pcfg)?;
        let enc = net.encode_batch(&ids, &mask)?;
        let end = self.pcfg.end_id();
        let t = latents.iter().map(Vec::len).max().unwrap_or(0) + 1;
        let (mut inp, mut tgt, mut keep) = (Vec::new(), Vec::new(), Vec::new());
        for l in latents {
            inp.push(self.pcfg.bos_id());
            for i in 0..t {
                let target = l.get(i).copied().unwrap_or(end);
                if i + 1 < t {
                    inp.push(target);
                }
                tgt.push(target);
                keep.push(if i <= l.len() { 1f32 } else { 0.0 });
            }
        }
        let b = latents.len();
        let inp = Tensor::from_vec(inp, (b, t), &self.dev)?;
        let tgt = Tensor::from_vec(tgt, (b, t, 1), &self.dev)?;
        let keep = Tensor::from_vec(keep, (b, t), &self.dev)?;
        let logp = candle_nn::ops::log_softmax(&net.decode_batch(&enc, &mask, &inp, self.pcfg.vocab)?, D::Minus1)?;
        Ok((logp.gather(&tgt, 2)?.squeeze(2)? * keep)?.sum(1)?)
    }

    /// Latents from the policy: sampled at `temperature` (greedy when `None`), with each one's
    /// log-probability (END included) under the sampling distribution.
    fn policy_sample(&self, exs: &[Example], temperature: Option<f64>, rng: &mut ChaCha8Rng) -> Result<Vec<(Vec<u32>, f64)>> {
        let net = self.policy.net(&self.pcfg, false, &self.dev);
        let rows: Vec<(&[u32], &[u32])> = exs.iter().map(|e| (e.context.as_slice(), e.segment.as_slice())).collect();
        let (ids, mask) = self.enc_inputs(&net, &rows, &self.pcfg)?;
        let enc = net.encode_batch(&ids, &mask)?;
        let end = self.pcfg.end_id();
        let mut out: Vec<(Vec<u32>, f64)> = vec![(Vec::new(), 0.0); exs.len()];
        let mut open = vec![true; exs.len()];
        for pos in 0..=self.cfg.max_latent {
            if !open.iter().any(|&o| o) {
                break;
            }
            let mut inp = Vec::with_capacity(exs.len() * (pos + 1));
            for (l, _) in &out {
                inp.push(self.pcfg.bos_id());
                inp.extend((0..pos).map(|i| l.get(i).copied().unwrap_or(end)));
            }
            let inp = Tensor::from_vec(inp, (exs.len(), pos + 1), &self.dev)?;
            let logits = net.decode_batch(&enc, &mask, &inp, self.pcfg.vocab)?.narrow(1, pos, 1)?.squeeze(1)?;
            let logits = (logits / temperature.unwrap_or(1.0))?;
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
            for (i, row) in logp.iter().enumerate() {
                if !open[i] {
                    continue;
                }
                let pick = if temperature.is_some() {
                    let mut r = rng.random::<f64>();
                    let mut k = row.len() - 1;
                    for (j, &lp) in row.iter().enumerate() {
                        r -= f64::from(lp).exp();
                        if r < 0.0 {
                            k = j;
                            break;
                        }
                    }
                    k
                } else {
                    row.iter().enumerate().fold(0, |b, (j, &x)| if x > row[b] { j } else { b })
                };
                // the last position may only end the latent
                let pick = if pos == self.cfg.max_latent { end as usize } else { pick };
                out[i].1 += f64::from(row[pick]);
                if pick as u32 == end {
                    open[i] = false;
                } else {
                    out[i].0.push(pick as u32);
                }
            }
        }
        Ok(out)
    }

    fn latent_cost(&self, l: &[u32]) -> f64 {
        latent::latent_bits(l, self.cfg.max_latent, self.cfg.vocab)
    }

    fn pretrain_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
        let exs = self.data.sample(&self.plan, rng, self.plan.batch);
        let none = vec![Vec::new(); exs.len()];
        self.likelihood_step(&exs, &none)
    }

    /// One likelihood step of the coding model on examples with the given latents.
    fn likelihood_step(&mut self, exs: &[Example], latents: &[Vec<u32>]) -> Result<String> {
        let net = self.model.net(&self.cfg, true, &self.dev);
        let bits = self.segment_bits(&net, exs, latents)?.mean_all()?;
        let lr = self.lr(self.plan.lr);
        let shown = bits.to_scalar::<f32>()?;
        self.model.step(&(bits * std::f64::consts::LN_2)?, lr, &mut self.progress.adam_steps[0])?;
        Ok(format!("decoder {shown:.3} bits/token lr {lr:.2e}"))
    }

    fn imitate_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
        let exs = self.data.sample(&self.plan, rng, self.plan.batch);
        let none = vec![Vec::new(); exs.len()];
        let empty = self.bits_now(&exs, &none)?;
        let targets: Vec<Vec<u32>> = exs
            .iter()
            .zip(&empty)
            .map(|(e, b)| {
                let b: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
                latent::heuristic(&e.segment, &b, self.cfg.max_latent, self.cfg.vocab)
            })
            .collect();
        // Half the rows keep the empty latent, so the decoder stays good without one.
        let latents: Vec<Vec<u32>> = targets.iter().enumerate().map(|(i, t)| if i % 2 == 0 { t.clone() } else { Vec::new() }).collect();
        let dec = self.likelihood_step(&exs, &latents)?;
        let net = self.policy.net(&self.pcfg, true, &self.dev);
        let loss = (self.policy_logp(&net, &exs, &targets)?.mean_all()? * -1.0)?;
        let shown = loss.to_scalar::<f32>()?;
        let lr = self.lr(self.plan.policy_lr);
        self.policy.step(&loss, lr, &mut self.progress.adam_steps[1])?;
        let mean_len = targets.iter().map(Vec::len).sum::<usize>() as f64 / targets.len() as f64;
        Ok(format!("{dec}; policy imitation {shown:.2} nats/latent, heuristic latent {mean_len:.2} tokens"))
    }

    fn rl_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
        let exs = self.data.sample(&self.plan, rng, self.plan.batch);
        let none = vec![Vec::new(); exs.len()];
        let samples = self.policy_sample(&exs, Some(self.plan.temperature), rng)?;
        let latents: Vec<Vec<u32>> = samples.iter().map(|s| s.0.clone()).collect();
        let empty = self.bits_now(&exs, &none)?;
        let with = self.bits_now(&exs, &latents)?;
        let mut fresh = Vec::new();
        let mut kept = Vec::new();
        for i in 0..exs.len() {
            let base = self.latent_cost(&[]) + empty[i].iter().map(|&x| f64::from(x)).sum::<f64>();
            let cost = self.latent_cost(&latents[i]) + with[i].iter().map(|&x| f64::from(x)).sum::<f64>();
            let advantage = if latents[i].is_empty() { 0.0 } else { base - cost };
            kept.push(if advantage > 0.0 { latents[i].clone() } else { Vec::new() });
            fresh.push(Replayed { ex: exs[i].clone(), latent: latents[i].clone(), behaviour_logp: samples[i].1, advantage });
        }
        let mean_adv = fresh.iter().map(|r| r.advantage).sum::<f64>() / fresh.len() as f64;
        let mean_len = latents.iter().map(Vec::len).sum::<usize>() as f64 / latents.len() as f64;
        // The decoder learns on the latents the compressor would keep.
        let dec = self.likelihood_step(&exs, &kept)?;
        // Policy: this step's samples plus as many replayed ones.
        let mut batch = fresh.clone();
        for _ in 0..self.replay.len().min(fresh.len()) {
            batch.push(self.replay[rng.random_range(0..self.replay.len())].clone());
        }
        for r in fresh {
            if self.replay.len() == self.plan.replay {
                self.replay.pop_front();
            }
            self.replay.push_back(r);
        }
        let scale = {
            let var = batch.iter().map(|r| r.advantage * r.advantage).sum::<f64>() / batch.len() as f64;
            1.0 / var.sqrt().max(1.0)
        };
        let net = self.policy.net(&self.pcfg, true, &self.dev);
        let bexs: Vec<Example> = batch.iter().map(|r| r.ex.clone()).collect();
        let blat: Vec<Vec<u32>> = batch.iter().map(|r| r.latent.clone()).collect();
        let logp = self.policy_logp(&net, &bexs, &blat)?;
        let now = logp.to_vec1::<f32>()?;
        // REINFORCE with the empty-latent baseline, importance weights π/μ clipped at `clip`.
        let coef: Vec<f32> = batch
            .iter()
            .zip(&now)
            .map(|(r, &lp)| {
                let rho = (f64::from(lp) - r.behaviour_logp).exp().min(self.plan.clip);
                (-rho * r.advantage * scale / batch.len() as f64) as f32
            })
            .collect();
        let loss = (logp * Tensor::from_vec(coef, batch.len(), &self.dev)?)?.sum_all()?;
        let lr = self.lr(self.plan.policy_lr);
        self.policy.step(&loss, lr, &mut self.progress.adam_steps[1])?;
        Ok(format!("{dec}; policy saves {mean_adv:.2} bits/segment, latent {mean_len:.2} tokens, replay {}", self.replay.len()))
    }

    /// Validation bits per byte with the empty, heuristic and policy latents.
    pub fn evaluate(&mut self) -> Result<Eval> {
        let val = self.data.validation(&self.plan);
        if val.is_empty() {
            return Ok(Eval::default());
        }
        let mut ev = Eval::default();
        let mut bytes = 0usize;
        let mut tried = 0f64;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        for chunk in val.chunks(self.plan.batch.max(1)) {
            bytes += chunk.iter().flat_map(|e| &e.segment).map(|&t| self.tok.token_bytes(t).len()).sum::<usize>();
            let none = vec![Vec::new(); chunk.len()];
            let total = |b: &[Vec<f32>], i: usize| b[i].iter().map(|&x| f64::from(x)).sum::<f64>();
            let empty = self.bits_now(chunk, &none)?;
            let heur: Vec<Vec<u32>> = chunk
                .iter()
                .zip(&empty)
                .map(|(e, b)| {
                    latent::heuristic(&e.segment, &b.iter().map(|&x| f64::from(x)).collect::<Vec<_>>(), self.cfg.max_latent, self.cfg.vocab)
                })
                .collect();
            let hb = self.bits_now(chunk, &heur)?;
            let pol: Vec<Vec<u32>> = self.policy_sample(chunk, None, &mut rng)?.into_iter().map(|s| s.0).collect();
            let pb = self.bits_now(chunk, &pol)?;
            for i in 0..chunk.len() {
                let e = self.latent_cost(&[]) + total(&empty, i);
                let price = (self.cfg.vocab as f64).log2();
                ev.bound += empty[i].iter().map(|&x| (f64::from(x) - price).max(0.0)).sum::<f64>();
                ev.segment_bits += e;
                if !heur[i].is_empty() {
                    ev.heuristic_saved += total(&empty, i) - total(&hb, i);
                    ev.heuristic_cost += self.latent_cost(&heur[i]);
                    tried += 1.0;
                }
                ev.empty_bpb += e;
                ev.heuristic_bpb += e.min(self.latent_cost(&heur[i]) + total(&hb, i));
                let p = self.latent_cost(&pol[i]) + total(&pb, i);
                ev.policy_bpb += e.min(p);
                ev.policy_len += pol[i].len() as f64;
                ev.policy_kept += f64::from(u8::from(p < e && !pol[i].is_empty()));
            }
        }
        let n = val.len() as f64;
        ev.empty_bpb /= bytes as f64;
        ev.heuristic_bpb /= bytes as f64;
        ev.policy_bpb /= bytes as f64;
        ev.policy_len /= n;
        ev.policy_kept /= n;
        ev.bound /= n;
        ev.segment_bits /= n;
        ev.heuristic_saved /= tried.max(1.0);
        ev.heuristic_cost /= tried.max(1.0);
        Ok(ev)
    }
}
