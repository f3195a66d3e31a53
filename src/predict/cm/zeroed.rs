//! Zeroed memory for the context mixer's large tables, on huge pages where the OS allows them.
//!
//! The tables are read at random, a few dozen cache lines per byte coded; with 4 KiB pages
//! nearly every one of those reads also misses the TLB, which costs as much again (more in a
//! virtual machine). Linux backs an anonymous mapping with 2 MiB pages when asked
//! (`MADV_HUGEPAGE`, honoured where transparent huge pages are `always` or `madvise`). Where
//! mapping fails the table falls back to the heap: the contents, and so the coded bits, are the
//! same either way.

use std::ops::{Deref, DerefMut};

use bytemuck::Pod;
use memmap2::MmapMut;

/// A zero-filled buffer of `T`, zeroed lazily by the OS as it is touched.
pub enum Zeroed<T> {
    /// (page-aligned, so aligned for any `T`; its length a multiple of `T`'s size)
    Mapped(MmapMut),
    Heap(Vec<T>),
}

impl<T: Pod> Zeroed<T> {
    /// `len` zeroed values (on the heap below 1 MiB, where pages matter little).
    pub fn new(len: usize) -> Self {
        let bytes = len * size_of::<T>();
        match (bytes >= 1 << 20).then(|| MmapMut::map_anon(bytes)) {
            Some(Ok(map)) => {
                // (a hint: without it the pages are 4 KiB, and nothing else changes)
                #[cfg(target_os = "linux")]
                let _ = map.advise(memmap2::Advice::HugePage);
                Self::Mapped(map)
            }
            _ => Self::Heap(vec![T::zeroed(); len]),
        }
    }

    /// `len` values, each `init(i)`.
    pub fn from_fn(len: usize, init: impl Fn(usize) -> T) -> Self {
        let mut z = Self::new(len);
        for (i, v) in z.iter_mut().enumerate() {
            *v = init(i);
        }
        z
    }
}

impl<T: Pod> Deref for Zeroed<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match self {
            Self::Mapped(m) => bytemuck::cast_slice(m),
            Self::Heap(v) => v,
        }
    }
}

impl<T: Pod> DerefMut for Zeroed<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match self {
            Self::Mapped(m) => bytemuck::cast_slice_mut(m),
            Self::Heap(v) => v,
        }
    }
}

impl<T: Pod> Clone for Zeroed<T> {
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
        let mut z = Zeroed::<u16>::new(3 << 20);
        assert!(z.iter().all(|&b| b == 0));
        z[12_345] = 7;
        let c = z.clone();
        assert_eq!((c.len(), c[12_345], c[12_346]), (3 << 20, 7, 0));
        let f = Zeroed::from_fn(1000, |i| i as u32 * 3);
        assert_eq!((f.len(), f[999]), (1000, 2997));
    }
}
