//! An IPv4 or IPv6 header, for writers that serve both families alike.

use super::ethernet::ethertype;
use super::parse::Addr;
use super::{ipv4, ipv6, Error, ErrorKind, Layer};

/// An IPv4 or IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repr {
    /// An IPv4 header.
    V4(ipv4::Repr),
    /// An IPv6 fixed header.
    V6(ipv6::Repr),
}

impl Repr {
    /// A header from `src` to `dst` (both of `src`'s family) carrying `payload_len` bytes of `protocol`,
    /// with `hop_limit` as its TTL or hop limit: otherwise as sluice writes them (IPv4: TOS 0,
    /// identification 0, DF clear; IPv6: traffic class 0, flow label 0).
    pub fn new(src: Addr, dst: Addr, protocol: u8, payload_len: usize, hop_limit: u8) -> Repr {
        if src.v6 {
            Repr::V6(ipv6::Repr::new(src.bytes, dst.bytes, protocol, payload_len, hop_limit))
        } else {
            Repr::V4(ipv4::Repr::new(src.v4_bytes(), dst.v4_bytes(), protocol, payload_len, hop_limit))
        }
    }

    /// Reads an IPv4 or IPv6 header, by the version in its first byte (see [`ipv4::Repr::parse`] and
    /// [`ipv6::Repr::parse`]).
    pub fn parse(packet: &[u8]) -> Result<Repr, Error> {
        match packet.first().map(|b| b >> 4) {
            Some(4) => Ok(Repr::V4(ipv4::Repr::parse(&ipv4::Packet::new_checked(packet)?)?)),
            Some(6) => Ok(Repr::V6(ipv6::Repr::parse(&ipv6::Packet::new_checked(packet)?)?)),
            Some(v) => Err(Error::new(Layer::Ipv4, ErrorKind::BadVersion, 4, v as usize)),
            None => Err(Error::truncated(Layer::Ipv4, ipv4::MIN_HEADER_LEN, 0)),
        }
    }

    /// Source address.
    pub fn src(&self) -> Addr {
        match self {
            Repr::V4(r) => Addr::v4(r.src),
            Repr::V6(r) => Addr::v6(r.src),
        }
    }

    /// Destination address.
    pub fn dst(&self) -> Addr {
        match self {
            Repr::V4(r) => Addr::v4(r.dst),
            Repr::V6(r) => Addr::v6(r.dst),
        }
    }

    /// The ethertype of a frame carrying this packet.
    pub const fn ethertype(&self) -> u16 {
        match self {
            Repr::V4(_) => ethertype::IPV4,
            Repr::V6(_) => ethertype::IPV6,
        }
    }

    /// Bytes of the header.
    pub const fn header_len(&self) -> usize {
        match self {
            Repr::V4(r) => r.header_len(),
            Repr::V6(r) => r.header_len(),
        }
    }

    /// Bytes of the packet: header and payload.
    pub const fn buffer_len(&self) -> usize {
        match self {
            Repr::V4(r) => r.buffer_len(),
            Repr::V6(r) => r.buffer_len(),
        }
    }

    /// Writes the header (an IPv4 one with its checksum) into the first [`Repr::header_len`] bytes of
    /// `buffer` (the payload after it is the caller's).
    #[inline]
    pub fn emit(&self, buffer: &mut [u8]) {
        match self {
            Repr::V4(r) => r.emit(&mut ipv4::Packet::new_unchecked(buffer)),
            Repr::V6(r) => r.emit(&mut ipv6::Packet::new_unchecked(buffer)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_families_round_trip() {
        let v4 = Repr::new(Addr::v4([192, 0, 2, 1]), Addr::v4([192, 0, 2, 7]), 1, 36, 64);
        let v6 = Repr::new(
            Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
            Addr::v6([0xff; 16]),
            58,
            48,
            64,
        );
        for (r, hl, ty) in [(v4, 20, ethertype::IPV4), (v6, 40, ethertype::IPV6)] {
            assert_eq!((r.header_len(), r.ethertype()), (hl, ty));
            let mut b = vec![0u8; r.buffer_len()];
            r.emit(&mut b);
            assert_eq!(Repr::parse(&b).unwrap(), r);
            assert_eq!(Repr::parse(&b).unwrap().src(), r.src());
        }
        // The IPv4 header sluice's fragmentation-needed goes out under (see `icmp`'s vectors).
        let mut b = vec![0u8; 56];
        v4.emit(&mut b);
        let hdr = [0x45, 0, 0, 0x38, 0, 0, 0, 0, 0x40, 1, 0xf6, 0xbc, 192, 0, 2, 1, 192, 0, 2, 7];
        assert_eq!(b[..20], hdr);
        assert_eq!(Repr::parse(&[0x50]).unwrap_err().kind, ErrorKind::BadVersion);
        assert_eq!(Repr::parse(&[]).unwrap_err().kind, ErrorKind::Truncated);
    }
}
