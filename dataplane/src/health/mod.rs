//! Health checks on the wire: the probes the control core asks for (TCP SYN to the service port, ICMP
//! echo, ARP request), written from the node port's own address, and the recognition of their answers
//! on the node side, which the worker hands back to the control core.
//!
//! A TCP probe's sequence number is its token and its source port is in [`SPORT_BASE`]`..+`[`SPORT_SPAN`];
//! the node's SYN-ACK (healthy) is answered with a RST at its ack so no half-open connection stays behind;
//! its RST (nothing listens) is a failure. An echo's sequence number carries the token's low 16 bits.
//!
//! - [`probe`]: the probe frames, written on the control lcore;
//! - [`hook`]: the pipeline's recognition of answers, per packet on a worker;
//! - [`worker`]: worker 0 sends the queued probes between bursts.
//!
//! The control loop's side (timeouts, state changes, the tables they rebuild) is `app::control::health`,
//! over the state machine in `sluice_control::health`.

pub(crate) mod hook;
pub mod probe;
pub(crate) mod worker;

use crate::wire::parse::Addr;

pub use probe::write_probe;

/// TCP probes leave from source ports `SPORT_BASE..SPORT_BASE + SPORT_SPAN`.
pub const SPORT_BASE: u16 = 61000;
pub const SPORT_SPAN: u16 = 4096;
/// The ICMP echo identifier of health probes.
pub const ICMP_ID: u16 = 0x5c1e;
/// Room for the largest probe (IPv6 + TCP).
pub const PROBE_MAX: usize = 96;

/// What kind of check an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Icmp,
    Arp,
}

/// An answer to a health probe, from the node at `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub from: Addr,
    pub kind: Kind,
    /// The probe's token (TCP: all 32 bits; ICMP: the low 16); None for ARP.
    pub token: Option<u32>,
    pub ok: bool,
}

/// A probe frame for a worker to send out of `port`.
#[derive(Clone, Copy)]
pub struct Probe {
    pub port: u16,
    pub len: u16,
    pub frame: [u8; PROBE_MAX],
}

/// Answers a worker saw since it last handed them over (bounded; the rest are counted as lost).
#[derive(Default)]
pub struct Inbox {
    items: [Option<Answer>; 32],
    n: usize,
    pub lost: u64,
}

impl Inbox {
    fn push(&mut self, a: Answer) {
        match self.items.get_mut(self.n) {
            Some(slot) => {
                *slot = Some(a);
                self.n += 1;
            }
            None => self.lost += 1,
        }
    }

    /// Takes every answer out.
    pub fn drain(&mut self) -> impl Iterator<Item = Answer> + '_ {
        let n = std::mem::take(&mut self.n);
        self.items[..n].iter_mut().filter_map(Option::take)
    }
}
