//! Compression: input to one frame.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rayon::prelude::*;

use super::batch::{in_groups, thread_pool};
use super::lanes::Lanes;
use super::{looks_like_text, reporting, NeuralUse, Options, Stats, BATCH_BLOCKS, BATCH_BYTES};
use crate::codec::cm::Lane;
use crate::codec::coder::Encoder;
use crate::codec::latent::{self, LatentSearch};
use crate::codec::stream::{code_in_lockstep, code_on_lane, BlockStream, SegmentCounts};
use crate::engine::Engine;
use crate::error::Result;
use crate::format::{self, BlockHeader, CmParams, EndRecord, FrameHeader, Method, NetArith, Profile};
use crate::model::{ModelError, ModelId, PreparedModel};
use crate::transform::LineEndings;

/// A block ready to write.
#[derive(Clone)]
pub(super) struct Coded {
    pub(super) header: BlockHeader,
    pub(super) payload: Vec<u8>,
    segments: SegmentCounts,
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

/// The smaller of zstd (at `level`, if any) and stored.
fn stored_or_zstd(piece: &[u8], level: Option<i32>) -> Coded {
    let crc = crc32fast::hash(piece);
    let z = level.and_then(|l| zstd::bulk::compress(piece, l).ok()).filter(|z| z.len() < piece.len());
    let (method, payload) = match z {
        Some(z) => (Method::Zstd, z),
        None => (Method::Stored, piece.to_vec()),
    };
    let header = BlockHeader {
        method,
        orig_len: piece.len() as u32,
        payload_len: payload.len() as u32,
        crc,
        tokens: 0,
        mismatches: 0,
        latent_tokens: 0,
    };
    Coded { header, payload, segments: SegmentCounts::default() }
}

/// Compresses text pieces with the model on one thread, in lockstep.
fn neural_group(m: &PreparedModel, pieces: &[&[u8]], opts: &Options) -> Result<Vec<Coded>> {
    let search = if opts.profile == Profile::Adaptive { LatentSearch::Off } else { opts.latent };
    let mut streams = Vec::with_capacity(pieces.len());
    for p in pieces {
        let t = m.model().tokenizer.encode(p)?;
        let latents = latent::choose(m.engine(), m.policy(), search, &t);
        let n = t.len();
        streams.push(BlockStream::new(t, n, Encoder::default(), opts.profile).with_latents(latents));
    }
    code_in_lockstep(m.engine(), opts.profile, &mut streams)?;
    Ok(streams
        .into_iter()
        .zip(pieces)
        .map(|(s, p)| {
            let (mismatches, latent_tokens, segments) = s.counts();
            let tokens = s.tokens().len() as u32;
            let payload = s.into_coder().finish();
            let header = BlockHeader {
                method: Method::Neural,
                orig_len: p.len() as u32,
                payload_len: payload.len() as u32,
                crc: crc32fast::hash(p),
                tokens,
                mismatches,
                latent_tokens,
            };
            Coded { header, payload, segments }
        })
        .collect())
}

/// Runs of pieces to code as one block each: every text piece alone (with its neural coding),
/// non-text pieces merged up to `max_block`.
fn merge_runs<'a>(pieces: &[&'a [u8]], text: &[bool], neural: Vec<Coded>, max_block: usize) -> Vec<(Vec<&'a [u8]>, Option<Coded>)> {
    let mut work: Vec<(Vec<&[u8]>, Option<Coded>)> = Vec::new();
    let mut neural = neural.into_iter();
    let mut run_len = 0;
    for (p, is_text) in pieces.iter().zip(text) {
        if *is_text {
            work.push((vec![*p], neural.next()));
            run_len = 0;
        } else {
            match work.last_mut() {
                Some((run, None)) if run_len + p.len() <= max_block => run.push(p),
                _ => {
                    work.push((vec![*p], None));
                    run_len = 0;
                }
            }
            run_len += p.len();
        }
    }
    work
}

/// Compresses a batch of input into blocks: each text piece keeps the smaller of neural and
/// zstd; non-text runs merge into large blocks.
fn compress_batch(m: &PreparedModel, buf: &[u8], opts: &Options) -> Result<Vec<Coded>> {
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
    let neural = in_groups(&neural_pieces, opts.threads, opts.streams_per_thread, |g| neural_group(m, g, opts))?;
    merge_runs(&pieces, &text, neural, opts.max_block)
        .into_par_iter()
        .map(|(run, coded)| {
            let data = run.concat();
            let plain = stored_or_zstd(&data, Some(if coded.is_some() { 19 } else { 9 }));
            let fits = |n: &Coded| n.payload.len() as u32 <= format::max_payload(n.header.orig_len);
            Ok(match coded {
                Some(n) if opts.neural == NeuralUse::Always && fits(&n) => n,
                Some(n) if n.payload.len() < plain.payload.len() => n,
                _ => plain,
            })
        })
        .collect()
}

/// Groups that skip the trial of context mixing alone after the network won one by far.
const SKIP_ALONE: u32 = 3;
/// The most groups coded without the network after it lost by far (each loss in a row doubles
/// the run, from 1): where the network keeps losing, it codes one group in 17.
const SKIP_NETWORK: u32 = 16;

/// Codes a lane's group of pieces (each with its stream) on the lane, each stored instead (or,
/// beside the network, zstd'd) where that is smaller: the lane has learned the piece either way,
/// as the decompressor's lane will. Each piece is coded as its line-ending transform leaves it
/// ([`LineEndings`]; the record leads the payload). With the network (profile 5), the text
/// pieces (by [`looks_like_text`] of the original bytes, which the decompressor can tell from a
/// stored block too) are coded together token by token under the network's prediction, then
/// the other pieces' bytes alone, in stream order.
///
/// With the network, the group is also coded by context mixing alone, every piece a
/// context-mixing block, on a copy of the lane (in parallel), and where that is smaller in all,
/// it is kept and the copy becomes the lane: on tables of numbers, logs and repetitive markup
/// the bytes' own statistics predict nearly everything, and coding tokens costs more than the
/// network adds. The decompressor needs no flag: it decodes each block by its method, so its
/// lane learns the same either way. Where the network wins by far, the next few groups do not
/// try (the trial costs about a tenth more CPU time); where it loses by far, the next groups
/// are coded without it, at context mixing's speed. `neural`: `Auto` tries, `Always` codes text
/// with the network, `Never` without.
pub(super) fn lane_group(
    lane: &mut Lane,
    network: Option<(&PreparedModel, &Engine)>,
    pieces: &[(usize, &[u8])],
    neural: NeuralUse,
    threads: usize,
) -> Result<Vec<Coded>> {
    let group = Group::new(pieces, network.is_some());
    let Some(network) = network.filter(|_| group.text.contains(&true) && neural != NeuralUse::Never) else {
        return group.code(lane, None, threads);
    };
    if neural == NeuralUse::Always {
        return group.code(lane, Some(network), threads);
    }
    if lane.skip_alone > 0 {
        lane.skip_alone -= 1;
        return group.code(lane, Some(network), threads);
    }
    let fits = |coded: &[Coded]| coded.iter().all(|c| c.payload.len() as u32 <= format::max_payload(c.header.orig_len));
    if lane.skip_network > 0 {
        lane.skip_network -= 1;
        // (on a copy, as in the trial: a text piece that would not fit a block without the
        // network is coded with it)
        let mut alone = lane.clone();
        let without = group.code(&mut alone, None, 1)?;
        if fits(&without) {
            *lane = alone;
            lane.sat_out += 1;
            return Ok(without);
        }
        return group.code(lane, Some(network), threads);
    }
    let mut alone = lane.clone();
    // (the trial's bytes are counted once, by the lane with the network)
    alone.progress = None;
    // (with more than one thread, on a thread of its own: the network's work waits on its own
    // threads in turn)
    let (with_network, without) = match threads {
        0 | 1 => (group.code(lane, Some(network), threads), group.code(&mut alone, None, 1)),
        _ => std::thread::scope(|scope| {
            let without = scope.spawn(|| group.code(&mut alone, None, 1));
            let with_network = group.code(lane, Some(network), threads);
            (with_network, without.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
        }),
    };
    let (with_network, without) = (with_network?, without?);
    let size = |c: &[Coded]| c.iter().map(|c| c.payload.len()).sum::<usize>();
    let (alone_size, network_size) = (size(&without), size(&with_network));
    if fits(&without) && alone_size < network_size {
        alone.progress = lane.progress.take();
        *lane = alone;
        // where context mixing alone wins by far (on tables and logs by 4-13%; where it won a
        // group of prose at level 4, by 1.8% at most), the network sits out the next groups
        if network_size > alone_size + alone_size / 32 {
            lane.skip_network = lane.network_rest.max(1);
            lane.network_rest = (lane.skip_network * 2).min(SKIP_NETWORK);
        } else {
            lane.network_rest = 0;
        }
        return Ok(without);
    }
    lane.network_rest = 0;
    // where the network wins by far (on prose by 15-25%), the next groups skip the trial
    lane.skip_alone = if alone_size > network_size + network_size / 8 { SKIP_ALONE } else { 0 };
    Ok(with_network)
}

/// A lane's group of pieces, with each one's line-ending transform and the body it leaves,
/// whether it is text for the network, and the piece stored or zstd'd.
pub(super) struct Group<'a> {
    pieces: &'a [(usize, &'a [u8])],
    plans: Vec<Option<LineEndings>>,
    bodies: Vec<Cow<'a, [u8]>>,
    text: Vec<bool>,
    plain: Vec<Coded>,
}

impl<'a> Group<'a> {
    /// `hybrid`: whether the frame has the network (profile 5).
    pub(super) fn new(pieces: &'a [(usize, &'a [u8])], hybrid: bool) -> Self {
        let plans: Vec<Option<LineEndings>> = pieces.iter().map(|(_, p)| LineEndings::plan(p)).collect();
        let bodies = pieces.iter().zip(&plans).map(|((_, p), plan)| LineEndings::apply(plan.as_ref(), p)).collect();
        let text = pieces.iter().map(|(_, p)| hybrid && looks_like_text(p)).collect();
        // (zstd only beside the network, where its time does not count)
        let plain = pieces.iter().map(|(_, p)| stored_or_zstd(p, hybrid.then_some(19))).collect();
        Self { pieces, plans, bodies, text, plain }
    }

    /// Codes the group on `lane`: with the network, its text pieces under the network's
    /// prediction; the rest by context mixing alone; each piece stored or zstd'd instead where
    /// that is smaller, except a text piece of a hybrid frame coded without the network (the
    /// decompressor replays a stored text block under the network).
    pub(super) fn code(&self, lane: &mut Lane, network: Option<(&PreparedModel, &Engine)>, threads: usize) -> Result<Vec<Coded>> {
        let pieces = self.pieces;
        lane.begin_group(pieces.iter().zip(&self.bodies).map(|((slot, _), b)| (*slot, b.len())));
        let coded = |k: usize, method, coded: Vec<u8>, tokens, mismatches, segments| {
            let piece = pieces[k].1;
            let mut payload = Vec::with_capacity(coded.len() + 8);
            LineEndings::write(self.plans[k].as_ref(), &mut payload);
            payload.extend_from_slice(&coded);
            let (orig_len, payload_len, crc) = (piece.len() as u32, payload.len() as u32, crc32fast::hash(piece));
            let header = BlockHeader { method, orig_len, payload_len, crc, tokens, mismatches, latent_tokens: 0 };
            Coded { header, payload, segments }
        };
        let mut out: Vec<Option<Coded>> = pieces.iter().map(|_| None).collect();
        if let Some((m, engine)) = network {
            let text_pieces: Vec<usize> = (0..pieces.len()).filter(|&k| self.text[k]).collect();
            let mut streams = Vec::new();
            for &k in &text_pieces {
                let t = m.model().tokenizer.encode(&self.bodies[k])?;
                let n = t.len();
                streams.push(BlockStream::new(t, n, Encoder::default(), Profile::Hybrid).on_lane(pieces[k].0));
            }
            code_on_lane(engine, lane, m.trie(), &mut streams, threads)?;
            for (k, s) in text_pieces.into_iter().zip(streams) {
                let (mismatches, _, segments) = s.counts();
                let tokens = s.tokens().len() as u32;
                out[k] = Some(coded(k, Method::Neural, s.into_coder().finish(), tokens, mismatches, segments));
            }
        }
        for (k, o) in out.iter_mut().enumerate().filter(|(_, o)| o.is_none()) {
            *o = Some(coded(k, Method::Cm, lane.compress(pieces[k].0, &self.bodies[k])?, 0, 0, SegmentCounts::default()));
        }
        let keep = |k: usize| network.is_none() && self.text[k];
        Ok(out
            .into_iter()
            .enumerate()
            .map(|(k, c)| {
                let c = c.expect("every piece is coded");
                if c.payload.len() < self.plain[k].payload.len() || keep(k) {
                    c
                } else {
                    self.plain[k].clone()
                }
            })
            .collect())
    }
}

/// Compresses everything from `input` into one frame on `output` with model `m` (`None` serves
/// only context mixing alone, [`Profile::Cm`], which uses none); `progress` gets the input bytes
/// coded so far, every 100 ms or so.
pub fn compress(
    m: Option<&PreparedModel>,
    input: &mut (impl Read + ?Sized),
    output: &mut (impl Write + ?Sized),
    opts: &Options,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    // (every profile but Cm asks for it before the frame header is written)
    let model = || m.ok_or(ModelError::Needed(opts.profile.name()));
    // Block sizes beyond what the format allows would make unreadable files.
    let max_block = opts.max_block.clamp(1, format::MAX_BLOCK_SIZE as usize);
    let neural_block = opts.neural_block.clamp(1, max_block.min(format::MAX_NEURAL_BLOCK as usize));
    // Lanes of several streams are for the network's sake (profile 4 has one), and hold at most
    // MAX_GROUP_BYTES of blocks at once.
    let fit = format::MAX_GROUP_BYTES as usize / (usize::from(opts.cm.lanes.max(1)) * neural_block);
    let hybrid = opts.profile == Profile::Hybrid;
    let streams = if hybrid { opts.cm.streams.min(fit.clamp(1, 255) as u8) } else { 1 };
    // (and the network's arithmetic is a profile-5 frame's alone)
    let arith = if hybrid { opts.cm.arith } else { NetArith::F32 };
    let cm = CmParams { streams, arith, ..opts.cm };
    // The batch size shapes block boundaries, so it must not depend on threads or streams.
    let batch = match opts.profile.uses_cm() {
        // a block per stream of each lane
        true => neural_block * usize::from(cm.lanes) * usize::from(cm.streams),
        false => (neural_block * BATCH_BLOCKS).min(BATCH_BYTES).max(max_block),
    };
    let mut buf = Vec::new();
    Read::take(&mut *input, batch as u64).read_to_end(&mut buf)?;
    // An input of at most half a group of blocks cannot keep several lanes' streams busy: it is
    // coded on one lane with all the streams (and the lanes' tables), so that every block learns
    // from all the others; the network's rows still use every thread.
    let cm = match opts.profile == Profile::Hybrid && buf.len() <= batch / 2 {
        true => cm.one_lane(),
        false => cm,
    };
    // An input that ended within the first batch is known whole: tables larger than it can
    // fill would only cost their memory and its cache and TLB misses. (Parameters a decoder
    // would refuse are refused as asked, before any output.)
    if opts.profile.uses_cm() {
        CmParams::from_bytes(&cm.to_bytes())?;
    }
    // (and sizing only lowers the table within the range)
    let cm = if buf.len() < batch { cm.sized_for(buf.len()) } else { cm };
    let opts = &Options { neural_block, max_block, cm, ..opts.clone() };
    let pool = thread_pool(opts.threads)?;
    let version = format::version_for(opts.profile, opts.neural_block, opts.cm);
    // (before any output: parameters a decoder would refuse, or tables that do not fit)
    let mut lanes = match opts.profile.uses_cm() {
        true => Some(Lanes::new(opts.cm, hybrid, if hybrid { 2 } else { 1 })?),
        false => None,
    };
    let counter = Arc::new(AtomicU64::new(0));
    if let Some(lanes) = lanes.as_mut() {
        lanes.count_into(&counter);
    }
    // (bytes handed to the lanes in earlier batches)
    let mut dealt = 0;
    let network = (opts.profile == Profile::Hybrid).then(|| model().map(|m| (m, m.engine_for(opts.cm.arith)))).transpose()?;
    let mut stats = Stats::default();
    let mut out = CountingWriter { inner: output, count: 0 };
    let header = FrameHeader {
        version,
        profile: opts.profile,
        model_id: if opts.profile == Profile::Cm { opts.cm.to_bytes() } else { model()?.id().0 },
        // (a lane frame's blocks are at most one neural block: version 6's bound on what its
        // lanes hold at once counts that)
        block_size: if version >= 6 { opts.neural_block } else { opts.max_block } as u32,
        cm: opts.profile.uses_cm().then_some(opts.cm),
    };
    stats.add_frame(ModelId(header.model_id), opts.profile, header.cm);
    format::write_frame_header(&mut out, &header)?;
    let mut crc = crc32fast::Hasher::new();
    // pieces not yet coded: lanes take whole groups of them
    let mut queue: Vec<Vec<u8>> = Vec::new();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            buf.clear();
            Read::take(&mut *input, batch as u64).read_to_end(&mut buf)?;
        }
        crc.update(&buf);
        stats.input_bytes += buf.len() as u64;
        let blocks = match lanes.as_mut() {
            Some(lanes) => {
                queue.extend(split_pieces(&buf, opts.neural_block).into_iter().map(<[u8]>::to_vec));
                let take = if buf.is_empty() { queue.len() } else { queue.len() / lanes.group() * lanes.group() };
                let pieces: Vec<Vec<u8>> = queue.drain(..take).collect();
                let len: u64 = pieces.iter().map(|p| p.len() as u64).sum();
                let before = dealt;
                dealt += len;
                reporting(
                    &counter,
                    |n| progress(before + n.min(len)),
                    || {
                        pool.install(|| {
                            lanes.run(
                                &pieces,
                                |lane, group, threads| lane_group(lane, network, &slices(group), opts.neural, threads),
                                |p, _| p,
                            )
                        })
                    },
                )?
            }
            None if buf.is_empty() => Vec::new(),
            None => {
                let m = model()?;
                pool.install(|| compress_batch(m, &buf, opts))?
            }
        };
        for b in blocks {
            stats.add_block(&b.header);
            stats.add_segments(&b.segments);
            format::write_block(&mut out, &b.header, &b.payload)?;
        }
        progress(stats.input_bytes);
        if buf.is_empty() {
            break;
        }
    }
    stats.groups_without_network = lanes.as_ref().map_or(0, Lanes::sat_out);
    format::write_end(&mut out, &EndRecord { total_len: stats.input_bytes, crc: crc.finalize() })?;
    out.flush()?;
    stats.output_bytes = out.count;
    Ok(stats)
}

/// A lane's group as slices.
fn slices<'a>(group: &[(usize, &'a Vec<u8>)]) -> Vec<(usize, &'a [u8])> {
    group.iter().map(|&(slot, p)| (slot, p.as_slice())).collect()
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
}
