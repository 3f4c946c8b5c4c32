//! Packet-buffer pools.

use std::ffi::CString;
use std::ptr::NonNull;

use crate::error::{Error, Result, ToResult};
use crate::lcore::SocketId;
use crate::raw;

/// An mbuf pool (`rte_pktmbuf_pool_create`). Freed on drop; drop it after every port using it.
pub struct Mempool {
    ptr: NonNull<raw::rte_mempool>,
}

// SAFETY: rte_mempool is designed for concurrent use from many lcores (per-lcore caches + lock-free ring).
unsafe impl Send for Mempool {}
// SAFETY: as above; the methods here only read counters or call thread-safe DPDK functions.
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `count` mbufs with `data_room` bytes each (headroom included).
    pub fn new(name: &str, count: u32, cache: u32, data_room: u16, socket: SocketId) -> Result<Mempool> {
        let cname = CString::new(name).map_err(|_| Error::Invalid(format!("pool name {name:?} contains NUL")))?;
        // SAFETY: cname is a valid C string; the other arguments are plain values DPDK validates.
        let p = unsafe { raw::rte_pktmbuf_pool_create(cname.as_ptr(), count, cache, 0, data_room, socket.0) };
        let p = p.rte_errno("rte_pktmbuf_pool_create")?;
        Ok(Mempool { ptr: NonNull::new(p).expect("checked non-null") })
    }

    pub(crate) fn as_ptr(&self) -> *mut raw::rte_mempool {
        self.ptr.as_ptr()
    }

    /// Mbufs currently taken out of the pool (in queues, in flight or leaked).
    pub fn in_use(&self) -> u32 {
        // SAFETY: ptr is a live pool; the call only reads counters.
        unsafe { raw::rte_mempool_in_use_count(self.ptr.as_ptr()) }
    }

    /// Mbufs available in the pool (including per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: as in in_use.
        unsafe { raw::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Allocates one mbuf, or `None` if the pool is empty.
    pub fn alloc(&self) -> Option<crate::Mbuf> {
        // SAFETY: ptr is a live pktmbuf pool.
        let m = unsafe { raw::sluice_pktmbuf_alloc(self.ptr.as_ptr()) };
        NonNull::new(m).map(crate::Mbuf::from_nonnull)
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: the pool was created by rte_pktmbuf_pool_create and is freed once.
        unsafe { raw::rte_mempool_free(self.ptr.as_ptr()) };
    }
}
