//! Streams in, frames out: [`compress`] splits input into blocks, codes text blocks with the
//! model (many blocks stepped together on each thread) and the rest with zstd or stored, and
//! keeps whichever is smallest; [`decompress`] does the reverse with checksum verification, and
//! [`inspect`] reads a container's headers without decoding. [`batch`] holds what both
//! directions share: how blocks are grouped onto threads.

#![forbid(unsafe_code)]

mod batch;
mod compress;
mod decompress;
mod lanes;

pub use compress::compress;
pub use decompress::{analyse, decompress, inspect};

use std::sync::atomic::{AtomicU64, Ordering};

use crate::codec::latent::LatentSearch;
use crate::codec::stream::SegmentCounts;
use crate::format::{BlockHeader, CmParams, Method, NetArith, Profile};
use crate::model::ModelId;

/// Neural blocks stepped together on one thread when decompressing.
const STREAMS_PER_GROUP: usize = 48;

/// Neural blocks in flight at once (each holds its network state, ~1 MB with the built-in model,
/// and its adaptive models, up to ~6 MB per 64 KiB of block), whatever the thread count: this
/// and [`BATCH_BYTES`] are what bound memory.
const BATCH_BLOCKS: usize = 32;

/// Input bytes in flight at once (fewer, larger blocks for the large block sizes).
const BATCH_BYTES: usize = 2 << 20;

/// Whether a piece looks like text worth running the model on. Normative in profile 5, where a
/// stored block's bytes decide how its lane learns them.
fn looks_like_text(b: &[u8]) -> bool {
    let mut bad = 0usize;
    for chunk in b.utf8_chunks() {
        bad += chunk.invalid().len();
        bad += chunk.valid().bytes().filter(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0c)).count();
    }
    bad * 50 <= b.len()
}

/// Compression settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Worker threads (the output never depends on this).
    pub threads: usize,
    /// Target size of a neural block in bytes.
    pub neural_block: usize,
    /// Largest block of any kind (non-text runs are merged up to this).
    pub max_block: usize,
    /// Neural blocks stepped together on one thread (scheduling only; never changes the output).
    pub streams_per_thread: usize,
    /// When to use the neural coder.
    pub neural: NeuralUse,
    /// How token probabilities are computed.
    pub profile: Profile,
    /// How each segment's latent is chosen.
    pub latent: LatentSearch,
    /// The context mixer's size and lanes (profiles [`Profile::Cm`] and [`Profile::Hybrid`]).
    pub cm: CmParams,
}

/// When blocks are coded with the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeuralUse {
    /// Never (zstd or stored only; in a hybrid frame, context mixing alone).
    Never,
    /// On text blocks, where it is smaller than zstd (in a hybrid frame, than context mixing
    /// alone on each group of blocks).
    Auto,
    /// On every block its payload bound allows (for tests that must exercise the model).
    #[doc(hidden)]
    Always,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            threads: 1,
            neural_block: 64 << 10,
            max_block: 1 << 20,
            streams_per_thread: STREAMS_PER_GROUP,
            neural: NeuralUse::Auto,
            profile: Profile::Mixed,
            latent: LatentSearch::Off,
            // (level 1's context mixer)
            cm: crate::level::LEVELS[0].cm,
        }
    }
}

/// What a run did, for `-v`, `info` and the benchmark.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub input_bytes: u64,
    pub output_bytes: u64,
    pub frames: u64,
    pub stored_blocks: u64,
    pub zstd_blocks: u64,
    pub neural_blocks: u64,
    /// Bytes of original data in neural blocks.
    pub neural_bytes: u64,
    /// Context-mixing blocks and their original bytes.
    pub cm_blocks: u64,
    pub cm_bytes: u64,
    pub tokens: u64,
    pub mismatches: u64,
    pub latent_tokens: u64,
    /// Segments coded, segments that carried a latent, and segments greedy decoding reproduces
    /// exactly (compression only: the container does not record them).
    pub segments: u64,
    pub latent_segments: u64,
    pub exact_segments: u64,
    /// Groups of a profile-5 frame coded by context mixing alone without trying the network,
    /// since it had lost by far (compression only).
    pub groups_without_network: u64,
    /// Models of the frames, in order of first appearance.
    pub model_ids: Vec<ModelId>,
    /// Numeric profiles of the frames, in order of first appearance.
    pub profiles: Vec<Profile>,
    /// The network's arithmetics in profile-5 frames, in order of first appearance.
    pub ariths: Vec<NetArith>,
    /// Bits each component of the predictor saved, by name in order of first appearance
    /// ([`analyse`] only).
    pub saved_bits: Vec<(&'static str, f64)>,
}

impl Stats {
    fn add_block(&mut self, h: &BlockHeader) {
        match h.method {
            Method::Stored => self.stored_blocks += 1,
            Method::Zstd => self.zstd_blocks += 1,
            Method::Neural => {
                self.neural_blocks += 1;
                self.neural_bytes += u64::from(h.orig_len);
            }
            Method::Cm => {
                self.cm_blocks += 1;
                self.cm_bytes += u64::from(h.orig_len);
            }
        }
        self.tokens += u64::from(h.tokens);
        self.mismatches += u64::from(h.mismatches);
        self.latent_tokens += u64::from(h.latent_tokens);
    }

    fn add_segments(&mut self, s: &SegmentCounts) {
        self.segments += u64::from(s.all);
        self.latent_segments += u64::from(s.with_latent);
        self.exact_segments += u64::from(s.exact);
    }

    /// Adds what components saved, by name.
    fn add_saved(&mut self, saved: impl IntoIterator<Item = (&'static str, f64)>) {
        for (name, bits) in saved {
            match self.saved_bits.iter_mut().find(|(n, _)| *n == name) {
                Some((_, b)) => *b += bits,
                None => self.saved_bits.push((name, bits)),
            }
        }
    }

    fn add_frame(&mut self, model: ModelId, profile: Profile, cm: Option<CmParams>) {
        if let Some(p) = cm.filter(|_| profile == Profile::Hybrid) {
            if !self.ariths.contains(&p.arith) {
                self.ariths.push(p.arith);
            }
        }
        self.frames += 1;
        // a context-mixing frame's identity field holds its parameters, not a model
        if profile != Profile::Cm && !self.model_ids.contains(&model) {
            self.model_ids.push(model);
        }
        if !self.profiles.contains(&profile) {
            self.profiles.push(profile);
        }
    }
}

/// Runs `work` (a batch of a context-mixing frame, whose lanes count the bytes they code into
/// `counter`) on a thread of its own, while this thread reports `report(bytes counted)` every
/// 100 ms: progress within a batch, which takes many seconds where the network runs. Reports
/// only: nothing coded depends on it.
fn reporting<R: Send>(counter: &AtomicU64, report: impl Fn(u64), work: impl FnOnce() -> R + Send) -> R {
    counter.store(0, Ordering::Relaxed);
    let caller = std::thread::current();
    std::thread::scope(|scope| {
        let worker = scope.spawn(|| {
            let r = work();
            caller.unpark();
            r
        });
        while !worker.is_finished() {
            std::thread::park_timeout(std::time::Duration::from_millis(100));
            report(counter.load(Ordering::Relaxed));
        }
        worker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_detection() {
        assert!(looks_like_text(b"Hello, world.\n\tIndented line.\r\n"));
        assert!(!looks_like_text(&(0..=255u8).collect::<Vec<_>>()));
    }
}
