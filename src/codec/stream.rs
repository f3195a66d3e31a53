//! A block's token stream coded (or decoded) in lockstep with other blocks: per segment, the
//! latent and then each token under the network's prediction mixed with the block's adaptive
//! models (in profile 5, no latent, and each token through the block's context-mixing lane).
//! One loop serves both directions through [`SymbolCoder`], so the encoder and decoder cannot
//! drift apart. Normative: this loop's order of coding is the format.

use std::borrow::BorrowMut;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::cm::Lane;
use super::coder::{BitCoder, SymbolCoder};
use super::latent::LATENT_FLAG_PROB;
use super::segments::{context_range, index, next_start, segment_len};
use super::trie::Trie;
use super::CodingError;
use crate::engine::{Engine, Kernel, StreamState};
use crate::format::Profile;
use crate::numeric::quantize::Cdf;
use crate::predict::mixer::{ContextMix, COMPONENTS};

/// Per-segment counts of one block.
#[derive(Clone, Copy, Debug, Default)]
pub struct SegmentCounts {
    pub all: u32,
    pub with_latent: u32,
    /// Segments greedy decoding reproduces exactly.
    pub exact: u32,
}

/// A profile-5 stream's place on its lane.
struct Hybrid {
    /// The lane's stream (slot) it codes on.
    slot: usize,
    /// The network's own distribution, and its mixture with the block's adaptive token models;
    /// the lane weighs both.
    raw: Cdf,
    mixed: Cdf,
    /// Both in the trie's order, cumulated ([`Trie::weigh`]): what the lane codes with.
    weighed: [Vec<u32>; 2],
    /// The logits of the last prediction, and the token coded under it that the stream has not
    /// learnt yet (it learns it in parallel with the other streams, before its next prediction).
    row: Vec<f32>,
    coded: Option<u32>,
}

/// One block's token stream being coded or decoded in lockstep with others.
pub struct BlockStream<C> {
    /// The block's tokens: given when encoding, the tokens decoded so far when decoding.
    tokens: Vec<u32>,
    n: usize,
    coder: C,
    mismatches: u32,
    latent_tokens: u32,
    /// Latent of each segment (encoding; decoding reads them from the stream).
    latents: Vec<Vec<u32>>,
    segments: SegmentCounts,
    /// Mismatches when the current segment started.
    seg_mismatches: u32,
    seg_start: usize,
    seg_len: usize,
    state: Option<StreamState>,
    /// Adaptive models and mixer (profiles `Mixed` and `Adaptive`).
    mix: Option<Box<ContextMix>>,
    /// Bits saved per mixture component, when analysing.
    saved: Option<[f64; COMPONENTS.len()]>,
    /// Profile 5: tokens go through a context-mixing lane instead of the symbol coder.
    hybrid: Option<Hybrid>,
}

impl<C: SymbolCoder + BitCoder> BlockStream<C> {
    /// A stream of `n` tokens: `tokens` holds them when encoding and is empty when decoding.
    pub fn new(tokens: Vec<u32>, n: usize, coder: C, profile: Profile) -> Self {
        let mix = matches!(profile, Profile::Mixed | Profile::Adaptive | Profile::Hybrid).then(Box::default);
        Self {
            tokens,
            n,
            coder,
            mismatches: 0,
            latent_tokens: 0,
            latents: Vec::new(),
            segments: SegmentCounts::default(),
            seg_mismatches: 0,
            seg_start: 0,
            seg_len: 0,
            state: None,
            mix,
            saved: None,
            hybrid: None,
        }
    }

    /// Codes the tokens on stream `slot` of a context-mixing lane (profile 5, with
    /// [`code_on_lane`]; no latents).
    pub fn on_lane(mut self, slot: usize) -> Self {
        self.hybrid = Some(Hybrid {
            slot,
            raw: Cdf::default(),
            mixed: Cdf::default(),
            weighed: [Vec::new(), Vec::new()],
            row: Vec::new(),
            coded: None,
        });
        self
    }

    /// Sets the latent of each segment (encoding).
    pub fn with_latents(mut self, latents: Vec<Vec<u32>>) -> Self {
        self.latents = latents;
        self
    }

    /// Also measures what each mixture component saves (analysis; no effect on the coding).
    pub fn analysing(mut self) -> Self {
        if self.mix.is_some() {
            self.saved = Some([0.0; COMPONENTS.len()]);
        }
        self
    }

    /// The tokens (all of them once the stream is done).
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// The coder, to finish it.
    pub fn into_coder(self) -> C {
        self.coder
    }

    /// Tokens greedy decoding gets wrong, and latent tokens coded.
    pub fn counts(&self) -> (u32, u32, SegmentCounts) {
        (self.mismatches, self.latent_tokens, self.segments)
    }

    /// Bits each mixture component saved, when analysing.
    pub fn saved(&self) -> Option<[f64; COMPONENTS.len()]> {
        self.saved
    }

    /// Learns the coded token; when analysing, first measures what each component saved on it.
    fn learn(&mut self, logits: Option<&[f32]>, token: u32) {
        if let Some(m) = self.mix.as_mut() {
            if let Some(saved) = self.saved.as_mut() {
                m.leave_one_out(logits, token, saved);
            }
            m.update(logits, token);
        }
    }

    /// Codes (or decodes) token `idx` under `cdf` (on a lane, under the stream's weighed
    /// distributions), keeping the decoded history.
    fn code_token(&mut self, idx: usize, cdf: &Cdf, lane: Option<(&mut Lane, &Trie)>) -> Result<u32, CodingError> {
        let want = self.tokens.get(idx).copied().unwrap_or(0);
        let got = match (self.hybrid.as_ref(), lane) {
            (Some(h), Some((lane, trie))) => lane.code_token(h.slot, &mut self.coder, trie, [&h.weighed[0], &h.weighed[1]], want)?,
            _ => self.coder.code(cdf, want)?,
        };
        if idx == self.tokens.len() {
            self.tokens.push(got);
        }
        if got != cdf.argmax {
            self.mismatches += 1;
        }
        Ok(got)
    }

    /// Codes the next segment's latent and returns its encoder input (context, latent).
    fn begin_segment(&mut self, cdf: &mut Cdf, engine: &Engine) -> Result<(Vec<u32>, Vec<u32>), CodingError> {
        let cfg = engine.config();
        let want = self.latents.get(index(self.seg_start, cfg.segment)).map_or(&[][..], Vec::as_slice);
        let latent = match self.hybrid {
            Some(_) => Vec::new(),
            None => code_latent(&mut self.coder, cdf, want, cfg.max_latent, cfg.vocab)?,
        };
        self.latent_tokens += latent.len() as u32;
        self.segments.all += 1;
        self.segments.with_latent += u32::from(!latent.is_empty());
        self.seg_mismatches = self.mismatches;
        self.seg_len = segment_len(self.seg_start, self.n, cfg.segment);
        Ok((self.tokens[context_range(self.seg_start, cfg.context)].to_vec(), latent))
    }

    /// The decoder input of the next step: BOS, then the segment's tokens so far.
    fn next_input(&self, engine: &Engine) -> u32 {
        match self.state.as_ref().map_or(0, StreamState::pos) {
            0 => engine.config().bos_id(),
            pos => self.tokens[self.seg_start + pos - 1],
        }
    }

    /// Codes the token the step just predicted (`row`: its logits); ends the segment after its
    /// last token.
    fn code_step(&mut self, row: &[f32], cdf: &mut Cdf, engine: &Engine) -> Result<(), CodingError> {
        self.predict(row, cdf);
        let got = self.code_token(self.step_index(), cdf, None)?;
        self.learn(Some(row), got);
        self.end_step(engine);
        Ok(())
    }

    /// The distributions of the token the step just predicted (`row`: its logits): into `cdf`,
    /// and on a lane also the network's own.
    fn predict(&mut self, row: &[f32], cdf: &mut Cdf) {
        match self.mix.as_mut() {
            Some(m) => m.predict(Some(row), row.len(), cdf),
            None => Kernel::best().on_logits(cdf, row),
        }
        if let Some(h) = self.hybrid.as_mut() {
            Kernel::best().on_logits(&mut h.raw, row);
        }
    }

    /// [`Self::predict`] on a lane: the mixture, both distributions weighed along `trie` and the
    /// logits kept with the stream, so that the streams of a step predict in parallel before
    /// their lane codes them in order.
    fn predict_on_lane(&mut self, row: &[f32], trie: &Trie) {
        let h = self.hybrid.as_mut().expect("a stream on a lane");
        let mut mixed = std::mem::take(&mut h.mixed);
        h.row.clear();
        h.row.extend_from_slice(row);
        self.predict(row, &mut mixed);
        let h = self.hybrid.as_mut().expect("a stream on a lane");
        trie.weigh(&h.raw, &mut h.weighed[0]);
        trie.weigh(&mixed, &mut h.weighed[1]);
        h.mixed = mixed;
    }

    /// Codes the token [`Self::predict_on_lane`] predicted on the lane; the stream learns it with
    /// [`Self::learn_on_lane`] before its next prediction.
    fn code_on_lane(&mut self, lane: &mut Lane, trie: &Trie) -> Result<(), CodingError> {
        let mixed = self.hybrid.as_mut().map(|h| std::mem::take(&mut h.mixed)).expect("a stream on a lane");
        let got = self.code_token(self.step_index(), &mixed, Some((lane, trie)));
        let token = got?;
        lane.count(trie.bytes_of(token).len());
        let h = self.hybrid.as_mut().expect("a stream on a lane");
        h.mixed = mixed;
        h.coded = Some(token);
        Ok(())
    }

    /// Learns the token [`Self::code_on_lane`] coded last, under the logits it was predicted from.
    fn learn_on_lane(&mut self) {
        let h = self.hybrid.as_mut().expect("a stream on a lane");
        if let Some(token) = h.coded.take() {
            let row = std::mem::take(&mut h.row);
            self.learn(Some(&row), token);
            self.hybrid.as_mut().expect("a stream on a lane").row = row;
        }
    }

    /// The index of the token the current step predicts.
    fn step_index(&self) -> usize {
        self.seg_start + self.state.as_ref().map_or(0, StreamState::pos) - 1
    }

    /// Ends the segment after its last token.
    fn end_step(&mut self, engine: &Engine) {
        if self.state.as_ref().map_or(0, StreamState::pos) == self.seg_len {
            self.segments.exact += u32::from(self.mismatches == self.seg_mismatches);
            self.state = None;
            self.seg_start = next_start(self.seg_start, engine.config().segment);
        }
    }
}

/// Codes the latent of a segment: a flag, then (if set) its length and tokens, uniformly.
fn code_latent<C: SymbolCoder>(coder: &mut C, cdf: &mut Cdf, latent: &[u32], max: usize, vocab: usize) -> Result<Vec<u32>, CodingError> {
    cdf.binary(LATENT_FLAG_PROB);
    if coder.code(cdf, u32::from(!latent.is_empty()))? == 0 || max == 0 {
        return Ok(Vec::new());
    }
    cdf.uniform(max);
    let len = coder.code(cdf, latent.len().saturating_sub(1) as u32)? as usize + 1;
    cdf.uniform(vocab);
    (0..len).map(|i| coder.code(cdf, latent.get(i).copied().unwrap_or(0))).collect()
}

/// Codes blocks with the adaptive models alone (profile `Adaptive`): no network, no latents.
fn code_adaptive<C: SymbolCoder + BitCoder>(vocab: usize, streams: &mut [BlockStream<C>]) -> Result<(), CodingError> {
    let mut cdf = Cdf::default();
    for s in streams {
        for idx in 0..s.n {
            s.mix.get_or_insert_default().predict(None, vocab, &mut cdf);
            let got = s.code_token(idx, &cdf, None)?;
            s.learn(None, got);
        }
    }
    Ok(())
}

/// Runs the network over several blocks in lockstep, coding (or decoding) every token.
pub fn code_in_lockstep<C: SymbolCoder + BitCoder>(
    engine: &Engine,
    profile: Profile,
    streams: &mut [BlockStream<C>],
) -> Result<(), CodingError> {
    if profile == Profile::Adaptive {
        return code_adaptive(engine.config().vocab, streams);
    }
    let vocab = engine.config().vocab;
    let mut cdf = Cdf::default();
    let mut logits = Vec::new();
    loop {
        start_segments(engine, streams, &mut cdf)?;
        let mut active: Vec<&mut BlockStream<C>> = streams.iter_mut().filter(|s| s.state.is_some()).collect();
        if active.is_empty() {
            return Ok(());
        }
        let inputs: Vec<u32> = active.iter().map(|s| s.next_input(engine)).collect();
        let mut states: Vec<&mut StreamState> = active.iter_mut().filter_map(|s| s.state.as_mut()).collect();
        engine.step(&mut states, &inputs, &mut logits);
        for (s, row) in active.iter_mut().zip(logits.chunks(vocab)) {
            s.code_step(row, &mut cdf, engine)?;
        }
    }
}

/// Starts the next segment of every stream between segments that has tokens left.
fn start_segments<C: SymbolCoder + BitCoder, S: BorrowMut<BlockStream<C>>>(
    engine: &Engine,
    streams: &mut [S],
    cdf: &mut Cdf,
) -> Result<(), CodingError> {
    let mut starts = Vec::new();
    for (i, s) in streams.iter_mut().map(BorrowMut::borrow_mut).enumerate() {
        if s.state.is_none() && s.seg_start < s.n {
            starts.push((i, s.begin_segment(cdf, engine)?));
        }
    }
    if !starts.is_empty() {
        let inputs: Vec<(&[u32], &[u32])> = starts.iter().map(|(_, (c, l))| (c.as_slice(), l.as_slice())).collect();
        for ((i, _), state) in starts.iter().zip(engine.begin_segments(&inputs)) {
            streams[*i].borrow_mut().state = Some(state);
        }
    }
    Ok(())
}

/// Runs the network over several blocks of one lane in lockstep (profile 5: each stream made
/// [`on_lane`](BlockStream::on_lane) with its slot). Each step codes the streams' tokens in the
/// order of `streams`, so the lane learns them in an order decoding reproduces.
///
/// The streams run in up to `parts` groups (in order), each on its own thread: what a stream
/// does alone (its segments' encoder pass, its network rows, its distributions and token
/// models) runs in parallel with the other groups', and the groups take turns at the lane, one
/// step each in group order. So while one group codes its tokens, the others step the network,
/// yet the lane codes exactly the order of one thread running every stream: the bits do not
/// depend on `parts`. A stream of `n` tokens takes part in the first `n` steps (both ends know
/// `n`), so the steps fall into phases in which the same streams take part, and each phase
/// deals its streams afresh: when one block ends, the others do not wait on one thread.
pub fn code_on_lane<C: SymbolCoder + BitCoder + Send>(
    engine: &Engine,
    lane: &mut Lane,
    trie: &Trie,
    streams: &mut [BlockStream<C>],
    parts: usize,
) -> Result<(), CodingError> {
    let mut ends: Vec<usize> = streams.iter().map(|s| s.n).collect();
    ends.sort_unstable();
    ends.dedup();
    let mut step = 0;
    for end in ends.into_iter().filter(|&end| end > 0) {
        let mut taking_part: Vec<&mut BlockStream<C>> = streams.iter_mut().filter(|s| s.n > step).collect();
        code_phase(engine, lane, trie, &mut taking_part, parts, end - step)?;
        step = end;
    }
    Ok(())
}

/// `steps` steps of streams that all take part in each ([`code_on_lane`]), in up to `parts`
/// groups of consecutive streams whose sizes differ by at most one.
fn code_phase<C: SymbolCoder + BitCoder + Send>(
    engine: &Engine,
    lane: &mut Lane,
    trie: &Trie,
    streams: &mut [&mut BlockStream<C>],
    parts: usize,
    steps: usize,
) -> Result<(), CodingError> {
    let count = parts.clamp(1, streams.len().max(1));
    let mut groups = Vec::with_capacity(count);
    let mut rest = streams;
    for g in 0..count {
        let size = rest.len().div_ceil(count - g);
        let (group, tail) = rest.split_at_mut(size);
        groups.push(group);
        rest = tail;
    }
    let baton = Baton::new(lane, count);
    let results: Vec<Result<(), CodingError>> = std::thread::scope(|scope| {
        let mut groups = groups.into_iter().enumerate();
        let first = groups.next();
        let baton = &baton;
        let run = move |(g, group): (usize, &mut [&mut BlockStream<C>])| baton.run(|| code_group(engine, trie, baton, g, group, steps));
        let others: Vec<_> = groups.map(|group| scope.spawn(move || run(group))).collect();
        let mut results: Vec<_> = first.map(run).into_iter().collect();
        results.extend(others.into_iter().map(|h| h.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))));
        results
    });
    results.into_iter().collect()
}

/// One group of a lane's streams ([`code_phase`]) for `steps` steps, each stream coding one
/// token a step.
fn code_group<C: SymbolCoder + BitCoder>(
    engine: &Engine,
    trie: &Trie,
    baton: &Baton,
    g: usize,
    streams: &mut [&mut BlockStream<C>],
    steps: usize,
) -> Result<(), CodingError> {
    let vocab = engine.config().vocab;
    let mut cdf = Cdf::default();
    let mut logits = Vec::new();
    let mut inputs = Vec::with_capacity(streams.len());
    for _ in 0..steps {
        start_segments(engine, streams, &mut cdf)?;
        // each stream learns the token it coded last step, then the network steps its row
        streams.iter_mut().for_each(|s| s.learn_on_lane());
        inputs.clear();
        inputs.extend(streams.iter().map(|s| s.next_input(engine)));
        let mut states: Vec<&mut StreamState> = streams.iter_mut().map(|s| s.state.as_mut().expect("a stream with tokens left")).collect();
        engine.step(&mut states, &inputs, &mut logits);
        streams.iter_mut().zip(logits.chunks(vocab)).for_each(|(s, row)| s.predict_on_lane(row, trie));
        let Some(mut turn) = baton.wait(g) else {
            return Ok(()); // another group failed: its error is the result
        };
        for s in streams.iter_mut() {
            s.code_on_lane(turn.lane, trie)?;
            s.end_step(engine);
        }
        turn.group = (g + 1) % baton.groups;
        drop(turn);
        baton.next.notify_all();
    }
    Ok(())
}

/// The turns of a lane's groups of streams ([`code_phase`]): whose step the lane codes next.
/// Every group takes the same number of steps, so the turn goes round in group order.
struct Baton<'l> {
    turn: Mutex<Turn<'l>>,
    next: Condvar,
    groups: usize,
}

struct Turn<'l> {
    lane: &'l mut Lane,
    /// The group whose turn it is.
    group: usize,
    /// Set when a group fails (or panics): the others stop.
    stop: bool,
}

impl<'l> Baton<'l> {
    fn new(lane: &'l mut Lane, groups: usize) -> Self {
        Self { turn: Mutex::new(Turn { lane, group: 0, stop: false }), next: Condvar::new(), groups }
    }

    /// Runs a group's work; when it fails or panics, stops the other groups.
    fn run(&self, work: impl FnOnce() -> Result<(), CodingError>) -> Result<(), CodingError> {
        /// (stops the others if the work unwinds)
        struct OnPanic<'a, 'l>(&'a Baton<'l>);
        impl Drop for OnPanic<'_, '_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.stop();
                }
            }
        }
        let _guard = OnPanic(self);
        let result = work();
        if result.is_err() {
            self.stop();
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Turn<'l>> {
        // (a group that panicked holding the lock left nothing half-done that `stop` reads)
        self.turn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.next.notify_all();
    }

    /// Waits for group `g`'s turn; `None` once a group has failed.
    fn wait(&self, g: usize) -> Option<MutexGuard<'_, Turn<'l>>> {
        let mut turn = self.lock();
        loop {
            if turn.stop {
                return None;
            }
            if turn.group == g {
                return Some(turn);
            }
            turn = self.next.wait(turn).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::coder::{Decoder, Encoder};
    use crate::codec::latent::{self, LatentSearch, Row};
    use crate::codec::segments::segments;
    use crate::model::{Model, PreparedModel};

    fn tiny() -> PreparedModel {
        PreparedModel::new(Model::load(std::path::Path::new("tests/data/tiny")).unwrap()).unwrap()
    }

    /// Codes one block with the given latent per segment; returns the payload and the decoded tokens.
    fn code_block(m: &PreparedModel, tokens: &[u32], latents: &[Vec<u32>]) -> (Vec<u8>, Vec<u32>) {
        let mut s = BlockStream::new(tokens.to_vec(), tokens.len(), Encoder::default(), Profile::Neural).with_latents(latents.to_vec());
        code_in_lockstep(m.engine(), Profile::Neural, std::slice::from_mut(&mut s)).unwrap();
        let payload = s.into_coder().finish();
        let mut back = BlockStream::new(Vec::new(), tokens.len(), Decoder::new(&payload).unwrap(), Profile::Neural);
        code_in_lockstep(m.engine(), Profile::Neural, std::slice::from_mut(&mut back)).unwrap();
        (payload, back.tokens)
    }

    #[test]
    fn the_reward_is_what_the_coder_spends() {
        let m = tiny();
        let cfg = m.engine().config().clone();
        let tokens: Vec<u32> = (0..5 * cfg.segment as u32 + 3).map(|i| (i * 37 + i / 7) % 300).collect();
        let segs: Vec<_> = segments(&tokens, cfg.segment, cfg.context).collect();
        let latents: Vec<Vec<u32>> =
            segs.iter().map(|s| if s.start % 2 == 0 { vec![tokens[s.start + 1], 5] } else { Vec::new() }).collect();
        let (payload, decoded) = code_block(&m, &tokens, &latents);
        assert_eq!(decoded, tokens, "latents must not change what decodes");
        let mut exact = 0.0;
        for (s, l) in segs.iter().zip(&latents) {
            let row = Row { context: s.context, latent: l, segment: s.tokens };
            exact += latent::latent_bits(l, cfg.max_latent, cfg.vocab) + latent::score(m.engine(), &[row])[0].iter().sum::<f64>();
        }
        let spent = 8.0 * payload.len() as f64;
        // the range coder adds at most a few words of flush
        assert!(spent >= exact - 1.0 && spent <= exact + 64.0, "coder {spent} bits, reward {exact}");
        // and the trainer's teacher-forced reward (candle, f32) agrees with the exact one
        #[cfg(feature = "reference")]
        {
            let t5 = crate::model::reference::T5::new(&m.model().weights, &candle_core::Device::Cpu).unwrap();
            let forced: f64 = segs
                .iter()
                .zip(&latents)
                .map(|(s, l)| latent::latent_bits(l, cfg.max_latent, cfg.vocab) + t5.segment_bits(s.context, l, s.tokens).unwrap())
                .sum();
            assert!((forced - exact).abs() < 0.002 * exact + 1.0, "teacher-forced {forced}, exact {exact}");
        }
    }

    #[test]
    fn chosen_latents_never_cost_more_than_the_empty_one() {
        let m = tiny();
        let tokens: Vec<u32> = (0..200u32).map(|i| (i * 91 + i * i) % 320).collect();
        let cfg = m.engine().config().clone();
        // the heuristic must propose something, or there is nothing to choose between
        let rows: Vec<Row> =
            segments(&tokens, cfg.segment, cfg.context).map(|s| Row { context: s.context, latent: &[], segment: s.tokens }).collect();
        let bits = latent::score(m.engine(), &rows);
        assert!(rows.iter().zip(&bits).any(|(r, b)| !latent::heuristic(r.segment, b, cfg.max_latent, cfg.vocab).is_empty()));
        let chosen = latent::choose(m.engine(), None, LatentSearch::Heuristic, &tokens);
        let empty = vec![Vec::new(); chosen.len()];
        let (with, decoded) = code_block(&m, &tokens, &chosen);
        let (without, _) = code_block(&m, &tokens, &empty);
        assert_eq!(decoded, tokens);
        assert!(with.len() <= without.len() + 8, "{} > {}", with.len(), without.len());
    }
}
