//! The lanes of a context-mixing frame (profile 4): block `i` of the frame goes to lane
//! `i mod lanes`, each lane takes its blocks in order, and the lanes run in parallel. The
//! compressor and the decompressor deal blocks the same way, so each lane's predictor sees the
//! same bytes in the same order in both directions, whatever the thread count.

use rayon::prelude::*;

use crate::codec::cm::Lane;
use crate::error::Result;
use crate::format::CmParams;

/// A frame's lanes and how many blocks they have been dealt.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
    dealt: usize,
}

impl Lanes {
    pub(super) fn new(p: CmParams) -> Self {
        Self { lanes: (0..p.lanes).map(|_| Lane::new(u32::from(p.table_bits))).collect(), dealt: 0 }
    }

    /// Number of lanes.
    pub(super) fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Runs `f` on the frame's next blocks `items` (each on its lane, in order); results in
    /// input order.
    pub(super) fn run<T: Sync, R: Send>(&mut self, items: &[T], f: impl Fn(&mut Lane, &T) -> Result<R> + Sync) -> Result<Vec<R>> {
        let n = self.lanes.len();
        let first = self.dealt;
        let per_lane: Vec<Vec<(usize, R)>> = self
            .lanes
            .par_iter_mut()
            .enumerate()
            .map(|(lane_no, lane)| {
                (0..items.len()).filter(|k| (first + k) % n == lane_no).map(|k| Ok((k, f(lane, &items[k])?))).collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        self.dealt += items.len();
        let mut out: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        for (k, r) in per_lane.into_iter().flatten() {
            out[k] = Some(r);
        }
        Ok(out.into_iter().map(|r| r.expect("every block is dealt to one lane")).collect())
    }
}
