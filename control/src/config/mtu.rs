//! Port MTUs and the mbuf data room they call for.

use super::Config;

/// The largest port MTU a configuration may ask for (the device may allow less, which start-up reports).
pub const MAX_MTU: u16 = 16_000;
/// Bytes an mbuf holds in front of a frame: room for an outer IP header (IP-in-IP) and more.
pub const MBUF_HEADROOM: u16 = 128;
/// Ethernet header, two VLAN tags and the CRC around a port's largest IP packet.
pub const FRAME_OVERHEAD: u16 = 14 + 8 + 4;

impl Config {
    /// Data room per mbuf, headroom included: `dataplane.mbuf_size`, raised to hold the largest port
    /// MTU's frame in one segment (rounded up to 64 bytes).
    pub fn mbuf_data_room(&self) -> u16 {
        let largest = self.ports.iter().map(|p| p.mtu).max().unwrap_or(1500).min(MAX_MTU);
        let needed = (MBUF_HEADROOM + largest + FRAME_OVERHEAD).div_ceil(64) * 64;
        self.dataplane.mbuf_size.max(needed)
    }
}
