//! The context hash of the adaptive models (`predict::adaptive`).

/// Hash of the last `k` tokens of `hist` (which must hold at least `k`).
pub fn context_hash(hist: &[u32], k: usize) -> u64 {
    let mut h = k as u64;
    for &t in &hist[hist.len() - k..] {
        h = (h ^ u64::from(t)).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23);
    }
    h
}
