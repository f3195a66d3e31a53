//! s2s2s: lossless compression with a T5 encoder-decoder, a discrete latent and range coding.
//!
//! The supported API is re-exported here: [`compress`], [`decompress`], [`analyse`] and
//! [`inspect`], with [`Options`] and [`Level`] for settings, [`ModelRegistry`] (the built-in
//! networks or a model directory) and [`PreparedModel`] for models, [`Stats`] for results and
//! [`Error`]. The modules follow the data path and the format:
//!
//! * [`tokenizer`]: bytes to tokens and back;
//! * [`model`]: config, tensor schema, input layouts, weights files, built-in networks, lookup;
//! * `engine`: the deterministic inference coding runs (its `kernels` hold the only `unsafe`);
//! * `predict`: the adaptive models of the block itself, mixed with the network;
//! * `numeric`: the arithmetic that defines the coded bits (frozen: see its doc);
//! * `codec`: the symmetric coding loop, segments, latents, the range coder;
//! * `transform`: reversible transforms of a block's bytes before its predictor sees them;
//! * [`format`]: the `.s2s` container;
//! * [`pipeline`]: blocks, batches and threads, both directions;
//! * `train` (feature `train`): the trainer and its corpus split.
//!
//! `engine`, `predict`, `numeric`, `codec` and `transform` are hidden from the documentation: public only
//! for the benchmarks, fuzz targets and cross-checks.

#![deny(unsafe_code)]

// The stages below are public for the benchmarks, the fuzz targets and the cross-checks, not as
// a stable API (hidden from the docs): use the re-exports.
#[doc(hidden)]
pub mod codec;
#[doc(hidden)]
pub mod engine;
pub mod error;
pub mod format;
pub mod level;
pub mod model;
#[doc(hidden)]
pub mod numeric;
pub mod pipeline;
#[doc(hidden)]
pub mod predict;
pub mod tokenizer;
#[cfg(feature = "train")]
pub mod train;
#[doc(hidden)]
pub mod transform;

pub use codec::latent::LatentSearch;
pub use error::{Error, Result};
pub use format::{CmParams, CmRevision, NetArith, Profile};
pub use level::Level;
pub use model::{Builtin, Model, ModelId, ModelRegistry, ModelResolver, PreparedModel};
pub use pipeline::{analyse, compress, decompress, inspect, NeuralUse, Options, Stats};
