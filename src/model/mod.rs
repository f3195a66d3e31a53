//! The network as data: its [`Config`], the [`schema`] of its tensors, the token [`layout`] of
//! its inputs, weights files and identities ([`checkpoint`]), the built-in networks and model
//! lookup ([`registry`]), and (with the `reference` feature) the same network in candle
//! ([`reference`]), which training differentiates and the coding engine is tested against.
//!
//! Architecture (T5 v1.1 style): shared token embedding tied to the output layer, pre-RMS-norm
//! blocks, relative position bias from an integer bucket table (bidirectional in the encoder,
//! causal in the decoder), gated-ReLU feed-forward.

#![forbid(unsafe_code)]

pub mod checkpoint;
mod config;
pub mod layout;
#[cfg(feature = "reference")]
pub mod reference;
pub mod registry;
pub mod schema;

use std::path::{Path, PathBuf};

use thiserror::Error;

pub use checkpoint::{Checkpoint, ModelId};
pub use config::Config;
pub use registry::{Builtin, BuiltinRegistry, ModelRegistry, ModelResolver, PreparedModel};

use crate::tokenizer::ByteTokenizer;

/// A model that cannot be loaded, does not fit, or is not the one a file needs.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{file}: {reason}")]
    Json { file: &'static str, reason: String },
    #[error("invalid model config: {reason}")]
    Config { reason: String },
    #[error("model.safetensors: {reason}")]
    Weights { reason: String },
    #[error("model.safetensors: missing tensor {name}")]
    MissingTensor { name: String },
    #[error("model.safetensors: tensor {name} has shape {found:?}, expected {expected:?}")]
    Shape { name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("model.safetensors: unknown tensor {name}")]
    UnknownTensor { name: String },
    #[error("tokenizer: {reason}")]
    Tokenizer { reason: String },
    #[error(
        "needs the retired built-in network {0}, which this build leaves out: build s2s2s with `cargo install --locked --path . --features retired-networks` to decode it"
    )]
    NotBuiltIn(&'static str),
    #[error("the model has no latent policy")]
    NoPolicy,
    #[error("the {0} profile needs a model, and none was given")]
    Needed(&'static str),
    #[error("file was made with model {found}, but the loaded model is {}", match expected { Some(e) => e.to_string(), None => "one of the built-in ones".into() })]
    WrongModel { found: ModelId, expected: Option<ModelId> },
}

/// A model directory's contents: tokenizer, config and weights, plus its identity.
pub struct Model {
    pub tokenizer: ByteTokenizer,
    /// The coding network.
    pub weights: Checkpoint,
    /// What a container records: BLAKE3 of tokenizer, config and weights.
    pub id: ModelId,
    /// The latent policy, if the model has one (not part of the identity: decoders never run it).
    pub policy: Option<Checkpoint>,
}

impl Model {
    /// Loads `tokenizer.json`, `config.json` and `model.safetensors` from a directory, and the
    /// policy from `policy/` if there is one.
    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let read = |name: &str| std::fs::read(dir.join(name)).map_err(|source| ModelError::Read { path: dir.join(name), source });
        let mut model = Self::from_bytes(&read("tokenizer.json")?, &read("config.json")?, &read("model.safetensors")?)?;
        if dir.join("policy").is_dir() {
            model.set_policy(&read("policy/config.json")?, &read("policy/model.safetensors")?)?;
        }
        Ok(model)
    }

    /// Attaches a latent policy from its `config.json` and weights.
    pub fn set_policy(&mut self, config: &[u8], weights: &[u8]) -> Result<(), ModelError> {
        let pcfg = Config::from_json(config)?;
        if !self.config().fits_policy(&pcfg) {
            return Err(ModelError::Config {
                reason: format!(
                    "policy (vocab {}, segment {}) does not fit the model (vocab {}, max_latent {})",
                    pcfg.vocab,
                    pcfg.segment,
                    self.config().vocab,
                    self.config().max_latent
                ),
            });
        }
        self.policy = Some(Checkpoint::from_safetensors(pcfg, weights)?);
        Ok(())
    }

    /// Builds a model from the three files' bytes.
    pub fn from_bytes(tokenizer: &[u8], config: &[u8], weights: &[u8]) -> Result<Self, ModelError> {
        let tok = ByteTokenizer::from_json(tokenizer)?;
        let cfg = Config::from_json(config)?;
        if cfg.vocab != tok.vocab_size() {
            return Err(ModelError::Config { reason: format!("config says {} tokens, tokenizer has {}", cfg.vocab, tok.vocab_size()) });
        }
        let weights_ck = Checkpoint::from_safetensors(cfg, weights)?;
        Ok(Self { tokenizer: tok, weights: weights_ck, id: ModelId::of(tokenizer, config, weights), policy: None })
    }

    /// The coding network's config.
    pub fn config(&self) -> &Config {
        &self.weights.config
    }
}
