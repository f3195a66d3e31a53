//! Streams in, frames out: splits input into blocks, codes text blocks with the model (many
//! blocks stepped together on each thread) and the rest with zstd or stored, keeps whichever is
//! smallest, and does the reverse with checksum verification.

use std::io::{Read, Write};
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::coder::{Cdf, Decoder, Encoder, SymbolCoder};
use crate::container::{self, BlockHeader, EndRecord, FrameHeader, Method, Profile, Record};
use crate::engine::{Engine, Kernel, StreamState};
use crate::error::{Error, Result};
use crate::latent::{self, Search};
use crate::mixer::{ContextMix, COMPONENTS};
use crate::model::{hex, Builtin, Model};

/// Neural blocks stepped together on one thread when decompressing.
const STREAMS_PER_GROUP: usize = 48;

/// Neural blocks in flight at once (each holds its network state, ~1 MB with the built-in model,
/// and its adaptive models, up to ~6 MB per 64 KiB of block), whatever the thread count: this
/// and [`BATCH_BYTES`] are what bound memory.
const BATCH_BLOCKS: usize = 32;

/// Input bytes in flight at once (fewer, larger blocks for the large block sizes).
const BATCH_BYTES: usize = 2 << 20;

/// A model ready to code: tokenizer and deterministic engine.
pub struct Codec {
    pub model: Model,
    pub engine: Engine,
    /// The latent policy's engine, if the model has a policy.
    pub policy: Option<Engine>,
}

impl Codec {
    /// Prepares a model for coding with the widest kernel this CPU has.
    pub fn new(model: Model) -> Result<Self> {
        let kernel = Kernel::detect();
        let engine = model.engine(kernel)?;
        let policy = model.policy.as_ref().map(|p| p.engine(kernel)).transpose()?;
        Ok(Self { model, engine, policy })
    }
}

/// Where a decoder finds the model each frame names.
pub trait Models: Sync {
    /// The codec for the model with this identity.
    fn for_id(&self, id: &[u8; 16]) -> Result<&Codec>;
}

impl Models for Codec {
    fn for_id(&self, id: &[u8; 16]) -> Result<&Codec> {
        if *id == self.model.id {
            Ok(self)
        } else {
            Err(Error::WrongModel { found: hex(id), expected: self.model.id_hex() })
        }
    }
}

/// The built-in models, each loaded on first use (decoding one file rarely needs more than one).
#[derive(Default)]
pub struct Builtins {
    codecs: [OnceLock<Codec>; Builtin::ALL.len()],
}

impl Builtins {
    /// The codec for one built-in model.
    pub fn get(&self, which: Builtin) -> Result<&Codec> {
        let cell = &self.codecs[which as usize];
        if let Some(c) = cell.get() {
            return Ok(c);
        }
        let codec = Codec::new(which.load()?)?;
        Ok(cell.get_or_init(|| codec))
    }
}

impl Models for Builtins {
    fn for_id(&self, id: &[u8; 16]) -> Result<&Codec> {
        match Builtin::from_id(id) {
            Some(b) => self.get(b),
            None => Err(Error::WrongModel { found: hex(id), expected: "one of the built-in ones".into() }),
        }
    }
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
    pub latent: Search,
}

/// When blocks are coded with the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeuralUse {
    /// Never (zstd or stored only).
    Never,
    /// On text blocks, where it is smaller than zstd.
    Auto,
    /// On every block its payload bound allows (for tests that must exercise the model).
    Always,
}

impl Default for Options {
    fn default() -> Self {
        Self { threads: 1, neural_block: 64 << 10, max_block: 1 << 20, streams_per_thread: STREAMS_PER_GROUP, neural: NeuralUse::Auto, profile: Profile::Mixed, latent: Search::Off }
    }
}

/// What a run did, for `-v` and `info`.
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
    pub tokens: u64,
    pub mismatches: u64,
    pub latent_tokens: u64,
    /// Segments coded, segments that carried a latent, and segments greedy decoding reproduces
    /// exactly (compression only: the container does not record them).
    pub segments: u64,
    pub latent_segments: u64,
    pub exact_segments: u64,
    pub model_ids: Vec<String>,
    /// Numeric profiles of the frames, in order of first appearance.
    pub profiles: Vec<Profile>,
    /// Bits each mixture component saved ([`analyse`] only; indexed like [`COMPONENTS`]).
    pub saved_bits: Option<[f64; COMPONENTS.len()]>,
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
        }
        self.tokens += u64::from(h.tokens);
        self.mismatches += u64::from(h.mismatches);
        self.latent_tokens += u64::from(h.latent_tokens);
    }
}

/// One block's token stream being coded or decoded in lockstep with others.
struct Job<C> {
    tokens: Vec<u32>,
    n: usize,
    coder: C,
    mismatches: u32,
    latent_tokens: u32,
    /// Latent of each segment (compression; decoding reads them from the stream).
    latents: Vec<Vec<u32>>,
    segments: SegmentCounts,
    /// Mismatches when the current segment started.
    seg_mismatches: u32,
    seg_start: usize,
    seg_len: usize,
    state: Option<StreamState>,
    /// Adaptive models and mixer (profiles other than `Neural`).
    mix: Option<Box<ContextMix>>,
    /// Bits saved per mixture component, when analysing.
    saved: Option<[f64; COMPONENTS.len()]>,
}

impl<C: SymbolCoder> Job<C> {
    fn new(tokens: Vec<u32>, n: usize, coder: C, profile: Profile) -> Self {
        let mix = (profile != Profile::Neural).then(Box::default);
        Self { tokens, n, coder, mismatches: 0, latent_tokens: 0, latents: Vec::new(), segments: SegmentCounts::default(), seg_mismatches: 0, seg_start: 0, seg_len: 0, state: None, mix, saved: None }
    }

    /// Learns the coded token; when analysing, first measures what each component saved on it.
    fn learn(&mut self, logits: Option<&[f32]>, token: u32, cdf: &Cdf) {
        if let Some(m) = self.mix.as_mut() {
            if let Some(saved) = self.saved.as_mut() {
                m.leave_one_out(logits, token, saved);
            }
            m.update(logits, token, cdf);
        }
    }

    /// Codes (or decodes) token `idx` under `cdf`, keeping the decoded history.
    fn code_token(&mut self, idx: usize, cdf: &Cdf) -> Result<u32> {
        let want = self.tokens.get(idx).copied().unwrap_or(0);
        let got = self.coder.code(cdf, want)?;
        if idx == self.tokens.len() {
            self.tokens.push(got);
        }
        if got != cdf.argmax {
            self.mismatches += 1;
        }
        Ok(got)
    }
}

/// Per-segment counts of one block (see [`Stats::segments`]).
#[derive(Clone, Copy, Debug, Default)]
struct SegmentCounts {
    all: u32,
    with_latent: u32,
    exact: u32,
}

/// Codes blocks with the adaptive models alone (profile `Adaptive`): no network, no latents.
fn run_adaptive<C: SymbolCoder>(vocab: usize, jobs: &mut [Job<C>]) -> Result<()> {
    let mut cdf = Cdf::default();
    for j in jobs {
        for idx in 0..j.n {
            j.mix.get_or_insert_default().predict(None, vocab, &mut cdf);
            let got = j.code_token(idx, &cdf)?;
            j.learn(None, got, &cdf);
        }
    }
    Ok(())
}

/// Codes the latent of a segment: a flag, then (if set) its length and tokens, uniformly.
fn code_latent<C: SymbolCoder>(coder: &mut C, cdf: &mut Cdf, latent: &[u32], max: usize, vocab: usize) -> Result<Vec<u32>> {
    cdf.binary(latent::FLAG_P);
    if coder.code(cdf, u32::from(!latent.is_empty()))? == 0 || max == 0 {
        return Ok(Vec::new());
    }
    cdf.uniform(max);
    let len = coder.code(cdf, latent.len().saturating_sub(1) as u32)? as usize + 1;
    cdf.uniform(vocab);
    (0..len).map(|i| coder.code(cdf, latent.get(i).copied().unwrap_or(0))).collect()
}

/// Runs the model over several blocks in lockstep, coding (or decoding) every token.
fn run_jobs<C: SymbolCoder>(engine: &Engine, profile: Profile, jobs: &mut [Job<C>]) -> Result<()> {
    let cfg = &engine.cfg;
    if profile == Profile::Adaptive {
        return run_adaptive(cfg.vocab, jobs);
    }
    let mut cdf = Cdf::default();
    let mut logits = Vec::new();
    loop {
        let mut starts = Vec::new();
        for (i, j) in jobs.iter_mut().enumerate() {
            if j.state.is_none() && j.seg_start < j.n {
                let want = j.latents.get(j.seg_start / cfg.segment.max(1)).map_or(&[][..], Vec::as_slice);
                let latent = code_latent(&mut j.coder, &mut cdf, want, cfg.max_latent, cfg.vocab)?;
                j.latent_tokens += latent.len() as u32;
                j.segments.all += 1;
                j.segments.with_latent += u32::from(!latent.is_empty());
                j.seg_mismatches = j.mismatches;
                j.seg_len = cfg.segment.min(j.n - j.seg_start);
                let ctx = j.tokens[j.seg_start.saturating_sub(cfg.context)..j.seg_start].to_vec();
                starts.push((i, ctx, latent));
            }
        }
        if !starts.is_empty() {
            let inputs: Vec<(&[u32], &[u32])> = starts.iter().map(|(_, c, l)| (c.as_slice(), l.as_slice())).collect();
            let states = engine.begin_segments(&inputs);
            for ((i, _, _), s) in starts.iter().zip(states) {
                jobs[*i].state = Some(s);
            }
        }
        let mut active: Vec<&mut Job<C>> = jobs.iter_mut().filter(|j| j.state.is_some()).collect();
        if active.is_empty() {
            return Ok(());
        }
        let inputs: Vec<u32> = active
            .iter()
            .map(|j| {
                let pos = j.state.as_ref().map_or(0, |s| s.pos);
                if pos == 0 { cfg.bos_id() } else { j.tokens[j.seg_start + pos - 1] }
            })
            .collect();
        {
            let mut states: Vec<&mut StreamState> = active.iter_mut().filter_map(|j| j.state.as_mut()).collect();
            engine.step(&mut states, &inputs, &mut logits);
        }
        for (r, j) in active.iter_mut().enumerate() {
            let row = &logits[r * cfg.vocab..(r + 1) * cfg.vocab];
            let pos = j.state.as_ref().map_or(0, |s| s.pos);
            let idx = j.seg_start + pos - 1;
            match j.mix.as_mut() {
                Some(m) => m.predict(Some(row), cfg.vocab, &mut cdf),
                None => cdf.from_logits(row),
            }
            let got = j.code_token(idx, &cdf)?;
            j.learn(Some(row), got, &cdf);
            if pos == j.seg_len {
                j.segments.exact += u32::from(j.mismatches == j.seg_mismatches);
                j.state = None;
                j.seg_start += j.seg_len;
            }
        }
    }
}

/// Whether a piece looks like text worth running the model on.
fn looks_like_text(b: &[u8]) -> bool {
    let mut bad = 0usize;
    for chunk in b.utf8_chunks() {
        bad += chunk.invalid().len();
        bad += chunk.valid().bytes().filter(|&c| c < 0x20 && !matches!(c, b'\t' | b'\n' | b'\r' | 0x0c)).count();
    }
    bad * 50 <= b.len()
}

/// Splits a buffer into pieces of at most `size` bytes, preferring to cut after a newline or space.
fn split_pieces(buf: &[u8], size: usize) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = buf;
    while rest.len() > size {
        let window = &rest[size - size / 8..size];
        let cut = window
            .iter()
            .rposition(|&c| c == b'\n')
            .or_else(|| window.iter().rposition(|&c| c == b' '))
            .map_or(size, |p| size - size / 8 + p + 1);
        out.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

fn read_full(r: &mut impl Read, buf: &mut Vec<u8>, want: usize) -> Result<()> {
    buf.clear();
    r.take(want as u64).read_to_end(buf)?;
    Ok(())
}

/// Blocks per lockstep group: enough groups to keep every thread busy, at most `max` each.
/// Scheduling only: rows never interact, so the output is the same for any grouping.
fn group_size(blocks: usize, threads: usize, max: usize) -> usize {
    blocks.div_ceil(threads.max(1)).clamp(1, max.max(1))
}

/// A block ready to write.
struct Coded {
    header: BlockHeader,
    payload: Vec<u8>,
    segments: SegmentCounts,
}

fn classical(piece: &[u8], level: i32) -> Coded {
    let crc = crc32fast::hash(piece);
    let z = zstd::bulk::compress(piece, level).ok().filter(|z| z.len() < piece.len());
    let (method, payload) = match z {
        Some(z) => (Method::Zstd, z),
        None => (Method::Stored, piece.to_vec()),
    };
    Coded {
        header: BlockHeader {
            method,
            orig_len: piece.len() as u32,
            payload_len: payload.len() as u32,
            crc,
            tokens: 0,
            mismatches: 0,
            latent_tokens: 0,
        },
        payload,
        segments: SegmentCounts::default(),
    }
}

/// Compresses text pieces with the model on one thread, in lockstep.
fn neural_group(codec: &Codec, pieces: &[&[u8]], opts: &Options) -> Result<Vec<Coded>> {
    let profile = opts.profile;
    let search = if profile == Profile::Adaptive { Search::Off } else { opts.latent };
    let mut jobs = Vec::with_capacity(pieces.len());
    for p in pieces {
        let t = codec.model.tokenizer.encode(p)?;
        let n = t.len();
        let mut job = Job::new(t, n, Encoder::default(), profile);
        job.latents = latent::choose(&codec.engine, codec.policy.as_ref(), search, &job.tokens);
        jobs.push(job);
    }
    run_jobs(&codec.engine, profile, &mut jobs)?;
    Ok(jobs
        .into_iter()
        .zip(pieces)
        .map(|(j, p)| {
            let payload = j.coder.finish();
            Coded {
                header: BlockHeader {
                    method: Method::Neural,
                    orig_len: p.len() as u32,
                    payload_len: payload.len() as u32,
                    crc: crc32fast::hash(p),
                    tokens: j.n as u32,
                    mismatches: j.mismatches,
                    latent_tokens: j.latent_tokens,
                },
                payload,
                segments: j.segments,
            }
        })
        .collect())
}

/// Compresses a batch of input into blocks.
fn compress_batch(codec: &Codec, buf: &[u8], opts: &Options) -> Result<Vec<Coded>> {
    let pieces = split_pieces(buf, opts.neural_block);
    let text: Vec<bool> = pieces
        .iter()
        .map(|p| match opts.neural {
            NeuralUse::Never => false,
            NeuralUse::Auto => looks_like_text(p),
            NeuralUse::Always => true,
        })
        .collect();
    let neural_pieces: Vec<&[u8]> = pieces.iter().zip(&text).filter(|(_, t)| **t).map(|(p, _)| *p).collect();
    let neural: Vec<Coded> = neural_pieces
        .par_chunks(group_size(neural_pieces.len(), opts.threads, opts.streams_per_thread))
        .map(|g| neural_group(codec, g, opts))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    // Each text piece keeps the smaller of neural and zstd; non-text runs merge into large blocks.
    let mut work: Vec<(Vec<&[u8]>, Option<Coded>)> = Vec::new();
    let mut neural = neural.into_iter();
    let mut run_len = 0;
    for (p, is_text) in pieces.iter().zip(&text) {
        if *is_text {
            work.push((vec![*p], neural.next()));
            run_len = 0;
        } else {
            match work.last_mut() {
                Some((run, None)) if run_len + p.len() <= opts.max_block => run.push(p),
                _ => {
                    work.push((vec![*p], None));
                    run_len = 0;
                }
            }
            run_len += p.len();
        }
    }
    work.into_par_iter()
        .map(|(run, coded)| {
            let data = run.concat();
            let level = if coded.is_some() { 19 } else { 9 };
            let plain = classical(&data, level);
            let fits = |n: &Coded| n.payload.len() as u32 <= container::max_payload(n.header.orig_len);
            Ok(match coded {
                Some(n) if opts.neural == NeuralUse::Always && fits(&n) => n,
                Some(n) if n.payload.len() < plain.payload.len() => n,
                _ => plain,
            })
        })
        .collect()
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
        .map_err(|e| Error::Io(std::io::Error::other(e)))
}

/// Compresses everything from `input` into one frame on `output`; `progress` gets input bytes done.
pub fn compress(
    codec: &Codec,
    input: &mut impl Read,
    output: &mut impl Write,
    opts: &Options,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    // Block sizes beyond what the format allows would make unreadable files.
    let max_block = opts.max_block.clamp(1, container::MAX_BLOCK_SIZE as usize);
    let opts = &Options {
        neural_block: opts.neural_block.clamp(1, max_block.min(container::MAX_NEURAL_BLOCK as usize)),
        max_block,
        ..opts.clone()
    };
    let pool = thread_pool(opts.threads)?;
    let mut stats = Stats { frames: 1, model_ids: vec![codec.model.id_hex()], ..Stats::default() };
    let mut out = CountingWriter { inner: output, count: 0 };
    container::write_frame_header(
        &mut out,
        &FrameHeader { version: container::version_for(opts.neural_block), profile: opts.profile, model_id: codec.model.id, block_size: opts.max_block as u32 },
    )?;
    // The batch size shapes block boundaries, so it must not depend on threads or streams.
    let batch = (opts.neural_block * BATCH_BLOCKS).min(BATCH_BYTES).max(opts.max_block);
    let mut crc = crc32fast::Hasher::new();
    let mut buf = Vec::new();
    loop {
        read_full(input, &mut buf, batch)?;
        if buf.is_empty() {
            break;
        }
        crc.update(&buf);
        stats.input_bytes += buf.len() as u64;
        let blocks = pool.install(|| compress_batch(codec, &buf, opts))?;
        for b in &blocks {
            stats.add_block(&b.header);
            stats.segments += u64::from(b.segments.all);
            stats.latent_segments += u64::from(b.segments.with_latent);
            stats.exact_segments += u64::from(b.segments.exact);
            container::write_block(&mut out, &b.header, &b.payload)?;
        }
        progress(stats.input_bytes);
    }
    container::write_end(&mut out, &EndRecord { total_len: stats.input_bytes, crc: crc.finalize() })?;
    out.flush()?;
    stats.output_bytes = out.count;
    Ok(stats)
}

struct CountingWriter<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(b)?;
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(b)?;
        self.count += n as u64;
        Ok(n)
    }
}

fn decode_block(h: &BlockHeader, payload: &[u8]) -> Result<Vec<u8>> {
    let data = match h.method {
        Method::Stored => payload.to_vec(),
        Method::Zstd => {
            let mut out = Vec::with_capacity(h.orig_len as usize);
            zstd::stream::read::Decoder::new(payload)?
                .take(u64::from(h.orig_len) + 1)
                .read_to_end(&mut out)
                .map_err(|_| Error::Corrupt("invalid zstd payload"))?;
            out
        }
        Method::Neural => return Err(Error::Corrupt("neural block outside a group")),
    };
    Ok(data)
}

/// How a frame's blocks are decoded.
#[derive(Clone, Copy)]
struct FrameDecode {
    profile: Profile,
    /// Measure what each mixture component saved.
    analyse: bool,
}

fn neural_decode_group(codec: &Codec, how: FrameDecode, items: &[(&BlockHeader, &[u8])]) -> Result<Vec<Decoded>> {
    let mut jobs = Vec::with_capacity(items.len());
    for (h, p) in items {
        let mut job = Job::new(Vec::with_capacity(h.tokens as usize), h.tokens as usize, Decoder::new(p)?, how.profile);
        if how.analyse && job.mix.is_some() {
            job.saved = Some([0.0; COMPONENTS.len()]);
        }
        jobs.push(job);
    }
    run_jobs(&codec.engine, how.profile, &mut jobs)?;
    jobs.iter()
        .zip(items)
        .map(|(j, (h, _))| {
            let mut data = Vec::with_capacity(h.orig_len as usize);
            codec.model.tokenizer.decode_into(&j.tokens, &mut data)?;
            Ok(Decoded { data, saved: j.saved })
        })
        .collect()
}

/// A decoded block, and what the mixture's components saved on it when analysing.
#[derive(Default)]
struct Decoded {
    data: Vec<u8>,
    saved: Option<[f64; COMPONENTS.len()]>,
}

/// Decodes a batch of blocks (in parallel), verifies each checksum, and returns their bytes in order.
fn decode_batch(codec: &Codec, how: FrameDecode, blocks: &[(BlockHeader, Vec<u8>)], threads: usize) -> Result<Vec<Decoded>> {
    let neural: Vec<(&BlockHeader, &[u8])> =
        blocks.iter().filter(|(h, _)| h.method == Method::Neural).map(|(h, p)| (h, p.as_slice())).collect();
    let decoded: Vec<Decoded> = neural
        .par_chunks(group_size(neural.len(), threads, STREAMS_PER_GROUP))
        .map(|g| neural_decode_group(codec, how, g))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let mut decoded = decoded.into_iter();
    let mut out = Vec::with_capacity(blocks.len());
    let plain: Vec<Result<Vec<u8>>> = blocks
        .par_iter()
        .map(|(h, p)| if h.method == Method::Neural { Ok(Vec::new()) } else { decode_block(h, p) })
        .collect();
    for ((h, _), p) in blocks.iter().zip(plain) {
        let d = if h.method == Method::Neural { decoded.next().unwrap_or_default() } else { Decoded { data: p?, saved: None } };
        if d.data.len() != h.orig_len as usize {
            return Err(Error::Corrupt("block decodes to the wrong length"));
        }
        if crc32fast::hash(&d.data) != h.crc {
            return Err(Error::Checksum("block"));
        }
        out.push(d);
    }
    Ok(out)
}

/// Reads the next frame header and counts it; a clean end is `None`, but only after a first frame.
fn next_frame(input: &mut impl Read, stats: &mut Stats) -> Result<Option<FrameHeader>> {
    match container::read_frame_header(input)? {
        Some(f) => {
            stats.frames += 1;
            let id = hex(&f.model_id);
            if !stats.model_ids.contains(&id) {
                stats.model_ids.push(id);
            }
            if !stats.profiles.contains(&f.profile) {
                stats.profiles.push(f.profile);
            }
            Ok(Some(f))
        }
        None if stats.frames == 0 => Err(Error::Truncated("empty input")),
        None => Ok(None),
    }
}

/// Decompresses every frame of `input` to `output` (or only verifies when `output` is `None`).
pub fn decompress(
    models: &(impl Models + ?Sized),
    input: &mut impl Read,
    output: Option<&mut dyn Write>,
    threads: usize,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    decode_frames(models, input, output, threads, false, progress)
}

/// Decodes `input` without writing it and measures the bits each mixture component saved
/// (slower than [`decompress`]: every token is also scored with each component left out).
pub fn analyse(models: &(impl Models + ?Sized), input: &mut impl Read, threads: usize, progress: &dyn Fn(u64)) -> Result<Stats> {
    decode_frames(models, input, None, threads, true, progress)
}

fn decode_frames(
    models: &(impl Models + ?Sized),
    input: &mut impl Read,
    mut output: Option<&mut dyn Write>,
    threads: usize,
    analyse: bool,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    let pool = thread_pool(threads)?;
    let mut input = CountingReader { inner: input, count: 0 };
    let mut stats = Stats::default();
    while let Some(frame) = next_frame(&mut input, &mut stats)? {
        let codec = models.for_id(&frame.model_id)?;
        let mut crc = crc32fast::Hasher::new();
        let mut total = 0u64;
        let mut pending: Vec<(BlockHeader, Vec<u8>)> = Vec::new();
        let mut pending_bytes = 0usize;
        let mut flush = |pending: &mut Vec<(BlockHeader, Vec<u8>)>, stats: &mut Stats, total: &mut u64| -> Result<()> {
            let how = FrameDecode { profile: frame.profile, analyse };
            let decoded = pool.install(|| decode_batch(codec, how, pending, threads))?;
            for (d, (h, _)) in decoded.iter().zip(pending.iter()) {
                crc.update(&d.data);
                *total += d.data.len() as u64;
                stats.add_block(h);
                if let Some(s) = d.saved {
                    let acc = stats.saved_bits.get_or_insert([0.0; COMPONENTS.len()]);
                    acc.iter_mut().zip(s).for_each(|(a, b)| *a += b);
                }
                if let Some(w) = output.as_mut() {
                    w.write_all(&d.data)?;
                }
            }
            pending.clear();
            progress(stats.output_bytes + *total);
            Ok(())
        };
        let end = loop {
            match container::read_record(&mut input, &frame)? {
                Record::Block(h, p) => {
                    pending_bytes += h.orig_len as usize;
                    pending.push((h, p));
                    let n_neural = pending.iter().filter(|(h, _)| h.method == Method::Neural).count();
                    if n_neural >= BATCH_BLOCKS || pending_bytes >= BATCH_BYTES {
                        flush(&mut pending, &mut stats, &mut total)?;
                        pending_bytes = 0;
                    }
                }
                Record::End(e) => break e,
            }
        };
        flush(&mut pending, &mut stats, &mut total)?;
        if end.total_len != total || end.crc != crc.finalize() {
            return Err(Error::Checksum("frame"));
        }
        stats.output_bytes += total;
    }
    if let Some(w) = output.as_mut() {
        w.flush()?;
    }
    stats.input_bytes = input.count;
    Ok(stats)
}

/// Reads the headers of every frame and block (payloads are skipped, not decoded).
pub fn inspect(input: &mut impl Read) -> Result<Stats> {
    let mut input = CountingReader { inner: input, count: 0 };
    let mut stats = Stats::default();
    while let Some(frame) = next_frame(&mut input, &mut stats)? {
        let mut total = 0u64;
        loop {
            match container::read_record(&mut input, &frame)? {
                Record::Block(h, _) => {
                    total += u64::from(h.orig_len);
                    stats.add_block(&h);
                }
                Record::End(e) if e.total_len == total => break,
                Record::End(_) => return Err(Error::Corrupt("frame length does not match its blocks")),
            }
        }
        stats.output_bytes += total;
    }
    stats.input_bytes = input.count;
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_input_and_respect_the_size() {
        let text = b"one two three\nfour five six seven\n".repeat(100);
        let pieces = split_pieces(&text, 300);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| p.len() <= 300 && !p.is_empty()));
        assert!(pieces[..pieces.len() - 1].iter().all(|p| p.ends_with(b"\n")));
    }

    #[test]
    fn text_detection() {
        assert!(looks_like_text(b"Hello, world.\n\tIndented line.\r\n"));
        assert!(!looks_like_text(&(0..=255u8).collect::<Vec<_>>()));
    }

    fn tiny() -> Codec {
        Codec::new(Model::load(std::path::Path::new("tests/data/tiny")).unwrap()).unwrap()
    }

    /// Codes one block with the given latent per segment; returns the payload and the decoded tokens.
    fn code_block(c: &Codec, tokens: &[u32], latents: &[Vec<u32>]) -> (Vec<u8>, Vec<u32>) {
        let mut job = Job::new(tokens.to_vec(), tokens.len(), Encoder::default(), Profile::Neural);
        job.latents = latents.to_vec();
        run_jobs(&c.engine, Profile::Neural, std::slice::from_mut(&mut job)).unwrap();
        let payload = job.coder.finish();
        let mut back = Job::new(Vec::new(), tokens.len(), Decoder::new(&payload).unwrap(), Profile::Neural);
        run_jobs(&c.engine, Profile::Neural, std::slice::from_mut(&mut back)).unwrap();
        (payload, back.tokens)
    }

    #[test]
    fn the_reward_is_what_the_coder_spends() {
        let c = tiny();
        let cfg = &c.engine.cfg;
        let tokens: Vec<u32> = (0..5 * cfg.segment as u32 + 3).map(|i| (i * 37 + i / 7) % 300).collect();
        let starts: Vec<usize> = (0..tokens.len()).step_by(cfg.segment).collect();
        let latents: Vec<Vec<u32>> = starts.iter().map(|&s| if s % 2 == 0 { vec![tokens[s + 1], 5] } else { Vec::new() }).collect();
        let (payload, decoded) = code_block(&c, &tokens, &latents);
        assert_eq!(decoded, tokens, "latents must not change what decodes");
        // The exact reward (engine scoring) and the trainer's teacher-forced one (candle, f32).
        let t5 = c.model.candle(&candle_core::Device::Cpu).unwrap();
        let (mut exact, mut forced) = (0.0, 0.0);
        for (&s, l) in starts.iter().zip(&latents) {
            let ctx = &tokens[s.saturating_sub(cfg.context)..s];
            let seg = &tokens[s..(s + cfg.segment).min(tokens.len())];
            let cost = latent::latent_bits(l, cfg.max_latent, cfg.vocab);
            exact += cost + latent::score(&c.engine, &[(ctx, l, seg)])[0].iter().sum::<f64>();
            forced += cost + t5.segment_bits(ctx, l, seg).unwrap();
        }
        let spent = 8.0 * payload.len() as f64;
        // the range coder adds at most a few words of flush
        assert!(spent >= exact - 1.0 && spent <= exact + 64.0, "coder {spent} bits, reward {exact}");
        assert!((forced - exact).abs() < 0.002 * exact + 1.0, "teacher-forced {forced}, exact {exact}");
    }

    #[test]
    fn chosen_latents_never_cost_more_than_the_empty_one() {
        let c = tiny();
        let tokens: Vec<u32> = (0..200u32).map(|i| (i * 91 + i * i) % 320).collect();
        let cfg = &c.engine.cfg;
        // the heuristic must propose something, or there is nothing to choose between
        let rows: Vec<latent::Row> = (0..tokens.len())
            .step_by(cfg.segment)
            .map(|s| (&tokens[s.saturating_sub(cfg.context)..s], &[][..], &tokens[s..(s + cfg.segment).min(tokens.len())]))
            .collect();
        let bits = latent::score(&c.engine, &rows);
        assert!(rows.iter().zip(&bits).any(|(r, b)| !latent::heuristic(r.2, b, cfg.max_latent, cfg.vocab).is_empty()));
        let chosen = latent::choose(&c.engine, None, Search::Heuristic, &tokens);
        let empty = vec![Vec::new(); chosen.len()];
        let (with, decoded) = code_block(&c, &tokens, &chosen);
        let (without, _) = code_block(&c, &tokens, &empty);
        assert_eq!(decoded, tokens);
        assert!(with.len() <= without.len() + 8, "{} > {}", with.len(), without.len());
    }
}
