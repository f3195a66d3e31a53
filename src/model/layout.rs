//! The token layouts of the network's inputs: the one place that says where SEP, BOS and the
//! policy's END live and how encoder and decoder inputs are built.
//!
//! * encoder input: `context ++ [SEP] ++ latent` (the policy reads `context ++ [SEP] ++ segment`);
//! * decoder input: `[BOS] ++ segment[..n - 1]`, predicting `segment`;
//! * ids: text tokens `0..vocab`, then SEP = `vocab`, BOS = `vocab + 1` (embedding rows); the
//!   policy's vocabulary is the text vocabulary plus END, its last id.

use super::Config;

impl Config {
    /// Separator between context and latent in the encoder input.
    pub fn sep_id(&self) -> u32 {
        self.vocab as u32
    }

    /// Decoder start token.
    pub fn bos_id(&self) -> u32 {
        self.vocab as u32 + 1
    }

    /// Rows of the embedding table: the vocabulary, SEP and BOS.
    pub fn embedding_rows(&self) -> usize {
        self.vocab + 2
    }

    /// The encoder input `context ++ [SEP] ++ extra` (extra: the latent, or the policy's segment).
    pub fn encoder_input(&self, context: &[u32], extra: &[u32]) -> Vec<u32> {
        let mut s = Vec::with_capacity(context.len() + 1 + extra.len());
        s.extend_from_slice(context);
        s.push(self.sep_id());
        s.extend_from_slice(extra);
        s
    }

    /// The decoder input that predicts `target` teacher-forced: `[BOS] ++ target[..n - 1]`.
    pub fn decoder_input(&self, target: &[u32]) -> Vec<u32> {
        let mut s = Vec::with_capacity(target.len().max(1));
        s.push(self.bos_id());
        s.extend_from_slice(&target[..target.len().saturating_sub(1)]);
        s
    }

    /// The policy's END token (a policy config's last id).
    pub fn end_id(&self) -> u32 {
        self.vocab as u32 - 1
    }

    /// The config of a latent policy for this coding model with the given shape: it reads
    /// `context ++ [SEP] ++ segment` and emits up to `max_latent` tokens then END.
    pub fn policy_config(&self, d_model: usize, n_heads: usize, d_ff: usize, layers: usize) -> Config {
        Config {
            vocab: self.vocab + 1,
            d_model,
            n_heads,
            d_ff,
            enc_layers: layers,
            dec_layers: layers,
            segment: self.max_latent + 1,
            context: self.context,
            max_latent: self.segment,
        }
    }

    /// Whether `policy` is a policy config for this coding model.
    pub fn fits_policy(&self, policy: &Config) -> bool {
        policy.vocab == self.vocab + 1 && policy.segment == self.max_latent + 1
    }
}
