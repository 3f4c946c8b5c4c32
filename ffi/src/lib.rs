//! `dpdk-sys`: bindings to the system's DPDK 22.11 and a thin safe layer over them.
//!
//! * [`raw`] is what bindgen generates from the installed headers plus the C shim (`shim/shim.c`) that
//!   forwards DPDK's static-inline fast-path functions (rx/tx burst, mbuf alloc/free, ring burst, rte_errno,
//!   lcore id, TSC, rte_softrss).
//! * The other modules are the safe API the rest of sluice uses: EAL start and lcore launch ([`eal`]),
//!   packet-buffer pools ([`mempool`]), owned mbufs and bursts ([`mbuf`]), ports and queues ([`port`]),
//!   telemetry commands ([`telemetry`]), DPDK's own Toeplitz for cross-checking ([`thash`]),
//!   and huge-page-backed tables for the workers ([`hugebuf`]).
//!
//! Every `unsafe` block in sluice lives in this crate and carries a `// SAFETY:` line.

#[allow(
    non_upper_case_globals,
    non_camel_case_types,
    non_snake_case,
    dead_code,
    improper_ctypes,
    clippy::all,
    clippy::pedantic
)]
pub mod raw {
    include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
}

pub mod eal;
pub mod error;
pub mod hugebuf;
pub mod lcore;
pub mod mbuf;
pub mod mempool;
pub mod port;
pub mod telemetry;
pub mod thash;

pub use error::{Error, Result};
pub use hugebuf::HugeBuf;
pub use lcore::{LcoreId, SocketId};
pub use mbuf::{Burst, Mbuf, BURST_MAX};
pub use mempool::Mempool;
pub use port::{PortConf, PortId, PortInfo, PortStats};
