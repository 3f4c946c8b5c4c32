//! DPDK's own software Toeplitz (`rte_softrss`), used as a reference to check sluice's table-driven one.
//! It is bit-serial and slow: never use it on the per-packet path.

use crate::raw;

/// `rte_softrss` over `tuple` (host-order 32-bit words, as DPDK expects) with `key` (at least
/// `4 * tuple.len() + 4` bytes).
pub fn softrss(tuple: &[u32], key: &[u8]) -> u32 {
    assert!(key.len() >= tuple.len() * 4 + 4, "Toeplitz key too short for the tuple");
    // SAFETY: tuple has tuple.len() words and key is long enough for them (checked above); neither is written.
    unsafe { raw::sluice_softrss(tuple.as_ptr(), tuple.len() as u32, key.as_ptr()) }
}
