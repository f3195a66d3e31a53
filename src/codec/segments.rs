//! The block-to-segment schedule: the one definition of how a block's tokens are cut into
//! segments and which context each reads. The coding loop and the latent search both follow it,
//! so a segment's latent always attaches to the segment it was chosen for.

/// One segment of a block: where it starts, the context it reads, its tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentRef<'a> {
    pub start: usize,
    pub context: &'a [u32],
    pub tokens: &'a [u32],
}

/// Start of the segment after the one starting at `start` (segments of `segment` tokens).
pub fn next_start(start: usize, segment: usize) -> usize {
    start + segment.max(1)
}

/// Length of the segment starting at `start` in a block of `n` tokens.
pub fn segment_len(start: usize, n: usize, segment: usize) -> usize {
    segment.max(1).min(n - start)
}

/// Range of the context read by the segment starting at `start`.
pub fn context_range(start: usize, context: usize) -> std::ops::Range<usize> {
    start.saturating_sub(context)..start
}

/// Index of the segment starting at `start`.
pub fn index(start: usize, segment: usize) -> usize {
    start / segment.max(1)
}

/// Every segment of a block of `tokens`, in order.
pub fn segments(tokens: &[u32], segment: usize, context: usize) -> impl Iterator<Item = SegmentRef<'_>> {
    std::iter::successors(Some(0), move |&s| Some(next_start(s, segment))).take_while(move |&s| s < tokens.len()).map(move |start| {
        SegmentRef {
            start,
            context: &tokens[context_range(start, context)],
            tokens: &tokens[start..start + segment_len(start, tokens.len(), segment)],
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_tile_the_block_and_read_the_context_before_them() {
        let t: Vec<u32> = (0..10).collect();
        let s: Vec<SegmentRef> = segments(&t, 4, 3).collect();
        assert_eq!(s.iter().map(|s| s.start).collect::<Vec<_>>(), [0, 4, 8]);
        assert_eq!(s[1].context, &[1, 2, 3]);
        assert_eq!(s[2].tokens, &[8, 9]);
        assert!(s.iter().enumerate().all(|(i, x)| index(x.start, 4) == i));
        assert_eq!(segments(&[], 4, 3).count(), 0);
    }
}
