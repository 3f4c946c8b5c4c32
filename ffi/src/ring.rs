//! Lock-free rings of mbufs between lcores.

use std::ffi::{c_void, CString};
use std::ptr::NonNull;

use crate::error::{Error, Result, ToResult};
use crate::lcore::SocketId;
use crate::mbuf::Mbuf;
use crate::raw;

/// An `rte_ring` carrying owned mbufs. Mbufs still in it are freed on drop.
pub struct MbufRing {
    ptr: NonNull<raw::rte_ring>,
}

// SAFETY: rte_ring is a lock-free multi-producer/multi-consumer queue (unless created SP/SC, which the
// constructor flags document); mbufs in it are owned by the ring.
unsafe impl Send for MbufRing {}
// SAFETY: as above.
unsafe impl Sync for MbufRing {}

impl MbufRing {
    /// Creates a ring of `size` slots (a power of two; one fewer usable). `single` makes it
    /// single-producer/single-consumer.
    pub fn new(name: &str, size: u32, socket: SocketId, single: bool) -> Result<MbufRing> {
        if !size.is_power_of_two() {
            return Err(Error::Invalid(format!("ring size {size} is not a power of two")));
        }
        let c = CString::new(name).map_err(|_| Error::Invalid(format!("ring name {name:?} contains NUL")))?;
        let flags = if single { raw::RING_F_SP_ENQ | raw::RING_F_SC_DEQ } else { 0 };
        // SAFETY: c is a valid C string; DPDK validates the rest.
        let p = unsafe { raw::rte_ring_create(c.as_ptr(), size, socket.0, flags) }.rte_errno("rte_ring_create")?;
        Ok(MbufRing { ptr: NonNull::new(p).expect("checked non-null") })
    }

    /// Enqueues one mbuf; hands it back if the ring is full.
    pub fn enqueue(&self, m: Mbuf) -> std::result::Result<(), Mbuf> {
        let obj = [std::mem::ManuallyDrop::new(m)];
        // SAFETY: obj is one valid pointer-sized object; the ring takes ownership only if it reports 1.
        let n = unsafe { raw::sluice_ring_enqueue_burst(self.ptr.as_ptr(), obj.as_ptr() as *const *mut c_void, 1) };
        if n == 1 {
            Ok(())
        } else {
            let [m] = obj;
            Err(std::mem::ManuallyDrop::into_inner(m))
        }
    }

    /// Dequeues one mbuf.
    pub fn dequeue(&self) -> Option<Mbuf> {
        let mut obj: *mut c_void = std::ptr::null_mut();
        // SAFETY: obj is writable storage for one pointer; the ring writes at most one.
        let n = unsafe { raw::sluice_ring_dequeue_burst(self.ptr.as_ptr(), &mut obj, 1) };
        if n == 1 {
            // SAFETY: everything in the ring was enqueued as an owned Mbuf (a non-null rte_mbuf pointer).
            Some(unsafe { std::mem::transmute::<*mut c_void, Mbuf>(obj) })
        } else {
            None
        }
    }

    pub fn len(&self) -> u32 {
        // SAFETY: reads the ring's indices.
        unsafe { raw::sluice_ring_count(self.ptr.as_ptr()) }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for MbufRing {
    fn drop(&mut self) {
        while self.dequeue().is_some() {}
        // SAFETY: created by rte_ring_create, freed once, now empty.
        unsafe { raw::rte_ring_free(self.ptr.as_ptr()) };
    }
}
