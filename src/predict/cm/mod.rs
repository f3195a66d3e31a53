//! Bitwise context mixing in the lpaq/paq8 tradition: each byte is coded as 8 binary decisions,
//! each predicted from bit histories in hashed contexts (byte orders 1-7, words, the line above,
//! sparse contexts, from the third revision a table's fields, from the fourth what followed the
//! last byte or two when they last occurred), a match model and an order-0 table, combined by two
//! gated logistic mixers (four from the fifth revision) and a final one, and refined by two APMs
//! (three from the fourth revision). With the network (profile 5), the network's probability of
//! each bit is one more input, a further mixer gates on its confidence and the byte's place in
//! its token, and from the fifth revision an APM on its confidence refines the result.
//! Integer arithmetic throughout (12-bit probabilities, [`crate::numeric::logistic`]), so every
//! machine predicts the same bits.
//!
//! **Part of the format** (numeric profiles 4 and 5): every constant and operation order here decides
//! the coded bits; changing one needs a new profile and golden files.

#![forbid(unsafe_code)]

mod counter;
mod matcher;
mod mixer;
mod token_end;
mod zeroed;

use counter::{Counter, HashTable, StateMap, States};
use matcher::{MatchCursor, MatchModel};
use mixer::{padded, Apm, Mixer};
pub use token_end::TokenEnd;

use crate::format::CmRevision;
use crate::numeric::logistic::{squash, stretch};

/// Hashed contexts (see [`Contexts::hashes`]): 12 in the first two revisions, 14 in the third, 16
/// in the fourth, 18 in the fifth.
const CONTEXTS: usize = 18;
/// The contexts (orders 2-7 and the words') that from the fourth revision give the mixer a second
/// input where their bit history is one-sided: the same prediction again, so that the mixer can
/// trust a context that has only ever seen one bit apart from one that has seen both.
const ONE_SIDED: [usize; 8] = [1, 2, 3, 4, 5, 6, 8, 9];
/// Mixer inputs at most: the hashed contexts and their one-sided inputs, order 0, the match
/// model, a bias (and, with the network, its prediction).
const INPUTS: usize = CONTEXTS + ONE_SIDED.len() + 3;
/// The mixers' input vector: the inputs, the network's two, zeros to whole vectors (every
/// revision's mixers take this many, padded with zeros: [`padded`]).
const X_LEN: usize = padded(INPUTS + 2);
/// The final mixer's: up to five mixers' outputs and a bias.
const FINAL_LEN: usize = padded(6);
/// Confidence bands of the network's prediction that select the network mixer's weights.
const NET_BANDS: usize = 16;
/// Places in a token (first byte, second, third, later) that select them too.
const TOKEN_PLACES: usize = 4;

/// What the network says about the next bit (profile 5).
#[derive(Clone, Copy, Debug)]
pub struct NetBit {
    /// The 12-bit probabilities of a 1 (`1..=4095`), summed over the tokens that remain
    /// possible: by the network alone, and by its mixture with the block's token models.
    pub p: [u32; 2],
    /// Bytes of the current token before this one.
    pub place: u32,
}

/// The byte-level state the contexts are computed from.
#[derive(Clone, Default)]
struct Contexts {
    /// The last 8 bytes, newest in the low byte.
    last: u64,
    word: u32,
    prev_word: u32,
    prev2_word: u32,
    /// Letters in the current word (0 between words).
    word_len: u32,
    /// The fifth revision: whether the UTF-8 sequence being read is punctuation or a symbol.
    symbol: bool,
    /// Bytes since the last newline, and the previous line's start and length.
    col: u32,
    line: Vec<u8>,
    above_line: Vec<u8>,
    /// Fields of the line so far (separated by `,` `;` `|` or a tab), where each field after
    /// the first starts in this line and the line above, and a hash of this field's bytes.
    field: u32,
    starts: Vec<u32>,
    above_starts: Vec<u32>,
    field_hash: u32,
    /// The fourth revision: the last two bytes that followed each byte, and each pair of bytes
    /// (empty until the first byte).
    after1: Vec<u16>,
    after2: Vec<u16>,
}

/// Bytes that separate the fields of a table's line (CSV, TSV, ...).
fn separates_fields(c: u8) -> bool {
    matches!(c, b',' | b';' | b'|' | b'\t')
}

impl Contexts {
    /// Moves past byte `c` in the predictor's `revision`.
    fn byte(&mut self, c: u8, revision: CmRevision) {
        // the fourth revision: learn what follows each byte and pair
        if revision >= CmRevision::Fourth {
            if self.after1.is_empty() {
                self.after1 = vec![0; 1 << 8];
                self.after2 = vec![0; 1 << 16];
            }
            let (one, two) = ((self.last & 0xff) as usize, (self.last & 0xffff) as usize);
            self.after1[one] = self.after1[one] << 8 | u16::from(c);
            self.after2[two] = self.after2[two] << 8 | u16::from(c);
        }
        self.last = (self.last << 8) | u64::from(c);
        // Bytes of UTF-8 sequences are letters, but from the fifth revision not those of
        // U+0080-U+00BF (lead byte C2: no-break space, quotes, signs) and U+2000-U+2FFF (E2:
        // dashes, curly quotes, ellipsis, arrows, symbols), which separate words as ASCII
        // punctuation does.
        if revision >= CmRevision::Fifth && c >= 0xC0 {
            self.symbol = c == 0xC2 || c == 0xE2;
        }
        let letter = c.is_ascii_alphabetic() || (c >= 0x80 && !(revision >= CmRevision::Fifth && self.symbol));
        self.word_len = if letter { self.word_len + 1 } else { 0 };
        if letter {
            self.word = (self.word ^ u32::from(c.to_ascii_lowercase())).wrapping_mul(0x01EF_C4E5).wrapping_add(1);
        } else if self.word != 0 {
            self.prev2_word = self.prev_word;
            self.prev_word = self.word;
            self.word = 0;
        }
        if c == b'\n' {
            std::mem::swap(&mut self.line, &mut self.above_line);
            self.line.clear();
            self.col = 0;
            std::mem::swap(&mut self.starts, &mut self.above_starts);
            self.starts.clear();
            self.field = 0;
            self.field_hash = 0;
        } else {
            if self.line.len() < 4096 {
                self.line.push(c);
            }
            self.col += 1;
            if separates_fields(c) {
                self.field += 1;
                if self.starts.len() < 4096 {
                    self.starts.push(self.col);
                }
                self.field_hash = 0;
            } else {
                self.field_hash = (self.field_hash ^ u32::from(c)).wrapping_mul(0x2F0F_3D4B).wrapping_add(1);
            }
        }
    }

    /// The fifth revision's text mixer's weight set (of 512): the current word's length so far
    /// (up to 7) and the kinds of the last two bytes.
    fn text_set(&self) -> usize {
        let kind = |c: u8| match c {
            b'a'..=b'z' => 0,
            b'A'..=b'Z' => 1,
            b'0'..=b'9' => 2,
            b' ' => 3,
            b'\n' => 4,
            b'.' | b'!' | b'?' => 5,
            0x80.. => 6,
            _ => 7,
        };
        ((self.word_len.min(7) as usize) * 8 + kind(self.last as u8)) * 8 + kind((self.last >> 8) as u8)
    }

    /// The next byte's place in its field, and the byte at that place of the same field in the
    /// line above (0 where there is none).
    fn in_field(&self) -> (u32, u8) {
        let f = self.field as usize;
        let start = if f == 0 { 0 } else { self.starts.get(f - 1).copied().unwrap_or(self.col) };
        // (wrapping: a line of 4 GiB wraps the column, as it always has)
        let offset = self.col.wrapping_sub(start);
        let above = match f {
            0 => Some(0),
            _ => self.above_starts.get(f - 1).copied(),
        };
        let above = above.and_then(|a| self.above_line.get(a.wrapping_add(offset) as usize)).copied().unwrap_or(0);
        (offset, above)
    }

    /// One hash per context for the next byte, in the predictor's `revision` (the first 12 in
    /// the first two, 14 in the third, 16 in the fourth).
    fn hashes(&self, revision: CmRevision) -> [u64; CONTEXTS] {
        let l = self.last;
        let second = revision >= CmRevision::Second;
        let third = revision >= CmRevision::Third;
        let above = self.above_line.get(self.col as usize).copied().unwrap_or(0);
        let (offset, field_above) = if third { self.in_field() } else { (0, 0) };
        let field = u64::from(self.field.min(255));
        // (0 before the fourth revision, where nothing is learnt, and before its first byte)
        let after1 = u64::from(self.after1.get((l & 0xff) as usize).copied().unwrap_or(0));
        let after2 = u64::from(self.after2.get((l & 0xffff) as usize).copied().unwrap_or(0));
        let ctx = [
            l & 0xff,
            l & 0xffff,
            l & 0xff_ffff,
            l & 0xffff_ffff,
            l & 0xffff_ffff_ffff,
            u64::from(self.word) | (l & 0xff) << 32,
            u64::from(self.word) ^ u64::from(self.prev_word) << 32,
            u64::from(above) | (l & 0xff) << 8 | u64::from(self.col.min(255)) << 16,
            l & 0xff_ffff_ffff,
            l & 0xff_ffff_ffff_ffff,
            (l >> 8) & 0xffff,
            if second {
                u64::from(self.word) ^ u64::from(self.prev_word) << 32 ^ u64::from(self.prev2_word).rotate_left(17)
            } else {
                l & 0xff_00ff_00ff
            },
            u64::from(self.field_hash) | field << 32,
            u64::from(field_above) | (l & 0xff) << 8 | u64::from(offset.min(255)) << 16 | field << 24,
            after1 | (l & 0xff) << 16,
            after2 | (l & 0xffff) << 16,
            // the fifth revision: the word with the word before the last, and the last 4 bytes
            // with letters folded to upper case at the start of a line or in it
            u64::from(self.word) ^ u64::from(self.prev2_word) << 32,
            (l & 0xdfdf_dfdf) | u64::from(self.col.min(3)) << 32,
        ];
        let mut out = [0u64; CONTEXTS];
        for (i, (o, c)) in out.iter_mut().zip(ctx).enumerate() {
            *o = mix64(c.wrapping_add((i as u64 + 1) << 56));
        }
        out
    }
}

/// Multiplies the first nibble (with its leading 1) into the hashes of the second nibble's buckets.
const NIBBLE: u64 = 0x9E37_79B9_7F4A_7C15;

/// A 64-bit finaliser (every output bit depends on every input bit).
#[inline(always)]
fn mix64(mut h: u64) -> u64 {
    h = (h ^ (h >> 31)).wrapping_mul(0x7FB5_D329_728E_A185);
    h = (h ^ (h >> 27)).wrapping_mul(0x81DA_DEF4_BC2D_D44D);
    h ^ (h >> 33)
}

/// Where one stream of bytes is: its recent bytes, its match model, its place in the current
/// byte. A lane that codes several blocks at once keeps one cursor per block and shares the
/// rest of the predictor (tables, maps, mixers) between them.
#[derive(Clone)]
pub struct Cursor {
    contexts: Contexts,
    hashes: [u64; CONTEXTS],
    /// Each context's bucket for the current nibble.
    buckets: [usize; CONTEXTS],
    matcher: MatchCursor,
    /// Bits of the current byte with a leading 1 (1 at a byte boundary).
    c0: u32,
    bitpos: u32,
}

impl Default for Cursor {
    /// A cursor at the start of a stream.
    fn default() -> Self {
        let contexts = Contexts::default();
        // (the same in every revision: no bytes seen)
        let hashes = contexts.hashes(CmRevision::LATEST);
        Self { contexts, hashes, buckets: [0; CONTEXTS], matcher: MatchCursor::default(), c0: 1, bitpos: 0 }
    }
}

impl Cursor {
    /// Moves the stream's place in the match model's history to `pos` (see
    /// [`MatchCursor::seek`]).
    pub fn seek(&mut self, pos: usize) {
        self.matcher.seek(pos);
    }
}

/// The whole predictor: give it [`p`](Self::p), then [`update`](Self::update) with the bit.
#[derive(Clone)]
pub struct Predictor {
    table: HashTable,
    states: States,
    /// The hashed contexts of this revision (at most [`CONTEXTS`]), and each one's state map.
    contexts: usize,
    maps: [StateMap; CONTEXTS],
    /// The stream being coded.
    cur: Cursor,
    matcher: MatchModel,
    order0: Vec<u32>,
    revision: CmRevision,
    mixing: Mixing,
    /// When analysing ([`analyse`](Self::analyse)): the same file coded without each component.
    ablations: Vec<Ablation>,
    /// The last prediction (kept only when analysing).
    last_p: u32,
}

/// The inputs' places: the hashed contexts and their one-sided inputs first (`n` in all), then
/// order 0, the match model and the network's two inputs (profile 5), then the bias.
const fn order0_at(n: usize) -> usize {
    n
}
const fn match_at(n: usize) -> usize {
    n + 1
}
const fn network_at(n: usize) -> usize {
    n + 2
}

/// The hashed contexts of each revision.
fn contexts_of(revision: CmRevision) -> usize {
    match revision {
        CmRevision::First | CmRevision::Second => 12,
        CmRevision::Third => 14,
        CmRevision::Fourth => 16,
        CmRevision::Fifth => 18,
    }
}

/// The contexts of each revision that give one-sided inputs ([`ONE_SIDED`]).
fn one_sided_of(revision: CmRevision) -> &'static [usize] {
    if revision >= CmRevision::Fourth {
        &ONE_SIDED
    } else {
        &[]
    }
}

/// The mixers' inputs in `revision` (see [`order0_at`]): its contexts and their one-sided inputs,
/// order 0, the match model, the network's two where it runs, the bias.
fn inputs_of(revision: CmRevision, network: bool) -> usize {
    network_at(contexts_of(revision) + one_sided_of(revision).len()) + 2 * usize::from(network) + 1
}

/// The contexts (orders 2-4 and 6) whose bit histories say how much the context has been seen.
const CONFIDENT: [usize; 4] = [1, 2, 3, 4];

/// The components `s2s2s info --components` measures: a name, the mixer inputs it removes (see
/// [`Contexts::hashes`] for the contexts' places), and whether it is the APM stage instead.
/// Context 11 is sparse in the first revision, a word trigram from the second; the third adds
/// the fields' contexts, the fourth the indirect ones and the one-sided inputs (each removed with
/// its context), the fifth a word context and a case-folded order 4.
fn components(revision: CmRevision) -> Vec<(&'static str, Vec<usize>, bool)> {
    let contexts = contexts_of(revision);
    let one_sided = one_sided_of(revision);
    let n = contexts + one_sided.len();
    let (words, sparse) = if revision >= CmRevision::Second { (vec![5, 6, 11], vec![10]) } else { (vec![5, 6], vec![10, 11]) };
    let mut c = vec![
        ("orders 1-2", vec![0, 1], false),
        ("orders 3-4", vec![2, 3], false),
        ("orders 5-7", vec![8, 4, 9], false),
        ("words", words, false),
        ("column", vec![7], false),
        ("sparse", sparse, false),
    ];
    if contexts > 12 {
        c.push(("fields", vec![12, 13], false));
    }
    if contexts > 14 {
        c.push(("indirect", vec![14, 15], false));
    }
    if contexts > 16 {
        // the fifth revision's: the word with the one before the last, a case-folded order 4
        c[3].1.push(16);
        c[1].1.push(17);
    }
    for (_, inputs, _) in &mut c {
        let extra: Vec<usize> = one_sided.iter().enumerate().filter(|(_, i)| inputs.contains(i)).map(|(j, _)| contexts + j).collect();
        inputs.extend(extra);
    }
    c.extend([
        ("order-0", vec![order0_at(n)], false),
        ("match", vec![match_at(n)], false),
        ("network", vec![network_at(n), network_at(n) + 1], false),
        ("APMs", vec![], true),
    ]);
    c
}

/// What selects the mixing stage's weights and APM rows for one bit.
struct Selectors {
    /// The first mixer's set (the match band, or from the second revision how many orders have
    /// seen the context, with the partial byte, or in the fourth the last byte's top 3 bits), the
    /// second's (last byte and bit position), the fifth revision's two (the byte before the last,
    /// or the text around, and the bit position), the network mixer's (0 without the network's
    /// prediction), and the network APM's row (the network's confidence, where it predicts).
    c0_set: usize,
    c1_set: usize,
    c2_set: usize,
    text_set: usize,
    net_set: usize,
    net_row: Option<usize>,
    /// The partial byte, the last byte and the last two.
    c0: usize,
    c1: usize,
    last2: usize,
}

/// The mixing stage: two gated mixers (four from the fifth revision, and with the network one
/// more), the one that combines them, and the APMs that refine the result (from the fourth
/// revision, one more on the last two bytes, hashed; from the fifth, with the network, one on its
/// confidence).
#[derive(Clone)]
struct Mixing {
    mixer_c0: Mixer<X_LEN>,
    mixer_c1: Mixer<X_LEN>,
    /// The fifth revision's: gated by the byte before the last, and by the text around (see
    /// [`Contexts::text_set`]).
    mixer_c2: Option<Mixer<X_LEN>>,
    mixer_text: Option<Mixer<X_LEN>>,
    final_mixer: Mixer<FINAL_LEN>,
    apm_order0: Apm,
    apm_order1: Apm,
    apm_order2: Option<Apm>,
    /// The mixer gated by the network's confidence (profile 5 only).
    net_mixer: Option<Mixer<X_LEN>>,
    /// The fifth revision's APM on the network's confidence (profile 5 only), and whether it
    /// refined the bit being predicted.
    apm_net: Option<Apm>,
    net_refined: bool,
    /// The second revision: the APMs weigh more.
    second: bool,
    /// The inputs of the bit being predicted, and the final mixer's (and how many it has).
    x: [i32; X_LEN],
    final_x: [i32; FINAL_LEN],
    final_n: usize,
}

/// Bits of the hash of the last two bytes that selects the fourth revision's third APM's rows.
const APM2_BITS: u32 = 10;
/// The fifth revision's text mixer's weight sets per bit position (see [`Contexts::text_set`]).
const TEXT_SETS: usize = 8 * 8 * 8;
/// Bands of the network's confidence that select the fifth revision's network APM's rows (with
/// the partial byte).
const NET_ROWS: usize = 32;

impl Mixing {
    fn new(inputs: usize, network: bool, revision: CmRevision) -> Self {
        let second = revision >= CmRevision::Second;
        let fourth = revision >= CmRevision::Fourth;
        let fifth = revision >= CmRevision::Fifth;
        // (the fifth revision's mixers are narrow: see [`Mixer`])
        fn young<const N: usize>(m: Mixer<N>, revision: CmRevision) -> Mixer<N> {
            match revision {
                CmRevision::First => m,
                CmRevision::Fifth => m.young_sets().narrow(),
                _ => m.young_sets(),
            }
        }
        let both = |a: Apm| if second { a.both_points() } else { a };
        // the fourth revision: the first mixer's sets are the confidence and the last byte's top
        // 3 bits (not the partial byte), and both mixers learn at 2/3 of the rate
        let (c0_sets, rate) = match revision {
            CmRevision::First => (256 * 4, 6),
            CmRevision::Second | CmRevision::Third => (256 * 8, 6),
            CmRevision::Fourth | CmRevision::Fifth => (8 * 8, 4),
        };
        let mixers = 2 + 2 * usize::from(fifth) + usize::from(network);
        Self {
            mixer_c0: young(Mixer::new(inputs, c0_sets, rate), revision),
            mixer_c1: young(Mixer::new(inputs, 256 * 8, rate), revision),
            mixer_c2: fifth.then(|| young(Mixer::new(inputs, 256 * 8, rate), revision)),
            mixer_text: fifth.then(|| young(Mixer::new(inputs, TEXT_SETS * 8, rate), revision)),
            final_mixer: young(Mixer::new(mixers + 1, 256, if second { 5 } else { 2 }), revision),
            apm_order0: both(Apm::new(256, 7)),
            apm_order1: both(Apm::new(1 << 16, 7)),
            apm_order2: fourth.then(|| Apm::new(256 << APM2_BITS, 7).both_points()),
            net_mixer: network.then(|| young(Mixer::new(inputs, 1 + NET_BANDS * TOKEN_PLACES * 8, 6), revision)),
            apm_net: (fifth && network).then(|| Apm::new(NET_ROWS << 8, 7).both_points()),
            net_refined: false,
            second,
            x: [0; X_LEN],
            final_x: [0; FINAL_LEN],
            final_n: 0,
        }
    }

    /// The third APM's row for the last two bytes `last2` and the partial byte `c0`.
    #[inline(always)]
    fn apm2_row(last2: usize, c0: usize) -> usize {
        let h = ((last2 as u32).wrapping_mul(0x9E37_79B1) >> (32 - APM2_BITS)) as usize;
        h << 8 | c0
    }

    /// Starts loading the weights and APM rows that [`p`](Self::p) will read for `s`, so that
    /// they arrive while the inputs are computed.
    #[inline(always)]
    fn prefetch(&self, s: &Selectors) {
        self.mixer_c1.prefetch(s.c1_set);
        self.apm_order1.prefetch(s.c0 | s.c1 << 8);
        if let Some(apm) = &self.apm_order2 {
            apm.prefetch(Self::apm2_row(s.last2, s.c0));
        }
    }

    /// The 12-bit probability of a 1 given the stretched inputs `x` (zeros past the mixers'
    /// inputs); `apms`: whether the APM stage refines it.
    #[inline(always)]
    fn p(&mut self, x: &[i32; X_LEN], s: &Selectors, apms: bool) -> u32 {
        self.x = *x;
        let x = &self.x;
        self.final_x[0] = self.mixer_c0.mix(x, s.c0_set);
        self.final_x[1] = self.mixer_c1.mix(x, s.c1_set);
        self.final_n = 2;
        if let (Some(c2), Some(text)) = (self.mixer_c2.as_mut(), self.mixer_text.as_mut()) {
            self.final_x[2] = c2.mix(x, s.c2_set);
            self.final_x[3] = text.mix(x, s.text_set);
            self.final_n = 4;
        }
        if let Some(m) = self.net_mixer.as_mut() {
            self.final_x[self.final_n] = m.mix(x, s.net_set);
            self.final_n += 1;
        }
        self.final_x[self.final_n] = 256;
        self.final_n += 1;
        let pr_mix = squash(self.final_mixer.mix(&self.final_x, s.c0));
        if !apms {
            return pr_mix;
        }
        let a = self.apm_order0.refine(pr_mix, s.c0);
        let b = self.apm_order1.refine(pr_mix, s.c0 | s.c1 << 8);
        let p = if let Some(apm) = self.apm_order2.as_mut() {
            a + b + 2 * apm.refine(pr_mix, Self::apm2_row(s.last2, s.c0))
        } else if self.second {
            pr_mix + a + 2 * b
        } else {
            2 * pr_mix + a + b
        };
        let p = (p / 4).clamp(1, 4095);
        // the fifth revision: where the network predicts, the average with what an APM on its
        // confidence makes of the mix
        self.net_refined = false;
        match (self.apm_net.as_mut(), s.net_row) {
            (Some(apm), Some(row)) => {
                self.net_refined = true;
                ((p + apm.refine(pr_mix, row << 8 | s.c0)) / 2).clamp(1, 4095)
            }
            _ => p,
        }
    }

    #[inline(always)]
    fn update(&mut self, bit: u32) {
        let x = &self.x;
        self.mixer_c0.update(x, bit);
        self.mixer_c1.update(x, bit);
        for m in [&mut self.mixer_c2, &mut self.mixer_text, &mut self.net_mixer].into_iter().flatten() {
            m.update(x, bit);
        }
        self.final_mixer.update(&self.final_x, bit);
        self.apm_order0.update(bit);
        self.apm_order1.update(bit);
        if let Some(apm) = self.apm_order2.as_mut() {
            apm.update(bit);
        }
        if let Some(apm) = self.apm_net.as_mut().filter(|_| self.net_refined) {
            apm.update(bit);
        }
    }
}

/// The file coded without one component: its own mixing stage, trained on the same bits with
/// that component's inputs held at zero (or without the APMs), and the bits it would cost more.
/// The hashed tables, state maps, match model and order 0 learn from the bytes alone, so all
/// ablations share them with the real predictor.
#[derive(Clone)]
struct Ablation {
    name: &'static str,
    inputs: Vec<usize>,
    apms: bool,
    mixing: Mixing,
    p: u32,
    extra_bits: f64,
}

/// Bits to code `bit` at 12-bit probability `p` of a 1.
fn cost(p: u32, bit: u32) -> f64 {
    let q = if bit == 1 { p } else { 4096 - p };
    12.0 - f64::from(q).log2()
}

impl Predictor {
    /// A fresh predictor with `2^table_bits` buckets (16 bytes each) for its hashed contexts;
    /// `network`: whether it takes the network's predictions as an input (profile 5); `cursor`:
    /// the stream it starts on.
    pub fn new(table_bits: u32, revision: CmRevision, network: bool, cursor: Cursor) -> Self {
        let n = contexts_of(revision);
        let states = States::new();
        let mut p = Self {
            table: HashTable::new(table_bits),
            contexts: n,
            maps: std::array::from_fn(|_| StateMap::new(&states)),
            states,
            cur: cursor,
            matcher: MatchModel::default(),
            order0: vec![0; 256],
            revision,
            mixing: Mixing::new(inputs_of(revision, network), network, revision),
            ablations: Vec::new(),
            last_p: 2048,
        };
        p.find_buckets();
        p
    }

    /// From now on, also measures what each component saves: the same bits are predicted
    /// without it, by mixers and APMs of its own that learn from them too (about 4x slower).
    pub fn analyse(&mut self) {
        let network = self.mixing.net_mixer.is_some();
        let inputs = inputs_of(self.revision, network);
        self.ablations = components(self.revision)
            .into_iter()
            .filter(|(name, ..)| network || *name != "network")
            .map(|(name, inputs_out, apms_out)| Ablation {
                name,
                inputs: inputs_out,
                apms: !apms_out,
                mixing: Mixing::new(inputs, network, self.revision),
                p: 2048,
                extra_bits: 0.0,
            })
            .collect();
    }

    /// The bits each component saved since the last call (empty unless analysing).
    pub fn take_saved(&mut self) -> Vec<(&'static str, f64)> {
        self.ablations.iter_mut().map(|a| (a.name, std::mem::take(&mut a.extra_bits))).collect()
    }

    /// The stream being coded.
    pub fn cursor(&mut self) -> &mut Cursor {
        &mut self.cur
    }

    /// Moves to another stream (at a byte boundary): returns the cursor of the one left. The
    /// new stream's buckets are looked up again, since other streams may have taken them over.
    pub fn swap_cursor(&mut self, cursor: Cursor) -> Cursor {
        debug_assert_eq!(cursor.bitpos, 0);
        let old = std::mem::replace(&mut self.cur, cursor);
        self.find_buckets();
        old
    }

    /// The hashed contexts of this revision (at most [`CONTEXTS`], which lets the compiler drop
    /// the bounds checks in the loops over them).
    #[inline(always)]
    fn contexts(&self) -> usize {
        self.contexts.min(CONTEXTS)
    }

    /// Looks up the contexts' buckets for the current nibble.
    fn find_buckets(&mut self) {
        // all the loads first, so that the CPU waits for the (mostly missing) buckets at once
        self.prefetch_buckets();
        self.search_buckets();
    }

    /// What the current nibble's bucket hashes are XORed with.
    fn nibble(&self) -> u64 {
        if self.cur.bitpos == 0 {
            0
        } else {
            u64::from(self.cur.c0) * NIBBLE
        }
    }

    /// Starts loading the current nibble's buckets.
    fn prefetch_buckets(&self) {
        let nibble = self.nibble();
        for &h in &self.cur.hashes[..self.contexts()] {
            self.table.prefetch(h ^ nibble);
        }
    }

    /// Finds (or takes) the current nibble's buckets.
    fn search_buckets(&mut self) {
        let (nibble, n) = (self.nibble(), self.contexts());
        let c = &mut self.cur;
        for (b, &h) in c.buckets[..n].iter_mut().zip(&c.hashes[..n]) {
            *b = self.table.find(h ^ nibble, &self.states);
        }
    }

    /// The node of the current nibble's tree (1 to 15).
    #[inline(always)]
    fn node(&self) -> usize {
        node_of(self.cur.c0, self.cur.bitpos)
    }

    /// The 12-bit probability (`1..=4095`) that the next bit is 1, given what the network says
    /// about it (profile 5; `None` where it says nothing). Call once before each
    /// [`update`](Self::update).
    ///
    /// (This and [`update`](Self::update) are inlined into the caller's loop, so that
    /// [`crate::engine::Kernel::vectorised`] compiles them for the CPU's widest vectors.)
    #[inline(always)]
    pub fn predict(&mut self, net: Option<NetBit>) -> u32 {
        let node = self.node();
        let c0 = self.cur.c0 as usize;
        let c1 = (self.cur.contexts.last & 0xff) as usize;
        let last2 = (self.cur.contexts.last & 0xffff) as usize;
        let bitpos = self.cur.bitpos as usize;
        let mut sel = Selectors {
            c0_set: 0,
            c1_set: c1 * 8 + bitpos,
            c2_set: (last2 >> 8) * 8 + bitpos,
            text_set: self.cur.contexts.text_set() * 8 + bitpos,
            net_set: 0,
            net_row: None,
            c0,
            c1,
            last2,
        };
        self.mixing.prefetch(&sel);
        let mut x = [0i32; X_LEN];
        let mut seen = [0u8; CONTEXTS];
        let contexts = self.contexts();
        let slots = self.table.slots();
        for i in 0..contexts {
            seen[i] = slots[self.cur.buckets[i] + node];
            x[i] = stretch(self.maps[i].p(seen[i]));
        }
        let one_sided = one_sided_of(self.revision);
        if !one_sided.is_empty() {
            // (from the fourth revision, with constant places so that the loop unrolls)
            debug_assert!(one_sided == ONE_SIDED);
            for (j, &i) in ONE_SIDED.iter().enumerate() {
                x[contexts + j] = if self.states.one_sided(seen[i]) { x[i] } else { 0 };
            }
        }
        let contexts = contexts + one_sided.len();
        x[order0_at(contexts)] = stretch(Counter::p(self.order0[c0]));
        x[match_at(contexts)] = self.matcher.predict(&mut self.cur.matcher, self.cur.bitpos).map_or(0, stretch);
        let mut n = network_at(contexts);
        if self.mixing.net_mixer.is_some() {
            if let Some(net) = net {
                let [a, b] = net.p.map(stretch);
                (x[n], x[n + 1]) = (a, b);
                // weights by how sure the network is, the byte's place in its token and the bit
                let band = (b.unsigned_abs() as usize >> 7).min(NET_BANDS - 1);
                sel.net_row = Some(((b + 2048) as usize >> 7).min(NET_ROWS - 1));
                sel.net_set = 1 + (band * TOKEN_PLACES + (net.place as usize).min(TOKEN_PLACES - 1)) * 8 + self.cur.bitpos as usize;
            }
            n += 2;
        }
        x[n] = 256;
        let band = self.cur.matcher.band();
        // the second revision: how far the match goes or else how many of orders 2-4 and 6 have
        // seen this context (a bit history not empty), as lpaq1 selects its weights
        let second = self.revision >= CmRevision::Second;
        let confidence = match band {
            0 if second => CONFIDENT.iter().filter(|&&i| seen[i] != 0).count(),
            0 => 0,
            _ if second => CONFIDENT.len() + band,
            _ => band,
        };
        sel.c0_set = if self.revision >= CmRevision::Fourth { confidence * 8 + (c1 >> 5) } else { confidence * 256 + c0 };
        let p = self.mixing.p(&x, &sel, true);
        if !self.ablations.is_empty() {
            self.last_p = p;
            self.predict_ablations(&x, sel);
        }
        p
    }

    /// Each ablation's prediction of the bit [`predict`](Self::predict) just predicted.
    #[cold]
    fn predict_ablations(&mut self, x: &[i32; X_LEN], mut sel: Selectors) {
        let (net_set, net_row) = (sel.net_set, sel.net_row);
        let network = network_at(self.contexts() + one_sided_of(self.revision).len());
        for a in &mut self.ablations {
            let mut without = *x;
            for &i in &a.inputs {
                without[i] = 0;
            }
            // without the network, its confidence selects nothing either
            let without_network = a.inputs.contains(&network);
            sel.net_set = if without_network { 0 } else { net_set };
            sel.net_row = if without_network { None } else { net_row };
            a.p = a.mixing.p(&without, &sel, a.apms);
        }
    }

    /// The last 8 bytes seen, newest in the low byte.
    pub fn last_bytes(&self) -> u64 {
        self.cur.contexts.last
    }

    /// Learns the coded bit (after [`predict`](Self::predict)) and moves to the next.
    #[inline(always)]
    pub fn update(&mut self, bit: u32) {
        self.mixing.update(bit);
        if !self.ablations.is_empty() {
            let real = cost(self.last_p, bit);
            for a in &mut self.ablations {
                a.extra_bits += cost(a.p, bit) - real;
                a.mixing.update(bit);
            }
        }
        self.matcher.update(&mut self.cur.matcher, self.cur.bitpos, bit);
        self.advance(bit, true);
    }

    /// Moves past a bit that was never coded because nothing else was possible (profile 5: the
    /// tokens left allow only one value). Its contexts still see it; the mixers and APMs, which
    /// learn how to weigh predictions, are not told about a bit nobody had to predict.
    pub fn skip(&mut self, bit: u32) {
        self.cur.matcher.follow(self.cur.bitpos, bit);
        self.advance(bit, false);
    }

    /// The bit's contexts learn it (`order0` too when `coded`); then the next bit's contexts.
    #[inline(always)]
    fn advance(&mut self, bit: u32, coded: bool) {
        let (node, contexts) = (self.node(), self.contexts());
        let slots = self.table.slots();
        for i in 0..contexts {
            let slot = &mut slots[self.cur.buckets[i] + node];
            let s = *slot;
            *slot = self.states.next(s, bit);
            self.maps[i].update(s, bit);
        }
        if coded {
            Counter::update(&mut self.order0[self.cur.c0 as usize], bit, 1023);
        }
        self.next_bit(bit);
    }

    /// Learns a byte that another lane coded (format version 8, [`crate::codec::cm::Lane::absorb`]):
    /// its contexts' bit histories and the match model's history see it; what weighs predictions
    /// (the state maps, order 0, the mixers and APMs) learns only from bits this lane codes, and
    /// skipping it makes a byte learnt this way cost a fraction of one coded.
    pub fn absorb(&mut self, byte: u8) {
        for k in (0..8).rev() {
            let bit = u32::from(byte >> k) & 1;
            let (node, contexts) = (self.node(), self.contexts());
            let slots = self.table.slots();
            for &b in &self.cur.buckets[..contexts] {
                let slot = &mut slots[b + node];
                *slot = self.states.next(*slot, bit);
            }
            self.cur.matcher.follow(self.cur.bitpos, bit);
            self.next_bit(bit);
        }
    }

    /// Moves the stream past `bit`: at a nibble's or byte's end, its contexts' next buckets.
    #[inline(always)]
    fn next_bit(&mut self, bit: u32) {
        self.cur.c0 = (self.cur.c0 << 1) | bit;
        self.cur.bitpos += 1;
        if self.cur.bitpos == 8 {
            self.next_byte();
        } else if self.cur.bitpos == 4 {
            self.find_buckets();
        }
    }

    /// Moves the stream past the byte just completed.
    fn next_byte(&mut self) {
        let c = self.cur.c0 as u8;
        self.cur.contexts.byte(c, self.revision);
        self.cur.hashes = self.cur.contexts.hashes(self.revision);
        self.cur.c0 = 1;
        self.cur.bitpos = 0;
        // the next byte's buckets start loading while the match model moves on
        self.prefetch_buckets();
        self.matcher.byte(&mut self.cur.matcher, c);
        self.search_buckets();
    }
}

/// The node of a nibble's tree after `bitpos` bits of the byte with leading-1 value `c0`.
#[inline(always)]
fn node_of(c0: u32, bitpos: u32) -> usize {
    let known = bitpos % 4;
    ((1 << known) | (c0 & ((1 << known) - 1))) as usize
}
