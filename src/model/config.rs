//! Model hyper-parameters, stored as `config.json` beside the weights.

use serde::{Deserialize, Serialize};

use super::ModelError;

/// Model hyper-parameters.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Config {
    /// Text vocabulary size (the tokenizer's); SEP and BOS follow it (see `model::layout`).
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
    /// Parses and validates a `config.json`.
    pub fn from_json(config: &[u8]) -> Result<Self, ModelError> {
        let cfg: Config = serde_json::from_slice(config).map_err(|e| ModelError::Json { file: "config.json", reason: e.to_string() })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the sizes are in the ranges the engine and the format support.
    pub fn validate(&self) -> Result<(), ModelError> {
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
            Err(ModelError::Config { reason: format!("sizes out of range: {self:?}") })
        }
    }
}
