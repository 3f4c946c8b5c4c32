//! sluice's dataplane: packet views ([`wire`]), hashing ([`hash`]), the per-packet decision ([`pipeline`]),
//! and the poll-mode workers that run it on DPDK ports ([`worker`]).

pub mod hash;
pub mod pipeline;
pub mod wire;
