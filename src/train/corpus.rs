//! The training corpus (`../shared/corpus`) and its train/validation split.
//!
//! Each source is split at a fixed byte offset: the tail is validation and is never trained on.
//! For `enwik8_head3M` the tail is its last 1,000,000 bytes, the CI benchmark.

use std::path::Path;

use crate::error::{Error, Result};

/// Bytes held out for validation at the end of a source of `size` bytes.
pub fn held_out_bytes(name: &str, size: usize) -> usize {
    if name == "enwik8_head3M" {
        1_000_000
    } else {
        (size / 50).max(100_000)
    }
}

/// One source, decompressed.
pub struct Source {
    pub name: String,
    pub bytes: Vec<u8>,
}

impl Source {
    fn split(&self) -> usize {
        self.bytes.len().saturating_sub(held_out_bytes(&self.name, self.bytes.len()))
    }
    /// The training part.
    pub fn train(&self) -> &[u8] {
        &self.bytes[..self.split()]
    }
    /// The held-out validation part.
    pub fn validation(&self) -> &[u8] {
        &self.bytes[self.split()..]
    }
}

/// Reads every source in `dir`, sorted by name: `NAME.xz` (decompressed with the xz crate) or
/// a plain `NAME.txt`.
pub fn load(dir: &Path) -> Result<Vec<Source>> {
    let listing = std::fs::read_dir(dir).map_err(|e| Error::file(dir, e))?;
    let mut paths: Vec<_> = listing
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "xz" || x == "txt"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for path in paths {
        let name = path.file_stem().unwrap_or_default().to_string_lossy().into_owned();
        let open = |p: &Path| std::fs::File::open(p).map_err(|e| Error::file(p, e));
        let mut bytes = Vec::new();
        if path.extension().is_some_and(|x| x == "xz") {
            std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(open(&path)?), &mut bytes)?;
        } else {
            std::io::Read::read_to_end(&mut open(&path)?, &mut bytes)?;
        }
        out.push(Source { name, bytes });
    }
    if out.is_empty() {
        return Err(Error::file(dir, std::io::Error::new(std::io::ErrorKind::NotFound, "no .xz or .txt sources")));
    }
    Ok(out)
}
