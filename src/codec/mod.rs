//! The symmetric, format-normative coding loop: the same code compresses and decompresses.
//!
//! * [`coder`]: the range coder behind one [`coder::SymbolCoder`] interface for both directions;
//! * [`segments`]: how a block is cut into segments;
//! * [`latent`]: what a segment's latent costs and how the compressor chooses it;
//! * [`stream`]: a block's token stream coded in lockstep with others through the engine and
//!   the mixer;
//! * [`cm`]: a lane of the bitwise context mixer coding bytes (profile 4) or, with [`trie`],
//!   tokens under the network's prediction (profile 5).

#![forbid(unsafe_code)]

pub mod cm;
pub mod coder;
pub mod latent;
pub mod segments;
pub mod stream;
pub mod trie;

use thiserror::Error;

/// A coded payload that does not decode, or a symbol the coder cannot code.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CodingError {
    #[error("corrupt input: a coded payload of {len} bytes is not a whole number of words")]
    PartialWord { len: usize },
    #[error("corrupt input: invalid range-coder payload")]
    InvalidPayload,
    #[error("corrupt input: token id {id} outside the vocabulary")]
    TokenOutOfRange { id: u32 },
    /// An encoder-side invariant failed (a bug, not bad input).
    #[error("symbol {symbol} cannot be coded among {symbols}")]
    Unencodable { symbol: u32, symbols: usize },
}
