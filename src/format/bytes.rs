//! Exact reads and checksum checks shared by the record readers.

use std::io::Read;

use super::{FormatError, Region};
use crate::error::Result;

/// Reads exactly `buf.len()` bytes, or reports `Ok(false)` on a clean end before the first byte.
pub(super) fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8], region: Region) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 => return Ok(false),
            Ok(0) => return Err(FormatError::Truncated { region }.into()),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

/// Reads exactly `buf.len()` bytes.
pub(super) fn read_exact(r: &mut impl Read, buf: &mut [u8], region: Region) -> Result<()> {
    if read_exact_or_eof(r, buf, region)? {
        Ok(())
    } else {
        Err(FormatError::Truncated { region }.into())
    }
}

/// Compares a stored checksum with the computed one. Fuzzing builds skip header checksums so
/// that mutated fields reach the code behind them.
pub(super) fn check(computed: u32, stored: u32, region: Region) -> Result<()> {
    if computed == stored || cfg!(fuzzing) {
        Ok(())
    } else {
        Err(FormatError::Checksum { region }.into())
    }
}

/// The little-endian `u32` at `at`.
pub(super) fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
