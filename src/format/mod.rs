//! The `.s2s` container format, one file per section of FORMAT.md: [`frame`] (the frame
//! header), [`block`] (block headers, payloads and the end record), [`profile`] (the numeric
//! profile a frame names), and [`reader`] (the one walker over frames and records that
//! decompression and `info` share). Every length read from a file is checked against a bound
//! before anything is allocated.

#![forbid(unsafe_code)]

pub mod block;
mod bytes;
mod error;
pub mod frame;
pub mod profile;
pub mod reader;

pub use block::{max_payload, read_record, write_block, write_end, BlockHeader, EndRecord, Method, Record};
pub use error::{FormatError, Region};
pub use frame::{read_frame_header, write_frame_header, FrameHeader};
pub use profile::{CmParams, CmRevision, NetArith, Profile};
pub use reader::{FrameReader, Item};

/// File magic.
pub const MAGIC: [u8; 4] = *b"S2S2";
/// Newest format version this build reads and writes (see [`version_for`]).
pub const VERSION: u8 = 13;
/// Oldest format version this build still reads (version 1's block CRC covers only the header).
pub const OLDEST_VERSION: u8 = 1;
/// Largest block a frame may declare (bounds memory when reading hostile input).
pub const MAX_BLOCK_SIZE: u32 = 1 << 24;
/// Largest neural block (bounds the model steps a single hostile block header can demand).
pub const MAX_NEURAL_BLOCK: u32 = 1 << 20;
/// Most bytes of blocks a version-6 frame may have its lanes code at once (`lanes x streams x`
/// block size): bounds the blocks, network states and token models a decoder holds.
pub const MAX_GROUP_BYTES: u32 = 2 << 20;
/// Largest neural block of a version 1 or 2 frame.
const MAX_NEURAL_BLOCK_V2: u32 = 1 << 16;

/// The version a frame is written as: the oldest that can hold it, so that older builds read
/// every file they can (13 for a context-mixing frame whose predictor is in its fifth revision,
/// 12 in its fourth, 11 in its third,
/// 10 for a profile-5 frame whose network runs in int8, 9 for the other context-mixing frames;
/// 3 for neural blocks beyond 2^16 bytes, else 2). Versions 4-8 (the context-mixing profiles
/// before transforms, then before shared lanes, then before the second revision) are read, no
/// longer written.
pub fn version_for(profile: Profile, neural_block: usize, cm: CmParams) -> u8 {
    if profile.uses_cm() && cm.revision >= CmRevision::Fifth {
        13
    } else if profile.uses_cm() && cm.revision >= CmRevision::Fourth {
        12
    } else if profile.uses_cm() && cm.revision >= CmRevision::Third {
        11
    } else if profile == Profile::Hybrid && cm.arith == NetArith::Int8 {
        10
    } else if profile.uses_cm() {
        9
    } else if neural_block > MAX_NEURAL_BLOCK_V2 as usize {
        3
    } else {
        2
    }
}

/// Whether a frame of `version` begins its coded blocks' payloads with a transform record
/// ([`crate::transform`]).
pub fn has_transforms(version: u8) -> bool {
    version >= 7
}

/// Largest neural block a frame of `version` may hold.
pub fn max_neural_block(version: u8) -> u32 {
    if version >= 3 {
        MAX_NEURAL_BLOCK
    } else {
        MAX_NEURAL_BLOCK_V2
    }
}
