//! Decompression, verification and analysis of containers, and `inspect` (headers only), all
//! over the one [`FrameReader`].

use std::io::{Read, Write};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rayon::prelude::*;

use super::batch::{in_groups, thread_pool};
use super::lanes::Lanes;
use super::{looks_like_text, reporting, Stats, BATCH_BLOCKS, BATCH_BYTES, STREAMS_PER_GROUP};
use crate::codec::cm::Lane;
use crate::codec::coder::{DecodeOrReplay, Decoder};
use crate::codec::stream::{code_in_lockstep, code_on_lane, BlockStream};
use crate::engine::Engine;
use crate::error::Result;
use crate::format::{has_transforms, BlockHeader, FormatError, FrameReader, Item, Method, NetArith, Profile, Region};
use crate::model::{ModelId, ModelResolver, PreparedModel};
use crate::predict::mixer::COMPONENTS;
use crate::transform::LineEndings;

/// How a frame's blocks are decoded.
#[derive(Clone, Copy)]
struct FrameDecode<'a> {
    /// The frame's network (none for profile-4 frames, which need none).
    model: Option<&'a PreparedModel>,
    profile: Profile,
    /// The network's arithmetic (profile 5).
    arith: NetArith,
    /// Measure what each mixture component saved.
    analyse: bool,
    /// Coded blocks begin with a transform record (format version 7).
    transforms: bool,
}

/// A decoded block, and what the mixture's components saved on it when analysing.
#[derive(Default)]
struct Decoded {
    data: Vec<u8>,
    saved: Option<[f64; COMPONENTS.len()]>,
}

fn decode_plain(h: &BlockHeader, payload: &[u8]) -> Result<Vec<u8>> {
    Ok(match h.method {
        Method::Zstd => {
            let mut out = Vec::with_capacity(h.orig_len as usize);
            zstd::stream::read::Decoder::new(payload)?
                .take(u64::from(h.orig_len) + 1)
                .read_to_end(&mut out)
                .map_err(|_| FormatError::Zstd)?;
            out
        }
        _ => payload.to_vec(),
    })
}

fn neural_decode_group(how: FrameDecode, items: &[(&BlockHeader, &[u8])]) -> Result<Vec<Decoded>> {
    let mut streams = Vec::with_capacity(items.len());
    for (h, p) in items {
        let s = BlockStream::new(Vec::with_capacity(h.tokens as usize), h.tokens as usize, Decoder::new(p)?, how.profile);
        streams.push(if how.analyse { s.analysing() } else { s });
    }
    let model = how.model.expect("frames with neural blocks resolve their model");
    code_in_lockstep(model.engine(), how.profile, &mut streams)?;
    streams
        .iter()
        .zip(items)
        .map(|(s, (h, _))| {
            let mut data = Vec::with_capacity(h.orig_len as usize);
            model.model().tokenizer.decode_into(s.tokens(), &mut data)?;
            Ok(Decoded { data, saved: s.saved() })
        })
        .collect()
}

/// Decodes a batch of blocks (in parallel) and returns their bytes in order.
fn decode_batch(how: FrameDecode, blocks: &[(BlockHeader, Vec<u8>)], threads: usize) -> Result<Vec<Decoded>> {
    let neural: Vec<(&BlockHeader, &[u8])> =
        blocks.iter().filter(|(h, _)| h.method == Method::Neural).map(|(h, p)| (h, p.as_slice())).collect();
    let mut decoded = in_groups(&neural, threads, STREAMS_PER_GROUP, |g| neural_decode_group(how, g))?.into_iter();
    let plain: Vec<Result<Vec<u8>>> =
        blocks.par_iter().map(|(h, p)| if h.method == Method::Neural { Ok(Vec::new()) } else { decode_plain(h, p) }).collect();
    blocks
        .iter()
        .zip(plain)
        .map(|((h, _), p)| {
            Ok(if h.method == Method::Neural { decoded.next().unwrap_or_default() } else { Decoded { data: p?, saved: None } })
        })
        .collect()
}

/// Decodes a batch of a context-mixing frame's blocks on their lanes (in parallel); `network`:
/// the frame's model (profile 5); `transforms`: whether coded blocks begin with a transform
/// record (format version 7).
fn decode_cm_batch(
    lanes: &mut Lanes,
    network: Option<(&PreparedModel, &Engine)>,
    transforms: bool,
    blocks: &[(BlockHeader, Vec<u8>)],
) -> Result<Vec<Decoded>> {
    lanes.run(blocks, |lane, group, threads| decode_lane_group(lane, network, transforms, group, threads), |_, d| &d.data)
}

/// A block of a lane's group as its lane sees it: the bytes it learns (known before decoding
/// for stored and zstd blocks) and their line-ending transform.
struct LaneBlock<'a> {
    plan: Option<LineEndings>,
    /// What the coder reads (coded blocks: the payload after its transform record).
    coded: &'a [u8],
    /// Bytes the lane codes.
    len: usize,
    /// Stored and zstd blocks: their bytes, and the same transformed where a plan applies.
    plain: Option<(Vec<u8>, Option<Vec<u8>>)>,
}

impl<'a> LaneBlock<'a> {
    fn new(h: &BlockHeader, payload: &'a [u8], transforms: bool) -> Result<Self> {
        if !matches!(h.method, Method::Cm | Method::Neural) {
            let data = decode_plain(h, payload)?;
            let plan = if transforms { LineEndings::plan(&data) } else { None };
            let body = plan.as_ref().map(|p| LineEndings::apply(Some(p), &data).into_owned());
            let len = body.as_ref().map_or(data.len(), Vec::len);
            return Ok(Self { plan, coded: &[], len, plain: Some((data, body)) });
        }
        let (plan, coded) = if transforms { LineEndings::read(payload, h.orig_len)? } else { (None, payload) };
        let len = h.orig_len as usize - plan.as_ref().map_or(0, LineEndings::removed);
        Ok(Self { plan, coded, len, plain: None })
    }

    /// The bytes the lane learns from a stored or zstd block.
    fn learnt(&self) -> Option<&[u8]> {
        self.plain.as_ref().map(|(data, body)| body.as_deref().unwrap_or(data))
    }
}

/// Decodes a lane's group of blocks (each with its stream), as [`super::compress::lane_group`]
/// coded them. The lane learns each block's bytes whatever its method, the way the compressor's
/// lane did: a block stored or zstd'd is replayed through the lane as the compressor tried to
/// code it (transformed, and if text by [`looks_like_text`], token by token with the network,
/// in lockstep with the group's coded text).
fn decode_lane_group(
    lane: &mut Lane,
    network: Option<(&PreparedModel, &Engine)>,
    transforms: bool,
    group: &[(usize, &(BlockHeader, Vec<u8>))],
    threads: usize,
) -> Result<Vec<Decoded>> {
    let blocks: Vec<LaneBlock> = group.iter().map(|(_, (h, p))| LaneBlock::new(h, p, transforms)).collect::<Result<_>>()?;
    lane.begin_group(group.iter().zip(&blocks).map(|((slot, _), b)| (*slot, b.len)));
    let text: Vec<bool> = group
        .iter()
        .zip(&blocks)
        .map(|((_, (h, _)), b)| {
            network.is_some() && (h.method == Method::Neural || b.plain.as_ref().is_some_and(|(d, _)| looks_like_text(d)))
        })
        .collect();
    // each coded block's bytes as its coder gives them (before the transform is undone)
    let mut bodies: Vec<Option<Vec<u8>>> = blocks.iter().map(|_| None).collect();
    if let Some((m, engine)) = network {
        let text_blocks: Vec<usize> = (0..group.len()).filter(|&k| text[k]).collect();
        let mut streams = Vec::new();
        for &k in &text_blocks {
            let (b, h) = (&blocks[k], &group[k].1 .0);
            let s = match b.learnt() {
                Some(d) => {
                    let t = m.model().tokenizer.encode(d)?;
                    let n = t.len();
                    BlockStream::new(t, n, DecodeOrReplay::Replay, Profile::Hybrid)
                }
                None => BlockStream::new(Vec::new(), h.tokens as usize, DecodeOrReplay::Decode(Decoder::new(b.coded)?), Profile::Hybrid),
            };
            streams.push(s.on_lane(group[k].0));
        }
        code_on_lane(engine, lane, m.trie(), &mut streams, threads)?;
        for (k, s) in text_blocks.into_iter().zip(streams) {
            if blocks[k].plain.is_none() {
                let mut out = Vec::with_capacity(blocks[k].len);
                m.model().tokenizer.decode_into(s.tokens(), &mut out)?;
                bodies[k] = Some(out);
            }
        }
    }
    group
        .iter()
        .zip(blocks)
        .zip(bodies)
        .zip(&text)
        .map(|((((slot, (h, _)), b), body), is_text)| {
            if let Some(d) = b.learnt().filter(|_| !is_text) {
                lane.learn(*slot, d);
            }
            let body = match (b.plain, body, h.method) {
                (Some((data, _)), ..) => return Ok(Decoded { data, saved: None }),
                (None, Some(body), _) => body,
                (None, None, Method::Cm) => lane.decompress(*slot, b.coded, b.len)?,
                (None, None, _) => return Err(FormatError::MethodProfile { method: h.method.name(), profile: Profile::Cm.name() }.into()),
            };
            Ok(Decoded { data: LineEndings::restore(b.plan.as_ref(), body)?, saved: None })
        })
        .collect()
}

/// Checks each decoded block against its header's length and checksum.
fn verify(blocks: &[(BlockHeader, Vec<u8>)], decoded: &[Decoded]) -> Result<()> {
    for ((h, _), d) in blocks.iter().zip(decoded) {
        if d.data.len() != h.orig_len as usize {
            return Err(FormatError::DecodedLength { found: d.data.len(), expected: h.orig_len }.into());
        }
        if crc32fast::hash(&d.data) != h.crc {
            return Err(FormatError::Checksum { region: Region::Block }.into());
        }
    }
    Ok(())
}

/// Decompresses every frame of `input` to `output` (or only verifies when `output` is `None`);
/// `progress` gets the compressed bytes decoded so far, every 100 ms or so (within a batch of a
/// context-mixing frame, estimated from the bytes it has decoded).
pub fn decompress(
    models: &(impl ModelResolver + ?Sized),
    input: &mut (impl Read + ?Sized),
    output: Option<&mut dyn Write>,
    threads: usize,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    Decoding::new(threads, false, progress, output).run(models, input)
}

/// Decodes `input` without writing it and measures the bits each mixture component saved
/// (slower than [`decompress`]: every token is also scored with each component left out).
pub fn analyse(
    models: &(impl ModelResolver + ?Sized),
    input: &mut (impl Read + ?Sized),
    threads: usize,
    progress: &dyn Fn(u64),
) -> Result<Stats> {
    Decoding::new(threads, true, progress, None).run(models, input)
}

/// One decoding run's settings and sink.
struct Decoding<'p, 'o> {
    threads: usize,
    analyse: bool,
    progress: &'p dyn Fn(u64),
    output: Option<&'o mut dyn Write>,
    /// Where the lanes count the bytes they decode, and the compressed bytes reported so far.
    counter: Arc<AtomicU64>,
    reported: u64,
}

/// The frame being decoded.
struct Frame<'a> {
    how: FrameDecode<'a>,
    /// A context-mixing frame's lanes, which carry over from batch to batch.
    lanes: Option<Lanes>,
    crc: crc32fast::Hasher,
    pending: Vec<(BlockHeader, Vec<u8>)>,
    pending_bytes: usize,
}

impl<'p, 'o> Decoding<'p, 'o> {
    fn new(threads: usize, analyse: bool, progress: &'p dyn Fn(u64), output: Option<&'o mut dyn Write>) -> Self {
        Self { threads, analyse, progress, output, counter: Arc::default(), reported: 0 }
    }

    fn run(mut self, models: &(impl ModelResolver + ?Sized), input: &mut (impl Read + ?Sized)) -> Result<Stats> {
        let pool = thread_pool(self.threads)?;
        let mut reader = FrameReader::new(input);
        let mut stats = Stats::default();
        let mut frame: Option<Frame> = None;
        while let Some(item) = reader.next().transpose()? {
            match item {
                Item::Frame(h) => {
                    let model = match h.profile {
                        Profile::Cm => None,
                        _ => Some(models.resolve(&ModelId(h.model_id))?),
                    };
                    let lanes = match h.cm {
                        Some(p) => {
                            let mut lanes = Lanes::new(p, h.profile == Profile::Hybrid, 1)?;
                            lanes.count_into(&self.counter);
                            if self.analyse {
                                lanes.analyse();
                            }
                            Some(lanes)
                        }
                        None => None,
                    };
                    stats.add_frame(ModelId(h.model_id), h.profile, h.cm);
                    let arith = h.cm.map_or(NetArith::F32, |p| p.arith);
                    let how =
                        FrameDecode { model, profile: h.profile, arith, analyse: self.analyse, transforms: has_transforms(h.version) };
                    frame = Some(Frame { how, lanes, crc: crc32fast::Hasher::new(), pending: Vec::new(), pending_bytes: 0 });
                }
                Item::Block(h, p) => {
                    let f = frame.as_mut().expect("the reader yields a frame before its blocks");
                    f.pending_bytes += h.orig_len as usize;
                    f.pending.push((h, p));
                    let full = match &f.lanes {
                        // whole groups, as the compressor dealt them
                        Some(lanes) => f.pending.len() >= lanes.group(),
                        None => {
                            f.pending.iter().filter(|(h, _)| h.method == Method::Neural).count() >= BATCH_BLOCKS
                                || f.pending_bytes >= BATCH_BYTES
                        }
                    };
                    if full {
                        self.flush(&pool, f, &mut stats, reader.bytes_read())?;
                    }
                }
                Item::End(e) => {
                    let mut f = frame.take().expect("the reader yields a frame before its end");
                    self.flush(&pool, &mut f, &mut stats, reader.bytes_read())?;
                    if e.crc != f.crc.finalize() {
                        return Err(FormatError::Checksum { region: Region::Frame }.into());
                    }
                }
            }
        }
        if let Some(w) = self.output.as_mut() {
            w.flush()?;
        }
        stats.input_bytes = reader.bytes_read();
        Ok(stats)
    }

    /// Decodes the frame's pending blocks and writes them out; `read`: the compressed bytes read
    /// so far.
    fn flush(&mut self, pool: &rayon::ThreadPool, f: &mut Frame, stats: &mut Stats, read: u64) -> Result<()> {
        let decoded = match f.lanes.as_mut() {
            Some(lanes) => {
                let (start, packed, len) = (self.reported, read.saturating_sub(self.reported), f.pending_bytes.max(1) as u64);
                let report = |n: u64| (self.progress)(start + packed * n.min(len) / len);
                let network = f.how.model.map(|m| (m, m.engine_for(f.how.arith)));
                let (how, pending) = (&f.how, &f.pending);
                reporting(&self.counter, report, || pool.install(|| decode_cm_batch(lanes, network, how.transforms, pending)))?
            }
            None => pool.install(|| decode_batch(f.how, &f.pending, self.threads))?,
        };
        verify(&f.pending, &decoded)?;
        if let Some(lanes) = f.lanes.as_mut() {
            stats.add_saved(lanes.take_saved());
        }
        for (d, (h, _)) in decoded.iter().zip(&f.pending) {
            f.crc.update(&d.data);
            stats.output_bytes += d.data.len() as u64;
            stats.add_block(h);
            if let Some(s) = d.saved {
                stats.add_saved(COMPONENTS.into_iter().zip(s));
            }
            if let Some(w) = self.output.as_mut() {
                w.write_all(&d.data)?;
            }
        }
        f.pending.clear();
        f.pending_bytes = 0;
        self.reported = read;
        (self.progress)(read);
        Ok(())
    }
}

/// Reads the headers of every frame and block (payloads are skipped, not decoded).
pub fn inspect(input: &mut (impl Read + ?Sized)) -> Result<Stats> {
    let mut reader = FrameReader::new(input);
    let mut stats = Stats::default();
    while let Some(item) = reader.next().transpose()? {
        match item {
            Item::Frame(h) => stats.add_frame(ModelId(h.model_id), h.profile, h.cm),
            Item::Block(h, _) => {
                stats.output_bytes += u64::from(h.orig_len);
                stats.add_block(&h);
            }
            Item::End(_) => {}
        }
    }
    stats.input_bytes = reader.bytes_read();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::CmRevision;
    use crate::model::Model;

    #[test]
    fn a_lane_learns_a_stored_text_block_as_if_it_had_coded_it() {
        let m = PreparedModel::new(Model::load(std::path::Path::new("tests/data/tiny")).unwrap()).unwrap();
        let (a, b) = (b"the cat sat on the mat, ".repeat(30), b"and the dog sat on the log. ".repeat(30));
        let orig_len = a.len() as u32;
        let stored = (
            BlockHeader { method: Method::Stored, orig_len, payload_len: orig_len, crc: 0, tokens: 0, mismatches: 0, latent_tokens: 0 },
            a.clone(),
        );
        for streams in [1, 2] {
            // one stream: `a`, then `b`; two: both at once
            let groups: Vec<Vec<usize>> = if streams == 1 { vec![vec![0], vec![1]] } else { vec![vec![0, 1]] };
            let mut enc = Lane::new(12, CmRevision::LATEST, true, streams);
            let mut coded = Vec::new();
            for g in &groups {
                let pieces: Vec<(usize, &[u8])> = g.iter().map(|&k| (k % streams, [&a[..], &b[..]][k])).collect();
                // (the network's coding, which context mixing alone might beat on this text)
                let group = super::super::compress::Group::new(&pieces, true);
                coded.extend(group.code(&mut enc, Some((&m, m.engine())), 2).unwrap());
            }
            assert_eq!(coded[1].header.method, Method::Neural);
            // the decompressor's lane learns `a` from a stored block, and decodes `b`
            let blocks = [stored.clone(), (coded[1].header.clone(), coded[1].payload.clone())];
            let mut dec = Lane::new(12, CmRevision::LATEST, true, streams);
            let mut back = Vec::new();
            for g in &groups {
                let group: Vec<(usize, &(BlockHeader, Vec<u8>))> = g.iter().map(|&k| (k % streams, &blocks[k])).collect();
                back.extend(decode_lane_group(&mut dec, Some((&m, m.engine())), true, &group, 1).unwrap().into_iter().map(|d| d.data));
            }
            assert_eq!(back, [a.clone(), b.clone()], "{streams} streams");
        }
    }
}
