//! What can be wrong with a container.

use thiserror::Error;

use super::{Profile, MAX_BLOCK_SIZE, OLDEST_VERSION, VERSION};

/// A part of a container, as errors name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Region {
    /// The input as a whole (e.g. it is empty).
    Input,
    FrameHeader,
    BlockHeader,
    BlockPayload,
    /// A block's header and payload, or its decoded bytes.
    Block,
    EndRecord,
    /// A frame's decoded bytes as a whole.
    Frame,
}

impl std::fmt::Display for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Region::Input => "input",
            Region::FrameHeader => "frame header",
            Region::BlockHeader => "block header",
            Region::BlockPayload => "block payload",
            Region::Block => "block",
            Region::EndRecord => "end record",
            Region::Frame => "frame",
        })
    }
}

/// A malformed, truncated or damaged container.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FormatError {
    #[error("not an s2s2s file (bad magic)")]
    BadMagic,
    #[error("unsupported format version {found} (this build reads versions {OLDEST_VERSION} to {VERSION}); a newer s2s2s may read it")]
    UnsupportedVersion { found: u8 },
    #[error("unsupported numeric profile {found} (this build reads profiles 1 to {latest}); a newer s2s2s may read it", latest = Profile::LATEST)]
    UnsupportedProfile { found: u8 },
    #[error("truncated input: {region}")]
    Truncated { region: Region },
    #[error("checksum mismatch in {region}: the data is corrupt")]
    Checksum { region: Region },
    #[error("corrupt input: unknown block method {found}")]
    UnknownMethod { found: u8 },
    #[error("corrupt input: block size {found} out of range (1 to {MAX_BLOCK_SIZE})")]
    BlockSize { found: u32 },
    #[error("corrupt input: block length {len} out of range (1 to {max})")]
    BlockLength { len: u32, max: u32 },
    #[error("corrupt input: payload of {payload_len} bytes out of range for a {method} block of {orig_len}")]
    PayloadLength { method: &'static str, payload_len: u32, orig_len: u32 },
    #[error("corrupt input: neural block of {len} bytes and {tokens} tokens out of range (at most {max} bytes)")]
    NeuralBlock { len: u32, tokens: u32, max: u32 },
    #[error("corrupt input: block decodes to {found} bytes, its header says {expected}")]
    DecodedLength { found: usize, expected: u32 },
    #[error("corrupt input: frame length {declared} does not match its blocks ({found})")]
    FrameLength { declared: u64, found: u64 },
    #[error("corrupt input: invalid zstd payload")]
    Zstd,
    #[error("corrupt input: context-mixing parameters out of range (table bits {table_bits}, lanes {lanes})")]
    CmParams { table_bits: u8, lanes: u8 },
    #[error("corrupt input: profile {profile} in a version {version} frame")]
    ProfileVersion { profile: &'static str, version: u8 },
    #[error("corrupt input: a {method} block in a {profile} frame")]
    MethodProfile { method: &'static str, profile: &'static str },
    #[error("corrupt input: a block's line-ending record does not match its bytes")]
    LineEndings,
}
