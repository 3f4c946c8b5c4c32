//! Logical cores, sockets and the time-stamp counter.

use crate::raw;

/// A DPDK logical core id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LcoreId(pub u32);

/// A NUMA socket id (`SOCKET_ID_ANY` is -1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SocketId(pub i32);

impl SocketId {
    pub const ANY: SocketId = SocketId(-1);
}

impl LcoreId {
    /// The lcore the calling thread runs on (`u32::MAX` outside EAL threads).
    pub fn current() -> LcoreId {
        // SAFETY: reads a thread-local; no preconditions.
        LcoreId(unsafe { raw::sluice_lcore_id() })
    }

    /// The socket this lcore sits on.
    pub fn socket(self) -> SocketId {
        // SAFETY: rte_lcore_to_socket_id only indexes EAL's lcore table; ids out of range return 0.
        SocketId(unsafe { raw::rte_lcore_to_socket_id(self.0) } as i32)
    }
}

/// The main lcore (the one that called `rte_eal_init`).
pub fn main_lcore() -> LcoreId {
    // SAFETY: reads EAL's configuration; valid after init.
    LcoreId(unsafe { raw::rte_get_main_lcore() })
}

/// Every enabled lcore except the main one, in id order.
pub fn worker_lcores() -> Vec<LcoreId> {
    let mut out = Vec::new();
    // SAFETY: rte_get_next_lcore walks EAL's lcore table; start at -1 (u32::MAX), skip main, no wrap.
    let mut id = unsafe { raw::rte_get_next_lcore(u32::MAX, 1, 0) };
    while id < raw::RTE_MAX_LCORE {
        out.push(LcoreId(id));
        // SAFETY: as above.
        id = unsafe { raw::rte_get_next_lcore(id, 1, 0) };
    }
    out
}

/// The time-stamp counter.
#[inline(always)]
pub fn rdtsc() -> u64 {
    // SAFETY: reads the TSC; no preconditions.
    unsafe { raw::sluice_rdtsc() }
}

/// TSC ticks per second as EAL measured them.
pub fn tsc_hz() -> u64 {
    // SAFETY: reads EAL's calibrated value.
    unsafe { raw::sluice_tsc_hz() }
}
