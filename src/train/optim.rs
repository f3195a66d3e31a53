//! The trainable parameters and the AdamW step (hand-rolled: candle's AdamW has one weight
//! decay for all parameters and keeps its moments private, and runs must resume them).

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var};

use super::io::{json_err, safetensors_bytes, write_atomic};
use crate::error::{Error, Result};
use crate::model::reference::T5;
use crate::model::Config;

/// Trainable tensors with their Adam moments.
pub(super) struct Params {
    pub(super) names: Vec<String>,
    pub(super) vars: Vec<Var>,
    pub(super) m: Vec<Tensor>,
    pub(super) v: Vec<Tensor>,
}

impl Params {
    pub(super) fn new(tensors: Vec<(String, Tensor)>) -> Result<Self> {
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
    pub(super) fn net(&self, cfg: &Config, trainable: bool, dev: &Device) -> T5 {
        let w = self
            .names
            .iter()
            .zip(&self.vars)
            .map(|(n, v)| (n.clone(), if trainable { v.as_tensor().clone() } else { v.as_tensor().detach() }))
            .collect();
        T5::from_weights(cfg.clone(), w, dev)
    }

    /// One AdamW step (gradient norm clipped to 1; no decay on norms, embeddings, position tables).
    pub(super) fn step(&mut self, loss: &Tensor, lr: f64, t: &mut usize) -> Result<()> {
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

    pub(super) fn save_into(&self, prefix: &str, out: &mut HashMap<String, Tensor>) {
        for i in 0..self.names.len() {
            out.insert(format!("{prefix}.w.{}", self.names[i]), self.vars[i].as_tensor().clone());
            out.insert(format!("{prefix}.m.{}", self.names[i]), self.m[i].clone());
            out.insert(format!("{prefix}.v.{}", self.names[i]), self.v[i].clone());
        }
    }

    pub(super) fn load_from(&mut self, prefix: &str, st: &HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| st.get(&k).cloned().ok_or_else(|| Error::Train(format!("checkpoint lacks {k}")));
        for i in 0..self.names.len() {
            self.vars[i].set(&get(format!("{prefix}.w.{}", self.names[i]))?)?;
            self.m[i] = get(format!("{prefix}.m.{}", self.names[i]))?;
            self.v[i] = get(format!("{prefix}.v.{}", self.names[i]))?;
        }
        Ok(())
    }

    /// Writes the weights as f16 safetensors with `config.json` into `dir`.
    pub(super) fn export(&self, cfg: &Config, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)?;
        let mut data = Vec::new();
        for (n, v) in self.names.iter().zip(&self.vars) {
            data.push((n.clone(), v.as_tensor().to_dtype(DType::F16)?));
        }
        write_atomic(&dir.join("model.safetensors"), &safetensors_bytes(&data)?)?;
        write_atomic(&dir.join("config.json"), serde_json::to_string_pretty(cfg).map_err(json_err)?.as_bytes())
    }
}
