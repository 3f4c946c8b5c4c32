//! Zero-copy packet views (smoltcp style): `new_checked` validates lengths once, after which no accessor
//! can panic; setters exist only over mutable buffers; each file carries its own test vectors.
//!
//! [`classify`](crate::wire::parse::classify) walks a whole frame (Ethernet, VLAN/QinQ, ARP, IPv4 with
//! options and fragments, IPv6 with extension headers and fragments, TCP, UDP, ICMP/ICMPv6 including the
//! header embedded in ICMP errors) into offsets and a few fields, without copying.

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod parse;
pub mod tcp;
pub mod udp;

/// Where in the stack a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Ethernet,
    Vlan,
    Arp,
    Ipv4,
    Ipv6,
    Ipv6Extension,
    Tcp,
    Udp,
    Icmp,
}

/// What was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The buffer ends before the header does.
    Truncated,
    /// A version field is not what the ethertype promised.
    BadVersion,
    /// A header-length field is below the minimum or beyond the buffer.
    BadHeaderLength,
    /// A total/payload-length field disagrees with the buffer.
    BadTotalLength,
    /// More nested headers (VLAN tags, IPv6 extension headers) than sluice walks.
    TooManyHeaders,
    /// A field value sluice does not handle (e.g. ARP over something other than Ethernet/IPv4).
    Unsupported,
}

/// A parse error with the lengths involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    pub layer: Layer,
    pub kind: ErrorKind,
    /// Bytes the header needed (or the offset where the problem is).
    pub need: usize,
    /// Bytes there were.
    pub have: usize,
}

impl Error {
    pub fn new(layer: Layer, kind: ErrorKind, need: usize, have: usize) -> Error {
        Error { layer, kind, need, have }
    }
    pub fn truncated(layer: Layer, need: usize, have: usize) -> Error {
        Error::new(layer, ErrorKind::Truncated, need, have)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {:?} (need {}, have {})", self.layer, self.kind, self.need, self.have)
    }
}

impl std::error::Error for Error {}

/// Reads a big-endian u16 at `off` (callers have checked the length).
#[inline(always)]
pub(crate) fn be16(b: &[u8], off: usize) -> u16 {
    u16::from_be_bytes([b[off], b[off + 1]])
}

/// Reads a big-endian u32 at `off` (callers have checked the length).
#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}
