//! The training steps of each stage, and the teacher-forced costs and policy samples they use.

use candle_core::{Tensor, D};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::data::Example;
use super::{Replayed, Trainer};
use crate::codec::latent;
use crate::error::Result;
use crate::model::reference::T5;
use crate::model::Config;

impl Trainer {
    /// Encoder inputs `context ++ [SEP] ++ extra`, right-padded, with their key mask.
    pub(super) fn enc_inputs(&self, net: &T5, rows: &[(&[u32], &[u32])], cfg: &Config) -> Result<(Tensor, Tensor)> {
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
    pub(super) fn segment_bits(&self, net: &T5, exs: &[Example], latents: &[Vec<u32>]) -> Result<Tensor> {
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
    pub(super) fn bits_now(&self, exs: &[Example], latents: &[Vec<u32>]) -> Result<Vec<Vec<f32>>> {
        let net = self.model.net(&self.cfg, false, &self.dev);
        Ok(self.segment_bits(&net, exs, latents)?.to_vec2::<f32>()?)
    }

    /// Log-probability (`B`, nats, differentiable) under the policy of each latent followed by END.
    pub(super) fn policy_logp(&self, net: &T5, exs: &[Example], latents: &[Vec<u32>]) -> Result<Tensor> {
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
    pub(super) fn policy_sample(&self, exs: &[Example], temperature: Option<f64>, rng: &mut ChaCha8Rng) -> Result<Vec<(Vec<u32>, f64)>> {
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

    pub(super) fn latent_cost(&self, l: &[u32]) -> f64 {
        latent::latent_bits(l, self.cfg.max_latent, self.cfg.vocab)
    }

    pub(super) fn pretrain_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
        let exs = self.data.sample(&self.plan, rng, self.plan.batch);
        let none = vec![Vec::new(); exs.len()];
        self.likelihood_step(&exs, &none)
    }

    /// One likelihood step of the coding model on examples with the given latents.
    pub(super) fn likelihood_step(&mut self, exs: &[Example], latents: &[Vec<u32>]) -> Result<String> {
        let net = self.model.net(&self.cfg, true, &self.dev);
        let bits = self.segment_bits(&net, exs, latents)?.mean_all()?;
        let lr = self.lr(self.plan.lr);
        let shown = bits.to_scalar::<f32>()?;
        self.model.step(&(bits * std::f64::consts::LN_2)?, lr, &mut self.progress.adam_steps[0])?;
        Ok(format!("decoder {shown:.3} bits/token lr {lr:.2e}"))
    }

    pub(super) fn imitate_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
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

    pub(super) fn rl_step(&mut self, rng: &mut ChaCha8Rng) -> Result<String> {
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
}
