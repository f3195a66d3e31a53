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
    /// Bitwise context mixing of the bytes (`predict::cm`), no network; statistics span the
    /// frame (format version 4; 7 adds transform records).
    Cm = 4,
    /// The network's token probabilities as one input of the bitwise context mixer, tokens coded
    /// as decisions along the vocabulary's byte trie (`codec::trie`); statistics span the frame
    /// (format version 5; version 6 adds lanes of several streams, 7 transform records).
    Hybrid = 5,
}

impl Profile {
    /// The newest profile this build reads.
    pub const LATEST: u8 = 5;

    /// The profile stored as `b`.
    pub fn from_u8(b: u8) -> Result<Self, FormatError> {
        match b {
            1 => Ok(Profile::Neural),
            2 => Ok(Profile::Mixed),
            3 => Ok(Profile::Adaptive),
            4 => Ok(Profile::Cm),
            5 => Ok(Profile::Hybrid),
            _ => Err(FormatError::UnsupportedProfile { found: b }),
        }
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Neural => "neural",
            Profile::Mixed => "mixed",
            Profile::Adaptive => "adaptive",
            Profile::Cm => "cm",
            Profile::Hybrid => "hybrid",
        }
    }

    /// Whether frames of this profile run the network.
    pub fn uses_network(self) -> bool {
        matches!(self, Profile::Neural | Profile::Mixed | Profile::Hybrid)
    }

    /// Whether frames of this profile code a latent per segment (profile 3 codes the empty one).
    pub fn codes_latents(self) -> bool {
        matches!(self, Profile::Neural | Profile::Mixed)
    }

    /// Whether frames of this profile code with lanes of the context mixer.
    pub fn uses_cm(self) -> bool {
        matches!(self, Profile::Cm | Profile::Hybrid)
    }

    /// Whether frames of format `version` may name this profile: each context-mixing profile has
    /// its own versions, so older builds refuse it by version before reading any block.
    pub fn in_version(self, version: u8) -> bool {
        match self {
            Profile::Hybrid => matches!(version, 5..=13),
            Profile::Cm => matches!(version, 4 | 7..=13),
            _ => matches!(version, 1..=3),
        }
    }
}

/// The context mixer's parameters, which a profile-4 frame stores where other frames store the
/// model identity and a profile-5 frame after its largest block size: byte 0 the log2 of its
/// hash table's 16-byte buckets, byte 1 the number of lanes (independent predictors, dealt
/// blocks round-robin), byte 2 (format version 6, else 0) the streams of each lane (blocks it
/// codes at once), byte 3 (format version 8, else 0) 1 where the lanes share what they learn,
/// byte 4 (format version 9, else 0; 2 from version 11, 3 from 12, 4 from 13) the predictor's [`CmRevision`], byte 5 (format version 10,
/// else 0) the network's [`NetArith`]; the other 10 bytes zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CmParams {
    pub table_bits: u8,
    pub lanes: u8,
    /// Blocks a lane codes at once (profile 5: the network steps them together); 1 before
    /// format version 6.
    pub streams: u8,
    /// Whether each lane absorbs the blocks the others coded, a group behind (format version 8;
    /// [`crate::codec::cm::Lane::absorb`]): the statistics of every lane then span the whole
    /// input but the group in progress, at the cost of learning it all in each lane.
    pub share: bool,
    pub revision: CmRevision,
    /// The network's arithmetic (profile 5; always f32 in profile 4, which runs no network).
    pub arith: NetArith,
}

/// Revisions of the context mixer's predictor ([`crate::predict::cm`]): what it computes, every
/// constant included, is part of the format, so each revision stays decodable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum CmRevision {
    /// Format versions 4-8.
    #[default]
    First,
    /// Format version 9: the first mixer's weights are selected by how many orders have seen
    /// the context (or by the match's length), young weight sets learn faster, a word-trigram
    /// context replaces a sparse one, both APM points next to the input learn, and the APMs
    /// weigh more in the final probability.
    Second,
    /// Format version 11: a table's fields (separated by `,` `;` `|` or tabs) are contexts: the
    /// column context aligns the line above by fields, and two more contexts see the field's
    /// number with its bytes so far, and with its place and the last bytes.
    Third,
    /// Format version 12: two indirect contexts (the last two bytes that followed the last byte,
    /// and the last two bytes, where they occurred before), a second input from orders 2-7 and
    /// the word contexts where their bit history is one-sided, the first mixer's weights selected
    /// by the last byte's top bits instead of the partial byte, mixers that learn at 2/3 of the
    /// rate, and a third APM on the last two bytes, weighed most.
    Fourth,
    /// Format version 13: two more contexts (the word with the word before the last; the last 4
    /// bytes case-folded, with the column up to 3), UTF-8 punctuation and symbols (U+0080-U+00BF,
    /// U+2000-U+2FFF) separate words, two more gated mixers (by the byte before the last; by the
    /// word's length and the kinds of the last two bytes), and with the network an APM on its
    /// confidence.
    Fifth,
}

/// The network's arithmetic in a profile-5 frame: part of the format, so each stays decodable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum NetArith {
    /// f32 with a fixed operation order (`numeric::detmath`): format versions 5-9.
    #[default]
    F32,
    /// int8 weights and activations with exact i32 sums (`numeric::int8`; format version 10).
    Int8,
}

impl NetArith {
    /// Short name for reports and the command line.
    pub fn name(self) -> &'static str {
        match self {
            NetArith::F32 => "f32",
            NetArith::Int8 => "int8",
        }
    }
}

impl CmRevision {
    /// The revision this build writes.
    pub const LATEST: Self = Self::Fifth;
}

impl CmParams {
    /// Allowed hash table sizes (2^24 buckets is 256 MiB per lane).
    pub const TABLE_BITS: std::ops::RangeInclusive<u8> = 12..=24;
    /// Allowed lane counts.
    pub const LANES: std::ops::RangeInclusive<u8> = 1..=8;
    /// Allowed streams per lane.
    pub const STREAMS: std::ops::RangeInclusive<u8> = 1..=32;

    /// The 16 bytes stored in the frame header.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.table_bits;
        b[1] = self.lanes;
        b[2] = if self.streams > 1 { self.streams } else { 0 };
        b[3] = u8::from(self.share);
        b[4] = self.revision as u8;
        b[5] = self.arith as u8;
        b
    }

    /// The parameters stored as `b`, if they are in range.
    pub fn from_bytes(b: &[u8; 16]) -> Result<Self, FormatError> {
        let revision = match b[4] {
            0 => CmRevision::First,
            1 => CmRevision::Second,
            2 => CmRevision::Third,
            3 => CmRevision::Fourth,
            _ => CmRevision::Fifth,
        };
        let arith = if b[5] == 1 { NetArith::Int8 } else { NetArith::F32 };
        let p = CmParams { table_bits: b[0], lanes: b[1], streams: b[2].max(1), share: b[3] == 1, revision, arith };
        let ok = Self::TABLE_BITS.contains(&p.table_bits) && Self::LANES.contains(&p.lanes) && Self::STREAMS.contains(&p.streams);
        if !ok || b[3] > 1 || b[4] > 4 || b[5] > 1 || b[6..].iter().any(|&x| x != 0) {
            return Err(FormatError::CmParams { table_bits: b[0], lanes: b[1] });
        }
        Ok(p)
    }

    /// The same streams on one lane (up to the most allowed), with one lane's table: a larger
    /// one measured slower (more TLB misses) for no gain.
    pub fn one_lane(self) -> Self {
        let streams = (u32::from(self.streams) * u32::from(self.lanes)).min(u32::from(*Self::STREAMS.end()));
        CmParams { lanes: 1, streams: streams as u8, share: false, ..self }
    }

    /// These parameters for an input of `len` bytes in all: a table of no more than 32 to 64
    /// buckets per input byte (a power of two). Each byte visits a bucket per context and
    /// nibble, most of them seen before; on the 32 validation sources at level 2 this cost
    /// 0.005% of size (0.04% at most) for 1.46x the speed, since the table the level allows for
    /// inputs of many MB would cost a small input its page faults and TLB misses.
    pub fn sized_for(self, len: usize) -> Self {
        let need = (usize::BITS - len.leading_zeros() + 5).max(u32::from(*Self::TABLE_BITS.start()));
        CmParams { table_bits: self.table_bits.min(need as u8), ..self }
    }

    /// Memory the predictors take, in bytes: per lane, the hash table plus ~26 MiB (the match
    /// model's 16 MiB history and 4 MiB index, the mixers' and APMs' weights, profile 5's
    /// end-of-token counters; each further stream's cursor is a few KiB), from the fourth
    /// revision 18 MiB more (its third APM's 17 MiB; each stream's indirect contexts 128 KiB),
    /// from the fifth 2 MiB more (its two mixers' weights and the network APM's rows, 1.3 MiB).
    pub fn memory(self) -> u64 {
        let fixed: u64 = match self.revision {
            CmRevision::Fifth => 46 << 20,
            CmRevision::Fourth => 44 << 20,
            _ => 26 << 20,
        };
        u64::from(self.lanes) * ((16u64 << self.table_bits) + fixed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sized_to_a_known_input_within_the_levels_bound() {
        let p = CmParams { table_bits: 24, lanes: 1, streams: 1, share: false, revision: CmRevision::LATEST, arith: NetArith::F32 };
        let bits = |len| p.sized_for(len).table_bits;
        // 100 kB: 2^17 rounded up, 32 buckets a byte
        assert_eq!((bits(100_000), bits(131_071), bits(131_072)), (22, 22, 23));
        assert_eq!((bits(0), bits(1), bits(1 << 30)), (12, 12, 24));
        assert_eq!(p.sized_for(100_000), CmParams { table_bits: 22, ..p });
    }
}
