//! Reversible transforms of a block's bytes before its predictor sees them (format version 7,
//! lane frames): a coded block's payload (methods cm and neural) begins with the record
//! [`LineEndings::write`] makes, and its coder codes the transformed bytes. Stored and zstd
//! blocks keep the original bytes; the lanes learn them transformed by [`LineEndings::plan`],
//! which depends on nothing but the bytes, as the compressor's lanes did.
//!
//! Line endings: a block whose lines end in CRLF is coded with each CRLF as LF, so that Windows
//! text reads to the network (trained on LF text) and the context models as the text they know,
//! and the record says which LFs get their CR back (all, or runs of them in a mixed block).

#![forbid(unsafe_code)]

use std::borrow::Cow;

use crate::format::FormatError;

const CR: u8 = b'\r';
const LF: u8 = b'\n';

/// CRLFs a block needs per run of its record for the transform to pay: a run costs 1-3 bytes of
/// record, a CRLF the network prices as a foreign byte costs ~0.5-2 bits.
const CRLF_PER_RUN: usize = 32;

/// Which LFs of a transformed block were CRLF in the original: the lengths of runs over the
/// block's LFs in order, alternately CRLF and bare LF, starting with CRLF (the first run may be
/// empty, the others may not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineEndings {
    runs: Vec<u32>,
}

impl LineEndings {
    /// The transform of `bytes`: `None` where there is no CRLF, or where LF and CRLF endings mix
    /// so finely that the record would cost more than it saves. Normative (a decoder plans a
    /// stored block's bytes the same way).
    pub fn plan(bytes: &[u8]) -> Option<Self> {
        let plan = Self::of(bytes);
        let crlf = plan.removed();
        (crlf > 0 && crlf >= CRLF_PER_RUN * plan.runs.len()).then_some(plan)
    }

    /// The runs of `bytes`' line endings.
    fn of(bytes: &[u8]) -> Self {
        let mut runs = vec![0u32];
        for i in lfs(bytes) {
            let is_crlf = i > 0 && bytes[i - 1] == CR;
            // (runs of even index are CRLF)
            if (runs.len() % 2 == 1) != is_crlf {
                runs.push(0);
            }
            *runs.last_mut().expect("runs start with one") += 1;
        }
        Self { runs }
    }

    /// `bytes` as the predictor sees them under `plan`: every CR right before an LF dropped.
    pub fn apply<'a>(plan: Option<&Self>, bytes: &'a [u8]) -> Cow<'a, [u8]> {
        if plan.is_none() {
            return Cow::Borrowed(bytes);
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut start = 0;
        for i in lfs(bytes) {
            if i > 0 && bytes[i - 1] == CR {
                out.extend_from_slice(&bytes[start..i - 1]);
                start = i;
            }
        }
        out.extend_from_slice(&bytes[start..]);
        Cow::Owned(out)
    }

    /// CRs the transform drops.
    pub fn removed(&self) -> usize {
        self.runs.iter().step_by(2).map(|&n| n as usize).sum()
    }

    /// The original of transformed `bytes`: a CR put back before each LF of a CRLF run. Errors
    /// where `bytes` has not exactly the record's LFs (a corrupt block).
    pub fn restore(plan: Option<&Self>, bytes: Vec<u8>) -> Result<Vec<u8>, FormatError> {
        let Some(plan) = plan else { return Ok(bytes) };
        let mut out = Vec::with_capacity(bytes.len() + plan.removed());
        let (mut run, mut left, mut start) = (0, plan.runs[0], 0);
        for i in lfs(&bytes) {
            while left == 0 {
                run += 1;
                left = *plan.runs.get(run).ok_or(FormatError::LineEndings)?;
            }
            left -= 1;
            out.extend_from_slice(&bytes[start..i]);
            if run % 2 == 0 {
                out.push(CR);
            }
            start = i;
        }
        if left != 0 || run + 1 != plan.runs.len() {
            return Err(FormatError::LineEndings);
        }
        out.extend_from_slice(&bytes[start..]);
        Ok(out)
    }

    /// Appends the record of `plan` to a payload: the number of runs (0: no transform), then
    /// each run, all as LEB128 varints.
    pub fn write(plan: Option<&Self>, out: &mut Vec<u8>) {
        let runs = plan.map_or(&[][..], |p| &p.runs);
        write_varint(out, runs.len() as u32);
        for &r in runs {
            write_varint(out, r);
        }
    }

    /// Reads the record at the start of the payload of a block of `orig_len` bytes: the plan
    /// and the payload after it.
    pub fn read(payload: &[u8], orig_len: u32) -> Result<(Option<Self>, &[u8]), FormatError> {
        let mut rest = payload;
        let n = read_varint(&mut rest)?;
        // (each run takes a byte at least: nothing is allocated beyond the payload's size)
        if n as usize > rest.len() {
            return Err(FormatError::LineEndings);
        }
        let runs = (0..n).map(|_| read_varint(&mut rest)).collect::<Result<Vec<u32>, _>>()?;
        if n == 0 {
            return Ok((None, rest));
        }
        let plan = Self { runs };
        let lfs: u64 = plan.runs.iter().map(|&r| u64::from(r)).sum();
        // each dropped CR came with its LF, and every run but the first holds one LF at least
        if plan.runs[1..].contains(&0) || lfs > u64::from(orig_len) || 2 * plan.removed() as u64 > u64::from(orig_len) {
            return Err(FormatError::LineEndings);
        }
        Ok((Some(plan), rest))
    }
}

/// Positions of the LFs of `bytes`.
fn lfs(bytes: &[u8]) -> impl Iterator<Item = usize> + '_ {
    bytes.iter().enumerate().filter(|(_, &b)| b == LF).map(|(i, _)| i)
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn read_varint(b: &mut &[u8]) -> Result<u32, FormatError> {
    let mut v = 0u32;
    for shift in (0..35).step_by(7) {
        let (&byte, rest) = b.split_first().ok_or(FormatError::LineEndings)?;
        *b = rest;
        v |= u32::from(byte & 0x7f).checked_shl(shift).filter(|_| shift < 28 || byte < 0x10).ok_or(FormatError::LineEndings)?;
        if byte < 0x80 {
            return Ok(v);
        }
    }
    Err(FormatError::LineEndings)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(original: &[u8]) -> Option<LineEndings> {
        let plan = LineEndings::plan(original);
        let body = LineEndings::apply(plan.as_ref(), original).into_owned();
        let mut payload = Vec::new();
        LineEndings::write(plan.as_ref(), &mut payload);
        payload.extend_from_slice(b"coded");
        let (read, rest) = LineEndings::read(&payload, original.len() as u32).unwrap();
        assert_eq!((&read, rest), (&plan, &b"coded"[..]));
        assert_eq!(body.len(), original.len() - plan.as_ref().map_or(0, LineEndings::removed));
        assert_eq!(LineEndings::restore(read.as_ref(), body).unwrap(), original);
        plan
    }

    #[test]
    fn windows_text_is_coded_with_lf_endings_and_restored_exactly() {
        let text = b"line one\r\nline two\r\n".repeat(40);
        let plan = round_trip(&text).expect("CRLF text is transformed");
        assert_eq!(LineEndings::apply(Some(&plan), &text).as_ref(), &b"line one\nline two\n".repeat(40)[..]);
        // lone CRs, CR CR LF, a file that ends without a newline, a bare LF in the middle
        let mut odd = b"a\rb\r\r\nc\r\n".repeat(60);
        odd.extend_from_slice(b"bare\nmore\r\nlast\r");
        assert!(round_trip(&odd).is_some());
        // a CRLF file followed by an LF one (two runs) pays; fine mixing does not
        let mut two = b"dos\r\n".repeat(100);
        two.extend_from_slice(&b"unix\n".repeat(100));
        assert_eq!(round_trip(&two).unwrap().runs, [100, 100]);
        assert!(round_trip(&b"a\r\nb\n".repeat(100)).is_none());
        assert!(round_trip(b"\n\n unix only \n").is_none());
        assert!(round_trip(b"").is_none());
    }

    #[test]
    fn every_byte_string_round_trips() {
        // all strings over {a, CR, LF} up to 7 bytes, with the transform forced on
        for len in 0..=7u32 {
            for n in 0..3u32.pow(len) {
                let s: Vec<u8> = (0..len).map(|k| [b'a', CR, LF][(n / 3u32.pow(k) % 3) as usize]).collect();
                let plan = LineEndings::of(&s);
                let body = LineEndings::apply(Some(&plan), &s).into_owned();
                assert_eq!(LineEndings::restore(Some(&plan), body).unwrap(), s);
            }
        }
    }

    #[test]
    fn corrupt_records_are_refused() {
        let plan = LineEndings::plan(&b"x\r\n".repeat(64)).unwrap();
        // too few or too many LFs for the record
        assert!(LineEndings::restore(Some(&plan), b"x\n".repeat(63)).is_err());
        assert!(LineEndings::restore(Some(&plan), b"x\n".repeat(65)).is_err());
        for bad in [&[][..], &[1], &[0x80], &[2, 5, 0], &[1, 0xff, 0xff, 0xff, 0xff, 0x7f], &[1, 200, 1]] {
            assert!(LineEndings::read(bad, 300).is_err(), "{bad:?}");
        }
        assert!(LineEndings::read(&[1, 100], 150).is_err(), "100 CRs cannot hide in 150 bytes");
    }
}
