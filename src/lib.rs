//! s2s2s: lossless compression with a T5 encoder-decoder, a discrete latent and range coding.
//!
//! Modules follow the data path: [`tokenizer`] (bytes to tokens), [`model`] (config, weights,
//! candle reference network), [`engine`] (the deterministic inference that coding runs),
//! [`adaptive`] and [`mixer`] (statistics of the block itself, mixed with the
//! network's prediction), [`coder`] (quantised distributions and the range coder), [`container`] (the `.s2s` format),
//! [`pipeline`] (blocks, threads, compress/decompress), [`bench`], [`corpus`] and [`train`].

pub mod adaptive;
pub mod bench;
pub mod coder;
pub mod container;
pub mod corpus;
pub mod engine;
pub mod error;
pub mod latent;
pub mod level;
pub mod mixer;
pub mod model;
pub mod pipeline;
pub mod tokenizer;
pub mod train;

pub use error::{Error, Result};
pub use model::Model;
pub use pipeline::{analyse, compress, decompress, inspect, Codec, NeuralUse, Options, Stats};
