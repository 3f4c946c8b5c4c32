//! sluice's dataplane: packet views ([`wire`]), hashing ([`hash`]), the per-packet decision ([`pipeline`]),
//! and the poll-mode workers that run it on DPDK ports ([`worker`]).

#![forbid(unsafe_code)]

pub mod affinity;
pub mod app;
mod counters;
pub mod flows;
pub mod hash;
pub mod health;
pub mod log;
pub mod metrics;
pub mod pipeline;
pub mod portal;
pub mod report;
pub mod reset;
pub mod stats;
pub mod wire;
pub mod worker;
