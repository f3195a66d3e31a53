//! The library's error type: one `#[non_exhaustive]` enum per layer, wrapped by [`Error`].
//!
//! Messages describe what is wrong with the data or the model, never which command-line flag
//! to use: the CLI adds such hints.

#![forbid(unsafe_code)]

use std::path::PathBuf;

use thiserror::Error;

pub use crate::codec::CodingError;
pub use crate::format::FormatError;
pub use crate::model::ModelError;

/// Everything that can go wrong in the library.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An I/O error on a named file.
    #[error("{}: {source}", path.display())]
    File { path: PathBuf, source: std::io::Error },
    /// The container is malformed, truncated or fails a checksum.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A model cannot be loaded, does not fit, or is not the one a file needs.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A coded payload does not decode.
    #[error(transparent)]
    Coding(#[from] CodingError),
    /// Training failed (bad corpus, a numerical failure of the training backend).
    #[error("training: {0}")]
    Train(String),
    /// The models a frame needs do not fit in this machine's available memory.
    #[error("not enough memory: the context mixer needs {needed_mib} MiB, {available_mib} MiB are available")]
    Memory { needed_mib: u64, available_mib: u64 },
}

impl Error {
    /// An I/O error on `path`.
    pub fn file(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::File { path: path.into(), source }
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
