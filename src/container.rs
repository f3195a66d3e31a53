//! The `.s2s` container format (described in FORMAT.md): frame header, blocks, end record.
//! Every length read from a file is checked against a bound before anything is allocated.

use std::io::{Read, Write};

use crate::error::{Error, Result};

/// File magic.
pub const MAGIC: [u8; 4] = *b"S2S2";
/// Newest format version this build reads and writes (see [`version_for`]).
pub const VERSION: u8 = 3;
/// Oldest format version this build still reads (version 1's block CRC covers only the header).
pub const OLDEST_VERSION: u8 = 1;
/// Largest block a frame may declare (bounds memory when reading hostile input).
pub const MAX_BLOCK_SIZE: u32 = 1 << 24;
/// Largest neural block (bounds the model steps a single hostile block header can demand).
pub const MAX_NEURAL_BLOCK: u32 = 1 << 20;
/// Largest neural block of a version 1 or 2 frame.
const MAX_NEURAL_BLOCK_V2: u32 = 1 << 16;

/// The version a frame with neural blocks of up to `neural_block` bytes is written as: 3 only
/// where version 2's bound is exceeded, so that older builds read every other file.
pub fn version_for(neural_block: usize) -> u8 {
    if neural_block > MAX_NEURAL_BLOCK_V2 as usize { 3 } else { 2 }
}

/// Largest neural block a frame of `version` may hold.
pub fn max_neural_block(version: u8) -> u32 {
    if version >= 3 { MAX_NEURAL_BLOCK } else { MAX_NEURAL_BLOCK_V2 }
}

/// How a block's payload is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Stored = 1,
    Zstd = 2,
    Neural = 3,
}

impl Method {
    fn from_u8(b: u8) -> Result<Self> {
        match b {
            1 => Ok(Method::Stored),
            2 => Ok(Method::Zstd),
            3 => Ok(Method::Neural),
            _ => Err(Error::Corrupt("unknown block method")),
        }
    }
    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Stored => "stored",
            Method::Zstd => "zstd",
            Method::Neural => "neural",
        }
    }
}

/// Numeric profile: how a frame's token probabilities are computed (part of the format).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// The neural decoder alone (the only profile of format version 1).
    Neural = 1,
    /// The neural decoder mixed with adaptive models of the block ([`crate::mixer`]).
    Mixed = 2,
    /// The adaptive models alone: no network runs.
    Adaptive = 3,
}

impl Profile {
    /// The newest profile this build reads.
    pub const LATEST: u8 = 3;

    fn from_u8(b: u8) -> Result<Self> {
        match b {
            1 => Ok(Profile::Neural),
            2 => Ok(Profile::Mixed),
            3 => Ok(Profile::Adaptive),
            _ => Err(Error::UnsupportedProfile(b)),
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
}

/// Per-block header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub method: Method,
    pub orig_len: u32,
    pub payload_len: u32,
    pub crc: u32,
    /// Neural blocks: tokens coded, tokens greedy decoding gets wrong, latent tokens used.
    pub tokens: u32,
    pub mismatches: u32,
    pub latent_tokens: u32,
}

/// The record that ends a frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndRecord {
    pub total_len: u64,
    pub crc: u32,
}

const FRAME_HEADER_LEN: usize = 4 + 1 + 1 + 16 + 4 + 4;

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

/// Reads exactly `buf.len()` bytes, or reports `Ok(false)` on a clean end before the first byte.
fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(Error::Truncated(what)),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

fn read_exact(r: &mut impl Read, buf: &mut [u8], what: &'static str) -> Result<()> {
    if read_exact_or_eof(r, buf, what)? {
        Ok(())
    } else {
        Err(Error::Truncated(what))
    }
}

/// Reads a frame header; `Ok(None)` at a clean end of input (between frames).
pub fn read_frame_header(r: &mut impl Read) -> Result<Option<FrameHeader>> {
    let mut b = [0u8; FRAME_HEADER_LEN];
    if !read_exact_or_eof(r, &mut b[..4], "frame header")? {
        return Ok(None);
    }
    if b[..4] != MAGIC {
        return Err(Error::BadMagic);
    }
    read_exact(r, &mut b[4..6], "frame header")?;
    if !(OLDEST_VERSION..=VERSION).contains(&b[4]) {
        return Err(Error::UnsupportedVersion(b[4]));
    }
    let profile = Profile::from_u8(b[5])?;
    read_exact(r, &mut b[6..], "frame header")?;
    let crc = u32::from_le_bytes(b[FRAME_HEADER_LEN - 4..].try_into().unwrap());
    check(crc32fast::hash(&b[..FRAME_HEADER_LEN - 4]), crc, "frame header")?;
    let mut model_id = [0u8; 16];
    model_id.copy_from_slice(&b[6..22]);
    let block_size = u32::from_le_bytes(b[22..26].try_into().unwrap());
    if block_size == 0 || block_size > MAX_BLOCK_SIZE {
        return Err(Error::Corrupt("block size out of range"));
    }
    Ok(Some(FrameHeader { version: b[4], profile, model_id, block_size }))
}

/// Most payload bytes a block of `orig_len` bytes may have (neural payloads of incompressible
/// text can exceed the original a little; such blocks are stored instead, but allow slack).
pub fn max_payload(orig_len: u32) -> u32 {
    orig_len.saturating_mul(2).saturating_add(1024)
}

/// Compares a stored checksum with the computed one. Fuzzing builds skip header checksums so
/// that mutated fields reach the code behind them.
fn check(computed: u32, stored: u32, what: &'static str) -> Result<()> {
    if computed == stored || cfg!(fuzzing) {
        Ok(())
    } else {
        Err(Error::Checksum(what))
    }
}

/// Writes a block header and its payload; the trailing CRC covers both.
pub fn write_block(w: &mut impl Write, h: &BlockHeader, payload: &[u8]) -> Result<()> {
    let mut b = Vec::with_capacity(32);
    b.push(h.method as u8);
    for v in [h.orig_len, h.payload_len, h.crc] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    if h.method == Method::Neural {
        for v in [h.tokens, h.mismatches, h.latent_tokens] {
            b.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut crc = crc32fast::Hasher::new();
    crc.update(&b);
    crc.update(payload);
    b.extend_from_slice(&crc.finalize().to_le_bytes());
    w.write_all(&b)?;
    w.write_all(payload)?;
    Ok(())
}

/// Writes the end record.
pub fn write_end(w: &mut impl Write, e: &EndRecord) -> Result<()> {
    let mut b = vec![0u8];
    b.extend_from_slice(&e.total_len.to_le_bytes());
    b.extend_from_slice(&e.crc.to_le_bytes());
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    w.write_all(&b)?;
    Ok(())
}

/// What follows a frame header: a block or the end record.
pub enum Record {
    Block(BlockHeader, Vec<u8>),
    End(EndRecord),
}

/// Reads the next block (with payload) or the end record of a frame.
pub fn read_record(r: &mut impl Read, frame: &FrameHeader) -> Result<Record> {
    let mut m = [0u8; 1];
    read_exact(r, &mut m, "block header")?;
    if m[0] == 0 {
        let mut b = [0u8; 16];
        read_exact(r, &mut b, "end record")?;
        let mut all = vec![0u8];
        all.extend_from_slice(&b[..12]);
        check(crc32fast::hash(&all), u32::from_le_bytes(b[12..16].try_into().unwrap()), "end record")?;
        return Ok(Record::End(EndRecord {
            total_len: u64::from_le_bytes(b[..8].try_into().unwrap()),
            crc: u32::from_le_bytes(b[8..12].try_into().unwrap()),
        }));
    }
    let method = Method::from_u8(m[0])?;
    let n = if method == Method::Neural { 24 } else { 12 };
    let mut b = [0u8; 28];
    read_exact(r, &mut b[..n + 4], "block header")?;
    let mut all = vec![m[0]];
    all.extend_from_slice(&b[..n]);
    let stored_crc = u32::from_le_bytes(b[n..n + 4].try_into().unwrap());
    let mut crc = crc32fast::Hasher::new();
    crc.update(&all);
    if frame.version == 1 {
        check(crc.clone().finalize(), stored_crc, "block header")?;
    }
    let u = |i: usize| u32::from_le_bytes(b[i * 4..i * 4 + 4].try_into().unwrap());
    let (tokens, mismatches, latent_tokens) =
        if method == Method::Neural { (u(3), u(4), u(5)) } else { (0, 0, 0) };
    let h = BlockHeader { method, orig_len: u(0), payload_len: u(1), crc: u(2), tokens, mismatches, latent_tokens };
    if h.orig_len == 0 || h.orig_len > frame.block_size {
        return Err(Error::Corrupt("block length out of range"));
    }
    if h.payload_len > max_payload(h.orig_len) || (method == Method::Stored && h.payload_len != h.orig_len) {
        return Err(Error::Corrupt("block payload length out of range"));
    }
    if method == Method::Neural && (h.orig_len > max_neural_block(frame.version) || h.tokens == 0 || h.tokens > h.orig_len) {
        return Err(Error::Corrupt("neural block or token count out of range"));
    }
    // Grows as bytes arrive, so a truncated file never costs its declared size in memory.
    let mut payload = Vec::new();
    r.take(u64::from(h.payload_len)).read_to_end(&mut payload)?;
    if payload.len() != h.payload_len as usize {
        return Err(Error::Truncated("block payload"));
    }
    if frame.version >= 2 {
        crc.update(&payload);
        check(crc.finalize(), stored_crc, "block")?;
    }
    Ok(Record::Block(h, payload))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip() {
        let f = FrameHeader { version: VERSION, profile: Profile::Mixed, model_id: [7; 16], block_size: 4096 };
        let h = BlockHeader {
            method: Method::Neural,
            orig_len: 100,
            payload_len: 3,
            crc: 9,
            tokens: 40,
            mismatches: 5,
            latent_tokens: 0,
        };
        let e = EndRecord { total_len: 100, crc: 9 };
        let mut buf = Vec::new();
        write_frame_header(&mut buf, &f).unwrap();
        write_block(&mut buf, &h, b"abc").unwrap();
        write_end(&mut buf, &e).unwrap();
        let mut r = &buf[..];
        assert_eq!(read_frame_header(&mut r).unwrap().unwrap(), f);
        match read_record(&mut r, &f).unwrap() {
            Record::Block(h2, p) => {
                assert_eq!(h2, h);
                assert_eq!(p, b"abc");
            }
            Record::End(_) => panic!("expected a block"),
        }
        match read_record(&mut r, &f).unwrap() {
            Record::End(e2) => assert_eq!(e2, e),
            Record::Block(..) => panic!("expected the end"),
        }
        assert!(read_frame_header(&mut r).unwrap().is_none());
    }

    #[test]
    fn hostile_lengths_are_rejected_before_allocation() {
        let f = FrameHeader { version: VERSION, profile: Profile::Mixed, model_id: [0; 16], block_size: 1 << 20 };
        let h = BlockHeader {
            method: Method::Zstd,
            orig_len: 1 << 20,
            payload_len: u32::MAX,
            crc: 0,
            tokens: 0,
            mismatches: 0,
            latent_tokens: 0,
        };
        let mut buf = Vec::new();
        write_block(&mut buf, &h, b"").unwrap();
        assert!(matches!(read_record(&mut &buf[..], &f), Err(Error::Corrupt(_))));
    }
}
