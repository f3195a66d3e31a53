//! The numeric profile a frame names: how its token probabilities are computed.

use super::FormatError;

/// Numeric profile: how a frame's token probabilities are computed (part of the format; the
/// arithmetic behind each is `crate::numeric` plus the engine and `crate::predict`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The neural decoder alone (the only profile of format version 1).
    Neural = 1,
    /// The neural decoder mixed with adaptive models of the block (`predict::mixer`).
    Mixed = 2,
    /// The adaptive models alone: no network runs.
    Adaptive = 3,
}

impl Profile {
    /// The newest profile this build reads.
    pub const LATEST: u8 = 3;

    /// The profile stored as `b`.
    pub fn from_u8(b: u8) -> Result<Self, FormatError> {
        match b {
            1 => Ok(Profile::Neural),
            2 => Ok(Profile::Mixed),
            3 => Ok(Profile::Adaptive),
            _ => Err(FormatError::UnsupportedProfile { found: b }),
        }
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Neural => "neural",
            Profile::Mixed => "mixed",
            Profile::Adaptive => "adaptive",
        }
    }

    /// Whether frames of this profile run the network.
    pub fn uses_network(self) -> bool {
        self != Profile::Adaptive
    }
}
