//! Zero-copy packet views and their high-level representations, in the style of smoltcp's `wire`.
//!
//! Each header has a `field` module naming its byte ranges, and a view, `Packet<T: AsRef<[u8]>>` (or
//! `Frame` for Ethernet), over a buffer that starts with it:
//!
//! - `new_checked` validates lengths (and version, header-length and length fields) once, after which
//!   no accessor of what it checked can panic (an accessor of a type-specific part, such as a neighbour
//!   discovery target, says what length it needs); `new_unchecked` skips the checks, for emitting into
//!   a buffer the caller has sized (there an accessor past the buffer's end panics);
//! - getters read one field each; setters, over `T: AsRef<[u8]> + AsMut<[u8]>`, write one field each
//!   and nothing else. A method that keeps a checksum right says so in its name (`update_ttl`,
//!   `update_type`, `fill_checksum`).
//!
//! The headers sluice writes have a `Repr`: the header's meaning as plain values. `Repr::parse` reads
//! one from a checked view (and refuses what it cannot represent, or a checksum that does not verify),
//! `header_len`/`buffer_len` say how many bytes it takes, and `emit` writes it into a view, checksums
//! included. A payload (TCP data, echo data, the packet an ICMP error quotes) is not part of a `Repr`:
//! it is written into the buffer in place, before `emit`, whose checksum covers it; a `Repr` knows only
//! its length. TCP and ICMPv6 checksums cover a pseudo-header, whose addresses `parse` and `emit` take.
//!
//! Each file carries its own test vectors: fixed bytes of real packets, each checked against the view's
//! getters and the `Repr` parsed from it, and reproduced exactly by emitting that `Repr`.
//!
//! [`classify`](crate::wire::parse::classify) walks a whole frame (Ethernet, VLAN/QinQ, ARP, IPv4 with
//! options and fragments, IPv6 with extension headers and fragments, TCP, UDP, ICMP/ICMPv6 including the
//! header embedded in ICMP errors) into offsets and a few fields, without copying.

#![warn(missing_docs)]

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod icmp;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod parse;
pub mod tcp;
pub mod udp;

/// Where in the stack a problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// The Ethernet header.
    Ethernet,
    /// A VLAN tag (802.1Q or QinQ).
    Vlan,
    /// An ARP packet.
    Arp,
    /// An IPv4 header.
    Ipv4,
    /// An IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// A TCP header.
    Tcp,
    /// A UDP header.
    Udp,
    /// An ICMP or ICMPv6 message.
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
    /// A field value sluice does not handle (e.g. ARP over something other than Ethernet/IPv4), or a
    /// header a `Repr` cannot represent (IPv4 options, a fragment, an ICMP type sluice does not write).
    Unsupported,
    /// A checksum that does not verify.
    BadChecksum,
}

/// A parse error with the lengths involved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Error {
    /// The header the problem is in.
    pub layer: Layer,
    /// What the problem is.
    pub kind: ErrorKind,
    /// Bytes the header needed (or the offset where the problem is).
    pub need: usize,
    /// Bytes there were.
    pub have: usize,
}

impl Error {
    /// An error of `kind` in `layer`, with the lengths (or offset) involved.
    pub fn new(layer: Layer, kind: ErrorKind, need: usize, have: usize) -> Error {
        Error { layer, kind, need, have }
    }
    /// A header that needed `need` bytes where the buffer had `have`.
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

/// Reads a big-endian u32 at `off` (callers have checked the length).
#[inline(always)]
pub(crate) fn be32(b: &[u8], off: usize) -> u32 {
    u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// Reads a big-endian u16 from a field (the first two bytes of `f`).
#[inline(always)]
fn read16(f: &[u8]) -> u16 {
    u16::from_be_bytes([f[0], f[1]])
}

/// Reads a big-endian u32 from a field (the first four bytes of `f`).
#[inline(always)]
fn read32(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[0], f[1], f[2], f[3]])
}

/// Writes a big-endian u16 into a two-byte field.
#[inline(always)]
fn write16(f: &mut [u8], v: u16) {
    f.copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 into a four-byte field.
#[inline(always)]
fn write32(f: &mut [u8], v: u32) {
    f.copy_from_slice(&v.to_be_bytes());
}
