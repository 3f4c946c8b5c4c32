//! The iSCSI portal on a VIP: the appliance itself answers iSCSI discovery and login on a portal VIP's
//! portal port, and sends each login to the controller VM that should serve it ("target moved
//! temporarily", with the CVM's own portal as TargetAddress). Clients then reach that CVM's portal (its
//! node address, the same port) through the appliance, which forwards it to that node by address alone.
//!
//! TCP ends at the appliance in a small stack of its own (smoltcp), on a thread of its own, fed by the
//! workers through bounded queues: the control loop never waits on it, and a worker never blocks on it.
//!
//! - [`hook`]: the pipeline's part, per packet (to the portal; to and from a CVM's portal);
//! - [`worker`]: worker 0 sends the portal's packets out of the client port, between bursts;
//! - [`stack`]: the portal thread (the TCP stack over the queues, connections and their limits);
//! - [`session`]: one connection's iSCSI conversation (login, SendTargets, logout), bytes in, bytes out;
//! - [`place`]: which CVM a login goes to, a pure function of the published context;
//! - [`iscsi`]: the PDUs.

pub(crate) mod hook;
pub mod iscsi;
pub mod place;
pub mod session;
pub mod stack;
pub(crate) mod worker;

/// The largest IP packet between the workers and the portal (the portal's MTU).
pub const PACKET_MAX: usize = 1500;
/// IP packets in flight each way between the workers and the portal.
pub const QUEUE: usize = 1024;

/// An IP packet between the workers and the portal's stack.
#[derive(Clone, Copy)]
pub struct PortalPacket {
    pub len: u16,
    pub data: [u8; PACKET_MAX],
}

impl PortalPacket {
    /// A copy of `ip` (at most [`PACKET_MAX`] bytes; the pipeline lets no longer one through).
    pub fn copy_of(ip: &[u8]) -> PortalPacket {
        let len = ip.len().min(PACKET_MAX);
        let mut data = [0u8; PACKET_MAX];
        data[..len].copy_from_slice(&ip[..len]);
        PortalPacket { len: len as u16, data }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len as usize]
    }
}
