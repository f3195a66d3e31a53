//! Finding the model a file needs: the built-in networks embedded in the binary, or a model
//! directory the user names, prepared for coding.

use std::path::Path;
use std::sync::OnceLock;

use super::{Model, ModelError, ModelId};
use crate::codec::trie::Trie;
use crate::engine::{Engine, Kernel};
use crate::format::NetArith;
use crate::level::Level;

/// The tokenizer every built-in model shares, embedded in the binary.
static BUILTIN_TOKENIZER: &[u8] = include_bytes!("../../models/tokenizer.json");

/// The models embedded in the binary (they share one tokenizer). A built-in network is never
/// removed while files name it: retired ones stay here so that their files keep decoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Builtin {
    /// The default network of levels 6-9 (`models/`).
    Default,
    /// A smaller, ~4x faster network for levels 3-5 (`models/small/`).
    Small,
    /// The first default network (`models/default-1/`, the same architecture trained on 9.2 M
    /// tokens), retired when the longer-trained one replaced it: no level writes it, its files
    /// keep decoding.
    Default1,
    /// The second default network (`models/default-2/`: the first trained on for 29.0 M tokens
    /// more, of all 32 corpus sources), retired when the prose-weighted run replaced it.
    Default2,
    /// The third default network (`models/default-3/`: the second trained on for 31.7 M tokens
    /// more, prose and Wikipedia sampled 3x), retired when a second prose-weighted run replaced it.
    Default3,
    /// The fourth default network (`models/default-4/`: the third trained on for 32.0 M tokens
    /// more, prose and Wikipedia sampled 3x), retired when a third prose-weighted run replaced it.
    Default4,
}

impl Builtin {
    /// Every built-in model.
    pub const ALL: [Builtin; 6] =
        [Builtin::Default, Builtin::Small, Builtin::Default1, Builtin::Default2, Builtin::Default3, Builtin::Default4];

    /// The name shown to users.
    pub fn name(self) -> &'static str {
        match self {
            Builtin::Default => "default",
            Builtin::Small => "small",
            Builtin::Default1 => "default-1",
            Builtin::Default2 => "default-2",
            Builtin::Default3 => "default-3",
            Builtin::Default4 => "default-4",
        }
    }

    /// Whether the network is retired: no level writes it, its files keep decoding.
    pub fn is_retired(self) -> bool {
        !matches!(self, Builtin::Default | Builtin::Small)
    }

    /// Config and weights bytes, or `None` for a retired network this build leaves out (the
    /// cargo feature `retired-networks` builds them in).
    fn files(self) -> Option<(&'static [u8], &'static [u8])> {
        // (a model directory under `models/`: its config and weights, embedded)
        macro_rules! model_dir {
            ($dir:literal) => {
                Some((
                    include_bytes!(concat!("../../models/", $dir, "config.json")),
                    include_bytes!(concat!("../../models/", $dir, "model.safetensors")),
                ))
            };
        }
        #[cfg(not(feature = "retired-networks"))]
        macro_rules! retired {
            ($dir:literal) => {
                None
            };
        }
        #[cfg(feature = "retired-networks")]
        macro_rules! retired {
            ($dir:literal) => {
                model_dir!($dir)
            };
        }
        match self {
            Builtin::Default => model_dir!(""),
            Builtin::Small => model_dir!("small/"),
            Builtin::Default1 => retired!("default-1/"),
            Builtin::Default2 => retired!("default-2/"),
            Builtin::Default3 => retired!("default-3/"),
            Builtin::Default4 => retired!("default-4/"),
        }
    }

    /// Whether this build carries the network's weights.
    pub fn is_built_in(self) -> bool {
        self.files().is_some()
    }

    /// The identity a container records for this model (hashed once per process; nothing is
    /// parsed). A retired network's is recorded in [`RETIRED_IDS`], so that a build without its
    /// weights still knows which files need it (a test checks them against the weights).
    pub fn id(self) -> ModelId {
        static IDS: [OnceLock<ModelId>; Builtin::ALL.len()] = [const { OnceLock::new() }; Builtin::ALL.len()];
        *IDS[self as usize].get_or_init(|| match (self.files(), self.is_retired()) {
            (_, true) => ModelId(RETIRED_IDS[self as usize - Builtin::Default1 as usize]),
            (Some((config, weights)), false) => ModelId::of(BUILTIN_TOKENIZER, config, weights),
            (None, false) => unreachable!("the current networks are always built in"),
        })
    }

    /// The built-in model with this identity, if any.
    pub fn from_id(id: &ModelId) -> Option<Self> {
        Self::ALL.into_iter().find(|b| b.id() == *id)
    }

    /// The tokenizer of the built-in models (`tokenizer.json`).
    pub fn tokenizer_json() -> &'static [u8] {
        BUILTIN_TOKENIZER
    }

    /// Writes the model as a model directory (to train from it).
    pub fn write_to(self, dir: &Path) -> std::io::Result<()> {
        let (config, weights) = self.files().ok_or_else(|| std::io::Error::other(ModelError::NotBuiltIn(self.name())))?;
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("tokenizer.json"), BUILTIN_TOKENIZER)?;
        std::fs::write(dir.join("config.json"), config)?;
        std::fs::write(dir.join("model.safetensors"), weights)?;
        Ok(())
    }

    /// Loads the model.
    pub fn load(self) -> Result<Model, ModelError> {
        let (config, weights) = self.files().ok_or(ModelError::NotBuiltIn(self.name()))?;
        Model::from_bytes(BUILTIN_TOKENIZER, config, weights)
    }
}

/// The identities of the retired networks `default-1` to `default-4`, in [`Builtin`] order.
const RETIRED_IDS: [[u8; 16]; 4] = [
    [0x79, 0x0a, 0x3f, 0x20, 0x88, 0x97, 0x72, 0xd3, 0xc7, 0x52, 0x3a, 0x97, 0x4b, 0x88, 0x3c, 0x75],
    [0x0b, 0x1e, 0x7c, 0x1f, 0x39, 0xba, 0xff, 0x7a, 0x0a, 0xbd, 0x46, 0xcf, 0x1a, 0x66, 0x02, 0x4f],
    [0xdd, 0x2c, 0xf8, 0xcf, 0x97, 0xf4, 0x0f, 0x83, 0x2d, 0x84, 0x1d, 0x2a, 0xf5, 0x49, 0xa2, 0xee],
    [0x1d, 0x7d, 0xda, 0x8f, 0x3c, 0x89, 0x44, 0x95, 0xd0, 0x58, 0xbf, 0x3b, 0x43, 0x84, 0xa9, 0x4d],
];

/// A model ready to code: its tokenizer and deterministic engine, and its policy's engine.
pub struct PreparedModel {
    model: Model,
    engine: Engine,
    /// The engine in the int8 arithmetic, made when a frame first asks for it.
    int8: OnceLock<Engine>,
    policy: Option<Engine>,
    /// The vocabulary in byte order (profile 5).
    trie: Trie,
}

impl PreparedModel {
    /// Prepares a model for coding with the widest kernel this CPU has.
    pub fn new(model: Model) -> Result<Self, ModelError> {
        Self::with_kernel(model, Kernel::detect())
    }

    /// Prepares a model with a given kernel variant (the output never depends on it).
    pub fn with_kernel(model: Model, kernel: Kernel) -> Result<Self, ModelError> {
        let engine = Engine::new(&model.weights, kernel, NetArith::F32);
        let policy = model.policy.as_ref().map(|p| Engine::new(p, kernel, NetArith::F32));
        let tok = &model.tokenizer;
        let trie = Trie::new((0..tok.vocab_size() as u32).map(|id| tok.token_bytes(id)));
        Ok(Self { model, engine, int8: OnceLock::new(), policy, trie })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    pub fn id(&self) -> ModelId {
        self.model.id
    }

    /// The engine in f32 (profiles 1, 2 and the latent policy).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The engine in the arithmetic `arith`.
    pub fn engine_for(&self, arith: NetArith) -> &Engine {
        match arith {
            NetArith::F32 => &self.engine,
            NetArith::Int8 => self.int8.get_or_init(|| Engine::new(&self.model.weights, self.engine.kernel(), NetArith::Int8)),
        }
    }

    /// The vocabulary as a byte trie.
    pub fn trie(&self) -> &Trie {
        &self.trie
    }

    /// The latent policy's engine, if the model has a policy.
    pub fn policy(&self) -> Option<&Engine> {
        self.policy.as_ref()
    }
}

/// Where a decoder finds the model each frame names.
pub trait ModelResolver: Sync {
    /// The prepared model with this identity.
    fn resolve(&self, id: &ModelId) -> Result<&PreparedModel, ModelError>;
}

impl ModelResolver for PreparedModel {
    fn resolve(&self, id: &ModelId) -> Result<&PreparedModel, ModelError> {
        if *id == self.id() {
            Ok(self)
        } else {
            Err(ModelError::WrongModel { found: *id, expected: Some(self.id()) })
        }
    }
}

/// The built-in models, each loaded on first use (decoding one file rarely needs more than one).
#[derive(Default)]
pub struct BuiltinRegistry {
    prepared: [OnceLock<PreparedModel>; Builtin::ALL.len()],
}

impl BuiltinRegistry {
    /// One built-in model, prepared.
    pub fn get(&self, which: Builtin) -> Result<&PreparedModel, ModelError> {
        let cell = &self.prepared[which as usize];
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let prepared = PreparedModel::new(which.load()?)?;
        Ok(cell.get_or_init(|| prepared))
    }
}

impl ModelResolver for BuiltinRegistry {
    fn resolve(&self, id: &ModelId) -> Result<&PreparedModel, ModelError> {
        match Builtin::from_id(id) {
            Some(b) => self.get(b),
            None => Err(ModelError::WrongModel { found: *id, expected: None }),
        }
    }
}

/// The models a run can use: one model directory, or the built-in ones.
pub enum ModelRegistry {
    Custom(Box<PreparedModel>),
    Builtin(Box<BuiltinRegistry>),
}

impl Default for ModelRegistry {
    fn default() -> Self {
        ModelRegistry::Builtin(Box::default())
    }
}

impl ModelRegistry {
    /// The model directory `dir`, or the built-in models when `None`.
    pub fn open(dir: Option<&Path>) -> Result<Self, ModelError> {
        Ok(match dir {
            Some(dir) => ModelRegistry::Custom(Box::new(PreparedModel::new(Model::load(dir)?)?)),
            None => ModelRegistry::default(),
        })
    }

    /// The model that compresses at `level`: the custom model, or the level's built-in one
    /// (`None` for context mixing alone, which uses none: levels 1-2 do not load the built-in
    /// network); refuses a level whose latent search needs a policy the model lacks.
    pub fn for_level(&self, level: &Level) -> Result<Option<&PreparedModel>, ModelError> {
        if level.profile == crate::format::Profile::Cm {
            return Ok(None);
        }
        let prepared = match self {
            ModelRegistry::Custom(c) => c,
            ModelRegistry::Builtin(b) => b.get(level.model)?,
        };
        if level.latent == crate::codec::latent::LatentSearch::Policy && prepared.policy().is_none() {
            return Err(ModelError::NoPolicy);
        }
        Ok(Some(prepared))
    }
}

impl ModelResolver for ModelRegistry {
    fn resolve(&self, id: &ModelId) -> Result<&PreparedModel, ModelError> {
        match self {
            ModelRegistry::Custom(c) => c.resolve(id),
            ModelRegistry::Builtin(b) => b.resolve(id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retired_networks_identities_are_those_of_their_weights() {
        // (read from the source tree, so that a build without them checks them too)
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        for b in Builtin::ALL.into_iter().filter(|b| b.is_retired()) {
            let read = |f: &str| std::fs::read(dir.join(b.name()).join(f)).unwrap();
            assert_eq!(b.id(), ModelId::of(BUILTIN_TOKENIZER, &read("config.json"), &read("model.safetensors")), "{}", b.name());
            assert_eq!(Builtin::from_id(&b.id()), Some(b));
            assert_eq!(b.is_built_in(), cfg!(feature = "retired-networks"));
            if !b.is_built_in() {
                assert!(matches!(b.load(), Err(ModelError::NotBuiltIn(n)) if n == b.name()));
            }
        }
    }
}
