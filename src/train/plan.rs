//! The plan of a run (stored in `RUN/plan.json`) and where it stands.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

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
pub(super) struct Progress {
    pub(super) stage: Stage,
    pub(super) step: usize,
    pub(super) adam_steps: [usize; 2],
}
