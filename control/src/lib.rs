//! sluice's control side: configuration, topology and Maglev table builds, the console protocol and the
//! counters report the appliance answers with. Pure Rust, no DPDK.

#![forbid(unsafe_code)]

pub mod affinity;
pub mod clidoc;
pub mod config;
pub mod console;
pub mod digest;
pub mod health;
pub mod maglev;
pub mod rendezvous;
pub mod report;
pub mod runtime;
pub mod topology;

pub use config::{Config, ConfigError};
pub use topology::Topology;
