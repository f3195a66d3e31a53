//! The training corpus (`../shared/corpus`) and its train/validation split.
//!
//! Each source is split at a fixed byte offset: the tail is validation and is never trained on.
//! For `enwik8_head3M` the tail is its last 1,000,000 bytes, the CI benchmark.

use std::path::Path;

use crate::error::{Error, Result};

/// The corpus sources, in the order the trainers read them.
pub const SOURCES: &[&str] = &[
    "prose_gutenberg_books",
    "prose_us_presidential_speeches",
    "wiki_plaintext_wikiextractor_2018",
    "wiki_gensim_enwiki_xml",
    "wiki_wtf_wikitext",
    "enwik8_head3M",
    "struct_json_corpora",
    "struct_markdown_tldr",
    "struct_manpages_roff",
    "code_python_stdlib",
    "code_c_headers",
];

/// Bytes held out for validation at the end of a source of `size` bytes (same rule as train/common.py).
pub fn held_out_bytes(name: &str, size: usize) -> usize {
    if name == "enwik8_head3M" {
        1_000_000
    } else {
        (size / 50).max(100_000)
    }
}

/// One source, decompressed.
pub struct Source {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

impl Source {
    fn split(&self) -> usize {
        self.bytes.len().saturating_sub(held_out_bytes(self.name, self.bytes.len()))
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

/// Reads every source from `dir` (`NAME.xz`, decompressed with the xz crate, or a plain `NAME.txt`).
pub fn load(dir: &Path) -> Result<Vec<Source>> {
    let mut out = Vec::new();
    for &name in SOURCES {
        let txt = dir.join(format!("{name}.txt"));
        let bytes = if txt.exists() {
            std::fs::read(&txt)?
        } else {
            let xz = dir.join(format!("{name}.xz"));
            let f = std::fs::File::open(&xz)
                .map_err(|e| Error::Io(std::io::Error::new(e.kind(), format!("{}: {e}", xz.display()))))?;
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut xz2::read::XzDecoder::new(f), &mut bytes)?;
            bytes
        };
        out.push(Source { name, bytes });
    }
    Ok(out)
}
