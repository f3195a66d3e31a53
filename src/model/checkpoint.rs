//! Weights files (safetensors, f16 or f32) and the identity a container records for a model.

use std::collections::HashMap;

use super::{schema, Config, ModelError};

/// A network's config and named f32 weights (PyTorch layout: linear weights are `out × in`),
/// checked against [`schema`].
pub struct Checkpoint {
    pub config: Config,
    tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Checkpoint {
    /// Reads a safetensors file and checks it holds exactly the schema's tensors for `config`.
    pub fn from_safetensors(config: Config, weights: &[u8]) -> Result<Self, ModelError> {
        let st = safetensors::SafeTensors::deserialize(weights).map_err(|e| ModelError::Weights { reason: e.to_string() })?;
        let mut tensors = HashMap::new();
        for (name, view) in st.tensors() {
            let data = view.data();
            let vals: Vec<f32> = match view.dtype() {
                safetensors::Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
                safetensors::Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
                other => return Err(ModelError::Weights { reason: format!("tensor {name}: unsupported dtype {other:?}") }),
            };
            tensors.insert(name, (view.shape().to_vec(), vals));
        }
        schema::check(&config, tensors.keys(), |n| tensors.get(n).map(|(s, _)| s.clone()))?;
        Ok(Self { config, tensors })
    }

    /// The values of a schema tensor.
    pub fn values(&self, name: &str) -> &[f32] {
        self.tensors.get(name).map_or(&[], |(_, v)| v.as_slice())
    }

    /// Every tensor: name, shape, values.
    pub fn tensors(&self) -> impl Iterator<Item = (&String, &[usize], &[f32])> {
        self.tensors.iter().map(|(n, (s, v))| (n, s.as_slice(), v.as_slice()))
    }
}

/// The identity of a model as a container records it: BLAKE3 of its tokenizer, config and
/// weights files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ModelId(pub [u8; 16]);

impl ModelId {
    /// BLAKE3 of tokenizer, config and weights, each prefixed by its length.
    pub fn of(tokenizer: &[u8], config: &[u8], weights: &[u8]) -> Self {
        let mut h = blake3::Hasher::new();
        for part in [tokenizer, config, weights] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&h.finalize().as_bytes()[..16]);
        ModelId(id)
    }
}

impl std::fmt::Display for ModelId {
    /// Lower-case hex, as shown to users.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}
