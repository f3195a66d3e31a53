//! How blocks are grouped onto threads, the same way in both directions.

use rayon::prelude::*;

use crate::error::{Error, Result};

/// A pool of `threads` workers.
pub(super) fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().map_err(|e| Error::Io(std::io::Error::other(e)))
}

/// Blocks per lockstep group: enough groups to keep every thread busy, at most `max` each.
/// Scheduling only: rows never interact, so the output is the same for any grouping.
fn group_size(blocks: usize, threads: usize, max: usize) -> usize {
    blocks.div_ceil(threads.max(1)).clamp(1, max.max(1))
}

/// Runs `run` over `items` in lockstep groups spread over the threads; results in input order.
pub(super) fn in_groups<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    max_group: usize,
    run: impl Fn(&[T]) -> Result<Vec<R>> + Sync + Send,
) -> Result<Vec<R>> {
    Ok(items.par_chunks(group_size(items.len(), threads, max_group)).map(run).collect::<Result<Vec<_>>>()?.into_iter().flatten().collect())
}
