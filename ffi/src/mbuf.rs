//! Owned packet buffers and fixed-size bursts of them.
//!
//! An [`Mbuf`] owns one `rte_mbuf` and frees it on drop, so a packet can only leave a worker by being
//! transmitted or dropped. A [`Burst`] is a fixed array of them for rx/tx calls: no allocation.

use std::ptr::NonNull;

use crate::port::PortId;
use crate::raw;

/// The largest burst the safe layer handles.
pub const BURST_MAX: usize = 64;

/// One owned, single- or multi-segment packet buffer.
#[repr(transparent)]
pub struct Mbuf(NonNull<raw::rte_mbuf>);

// SAFETY: an Mbuf is uniquely owned; mbufs are handed between lcores routinely in DPDK.
unsafe impl Send for Mbuf {}

impl Mbuf {
    pub(crate) fn from_nonnull(p: NonNull<raw::rte_mbuf>) -> Mbuf {
        Mbuf(p)
    }

    fn m(&self) -> &raw::rte_mbuf {
        // SAFETY: self.0 points to a live mbuf we own for as long as self lives.
        unsafe { self.0.as_ref() }
    }

    fn m_mut(&mut self) -> &mut raw::rte_mbuf {
        // SAFETY: as in m(); &mut self guarantees exclusivity.
        unsafe { self.0.as_mut() }
    }

    /// Number of segments in the chain.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.m().nb_segs
    }

    /// Total packet length over all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.m().pkt_len
    }

    /// The first segment's data.
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.m();
        // SAFETY: buf_addr+data_off .. +data_len lies inside the mbuf's buffer, which lives as long as self.
        unsafe { std::slice::from_raw_parts((m.buf_addr as *const u8).add(m.data_off as usize), m.data_len as usize) }
    }

    /// The whole first-segment buffer (headroom, data and tailroom) with the data's offset and length in it.
    /// Pair with [`Mbuf::set_data_range`] after moving the start (prepend/adjust) or the end.
    #[inline]
    pub fn buffer_mut(&mut self) -> (&mut [u8], usize, usize) {
        let m = self.m_mut();
        let (off, len, cap) = (m.data_off as usize, m.data_len as usize, m.buf_len as usize);
        // SAFETY: buf_addr .. buf_addr+buf_len is the mbuf's buffer, exclusively ours through &mut self.
        let buf = unsafe { std::slice::from_raw_parts_mut(m.buf_addr as *mut u8, cap) };
        (buf, off, len)
    }

    /// Moves a single-segment mbuf's data window to `off..off+len` of its buffer. Returns false (and
    /// changes nothing) if the window does not fit or the mbuf has several segments.
    #[inline]
    pub fn set_data_range(&mut self, off: usize, len: usize) -> bool {
        let m = self.m_mut();
        if m.nb_segs != 1 || off.checked_add(len).is_none_or(|end| end > m.buf_len as usize) || len > u16::MAX as usize
        {
            return false;
        }
        m.data_off = off as u16;
        m.data_len = len as u16;
        m.pkt_len = len as u32;
        true
    }

    /// Grows the data by `len` bytes at the tail and returns them for the caller to fill (their previous
    /// contents are unspecified), or None if there is no tailroom. Used when building packets from scratch.
    pub fn append(&mut self, len: u16) -> Option<&mut [u8]> {
        // SAFETY: self.0 is a live mbuf we own; rte_pktmbuf_append checks tailroom and returns NULL if short.
        let p = unsafe { raw::sluice_pktmbuf_append(self.0.as_ptr(), len) };
        if p.is_null() {
            return None;
        }
        // SAFETY: p points to len bytes inside our mbuf's buffer, valid while &mut self lives.
        Some(unsafe { std::slice::from_raw_parts_mut(p as *mut u8, len as usize) })
    }

    /// The port the packet arrived on.
    #[inline]
    pub fn port(&self) -> u16 {
        self.m().port
    }

    /// Prefetches the first cache line of packet data.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        #[cfg(target_arch = "x86_64")]
        {
            let m = self.m();
            // SAFETY: prefetch is a hint and never faults, even on an invalid address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (m.buf_addr as *const i8).add(m.data_off as usize),
                )
            };
        }
    }

    fn into_raw(self) -> *mut raw::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (chain) and free it exactly once.
        unsafe { raw::sluice_pktmbuf_free(self.0.as_ptr()) };
    }
}

/// A fixed-capacity array of owned mbufs for rx and tx bursts. Whatever is left in it when it drops is freed.
pub struct Burst {
    pkts: [*mut raw::rte_mbuf; BURST_MAX],
    len: usize,
    cap: usize,
}

// SAFETY: a Burst exclusively owns the mbufs it holds.
unsafe impl Send for Burst {}

/// What a transmit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Packets the driver took.
    pub sent: u16,
    /// Packets it did not take; they were freed.
    pub dropped: u16,
}

impl Burst {
    /// An empty burst of at most `cap` packets (clamped to 1..=[`BURST_MAX`]).
    pub fn new(cap: usize) -> Burst {
        Burst { pkts: [std::ptr::null_mut(); BURST_MAX], len: 0, cap: cap.clamp(1, BURST_MAX) }
    }

    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == self.cap
    }

    /// Receives up to the free capacity from `port`/`queue`; returns how many arrived.
    #[inline]
    pub fn rx(&mut self, port: PortId, queue: u16) -> usize {
        let room = (self.cap - self.len) as u16;
        // SAFETY: pkts[len..len+room] is writable storage for room pointers; the driver writes at most room.
        let n = unsafe { raw::sluice_rx_burst(port.0, queue, self.pkts.as_mut_ptr().add(self.len), room) } as usize;
        self.len += n;
        n
    }

    /// Adds a packet; hands it back if the burst is full.
    #[inline]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == self.cap {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes every packet out, in order, leaving the burst empty.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let len = self.len;
        self.len = 0;
        Drain { burst: self, next: 0, len }
    }

    /// Transmits everything on `port`/`queue`; frees what the driver did not take. The burst ends empty.
    #[inline]
    pub fn tx(&mut self, port: PortId, queue: u16) -> TxOutcome {
        if self.len == 0 {
            return TxOutcome::default();
        }
        // SAFETY: pkts[..len] are mbufs we own; the driver takes ownership of the first `sent`.
        let sent = unsafe { raw::sluice_tx_burst(port.0, queue, self.pkts.as_mut_ptr(), self.len as u16) } as usize;
        let dropped = self.len - sent;
        if dropped > 0 {
            // SAFETY: pkts[sent..len] were not taken by the driver and are still ours; free them once.
            unsafe { raw::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr().add(sent), dropped as u32) };
        }
        self.len = 0;
        TxOutcome { sent: sent as u16, dropped: dropped as u16 }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        if self.len > 0 {
            // SAFETY: pkts[..len] are mbufs we own; freed once.
            unsafe { raw::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }
}

/// Iterator returned by [`Burst::drain`]. Packets not iterated are freed when it drops.
pub struct Drain<'a> {
    burst: &'a mut Burst,
    next: usize,
    len: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;
    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.len {
            return None;
        }
        let p = self.burst.pkts[self.next];
        self.next += 1;
        Some(Mbuf(NonNull::new(p).expect("burst slots are non-null")))
    }
}

impl Drain<'_> {
    /// Prefetches the data of the packet `ahead` places after the next one to be yielded.
    #[inline(always)]
    pub fn prefetch_ahead(&self, ahead: usize) {
        let i = self.next + ahead;
        if i < self.len {
            let m =
                std::mem::ManuallyDrop::new(Mbuf(NonNull::new(self.burst.pkts[i]).expect("burst slots are non-null")));
            m.prefetch_data();
        }
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for _ in self.by_ref() {}
    }
}
