//! Compression levels: each names a predictor, a built-in model and a neural block size.
//!
//! Lower levels are faster; higher levels compress more. Levels 1-2 are context mixing alone;
//! 3-9 the network within context mixing on one lane (the small network at 3-5; 8 blocks at
//! once at 3, 4 at 4-6, 2 at 7, 1 at 8-9).
//! Larger blocks restart the network's context less often. A
//! decoder needs nothing but the file: the profile, model identity and block lengths are all
//! recorded in it.

#![forbid(unsafe_code)]

use crate::codec::latent::LatentSearch;
use crate::format::{CmParams, CmRevision, NetArith, Profile};
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
    /// Whether lanes added to this level (`--lanes`) learn only the blocks they code, for speed
    /// alone (level 1), instead of sharing what they learn.
    pub independent_lanes: bool,
}

const KIB: usize = 1 << 10;

/// Levels 1 to 9.
pub const LEVELS: [Level; 9] = [
    Level { profile: Profile::Cm, model: Builtin::Small, block: 1024 * KIB, cm: CM_FAST, independent_lanes: true, ..NEURAL },
    Level { profile: Profile::Cm, model: Builtin::Small, block: 1024 * KIB, cm: CM_ONE_LANE, ..NEURAL },
    Level { model: Builtin::Small, block: 64 * KIB, cm: CM_EIGHT_STREAMS, ..HYBRID },
    Level { model: Builtin::Small, block: 64 * KIB, ..HYBRID },
    Level { model: Builtin::Small, block: 128 * KIB, ..HYBRID },
    Level { block: 64 * KIB, ..HYBRID },
    Level { block: 64 * KIB, cm: CM_TWO_STREAMS, ..HYBRID },
    Level { block: 128 * KIB, cm: CM_MEDIUM, ..HYBRID },
    Level { block: 256 * KIB, cm: CM_ONE_LANE, ..HYBRID },
];

/// The context mixer of level 1: one lane of 64 MiB of hashed statistics (110 MiB) that learns
/// the whole file: 1.05-1.3x level 2's speed (its table is 4x larger), 0.8-1.8% larger on
/// held-out inputs of 1.2-8 MB. Two lanes, each learning every other block, were 1.2-1.7x faster
/// there, but each saw half the file: 1.4-8.4% larger than one lane, and on held-out prose of
/// 1.8-2.1 MB larger than lpaq1 -9 (`-1 --lanes 2` still gives them). Where a level runs the
/// network, it runs in int8: 1.6-2x faster than f32, and on held-out text within 0.05% of its
/// size.
const CM_FAST: CmParams =
    CmParams { table_bits: 22, lanes: 1, streams: 1, share: false, revision: CmRevision::LATEST, arith: NetArith::Int8 };
/// The context mixer of level 2 (and 9): one lane of 256 MiB (302 MiB) that learns the whole
/// file. Alone, the context mixer is bound by memory latency: on this project's 2-core hosts a
/// second lane bought 7-11% of speed and cost 1.4-3.7% of size, and absorbing the other lane's
/// blocks cost more time than a single lane.
const CM_ONE_LANE: CmParams = CmParams { table_bits: 24, lanes: 1, ..CM_FAST };
/// The context mixer of levels 4-6: one lane of 64 MiB (110 MiB) that codes 4 blocks at once, so
/// that one network step serves 4 tokens; the network's rows run on every core. Every block in
/// progress starts from statistics that have not seen the others in progress, and blocks on
/// another lane are seen a group late if at all, so fewer blocks at once and fewer lanes compress
/// more: on held-out code and docs that change kind every 100-300 kB, this is 5.7% smaller at
/// level 6 than two lanes of 8 blocks each (the first format version 8 levels), at the same speed,
/// and 2.4% smaller than two lanes of 2 that share; one lane of 2 is 1.4% smaller again and 1.2x
/// slower (level 7).
const CM_NET: CmParams = CmParams { lanes: 1, streams: 4, ..CM_FAST };
/// The context mixer of level 3: level 4's, 8 blocks at once (as fast as the small network mixed
/// with the block's token models, which level 3 ran before, and 5-23% smaller on held-out text).
const CM_EIGHT_STREAMS: CmParams = CmParams { streams: 8, ..CM_NET };
/// The context mixer of level 7: level 6's, 2 blocks at once.
const CM_TWO_STREAMS: CmParams = CmParams { streams: 2, ..CM_NET };
/// The context mixer of level 8: one lane of 128 MiB (174 MiB), one block at a time.
const CM_MEDIUM: CmParams = CmParams { table_bits: 23, lanes: 1, ..CM_FAST };

/// What the network levels share unless they say otherwise: the network mixed with the block's
/// token models (profile 2, level 3 before format version 11; `--profile mixed`).
const NEURAL: Level = Level {
    profile: Profile::Mixed,
    model: Builtin::Default,
    block: 64 * KIB,
    latent: LatentSearch::Off,
    cm: CM_NET,
    independent_lanes: false,
};

/// Levels 3-9: the network within the context mixer (the block size sets where the network's
/// context restarts). Smaller than `NEURAL`; with fewer streams, slower.
const HYBRID: Level = Level { profile: Profile::Hybrid, ..NEURAL };

/// Settings that replace a level's ([`Level::with_overrides`]); `None` keeps the level's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overrides {
    pub profile: Option<Profile>,
    /// Neural block size.
    pub block: Option<usize>,
    pub latent: Option<LatentSearch>,
    /// The context mixer's lanes (profiles `Cm` and `Hybrid`).
    pub lanes: Option<u8>,
    /// Blocks each lane codes at once (profile `Hybrid`).
    pub streams: Option<u8>,
    /// The network's arithmetic (profile `Hybrid`).
    pub arith: Option<NetArith>,
}

/// The level used when none is given.
pub const DEFAULT_LEVEL: u8 = 6;

impl Level {
    /// The configuration of level `n` (1 to 9).
    pub fn get(n: u8) -> Option<Level> {
        LEVELS.get(usize::from(n).checked_sub(1)?).copied()
    }

    /// This level with any of its settings replaced.
    pub fn with_overrides(self, o: Overrides) -> Level {
        // a level that switches to context mixing takes level 1's blocks and tables (its own are
        // sized for the network)
        let base = match o.profile {
            Some(Profile::Cm) if self.profile != Profile::Cm => LEVELS[0],
            _ => self,
        };
        // lanes added to a level share what they learn (level 1's do not: they are for speed
        // alone)
        let lanes = o.lanes.unwrap_or(base.cm.lanes);
        let share = lanes > 1 && !base.independent_lanes;
        let cm =
            CmParams { lanes, streams: o.streams.unwrap_or(base.cm.streams), share, arith: o.arith.unwrap_or(base.cm.arith), ..base.cm };
        Level {
            profile: o.profile.unwrap_or(self.profile),
            block: o.block.unwrap_or(base.block),
            latent: o.latent.unwrap_or(self.latent),
            cm,
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
        let mib: Vec<u64> = LEVELS.iter().map(|l| l.cm.memory() >> 20).collect();
        assert_eq!((mib[0], mib[1], mib[2], mib[5], mib[7], mib[8]), (110, 302, 110, 110, 174, 302));
        assert!(LEVELS.iter().all(|l| l.cm.memory() <= 2 << 30));
        // a level never runs a cheaper predictor than the one below it
        let cost =
            |l: &Level| l.profile.uses_network() as u8 * 2 + (l.model == Builtin::Default) as u8 + (l.profile == Profile::Hybrid) as u8;
        assert!(LEVELS.windows(2).all(|w| cost(&w[0]) <= cost(&w[1])));
    }

    #[test]
    fn switching_a_neural_level_to_context_mixing_takes_level_1s_blocks_and_tables() {
        let six = Level::get(6).unwrap();
        let cm = six.with_overrides(Overrides { profile: Some(Profile::Cm), ..Overrides::default() });
        assert_eq!((cm.profile, cm.block, cm.cm), (Profile::Cm, LEVELS[0].block, LEVELS[0].cm));
        assert_eq!(six.with_overrides(Overrides { profile: Some(Profile::Cm), block: Some(4096), ..Overrides::default() }).block, 4096);
        let two = Level::get(2).unwrap();
        assert_eq!(two.with_overrides(Overrides { profile: Some(Profile::Cm), ..Overrides::default() }), two);
    }

    #[test]
    fn lanes_added_to_a_one_lane_level_share() {
        let six = Level::get(6).unwrap();
        let more = six.with_overrides(Overrides { lanes: Some(2), streams: Some(8), ..Overrides::default() });
        assert_eq!((more.cm.lanes, more.cm.streams, more.cm.share, more.block), (2, 8, true, six.block));
        let two = Level::get(2).unwrap().with_overrides(Overrides { lanes: Some(2), ..Overrides::default() });
        assert_eq!((two.cm.lanes, two.cm.share), (2, true));
        // level 1's are for speed alone
        let one = Level::get(1).unwrap();
        assert_eq!(one.cm.lanes, 1);
        assert!(!one.with_overrides(Overrides { lanes: Some(3), ..Overrides::default() }).cm.share);
        assert!(!one.with_overrides(Overrides { lanes: Some(1), ..Overrides::default() }).cm.share);
    }
}
