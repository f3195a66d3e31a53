//! The lanes of a context-mixing frame (profiles 4 and 5): block `i` of the frame goes to lane
//! `i mod lanes`, each lane takes its blocks in order, `streams` at a time (its `j`-th block on
//! stream `j mod streams`, together with the others of `j / streams`), and the lanes run in
//! parallel. The compressor and the decompressor deal blocks the same way and hand them over in
//! whole groups of `lanes x streams` ([`Lanes::group`]), so each lane's predictor sees the same
//! bytes in the same order in both directions, whatever the thread count.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use rayon::prelude::*;

use crate::codec::cm::Lane;
use crate::error::{Error, Result};
use crate::format::CmParams;
use crate::transform::LineEndings;

/// A frame's lanes and how many blocks they have been dealt.
pub(super) struct Lanes {
    lanes: Vec<Lane>,
    streams: usize,
    dealt: usize,
    /// Whether each lane absorbs the other lanes' blocks of each group (format version 8).
    share: bool,
    /// Where the lanes share: the last group's blocks as coded, and the lane each was dealt to,
    /// which the others absorb before their next group.
    last_group: Vec<(usize, Vec<u8>)>,
}

impl Lanes {
    /// Fresh lanes, or an error before anything is allocated when their tables would not fit in
    /// the memory the system reports available (a file's parameters may ask for up to ~2.3 GB).
    /// `network`: whether the lanes also code tokens under the network's prediction (profile 5).
    /// `copies`: how many of each lane may be held at once (the compressor with the network
    /// tries each group on a copy of its lane too).
    pub(super) fn new(p: CmParams, network: bool, copies: u64) -> Result<Self> {
        fits(copies * p.memory(), available_memory())?;
        let streams = usize::from(p.streams);
        let lanes = (0..p.lanes).map(|_| Lane::new(u32::from(p.table_bits), p.revision, network, streams)).collect();
        Ok(Self { lanes, streams, dealt: 0, share: p.share && p.lanes > 1, last_group: Vec::new() })
    }

    /// From now on, counts the bytes the lanes code into `counter` (for progress reports).
    pub(super) fn count_into(&mut self, counter: &Arc<AtomicU64>) {
        self.lanes.iter_mut().for_each(|l| l.progress = Some(Arc::clone(counter)));
    }

    /// From now on, also measures what each component of the predictors saves.
    pub(super) fn analyse(&mut self) {
        self.lanes.iter_mut().for_each(Lane::analyse);
    }

    /// The bits each component saved since the last call, over all lanes (empty unless
    /// analysing).
    pub(super) fn take_saved(&mut self) -> Vec<(&'static str, f64)> {
        self.lanes.iter_mut().flat_map(Lane::take_saved).collect()
    }

    /// Groups the lanes coded without trying the network (compression only).
    pub(super) fn sat_out(&self) -> u64 {
        self.lanes.iter().map(|l| l.sat_out).sum()
    }

    /// Blocks the lanes take at once: callers hand over whole groups (but the frame's last).
    pub(super) fn group(&self) -> usize {
        self.lanes.len() * self.streams
    }

    /// Runs `f` on each lane with its share of each group of the frame's next blocks `items`
    /// (at most `streams` blocks, each with its stream), and the threads the lane may split the
    /// network's rows over (the pool's threads beyond one per lane); results in input order.
    /// Where the lanes share, each first absorbs the previous group's blocks dealt to the others,
    /// in frame order, as they were coded (`original`: a block's bytes, from its item or its
    /// result; the lanes apply the line-ending transform its plan gives), so that a lane's
    /// statistics cover the whole frame but the group in progress.
    pub(super) fn run<T: Sync, R: Send>(
        &mut self,
        items: &[T],
        f: impl Fn(&mut Lane, &[(usize, &T)], usize) -> Result<Vec<R>> + Sync,
        original: impl for<'a> Fn(&'a T, &'a R) -> &'a [u8],
    ) -> Result<Vec<R>> {
        let mut out = Vec::with_capacity(items.len());
        for group in items.chunks(self.group()) {
            let first = self.dealt;
            let results = self.run_group(group, &f)?;
            if self.share {
                let n = self.lanes.len();
                self.last_group = (group.iter().zip(&results).enumerate())
                    .map(|(k, (t, r))| {
                        let data = original(t, r);
                        ((first + k) % n, LineEndings::apply(LineEndings::plan(data).as_ref(), data).into_owned())
                    })
                    .collect();
            }
            out.extend(results);
        }
        Ok(out)
    }

    /// [`run`](Self::run) on one group: each lane codes its blocks of it, the lanes in parallel.
    fn run_group<T: Sync, R: Send>(
        &mut self,
        items: &[T],
        f: &(impl Fn(&mut Lane, &[(usize, &T)], usize) -> Result<Vec<R>> + Sync),
    ) -> Result<Vec<R>> {
        let (n, streams, first) = (self.lanes.len(), self.streams, self.dealt);
        let threads = (rayon::current_num_threads() / n).max(1);
        let last_group = &self.last_group;
        let per_lane: Vec<Vec<(usize, R)>> = self
            .lanes
            .par_iter_mut()
            .enumerate()
            .map(|(lane_no, lane)| {
                for (_, body) in last_group.iter().filter(|(dealt_to, _)| *dealt_to != lane_no) {
                    lane.absorb(body);
                }
                // (this lane's blocks: frame index i, its j-th, on stream j mod streams)
                let mine: Vec<(usize, usize)> =
                    (0..items.len()).filter(|k| (first + k) % n == lane_no).map(|k| (k, (first + k) / n)).collect();
                let blocks: Vec<(usize, &T)> = mine.iter().map(|&(k, j)| (j % streams, &items[k])).collect();
                let results = if blocks.is_empty() { Vec::new() } else { f(lane, &blocks, threads)? };
                Ok(mine.iter().map(|&(k, _)| k).zip(results).collect())
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

/// Refuses `needed` bytes when the system reports less available.
fn fits(needed: u64, available: Option<u64>) -> Result<()> {
    match available {
        Some(available) if needed > available => Err(Error::Memory { needed_mib: needed >> 20, available_mib: available >> 20 }),
        _ => Ok(()),
    }
}

/// Memory the system can give without swapping (Linux's `MemAvailable`); `None` where unknown.
fn available_memory() -> Option<u64> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kib: u64 = info.lines().find_map(|l| l.strip_prefix("MemAvailable:"))?.trim().strip_suffix("kB")?.trim().parse().ok()?;
    Some(kib << 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lanes_that_do_not_fit_are_refused_before_allocation() {
        assert!(fits(100 << 20, Some(200 << 20)).is_ok());
        assert!(fits(100 << 20, None).is_ok());
        let e = fits(600 << 20, Some(500 << 20)).unwrap_err().to_string();
        assert_eq!(e, "not enough memory: the context mixer needs 600 MiB, 500 MiB are available");
        if cfg!(target_os = "linux") {
            assert!(available_memory().is_some_and(|m| m > 0));
        }
    }
}
