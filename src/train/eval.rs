//! Validation: bits per byte with the empty, heuristic and policy latents.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::{Eval, Trainer};
use crate::codec::latent;
use crate::error::Result;

impl Trainer {
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
