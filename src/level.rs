//! Compression levels: each names a predictor, a built-in model and a neural block size.
//!
//! Lower levels are faster; higher levels compress more. Levels 1-2 are context mixing alone;
//! 3 the small network mixed with the block's token models; 4-9 the network within context
//! mixing (the small one at 4-5; at 4-6 lanes of 8 streams, at 7-9 of one; an input of at most
//! half a group of blocks goes on one lane with all the streams). Larger blocks
//! restart the network's context less often but leave fewer blocks to run in parallel. A
//! decoder needs nothing but the file: the profile, model identity and block lengths are all
//! recorded in it.

#![forbid(unsafe_code)]

use crate::codec::latent::LatentSearch;
use crate::format::{CmParams, Profile};
use crate::model::Builtin;
use crate::pipeline::Options;

/// One level's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// How token probabilities are computed.
    pub profile: Profile,
    /// The built-in model (for `Adaptive`, only its tokenizer is used).
    pub model: Builtin,
    /// Target size of a neural block in bytes.
    pub block: usize,
    /// How each segment's latent is chosen.
    pub latent: LatentSearch,
    /// The context mixer's size and lanes (profiles `Cm` and `Hybrid`).
    pub cm: CmParams,
}

const KIB: usize = 1 << 10;

/// Levels 1 to 9.
pub const LEVELS: [Level; 9] = [
    Level { profile: Profile::Cm, model: Builtin::Small, block: 1024 * KIB, cm: CM_FAST, ..NEURAL },
    Level { profile: Profile::Cm, model: Builtin::Small, block: 1024 * KIB, cm: CM_ONE_LANE, ..NEURAL },
    Level { model: Builtin::Small, block: 64 * KIB, ..NEURAL },
    Level { model: Builtin::Small, block: 64 * KIB, ..HYBRID },
    Level { model: Builtin::Small, block: 128 * KIB, ..HYBRID },
    Level { block: 64 * KIB, ..HYBRID },
    Level { block: 64 * KIB, cm: CM_SMALL, ..HYBRID },
    Level { block: 128 * KIB, cm: CM_MEDIUM, ..HYBRID },
    Level { block: 256 * KIB, cm: CM_LARGE, ..HYBRID },
];

/// The context mixer of level 1: 64 MiB of hashed statistics per lane, two lanes (180 MiB), each
/// learning only the blocks it codes (the fastest).
const CM_FAST: CmParams = CmParams { table_bits: 22, lanes: 2, streams: 1, share: false };
/// The context mixer of level 7: level 1's, but each lane also absorbs the blocks the other
/// coded, a group behind (a fraction of the network's time).
const CM_SMALL: CmParams = CmParams { share: true, ..CM_FAST };
/// The context mixer of levels 4-6: level 7's, but each lane codes 8 blocks at once, so that the
/// network steps 8 streams together (as level 3 batches its blocks), for ~1.5% more output.
const CM_STREAMS: CmParams = CmParams { streams: 8, ..CM_SMALL };
/// The context mixer of level 8: 128 MiB per lane, two lanes (308 MiB).
const CM_MEDIUM: CmParams = CmParams { table_bits: 23, ..CM_SMALL };
/// The context mixer of level 9: 256 MiB per lane, two lanes (564 MiB).
const CM_LARGE: CmParams = CmParams { table_bits: 24, ..CM_SMALL };
/// The context mixer of level 2: one lane of 256 MiB (282 MiB) that learns the whole file. Alone,
/// the context mixer is bound by memory latency: on this project's 2-core hosts a second lane
/// bought 7-11% of speed and cost 1.4-3.7% of size, and absorbing the other lane's blocks cost
/// more time than a single lane.
const CM_ONE_LANE: CmParams = CmParams { lanes: 1, share: false, ..CM_LARGE };

/// What the network levels share unless they say otherwise: the network mixed with the block's
/// token models (level 3).
const NEURAL: Level =
    Level { profile: Profile::Mixed, model: Builtin::Default, block: 64 * KIB, latent: LatentSearch::Off, cm: CM_STREAMS };

/// Levels 4-9: the network within the context mixer, whose lanes take blocks in turn (the block
/// size sets where the network's context restarts and how many blocks a small file gives the
/// lanes to run in parallel). Smaller than `NEURAL`; with one stream per lane, slower.
const HYBRID: Level = Level { profile: Profile::Hybrid, ..NEURAL };

/// The level used when none is given.
pub const DEFAULT_LEVEL: u8 = 6;

impl Level {
    /// The configuration of level `n` (1 to 9).
    pub fn get(n: u8) -> Option<Level> {
        LEVELS.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// This level with any of its settings replaced.
    pub fn with_overrides(self, profile: Option<Profile>, block: Option<usize>, latent: Option<LatentSearch>) -> Level {
        // a level that switches to context mixing takes level 1's blocks and tables (its own are
        // sized for the network)
        let base = match profile {
            Some(Profile::Cm) if self.profile != Profile::Cm => LEVELS[0],
            _ => self,
        };
        Level {
            profile: profile.unwrap_or(self.profile),
            block: block.unwrap_or(base.block),
            latent: latent.unwrap_or(self.latent),
            ..base
        }
    }

    /// Compression options for this level on `threads` threads.
    pub fn options(&self, threads: usize) -> Options {
        Options { threads, profile: self.profile, neural_block: self.block, latent: self.latent, cm: self.cm, ..Options::default() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::MAX_NEURAL_BLOCK;

    #[test]
    fn levels_are_valid_and_ordered_by_model_cost() {
        assert!(Level::get(DEFAULT_LEVEL).is_some());
        assert!(Level::get(0).is_none() && Level::get(10).is_none());
        for (i, l) in LEVELS.iter().enumerate() {
            assert!(l.block >= 1 << 12 && l.block <= MAX_NEURAL_BLOCK as usize, "level {}", i + 1);
        }
        // the context mixer's memory as the README states it, and within 2 GiB at any level
        assert_eq!([LEVELS[0].cm.memory() >> 20, LEVELS[1].cm.memory() >> 20, LEVELS[7].cm.memory() >> 20], [180, 282, 308]);
        assert!(LEVELS.iter().all(|l| l.cm.memory() <= 2 << 30));
        // a level never runs a cheaper predictor than the one below it
        let cost =
            |l: &Level| l.profile.uses_network() as u8 * 2 + (l.model == Builtin::Default) as u8 + (l.profile == Profile::Hybrid) as u8;
        assert!(LEVELS.windows(2).all(|w| cost(&w[0]) <= cost(&w[1])));
    }

    #[test]
    fn switching_a_neural_level_to_context_mixing_takes_level_1s_blocks_and_tables() {
        let six = Level::get(6).unwrap();
        let cm = six.with_overrides(Some(Profile::Cm), None, None);
        assert_eq!((cm.profile, cm.block, cm.cm), (Profile::Cm, LEVELS[0].block, LEVELS[0].cm));
        assert_eq!(six.with_overrides(Some(Profile::Cm), Some(4096), None).block, 4096);
        let two = Level::get(2).unwrap();
        assert_eq!(two.with_overrides(Some(Profile::Cm), None, None), two);
    }
}
