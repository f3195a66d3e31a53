//! Every tensor of the network: its name, shape and initialisation, in one table. The engine's
//! loader, the candle reference network and the trainer's initialisation all read it, so a
//! weights file means the same thing to each of them.

use super::{Config, ModelError};
use crate::numeric::buckets::{BIDIR_BUCKETS, CAUSAL_BUCKETS};

/// How the trainer initialises a tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Init {
    /// Normal with this standard deviation.
    Normal(f64),
    Ones,
    Zeros,
}

/// One tensor of the schema.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    pub name: String,
    pub shape: Vec<usize>,
    pub init: Init,
}

/// The token embedding, tied to the output layer (`(vocab + 2) × d_model`).
pub const EMBED: &str = "embed.weight";
/// Encoder position-bias table (`BIDIR_BUCKETS × heads`).
pub const ENC_REL: &str = "enc_rel.weight";
/// Decoder position-bias table (`CAUSAL_BUCKETS × heads`).
pub const DEC_REL: &str = "dec_rel.weight";
/// Final RMS-norm gains.
pub const ENC_NORM: &str = "enc_norm.weight";
pub const DEC_NORM: &str = "dec_norm.weight";

/// Names of an attention block's projections (each `d_model × d_model`, PyTorch `out × in`).
pub struct Attn {
    pub q: String,
    pub k: String,
    pub v: String,
    pub o: String,
}

/// Names of a gated feed-forward block: `wo(relu(wi0 x) * wi1 x)`.
pub struct Ffn {
    pub wi0: String,
    pub wi1: String,
    pub wo: String,
}

/// Names of encoder layer `i`.
pub struct EncLayer {
    pub attn_norm: String,
    pub attn: Attn,
    pub ffn_norm: String,
    pub ffn: Ffn,
}

/// Names of decoder layer `i`.
pub struct DecLayer {
    pub self_norm: String,
    pub self_attn: Attn,
    pub cross_norm: String,
    pub cross_attn: Attn,
    pub ffn_norm: String,
    pub ffn: Ffn,
}

fn attn(p: &str) -> Attn {
    Attn { q: format!("{p}.q.weight"), k: format!("{p}.k.weight"), v: format!("{p}.v.weight"), o: format!("{p}.o.weight") }
}

fn ffn(p: &str) -> Ffn {
    Ffn { wi0: format!("{p}.wi0.weight"), wi1: format!("{p}.wi1.weight"), wo: format!("{p}.wo.weight") }
}

/// Tensor names of encoder layer `i`.
pub fn enc_layer(i: usize) -> EncLayer {
    EncLayer {
        attn_norm: format!("enc.{i}.attn_norm.weight"),
        attn: attn(&format!("enc.{i}.attn")),
        ffn_norm: format!("enc.{i}.ffn_norm.weight"),
        ffn: ffn(&format!("enc.{i}.ffn")),
    }
}

/// Tensor names of decoder layer `i`.
pub fn dec_layer(i: usize) -> DecLayer {
    DecLayer {
        self_norm: format!("dec.{i}.self_norm.weight"),
        self_attn: attn(&format!("dec.{i}.self_attn")),
        cross_norm: format!("dec.{i}.cross_norm.weight"),
        cross_attn: attn(&format!("dec.{i}.cross_attn")),
        ffn_norm: format!("dec.{i}.ffn_norm.weight"),
        ffn: ffn(&format!("dec.{i}.ffn")),
    }
}

/// Every tensor of a network of `cfg`, in the order the trainer draws their initial values
/// (T5-style scaled normals; output projections scaled down by the depth; zero bias tables).
pub fn specs(cfg: &Config) -> Vec<Spec> {
    let (d, f) = (cfg.d_model, cfg.d_ff);
    let depth = (2 * (cfg.enc_layers + cfg.dec_layers)) as f64;
    let std = (d as f64).powf(-0.5);
    let mut out = Vec::new();
    let mut push = |name: &str, shape: &[usize], init| out.push(Spec { name: name.to_owned(), shape: shape.to_vec(), init });
    push(EMBED, &[cfg.embedding_rows(), d], Init::Normal(1.0));
    push(ENC_REL, &[BIDIR_BUCKETS, cfg.n_heads], Init::Zeros);
    push(DEC_REL, &[CAUSAL_BUCKETS, cfg.n_heads], Init::Zeros);
    let attn = |a: &Attn, push: &mut dyn FnMut(&str, &[usize], Init)| {
        for n in [&a.q, &a.k, &a.v] {
            push(n, &[d, d], Init::Normal(std));
        }
        push(&a.o, &[d, d], Init::Normal(std / depth.sqrt()));
    };
    let ffn = |x: &Ffn, push: &mut dyn FnMut(&str, &[usize], Init)| {
        push(&x.wi0, &[f, d], Init::Normal(std));
        push(&x.wi1, &[f, d], Init::Normal(std));
        push(&x.wo, &[d, f], Init::Normal((f as f64).powf(-0.5) / depth.sqrt()));
    };
    for i in 0..cfg.enc_layers {
        let l = enc_layer(i);
        push(&l.attn_norm, &[d], Init::Ones);
        attn(&l.attn, &mut push);
        push(&l.ffn_norm, &[d], Init::Ones);
        ffn(&l.ffn, &mut push);
    }
    for i in 0..cfg.dec_layers {
        let l = dec_layer(i);
        push(&l.self_norm, &[d], Init::Ones);
        attn(&l.self_attn, &mut push);
        push(&l.cross_norm, &[d], Init::Ones);
        attn(&l.cross_attn, &mut push);
        push(&l.ffn_norm, &[d], Init::Ones);
        ffn(&l.ffn, &mut push);
    }
    push(ENC_NORM, &[d], Init::Ones);
    push(DEC_NORM, &[d], Init::Ones);
    out
}

/// Checks that `shape_of` gives every tensor of the schema its shape, and that `names` holds
/// nothing else.
pub fn check<'a>(
    cfg: &Config,
    names: impl Iterator<Item = &'a String>,
    shape_of: impl Fn(&str) -> Option<Vec<usize>>,
) -> Result<(), ModelError> {
    let specs = specs(cfg);
    for s in &specs {
        match shape_of(&s.name) {
            None => return Err(ModelError::MissingTensor { name: s.name.clone() }),
            Some(found) if found != s.shape => return Err(ModelError::Shape { name: s.name.clone(), expected: s.shape.clone(), found }),
            Some(_) => {}
        }
    }
    let mut extra: Vec<&String> = names.filter(|n| !specs.iter().any(|s| &s.name == *n)).collect();
    extra.sort();
    match extra.first() {
        Some(name) => Err(ModelError::UnknownTensor { name: (*name).clone() }),
        None => Ok(()),
    }
}
