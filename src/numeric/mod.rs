//! The arithmetic that defines the coded bits.
//!
//! **Everything in this module is part of the file format.** Compression and decompression must
//! compute bit-identical probabilities on every CPU, so the operations here have a fixed order
//! and use only basic IEEE operations (no fused multiply-add, our own `exp` and `ln`) or
//! integers. Changing any value or operation order here changes the bits that older files were
//! coded with: it needs a new numeric profile (`format::Profile`), new golden files
//! (`tests/golden`), and the old code kept for the old profile.
//!
//! * [`detmath`]: dot products with a fixed 16-lane reduction, `exp`, `ln`, softmax, RMS norm;
//! * [`quantize`]: softmax to the 24-bit integer CDF the range coder codes with;
//! * [`buckets`]: relative-position buckets of the network's attention;
//! * [`hash`]: the context hash of the adaptive models;
//! * [`int8`]: the network's int8 arithmetic (quantisation and rescaling).
//!
//! The adaptive models' and mixer's constants (`predict/`) and the SIMD kernels' lane semantics
//! (`engine/kernels`, which must match [`detmath::dot`]) are normative too; their modules say so.

#![forbid(unsafe_code)]

pub mod buckets;
pub mod detmath;
pub mod hash;
pub mod int8;
pub mod logistic;
pub mod quantize;
