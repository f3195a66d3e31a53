//! The frame header: magic, version, numeric profile, model identity, largest block, and (profile
//! 5) the context mixer's parameters.

use std::io::{Read, Write};

use super::bytes::{check, read_exact, read_exact_or_eof, u32_at};
use super::{
    CmParams, CmRevision, FormatError, NetArith, Profile, Region, MAGIC, MAX_BLOCK_SIZE, MAX_GROUP_BYTES, OLDEST_VERSION, VERSION,
};
use crate::error::Result;

/// Bytes of a frame header: magic, version, profile, model identity, block size, CRC.
pub const FRAME_HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4 + 4;
/// Bytes a profile-5 frame header adds before its CRC: the context mixer's parameters (table
/// bits and lanes; format version 6 also streams per lane, 8 whether the lanes share, 9 the
/// predictor's revision, 10 the network's arithmetic; 11, 12 and 13 name a third, a fourth and a
/// fifth revision in the same bytes).
fn hybrid_extra(profile: Profile, version: u8) -> usize {
    match (profile, version) {
        (Profile::Hybrid, 5) => 2,
        (Profile::Hybrid, 6 | 7) => 3,
        (Profile::Hybrid, 8) => 4,
        (Profile::Hybrid, 9) => 5,
        (Profile::Hybrid, _) => 6,
        _ => 0,
    }
}

/// The frame header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Format version the frame was written with.
    pub version: u8,
    pub profile: Profile,
    pub model_id: [u8; 16],
    /// Largest original size of any block in the frame.
    pub block_size: u32,
    /// The context mixer's parameters (profiles 4 and 5; profile 4 stores them as its model
    /// identity, profile 5 after the block size).
    pub cm: Option<CmParams>,
}

/// Writes a frame header.
pub fn write_frame_header(w: &mut impl Write, h: &FrameHeader) -> Result<()> {
    let mut b = Vec::with_capacity(FRAME_HEADER_LEN);
    b.extend_from_slice(&MAGIC);
    b.push(h.version);
    b.push(h.profile as u8);
    b.extend_from_slice(&h.model_id);
    b.extend_from_slice(&h.block_size.to_le_bytes());
    let extra = hybrid_extra(h.profile, h.version);
    if extra > 0 {
        let cm = h.cm.expect("a profile-5 frame names its context mixer");
        b.extend_from_slice(&cm.to_bytes()[..extra]);
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    w.write_all(&b)?;
    Ok(())
}

/// Reads a frame header; `Ok(None)` at a clean end of input (between frames).
pub fn read_frame_header(r: &mut impl Read) -> Result<Option<FrameHeader>> {
    let mut b = [0u8; FRAME_HEADER_LEN + 6];
    if !read_exact_or_eof(r, &mut b[..4], Region::FrameHeader)? {
        return Ok(None);
    }
    if b[..4] != MAGIC {
        return Err(FormatError::BadMagic.into());
    }
    read_exact(r, &mut b[4..6], Region::FrameHeader)?;
    if !(OLDEST_VERSION..=VERSION).contains(&b[4]) {
        return Err(FormatError::UnsupportedVersion { found: b[4] }.into());
    }
    let (version, profile) = (b[4], Profile::from_u8(b[5])?);
    if !profile.in_version(version) {
        return Err(FormatError::ProfileVersion { profile: profile.name(), version }.into());
    }
    let extra = hybrid_extra(profile, version);
    let len = FRAME_HEADER_LEN + extra;
    read_exact(r, &mut b[6..len], Region::FrameHeader)?;
    check(crc32fast::hash(&b[..len - 4]), u32_at(&b, len - 4), Region::FrameHeader)?;
    let mut model_id = [0u8; 16];
    model_id.copy_from_slice(&b[6..22]);
    let block_size = u32_at(&b, 22);
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(FormatError::BlockSize { found: block_size }.into());
    }
    let cm = match profile {
        // (a lane of several streams is for the network's sake: profile 4 has one)
        Profile::Cm if model_id[2] != 0 => return Err(FormatError::CmParams { table_bits: model_id[0], lanes: model_id[1] }.into()),
        Profile::Cm => Some(CmParams::from_bytes(&model_id)?),
        Profile::Hybrid => {
            let mut p = [0u8; 16];
            p[..extra].copy_from_slice(&b[26..26 + extra]);
            Some(CmParams::from_bytes(&p)?)
        }
        _ => None,
    };
    if let Some(p) = cm.filter(|p| {
        (p.share && version < 8)
            || (p.revision != CmRevision::First && version < 9)
            || (p.revision >= CmRevision::Third && version < 11)
            || (p.revision >= CmRevision::Fourth && version < 12)
            || (p.revision >= CmRevision::Fifth && version < 13)
            || (p.arith != NetArith::F32 && (version < 10 || profile == Profile::Cm))
    }) {
        return Err(FormatError::CmParams { table_bits: p.table_bits, lanes: p.lanes }.into());
    }
    if let Some(p) = cm.filter(|p| p.streams > 1) {
        if u64::from(p.lanes) * u64::from(p.streams) * u64::from(block_size) > u64::from(MAX_GROUP_BYTES) {
            return Err(FormatError::CmParams { table_bits: p.table_bits, lanes: p.lanes }.into());
        }
    }
    let h = FrameHeader { version, profile, model_id, block_size, cm };
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn header(version: u8, profile: Profile, model_id: [u8; 16]) -> Vec<u8> {
        let mut b = Vec::new();
        let cm = match profile {
            Profile::Cm => CmParams::from_bytes(&model_id).ok(),
            Profile::Hybrid => Some(hybrid_params(version)),
            _ => None,
        };
        write_frame_header(&mut b, &FrameHeader { version, profile, model_id, block_size: 1 << 16, cm }).unwrap();
        b
    }

    /// The mixer `header` gives a profile-5 frame of `version`: what that version can say.
    fn hybrid_params(version: u8) -> CmParams {
        let revision = match version {
            13.. => CmRevision::Fifth,
            12 => CmRevision::Fourth,
            11 => CmRevision::Third,
            9..=10 => CmRevision::Second,
            _ => CmRevision::First,
        };
        let arith = if version >= 10 { NetArith::Int8 } else { NetArith::F32 };
        CmParams { table_bits: 20, lanes: 2, streams: if version >= 6 { 4 } else { 1 }, share: version >= 8, revision, arith }
    }

    #[test]
    fn context_mixing_frames_are_version_4_with_valid_parameters() {
        let ok =
            CmParams { table_bits: 22, lanes: 2, streams: 1, share: false, revision: CmRevision::First, arith: NetArith::F32 }.to_bytes();
        assert!(read_frame_header(&mut &header(4, Profile::Cm, ok)[..]).is_ok());
        // version 7 (transform records) and 8 (shared lanes) too, but not versions 5-6
        assert!(read_frame_header(&mut &header(7, Profile::Cm, ok)[..]).is_ok());
        let shared = CmParams { table_bits: 22, lanes: 2, streams: 1, share: true, revision: CmRevision::First, arith: NetArith::F32 };
        assert_eq!(read_frame_header(&mut &header(8, Profile::Cm, shared.to_bytes())[..]).unwrap().unwrap().cm, Some(shared));
        for v in [4, 7] {
            let b = header(v, Profile::Cm, shared.to_bytes());
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))), "version {v}");
        }
        for b in [
            header(6, Profile::Cm, ok),
            header(3, Profile::Cm, ok),
            header(4, Profile::Mixed, [0; 16]),
            header(5, Profile::Cm, ok),
            header(4, Profile::Hybrid, [1; 16]),
        ] {
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::ProfileVersion { .. }))));
        }
        for (bits, lanes, streams) in [(11, 2, 1), (25, 2, 1), (22, 0, 1), (22, 9, 1), (22, 2, 2)] {
            let b = header(
                4,
                Profile::Cm,
                CmParams { table_bits: bits, lanes, streams, share: false, revision: CmRevision::First, arith: NetArith::F32 }.to_bytes(),
            );
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        }
        let mut two = shared.to_bytes();
        two[3] = 2;
        assert!(matches!(read_frame_header(&mut &header(8, Profile::Cm, two)[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        // version 9: the predictor's second revision, which older versions cannot name
        let second = CmParams { revision: CmRevision::Second, ..shared };
        assert_eq!(read_frame_header(&mut &header(9, Profile::Cm, second.to_bytes())[..]).unwrap().unwrap().cm, Some(second));
        let b = header(8, Profile::Cm, second.to_bytes());
        assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        // version 11: the third revision, which older versions cannot name; 12 the fourth; 13 the
        // fifth; no sixth
        let third = CmParams { revision: CmRevision::Third, ..shared };
        assert_eq!(read_frame_header(&mut &header(11, Profile::Cm, third.to_bytes())[..]).unwrap().unwrap().cm, Some(third));
        for v in [9, 10] {
            let b = header(v, Profile::Cm, third.to_bytes());
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))), "version {v}");
        }
        let fourth = CmParams { revision: CmRevision::Fourth, ..shared };
        assert_eq!(read_frame_header(&mut &header(12, Profile::Cm, fourth.to_bytes())[..]).unwrap().unwrap().cm, Some(fourth));
        let b = header(11, Profile::Cm, fourth.to_bytes());
        assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        let fifth = CmParams { revision: CmRevision::Fifth, ..shared };
        assert_eq!(read_frame_header(&mut &header(13, Profile::Cm, fifth.to_bytes())[..]).unwrap().unwrap().cm, Some(fifth));
        let b = header(12, Profile::Cm, fifth.to_bytes());
        assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        let mut sixth = fifth.to_bytes();
        sixth[4] = 5;
        assert!(matches!(read_frame_header(&mut &header(13, Profile::Cm, sixth)[..]), Err(Error::Format(FormatError::CmParams { .. }))));
    }

    #[test]
    fn hybrid_frames_are_version_5_and_carry_the_mixer_after_the_block_size() {
        let b = header(5, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 2);
        let h = read_frame_header(&mut &b[..]).unwrap().unwrap();
        assert_eq!((h.model_id, h.cm), ([9; 16], Some(hybrid_params(5))));
        // version 6 adds the streams per lane
        let b = header(6, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 3);
        let h = read_frame_header(&mut &b[..]).unwrap().unwrap();
        assert_eq!(h.cm, Some(hybrid_params(6)));
        // as does version 7 (transform records); version 8 adds whether the lanes share
        let b = header(7, Profile::Hybrid, [9; 16]);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(7)));
        let b = header(8, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 4);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(8)));
        // version 9 the predictor's revision
        let b = header(9, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 5);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(9)));
        // version 10 the network's arithmetic, which older versions cannot name
        let b = header(10, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 6);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm.map(|p| p.arith), Some(NetArith::Int8));
        // version 11 the predictor's third revision, in the same 6 bytes
        let b = header(11, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 6);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(11)));
        // version 12 the fourth revision
        let b = header(12, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 6);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(12)));
        // version 13 the fifth
        let b = header(13, Profile::Hybrid, [9; 16]);
        assert_eq!(b.len(), FRAME_HEADER_LEN + 6);
        assert_eq!(read_frame_header(&mut &b[..]).unwrap().unwrap().cm, Some(hybrid_params(13)));
        // (a profile-4 frame runs no network: its arithmetic byte is always 0)
        for v in [9, 10] {
            let b = header(v, Profile::Cm, CmParams { arith: NetArith::Int8, ..hybrid_params(9) }.to_bytes());
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))), "version {v}");
        }
        // (2 lanes x 4 streams of blocks up to 2^20 bytes would hold 8 MiB at once)
        let cm = Some(hybrid_params(6));
        let mut big = Vec::new();
        write_frame_header(&mut big, &FrameHeader { version: 6, profile: Profile::Hybrid, model_id: [9; 16], block_size: 1 << 20, cm })
            .unwrap();
        assert!(matches!(read_frame_header(&mut &big[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        for v in [2, 3, 4] {
            let b = header(v, Profile::Hybrid, [9; 16]);
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::ProfileVersion { .. }))));
        }
        let mut bad = header(5, Profile::Hybrid, [9; 16]);
        bad[26] = 30;
        let n = bad.len();
        let crc = crc32fast::hash(&bad[..n - 4]);
        bad[n - 4..].copy_from_slice(&crc.to_le_bytes());
        assert!(matches!(read_frame_header(&mut &bad[..]), Err(Error::Format(FormatError::CmParams { .. }))));
    }
}
