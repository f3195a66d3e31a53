//! One walker over a container's frames and records, shared by decompression and `info`.

use std::io::Read;

use super::{read_frame_header, read_record, BlockHeader, EndRecord, FormatError, FrameHeader, Record, Region};
use crate::error::Result;

/// One item of a container, in file order.
pub enum Item {
    /// A frame starts (every later block belongs to it until its [`Item::End`]).
    Frame(FrameHeader),
    Block(BlockHeader, Vec<u8>),
    /// The frame's end record, already checked against the lengths of its blocks.
    End(EndRecord),
}

/// Reads a container item by item. Checks everything that needs no decoding: header bounds and
/// checksums, a first frame before a clean end, and each frame's length against its blocks.
/// Yields nothing more after an error.
pub struct FrameReader<R> {
    input: R,
    read: u64,
    frame: Option<FrameHeader>,
    frames: u64,
    /// Original bytes of the current frame's blocks so far.
    frame_len: u64,
    failed: bool,
}

impl<R: Read> FrameReader<R> {
    pub fn new(input: R) -> Self {
        Self { input, read: 0, frame: None, frames: 0, frame_len: 0, failed: false }
    }

    /// Bytes of container read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn read_item(&mut self) -> Result<Option<Item>> {
        let mut counted = Counting { inner: &mut self.input, count: &mut self.read };
        let Some(frame) = &self.frame else {
            return match read_frame_header(&mut counted)? {
                Some(f) => {
                    self.frames += 1;
                    self.frame_len = 0;
                    self.frame = Some(f.clone());
                    Ok(Some(Item::Frame(f)))
                }
                None if self.frames == 0 => Err(FormatError::Truncated { region: Region::Input }.into()),
                None => Ok(None),
            };
        };
        match read_record(&mut counted, frame)? {
            Record::Block(h, p) => {
                self.frame_len += u64::from(h.orig_len);
                Ok(Some(Item::Block(h, p)))
            }
            Record::End(e) if e.total_len == self.frame_len => {
                self.frame = None;
                Ok(Some(Item::End(e)))
            }
            Record::End(e) => Err(FormatError::FrameLength { declared: e.total_len, found: self.frame_len }.into()),
        }
    }
}

impl<R: Read> Iterator for FrameReader<R> {
    type Item = Result<Item>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = self.read_item();
        self.failed = item.is_err();
        item.transpose()
    }
}

/// Counts the bytes read through it.
struct Counting<'a, R> {
    inner: &'a mut R,
    count: &'a mut u64,
}

impl<R: Read> Read for Counting<'_, R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(b)?;
        *self.count += n as u64;
        Ok(n)
    }
}
