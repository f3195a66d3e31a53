//! Blocks (header, payload, CRC over both) and the end record that closes a frame.

use std::io::{Read, Write};

use super::bytes::{check, read_exact, u32_at};
use super::{max_neural_block, FormatError, FrameHeader, Profile, Region};
use crate::error::Result;

/// Header fields after the method byte: original length, payload length, CRC of the original.
const BASE_FIELDS_LEN: usize = 12;
/// Neural blocks add: tokens, mismatches, latent tokens.
const NEURAL_FIELDS_LEN: usize = 12;
/// The CRC that ends a block header (version 1) or covers header and payload (versions 2+).
const CRC_LEN: usize = 4;
/// End record after its zero method byte: total length (u64), CRC of the frame's data, CRC.
const END_FIELDS_LEN: usize = 8 + 4;

/// How a block's payload is coded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Stored = 1,
    Zstd = 2,
    Neural = 3,
    /// Context-mixing blocks (profile 4 frames only).
    Cm = 4,
}

impl Method {
    fn from_u8(b: u8) -> Result<Self, FormatError> {
        match b {
            1 => Ok(Method::Stored),
            2 => Ok(Method::Zstd),
            3 => Ok(Method::Neural),
            4 => Ok(Method::Cm),
            _ => Err(FormatError::UnknownMethod { found: b }),
        }
    }

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Method::Stored => "stored",
            Method::Zstd => "zstd",
            Method::Neural => "neural",
            Method::Cm => "cm",
        }
    }

    /// Bytes of the header fields after the method byte, CRC excluded.
    fn fields_len(self) -> usize {
        BASE_FIELDS_LEN + if self == Method::Neural { NEURAL_FIELDS_LEN } else { 0 }
    }
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

/// What follows a frame header: a block or the end record.
pub enum Record {
    Block(BlockHeader, Vec<u8>),
    End(EndRecord),
}

/// Most payload bytes a block of `orig_len` bytes may have (neural payloads of incompressible
/// text can exceed the original a little; such blocks are stored instead, but allow slack).
pub fn max_payload(orig_len: u32) -> u32 {
    orig_len.saturating_mul(2).saturating_add(1024)
}

/// Writes a block header and its payload; the trailing CRC covers both.
pub fn write_block(w: &mut impl Write, h: &BlockHeader, payload: &[u8]) -> Result<()> {
    let mut b = Vec::with_capacity(1 + h.method.fields_len() + CRC_LEN);
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

/// Reads the next block (with payload) or the end record of a frame.
pub fn read_record(r: &mut impl Read, frame: &FrameHeader) -> Result<Record> {
    let mut m = [0u8; 1];
    read_exact(r, &mut m, Region::BlockHeader)?;
    if m[0] == 0 {
        return read_end(r).map(Record::End);
    }
    let method = Method::from_u8(m[0])?;
    let n = method.fields_len();
    let mut b = [0u8; BASE_FIELDS_LEN + NEURAL_FIELDS_LEN + CRC_LEN];
    read_exact(r, &mut b[..n + CRC_LEN], Region::BlockHeader)?;
    let stored_crc = u32_at(&b, n);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&m);
    crc.update(&b[..n]);
    if frame.version == 1 {
        check(crc.clone().finalize(), stored_crc, Region::BlockHeader)?;
    }
    let u = |i: usize| u32_at(&b, i * 4);
    let (tokens, mismatches, latent_tokens) = if method == Method::Neural { (u(3), u(4), u(5)) } else { (0, 0, 0) };
    let h = BlockHeader { method, orig_len: u(0), payload_len: u(1), crc: u(2), tokens, mismatches, latent_tokens };
    check_bounds(&h, frame)?;
    // Grows as bytes arrive, so a truncated file never costs its declared size in memory.
    let mut payload = Vec::new();
    r.take(u64::from(h.payload_len)).read_to_end(&mut payload)?;
    if payload.len() != h.payload_len as usize {
        return Err(FormatError::Truncated { region: Region::BlockPayload }.into());
    }
    if frame.version >= 2 {
        crc.update(&payload);
        check(crc.finalize(), stored_crc, Region::Block)?;
    }
    Ok(Record::Block(h, payload))
}

/// Rejects lengths beyond the format's bounds before anything of that size is allocated.
fn check_bounds(h: &BlockHeader, frame: &FrameHeader) -> Result<(), FormatError> {
    if h.orig_len == 0 || h.orig_len > frame.block_size {
        return Err(FormatError::BlockLength { len: h.orig_len, max: frame.block_size });
    }
    if h.payload_len > max_payload(h.orig_len) || (h.method == Method::Stored && h.payload_len != h.orig_len) {
        return Err(FormatError::PayloadLength { method: h.method.name(), payload_len: h.payload_len, orig_len: h.orig_len });
    }
    // profile 4 codes bytes alone; profile 5 text with the network and other bytes without it
    if (h.method == Method::Cm && !frame.profile.uses_cm()) || (h.method == Method::Neural && frame.profile == Profile::Cm) {
        return Err(FormatError::MethodProfile { method: h.method.name(), profile: frame.profile.name() });
    }
    let max = max_neural_block(frame.version);
    if h.method == Method::Neural && (h.orig_len > max || h.tokens == 0 || h.tokens > h.orig_len) {
        return Err(FormatError::NeuralBlock { len: h.orig_len, tokens: h.tokens, max });
    }
    Ok(())
}

/// Reads the end record after its zero method byte.
fn read_end(r: &mut impl Read) -> Result<EndRecord> {
    let mut b = [0u8; END_FIELDS_LEN + CRC_LEN];
    read_exact(r, &mut b, Region::EndRecord)?;
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[0]);
    crc.update(&b[..END_FIELDS_LEN]);
    check(crc.finalize(), u32_at(&b, END_FIELDS_LEN), Region::EndRecord)?;
    let total_len = u64::from_le_bytes(b[..8].try_into().expect("eight bytes"));
    Ok(EndRecord { total_len, crc: u32_at(&b, 8) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::format::{read_frame_header, write_frame_header, CmParams, CmRevision, NetArith, Profile, VERSION};

    #[test]
    fn records_round_trip() {
        let f = FrameHeader { version: 3, profile: Profile::Mixed, model_id: [7; 16], block_size: 4096, cm: None };
        let h = BlockHeader { method: Method::Neural, orig_len: 100, payload_len: 3, crc: 9, tokens: 40, mismatches: 5, latent_tokens: 0 };
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
        let f = FrameHeader { version: VERSION, profile: Profile::Mixed, model_id: [0; 16], block_size: 1 << 20, cm: None };
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
        assert!(matches!(read_record(&mut &buf[..], &f), Err(Error::Format(FormatError::PayloadLength { .. }))));
    }

    #[test]
    fn methods_and_profiles_must_agree() {
        let block = |method| BlockHeader { method, orig_len: 10, payload_len: 4, crc: 0, tokens: 3, mismatches: 0, latent_tokens: 0 };
        let params =
            Some(CmParams { table_bits: 12, lanes: 1, streams: 1, share: false, revision: CmRevision::LATEST, arith: NetArith::F32 });
        let cm = FrameHeader { version: 4, profile: Profile::Cm, model_id: [0; 16], block_size: 100, cm: params };
        let mixed = FrameHeader { version: 3, profile: Profile::Mixed, model_id: [0; 16], block_size: 100, cm: None };
        let hybrid = FrameHeader { version: 5, profile: Profile::Hybrid, model_id: [0; 16], block_size: 100, cm: params };
        for (frame, method, ok) in [
            (&cm, Method::Cm, true),
            (&cm, Method::Neural, false),
            (&mixed, Method::Cm, false),
            (&mixed, Method::Neural, true),
            (&hybrid, Method::Cm, true),
            (&hybrid, Method::Neural, true),
        ] {
            let mut buf = Vec::new();
            write_block(&mut buf, &block(method), b"abcd").unwrap();
            let r = read_record(&mut &buf[..], frame);
            assert_eq!(r.is_ok(), ok, "{:?} in {:?}", method, frame.profile);
            if !ok {
                assert!(matches!(r, Err(Error::Format(FormatError::MethodProfile { .. }))));
            }
        }
    }
}
