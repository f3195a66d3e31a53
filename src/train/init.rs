//! Where a run's coding model starts: the schema's initialisation, or another model.

use candle_core::{DType, Device, Tensor};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::model::schema::{self, Init};
use crate::model::{Config, Model};

/// Initial weights for a network of `cfg`, as the schema says, drawn in its order.
pub(super) fn init_weights(cfg: &Config, rng: &mut ChaCha8Rng, dev: &Device) -> Result<Vec<(String, Tensor)>> {
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
pub(super) fn initial_model(plan: &Plan, vocab: usize, rng: &mut ChaCha8Rng, dev: &Device) -> Result<(Config, Vec<(String, Tensor)>)> {
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
