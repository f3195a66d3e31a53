//! Relative-position buckets of the network's attention, by integer arithmetic only.

/// Distances below this have a bucket each.
const EXACT: usize = 8;
/// Buckets per direction.
pub const HALF_BUCKETS: usize = 16;
/// Buckets of the decoder's causal self-attention (rows of its bias table).
pub const CAUSAL_BUCKETS: usize = HALF_BUCKETS;
/// Buckets of the encoder's bidirectional self-attention (rows of its bias table).
pub const BIDIR_BUCKETS: usize = 2 * HALF_BUCKETS;

/// Relative-position bucket for a causal distance `n >= 0`: exact below 8, then
/// logarithmic, by integer arithmetic only (`8 + floor(log2(n² / 64))`, capped at 15).
pub fn bucket_causal(n: usize) -> usize {
    if n < EXACT {
        n
    } else {
        let q = (n * n) / (EXACT * EXACT);
        (EXACT + q.ilog2() as usize).min(HALF_BUCKETS - 1)
    }
}

/// Bidirectional bucket for `rel = key_position - query_position`.
pub fn bucket_bidir(rel: i64) -> usize {
    bucket_causal(rel.unsigned_abs() as usize) + if rel > 0 { HALF_BUCKETS } else { 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_the_trained_definition() {
        // values the built-in models were trained with (the PyTorch trainer of commit ef2701e)
        let expect = [(0, 0), (7, 7), (8, 8), (11, 8), (12, 9), (16, 10), (32, 12), (64, 14), (91, 15), (500, 15)];
        for (n, b) in expect {
            assert_eq!(bucket_causal(n), b, "n={n}");
        }
        assert_eq!(bucket_bidir(3), 19);
        assert_eq!(bucket_bidir(-3), 3);
    }
}
