//! The frame header: magic, version, numeric profile, model identity, largest block.

use std::io::{Read, Write};

use super::bytes::{check, read_exact, read_exact_or_eof, u32_at};
use super::{CmParams, FormatError, Profile, Region, MAGIC, MAX_BLOCK_SIZE, OLDEST_VERSION, VERSION};
use crate::error::Result;

/// Bytes of a frame header: magic, version, profile, model identity, block size, CRC.
pub const FRAME_HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4 + 4;

/// The frame header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Format version the frame was written with.
    pub version: u8,
    pub profile: Profile,
    pub model_id: [u8; 16],
    /// Largest original size of any block in the frame.
    pub block_size: u32,
}

/// Writes a frame header.
pub fn write_frame_header(w: &mut impl Write, h: &FrameHeader) -> Result<()> {
    let mut b = Vec::with_capacity(FRAME_HEADER_LEN);
    b.extend_from_slice(&MAGIC);
    b.push(h.version);
    b.push(h.profile as u8);
    b.extend_from_slice(&h.model_id);
    b.extend_from_slice(&h.block_size.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    w.write_all(&b)?;
    Ok(())
}

/// Reads a frame header; `Ok(None)` at a clean end of input (between frames).
pub fn read_frame_header(r: &mut impl Read) -> Result<Option<FrameHeader>> {
    let mut b = [0u8; FRAME_HEADER_LEN];
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
    let profile = Profile::from_u8(b[5])?;
    read_exact(r, &mut b[6..], Region::FrameHeader)?;
    check(crc32fast::hash(&b[..FRAME_HEADER_LEN - 4]), u32_at(&b, FRAME_HEADER_LEN - 4), Region::FrameHeader)?;
    let mut model_id = [0u8; 16];
    model_id.copy_from_slice(&b[6..22]);
    let block_size = u32_at(&b, 22);
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(FormatError::BlockSize { found: block_size }.into());
    }
    let h = FrameHeader { version: b[4], profile, model_id, block_size };
    if (profile == Profile::Cm) != (h.version >= 4) {
        return Err(FormatError::ProfileVersion { profile: profile.name(), version: h.version }.into());
    }
    if profile == Profile::Cm {
        CmParams::from_bytes(&h.model_id)?;
    }
    Ok(Some(h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn header(version: u8, profile: Profile, model_id: [u8; 16]) -> Vec<u8> {
        let mut b = Vec::new();
        write_frame_header(&mut b, &FrameHeader { version, profile, model_id, block_size: 1 << 20 }).unwrap();
        b
    }

    #[test]
    fn context_mixing_frames_are_version_4_with_valid_parameters() {
        let ok = CmParams { table_bits: 22, lanes: 2 }.to_bytes();
        assert!(read_frame_header(&mut &header(4, Profile::Cm, ok)[..]).is_ok());
        for b in [header(3, Profile::Cm, ok), header(4, Profile::Mixed, [0; 16])] {
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::ProfileVersion { .. }))));
        }
        for (bits, lanes) in [(11, 2), (25, 2), (22, 0), (22, 9)] {
            let b = header(4, Profile::Cm, CmParams { table_bits: bits, lanes }.to_bytes());
            assert!(matches!(read_frame_header(&mut &b[..]), Err(Error::Format(FormatError::CmParams { .. }))));
        }
    }
}
