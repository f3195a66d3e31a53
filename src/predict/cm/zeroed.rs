//! Zeroed memory for the context mixer's large tables, on huge pages where the OS allows them.
//!
//! The tables are read at random, a few dozen cache lines per byte coded; with 4 KiB pages
//! nearly every one of those reads also misses the TLB, which costs as much again (more in a
//! virtual machine). Linux backs an anonymous mapping with 2 MiB pages when asked
//! (`MADV_HUGEPAGE`, honoured where transparent huge pages are `always` or `madvise`). Where
//! mapping fails the table falls back to the heap: the contents, and so the coded bits, are the
//! same either way.

use std::ops::{Deref, DerefMut};

use memmap2::MmapMut;

/// A zero-filled byte buffer, zeroed lazily by the OS as it is touched. Tables of wider values
/// keep them as native-endian byte groups ([`u16_at`](Self::u16_at) ...): a byte view of the
/// mapping needs no alignment or length check on each look, and these are looked into a dozen
/// times a bit.
pub enum Zeroed {
    Mapped(MmapMut),
    Heap(Vec<u8>),
}

impl Zeroed {
    /// `len` zeroed bytes (on the heap below 1 MiB, where pages matter little).
    pub fn new(len: usize) -> Self {
        match (len >= 1 << 20).then(|| MmapMut::map_anon(len)) {
            Some(Ok(map)) => {
                // (a hint: without it the pages are 4 KiB, and nothing else changes)
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                Self::Mapped(map)
            }
            _ => Self::Heap(vec![0; len]),
        }
    }

    /// The `i`-th `u16`.
    #[inline(always)]
    pub fn u16_at(&self, i: usize) -> u16 {
        let b = &self[2 * i..2 * i + 2];
        u16::from_ne_bytes([b[0], b[1]])
    }

    #[inline(always)]
    pub fn set_u16(&mut self, i: usize, v: u16) {
        self[2 * i..2 * i + 2].copy_from_slice(&v.to_ne_bytes());
    }

    /// The `i`-th `u32`.
    #[inline(always)]
    pub fn u32_at(&self, i: usize) -> u32 {
        let b = &self[4 * i..4 * i + 4];
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
    }

    #[inline(always)]
    pub fn set_u32(&mut self, i: usize, v: u32) {
        self[4 * i..4 * i + 4].copy_from_slice(&v.to_ne_bytes());
    }
}

impl Deref for Zeroed {
    type Target = [u8];
    #[inline(always)]
    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Heap(v) => v,
        }
    }
}

impl DerefMut for Zeroed {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Self::Mapped(m) => m,
            Self::Heap(v) => v,
        }
    }
}

impl Clone for Zeroed {
    fn clone(&self) -> Self {
        let mut copy = Self::new(self.len());
        copy.copy_from_slice(self);
        copy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_zeroed_and_clones_its_contents() {
        let mut z = Zeroed::new(3 << 20);
        assert!(z.iter().all(|&b| b == 0));
        z[12_345] = 7;
        z.set_u16(100, 0xBEEF);
        z.set_u32(100, 0xDEAD_BEEF);
        let c = z.clone();
        assert_eq!((c.len(), c[12_345], c[12_346]), (3 << 20, 7, 0));
        assert_eq!((c.u16_at(100), c.u16_at(101), c.u32_at(100)), (0xBEEF, 0, 0xDEAD_BEEF));
        let small = Zeroed::new(1000);
        assert!(matches!(small, Zeroed::Heap(_)) && small.u32_at(249) == 0);
    }
}
