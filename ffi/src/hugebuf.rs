//! Large per-lcore tables in memory that asks the kernel for transparent huge pages: a table of a few
//! MiB read at random (the flow table) otherwise costs a TLB miss on most lookups with 4 KiB pages.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::ops::{Deref, DerefMut};
use std::ptr::NonNull;

/// The huge page size the allocation is aligned to.
const HUGE: usize = 2 << 20;

/// A fixed-length slice of `T` on 2 MiB-aligned memory advised `MADV_HUGEPAGE` (a hint: where
/// transparent huge pages are off, it is ordinary memory). Every element starts as `T::default()`.
pub struct HugeBuf<T: Copy + Default> {
    ptr: NonNull<T>,
    len: usize,
}

// SAFETY: HugeBuf owns its elements exclusively, as a Box<[T]> does.
unsafe impl<T: Copy + Default + Send> Send for HugeBuf<T> {}
// SAFETY: shared access only reads, as for &[T].
unsafe impl<T: Copy + Default + Sync> Sync for HugeBuf<T> {}

impl<T: Copy + Default> HugeBuf<T> {
    /// `len` elements (none: an empty slice, no allocation).
    pub fn new(len: usize) -> HugeBuf<T> {
        let Some(layout) = Self::layout(len) else {
            return HugeBuf { ptr: NonNull::dangling(), len: 0 };
        };
        // SAFETY: the layout has a non-zero size (checked in `layout`).
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<T>()) else { handle_alloc_error(layout) };
        // SAFETY: raw points to layout.size() bytes we own. The advice is only a hint: its result does
        // not matter.
        unsafe { libc::madvise(raw.cast(), layout.size(), libc::MADV_HUGEPAGE) };
        for i in 0..len {
            // SAFETY: i < len, within the allocation, and T is Copy (nothing to drop at the target).
            unsafe { ptr.as_ptr().add(i).write(T::default()) };
        }
        HugeBuf { ptr, len }
    }

    /// The allocation for `len` elements, rounded up to whole huge pages; None for an empty one.
    fn layout(len: usize) -> Option<Layout> {
        let bytes = len.checked_mul(std::mem::size_of::<T>()).expect("table size overflows");
        if bytes == 0 {
            return None;
        }
        let align = HUGE.max(std::mem::align_of::<T>());
        Some(Layout::from_size_align(bytes.div_ceil(HUGE) * HUGE, align).expect("valid layout"))
    }
}

impl<T: Copy + Default> Deref for HugeBuf<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised elements (or is dangling with len 0), owned by self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy + Default> DerefMut for HugeBuf<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: as in deref, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl<T: Copy + Default> Drop for HugeBuf<T> {
    fn drop(&mut self) {
        if let Some(layout) = Self::layout(self.len) {
            // SAFETY: ptr came from alloc with this same layout (len never changes).
            unsafe { dealloc(self.ptr.as_ptr().cast(), layout) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_buffer_is_aligned_initialised_and_writable() {
        let mut b: HugeBuf<[u64; 8]> = HugeBuf::new(100_000);
        assert_eq!(b.len(), 100_000);
        assert_eq!(b.as_ptr() as usize % HUGE, 0);
        assert!(b.iter().all(|x| *x == [0; 8]));
        b[99_999][7] = 5;
        assert_eq!(b[99_999][7], 5);
        let e: HugeBuf<u32> = HugeBuf::new(0);
        assert!(e.is_empty());
    }
}
