//! Combining predictions: a gated logistic mixer and adaptive probability maps (APM/SSE).

use super::zeroed::Zeroed;
use crate::engine::kernels::prefetch;
use crate::numeric::logistic::{squash, stretch};

/// A logistic mixer: `p = squash(Σ w_i x_i / 2^16)` over stretched inputs `x_i`, with one
/// weight vector per selector value, trained online to reduce coding cost:
/// `w_i += x_i · (bit − p) · rate · boost / 2^15` (with `p` and `bit` in 12 bits, `boost` 4 to 1
/// as the mixer ages).
///
/// A narrow mixer ([`narrow`](Self::narrow), from the predictor's fifth revision) keeps each
/// weight within ±8 (`2^19` in 16.16 fixed point), so that every product `x_i w_i` fits 31 bits
/// and the sum runs in `i32` (each product rounded down by `2^8` first): the same arithmetic on
/// every CPU, in 32-bit vector lanes instead of 64-bit ones.
#[derive(Clone)]
pub struct Mixer<const N: usize> {
    inputs: usize,
    /// `N` weights per set: `inputs`, then zeros to whole vectors ([`padded`]).
    weights: Vec<i32>,
    /// The weight set in use: its number, and where its weights start.
    set_no: usize,
    set: usize,
    /// The last mixture's probability, which the update learns from.
    pr: u32,
    rate: i32,
    updates: u32,
    /// Updates of each weight set, where young sets learn faster ([`young_sets`](Self::young_sets)).
    set_updates: Vec<u32>,
    narrow: bool,
}

/// The largest weight of a narrow mixer.
const NARROW_W: i32 = (1 << 19) - 1;

/// Inputs per vector in the mixers' loops.
const VECTOR: usize = 8;

/// A length for a mixer's input vector of at least `inputs` inputs: whole vectors of
/// [`VECTOR`]. The mixers' loops run over a length known when compiling, so that they are
/// vectorised whole (over a length known only at run time, LLVM unrolled them into blocks of 32
/// or 64 and left the mixers' 29-31 inputs to its scalar loop); the inputs past a mixer's
/// `inputs` are zero, and so add nothing and teach their weights nothing.
pub const fn padded(inputs: usize) -> usize {
    inputs.div_ceil(VECTOR) * VECTOR
}

impl<const N: usize> Mixer<N> {
    /// A mixer of `inputs` inputs (at most `N`) with `sets` weight vectors, learning at `rate`.
    pub fn new(inputs: usize, sets: usize, rate: i32) -> Self {
        assert!(inputs <= N);
        let w = (1 << 16) / inputs as i32;
        let set: Vec<i32> = (0..N).map(|i| if i < inputs { w } else { 0 }).collect();
        Self { inputs, weights: set.repeat(sets), set_no: 0, set: 0, pr: 2048, rate, updates: 0, set_updates: Vec::new(), narrow: false }
    }

    /// Boosts each weight set's rate by its own age as well (4x for its first 64 updates, 3x to
    /// 512, 2x to 4096), so that weights selected by rare contexts learn before the file ends.
    pub fn young_sets(mut self) -> Self {
        self.set_updates = vec![0; self.weights.len() / N];
        self
    }

    /// Keeps weights within ±8 and sums in `i32` (see [`Mixer`]).
    pub fn narrow(mut self) -> Self {
        self.narrow = true;
        self
    }

    /// Starts loading weight vector `set`.
    #[inline(always)]
    pub fn prefetch(&self, set: usize) {
        prefetch(&self.weights, set * N);
        prefetch(&self.weights, set * N + 16);
    }

    /// The weight vector in use.
    #[inline(always)]
    fn weights(&mut self) -> &mut [i32; N] {
        (&mut self.weights[self.set..self.set + N]).try_into().expect("N weights a set")
    }

    /// Mixes the inputs `x` (stretched probabilities, one per input, then zeros) with weight
    /// vector `set`; returns the stretched mixture.
    #[inline(always)]
    pub fn mix(&mut self, x: &[i32; N], set: usize) -> i32 {
        debug_assert!(x[self.inputs..].iter().all(|&x| x == 0));
        self.set_no = set;
        self.set = set * N;
        let narrow = self.narrow;
        let w = self.weights();
        let dot = if narrow {
            // (|x| < 2^11 and |w| < 2^19: each product fits, and so does the sum of 2^8 times
            // fewer bits, in any order)
            let dot: i32 = x.iter().zip(w.iter()).map(|(&x, &w)| (x * w) >> 8).sum();
            (dot >> 8).clamp(-2047, 2047)
        } else {
            let dot: i64 = x.iter().zip(w.iter()).map(|(&x, &w)| i64::from(x) * i64::from(w)).sum();
            (dot >> 16).clamp(-2047, 2047) as i32
        };
        self.pr = squash(dot);
        dot
    }

    /// Trains the used weight vector on the coded bit, given the inputs `x` it mixed.
    #[inline(always)]
    pub fn update(&mut self, x: &[i32; N], bit: u32) {
        // young weights learn faster: 4x for the first 2^17 updates (16 KiB of input), then 3x,
        // 2x, and the base rate after 2^21
        self.updates = self.updates.saturating_add(1);
        let mut boost = 1 + i32::from(self.updates < 1 << 17) + i32::from(self.updates < 1 << 19) + i32::from(self.updates < 1 << 21);
        if let Some(n) = self.set_updates.get_mut(self.set_no) {
            *n = n.saturating_add(1);
            boost = boost.max(1 + i32::from(*n < 64) + i32::from(*n < 512) + i32::from(*n < 4096));
        }
        let err = ((bit << 12) as i32 - self.pr as i32) * self.rate * boost;
        let narrow = self.narrow;
        let w = self.weights();
        if narrow {
            for (w, &x) in w.iter_mut().zip(x) {
                *w = (*w + ((x * err) >> 15)).clamp(-NARROW_W, NARROW_W);
            }
        } else {
            for (w, &x) in w.iter_mut().zip(x) {
                *w = w.saturating_add((x * err) >> 15);
            }
        }
    }
}

/// An adaptive probability map: refines a probability given a small context, by interpolating
/// between 33 learned points along the stretched input.
#[derive(Clone)]
pub struct Apm {
    /// 33 points (`u16`) per context.
    t: Zeroed,
    /// The point nearest the last input, and the lower of the two around it.
    index: usize,
    lower: usize,
    rate: u32,
    /// Whether both points around the input learn ([`both_points`](Self::both_points)).
    both: bool,
}

impl Apm {
    /// A map over `contexts` contexts, each starting as the identity.
    pub fn new(contexts: usize, rate: u32) -> Self {
        let row: Vec<u8> = (0..33).flat_map(|j| ((squash((j - 16) * 128) * 16) as u16).to_ne_bytes()).collect();
        let mut t = Zeroed::new(row.len() * contexts);
        for r in t.chunks_exact_mut(row.len()) {
            r.copy_from_slice(&row);
        }
        Self { t, index: 0, lower: 0, rate, both: false }
    }

    /// Trains both points around the last input, not only the nearest.
    pub fn both_points(mut self) -> Self {
        self.both = true;
        self
    }

    /// Starts loading context `cx`'s points.
    #[inline(always)]
    pub fn prefetch(&self, cx: usize) {
        // (a row's 66 bytes span up to three cache lines)
        let t = &*self.t;
        for i in [0, 32, 64] {
            prefetch(t, cx * 66 + i);
        }
    }

    /// The refined probability of `p` in context `cx`.
    #[inline(always)]
    pub fn refine(&mut self, p: u32, cx: usize) -> u32 {
        let s = (stretch(p) + 2048) as u32;
        let lo = (s >> 7) as usize;
        let w = s & 127;
        let base = cx * 33 + lo;
        self.index = base + (w >> 6) as usize;
        self.lower = base;
        (u32::from(self.t.u16_at(base)) * (128 - w) + u32::from(self.t.u16_at(base + 1)) * w) >> 11
    }

    /// Trains the point nearest the last input (or both around it).
    #[inline(always)]
    pub fn update(&mut self, bit: u32) {
        let g = ((bit << 16) + (bit << self.rate) - bit - bit) as i32;
        let rate = self.rate;
        let mut learn = |i: usize| {
            let t = i32::from(self.t.u16_at(i));
            self.t.set_u16(i, (t + ((g - t) >> rate)) as u16);
        };
        learn(self.index);
        if self.both {
            // (the other of lower and lower + 1)
            learn(self.index ^ self.lower ^ (self.lower + 1));
        }
    }
}
