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

use candle_core::Device;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

pub mod corpus;
mod data;
mod eval;
mod init;
mod io;
mod optim;
mod plan;
mod stages;

use data::{Data, Example};
use init::{init_weights, initial_model};
use io::{json_err, write_atomic};
use optim::Params;
use plan::Progress;
pub use plan::{Plan, Shape, Stage};

use crate::error::{Error, Result};
use crate::model::Config;
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
}
