//! IPv6 fixed headers and the extension-header chain (RFC 8200), fragments included.

use super::{be16, Error, ErrorKind, Layer};

pub const HEADER_LEN: usize = 40;
/// Most extension headers walked before the packet is refused (no legitimate packet needs more).
pub const MAX_EXTENSIONS: usize = 8;

pub mod next_header {
    pub const HOP_BY_HOP: u8 = 0;
    pub const ROUTING: u8 = 43;
    pub const FRAGMENT: u8 = 44;
    pub const ESP: u8 = 50;
    pub const AUTH: u8 = 51;
    pub const NO_NEXT: u8 = 59;
    pub const DEST_OPTS: u8 = 60;
    pub const MOBILITY: u8 = 135;
}

/// A view of an IPv6 packet at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version and that the payload length fits in the buffer (trailing padding allowed).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated(Layer::Ipv6, HEADER_LEN, b.len()));
        }
        if b[0] >> 4 != 6 {
            return Err(Error::new(Layer::Ipv6, ErrorKind::BadVersion, 6, (b[0] >> 4) as usize));
        }
        let total = HEADER_LEN + be16(b, 4) as usize;
        if total > b.len() {
            return Err(Error::new(Layer::Ipv6, ErrorKind::BadTotalLength, total, b.len()));
        }
        Ok(Packet { buffer })
    }

    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    pub fn payload_len(&self) -> usize {
        be16(self.buffer.as_ref(), 4) as usize
    }
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[6]
    }
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[7]
    }
    pub fn src(&self) -> [u8; 16] {
        self.buffer.as_ref()[8..24].try_into().expect("16")
    }
    pub fn dst(&self) -> [u8; 16] {
        self.buffer.as_ref()[24..40].try_into().expect("16")
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    pub fn swap_addresses(&mut self) {
        let b = self.buffer.as_mut();
        for i in 0..16 {
            b.swap(8 + i, 24 + i);
        }
    }
    pub fn set_src(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[8..24].copy_from_slice(&a);
    }
    pub fn set_dst(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[24..40].copy_from_slice(&a);
    }
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[7] = h;
    }
    pub fn set_payload_len(&mut self, len: u16) {
        self.buffer.as_mut()[4..6].copy_from_slice(&len.to_be_bytes());
    }
}

/// Fragment header contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset in bytes.
    pub offset: usize,
    pub more: bool,
    pub ident: u32,
}

/// Where the upper layer starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upper {
    /// The upper-layer protocol (or the first header not walked, such as ESP or No Next Header).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    pub fragment: Option<Fragment>,
}

/// Walks the extension-header chain of `packet` (a checked IPv6 packet, up to its total length).
pub fn walk_extensions(packet: &[u8]) -> Result<Upper, Error> {
    let end = packet.len();
    let mut nh = packet[6];
    let mut off = HEADER_LEN;
    let mut fragment = None;
    for _ in 0..=MAX_EXTENSIONS {
        let len = match nh {
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS | next_header::MOBILITY => {
                let h = packet.get(off..off + 2).ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + 2, end))?;
                (h[1] as usize + 1) * 8
            }
            next_header::AUTH => {
                let h = packet.get(off..off + 2).ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + 2, end))?;
                (h[1] as usize + 2) * 4
            }
            next_header::FRAGMENT => {
                let h = packet.get(off..off + 8).ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + 8, end))?;
                let fo = be16(h, 2);
                fragment = Some(Fragment {
                    offset: ((fo >> 3) as usize) * 8,
                    more: fo & 1 == 1,
                    ident: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
                });
                8
            }
            _ => return Ok(Upper { protocol: nh, offset: off, fragment }),
        };
        if off + len > end {
            return Err(Error::truncated(Layer::Ipv6Extension, off + len, end));
        }
        nh = packet[off];
        off += len;
        // After a non-first fragment's header the rest is not a header chain but data.
        if matches!(fragment, Some(f) if f.offset != 0) {
            return Ok(Upper { protocol: nh, offset: off, fragment });
        }
    }
    Err(Error::new(Layer::Ipv6Extension, ErrorKind::TooManyHeaders, MAX_EXTENSIONS, MAX_EXTENSIONS + 1))
}

/// Writes a 40-byte header into `buf[..40]`.
pub fn emit(
    buf: &mut [u8],
    src: [u8; 16],
    dst: [u8; 16],
    next: u8,
    payload_len: usize,
    hop_limit: u8,
    flow_label: u32,
) {
    let h = &mut buf[..HEADER_LEN];
    let w = (6u32 << 28) | (flow_label & 0x000f_ffff);
    h[0..4].copy_from_slice(&w.to_be_bytes());
    h[4..6].copy_from_slice(&(payload_len as u16).to_be_bytes());
    h[6] = next;
    h[7] = hop_limit;
    h[8..24].copy_from_slice(&src);
    h[24..40].copy_from_slice(&dst);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(next: u8, ext: &[u8], upper: usize) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((ext.len() + upper) as u16).to_be_bytes());
        p[6] = next;
        p[7] = 64;
        p.extend_from_slice(ext);
        p.resize(HEADER_LEN + ext.len() + upper, 0);
        p
    }

    #[test]
    fn plain_tcp() {
        let p = packet(6, &[], 20);
        let u = walk_extensions(&p).unwrap();
        assert_eq!((u.protocol, u.offset, u.fragment), (6, 40, None));
    }

    #[test]
    fn hop_by_hop_then_fragment() {
        let mut ext = vec![44, 0, 0, 0, 0, 0, 0, 0]; // hop-by-hop, 8 bytes, next = fragment
        ext.extend_from_slice(&[17, 0, 0x00, 0x01, 0, 0, 0x12, 0x34]); // first fragment, M=1
        let p = packet(0, &ext, 8);
        let u = walk_extensions(&p).unwrap();
        assert_eq!(u.protocol, 17);
        assert_eq!(u.offset, 56);
        assert_eq!(u.fragment, Some(Fragment { offset: 0, more: true, ident: 0x1234 }));
    }

    #[test]
    fn non_first_fragment_stops_the_walk() {
        let p = packet(44, &[6, 0, 0x05, 0x00, 0, 0, 0, 1], 16);
        let u = walk_extensions(&p).unwrap();
        assert_eq!(u.fragment.unwrap().offset, 1280);
        assert_eq!(u.protocol, 6);
    }

    #[test]
    fn extension_loop_is_refused() {
        // Each destination-options header names another as next: a chain longer than the limit.
        let mut ext = Vec::new();
        for _ in 0..(MAX_EXTENSIONS + 2) {
            ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        let p = packet(60, &ext, 0);
        assert_eq!(walk_extensions(&p).unwrap_err().kind, ErrorKind::TooManyHeaders);
    }

    #[test]
    fn truncated_chain() {
        let p = packet(0, &[6, 1, 0, 0, 0, 0, 0, 0], 0); // claims 16 bytes, has 8
        assert_eq!(walk_extensions(&p).unwrap_err().kind, ErrorKind::Truncated);
        let full = packet(6, &[], 20);
        for len in 0..HEADER_LEN {
            assert!(Packet::new_checked(&full[..len]).is_err());
        }
        assert_eq!(Packet::new_checked(&full[..50]).unwrap_err().kind, ErrorKind::BadTotalLength);
    }
}
