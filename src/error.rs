//! The library's error type.

use thiserror::Error;

/// Everything that can go wrong in the library.
#[derive(Debug, Error)]
pub enum Error {
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    #[error("model error: {0}")]
    Model(String),
    #[error("not an s2s2s file (bad magic)")]
    BadMagic,
    #[error("unsupported format version {0} (this build reads versions {oldest} to {newest}); a newer s2s2s may read it", oldest = crate::container::OLDEST_VERSION, newest = crate::container::VERSION)]
    UnsupportedVersion(u8),
    #[error("unsupported numeric profile {0} (this build reads profiles 1 to {p}); a newer s2s2s may read it", p = crate::container::Profile::LATEST)]
    UnsupportedProfile(u8),
    #[error("file was made with model {found}, but the loaded model is {expected}; pass --model with the right one")]
    WrongModel { found: String, expected: String },
    #[error("corrupt input: {0}")]
    Corrupt(&'static str),
    #[error("checksum mismatch in {0}: the data is corrupt")]
    Checksum(&'static str),
    #[error("truncated input: {0}")]
    Truncated(&'static str),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Model(e.to_string())
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
