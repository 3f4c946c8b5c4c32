//! IPv6 fixed headers and the extension-header chain (RFC 8200), fragments included.

use super::{read16, read32, write16, write32, Error, ErrorKind, Layer};

/// Bytes of the fixed header.
pub const HEADER_LEN: usize = 40;
/// Most extension headers walked before the packet is refused (no legitimate packet needs more).
pub const MAX_EXTENSIONS: usize = 8;

/// Next-header values of the extension headers sluice walks or stops at.
pub mod next_header {
    /// Hop-by-hop options.
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing.
    pub const ROUTING: u8 = 43;
    /// Fragment.
    pub const FRAGMENT: u8 = 44;
    /// Encapsulating security payload (not walked).
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AUTH: u8 = 51;
    /// No next header.
    pub const NO_NEXT: u8 = 59;
    /// Destination options.
    pub const DEST_OPTS: u8 = 60;
    /// Mobility.
    pub const MOBILITY: u8 = 135;
}

/// Byte ranges of the IPv6 fixed header, and of extension headers relative to their start.
pub mod field {
    use std::ops::Range;
    /// Version (4 bits), traffic class (8 bits) and flow label (20 bits).
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    /// Payload length: bytes after the fixed header, extension headers included.
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    /// The first next header (an extension header or the upper layer).
    pub const NEXT_HEADER: usize = 6;
    /// Hop limit.
    pub const HOP_LIMIT: usize = 7;
    /// Source address.
    pub const SRC: Range<usize> = 8..24;
    /// Destination address.
    pub const DST: Range<usize> = 24..40;
    /// An extension header's next header.
    pub const EXT_NEXT_HEADER: usize = 0;
    /// An extension header's length (in 8-byte units beyond the first 8; in 4-byte units less 2 for AH).
    pub const EXT_LEN: usize = 1;
    /// A fragment header's offset (high 13 bits, in 8-byte units) and more-fragments flag (low bit).
    pub const FRAG_OFFSET_FLAGS: Range<usize> = 2..4;
    /// A fragment header's identification.
    pub const FRAG_IDENT: Range<usize> = 4..8;
    /// Bytes of a fragment header.
    pub const FRAG_LEN: usize = 8;
}

/// A view of an IPv6 packet at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer holds at least [`HEADER_LEN`] bytes).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks version and that the payload length fits in the buffer (trailing padding allowed).
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated(Layer::Ipv6, HEADER_LEN, b.len()));
        }
        let p = Packet { buffer };
        let have = p.buffer.as_ref().len();
        if p.version() != 6 {
            return Err(Error::new(Layer::Ipv6, ErrorKind::BadVersion, 6, p.version() as usize));
        }
        let total = p.total_len();
        if total > have {
            return Err(Error::new(Layer::Ipv6, ErrorKind::BadTotalLength, total, have));
        }
        Ok(p)
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        read32(&self.buffer.as_ref()[field::VER_TC_FLOW])
    }
    /// The version (6 in a checked packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_TC_FLOW.start] >> 4
    }
    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }
    /// Flow label.
    pub fn flow_label(&self) -> u32 {
        self.first_word() & 0x000f_ffff
    }
    /// Payload length: bytes after the fixed header.
    pub fn payload_len(&self) -> usize {
        read16(&self.buffer.as_ref()[field::PAYLOAD_LEN]) as usize
    }
    /// Bytes of the packet: the fixed header and its payload.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len()
    }
    /// The first next header.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }
    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    /// Source address.
    pub fn src(&self) -> [u8; 16] {
        self.buffer.as_ref()[field::SRC].try_into().expect("16")
    }
    /// Destination address.
    pub fn dst(&self) -> [u8; 16] {
        self.buffer.as_ref()[field::DST].try_into().expect("16")
    }
    /// The payload (up to the payload length): extension headers and the upper layer.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_first_word(&mut self, w: u32) {
        write32(&mut self.buffer.as_mut()[field::VER_TC_FLOW], w);
    }
    /// Sets the version, keeping traffic class and flow label.
    pub fn set_version(&mut self, v: u8) {
        let w = self.first_word();
        self.set_first_word(((v as u32) << 28) | (w & 0x0fff_ffff));
    }
    /// Sets the traffic class, keeping version and flow label.
    pub fn set_traffic_class(&mut self, tc: u8) {
        let w = self.first_word();
        self.set_first_word((w & 0xf00f_ffff) | ((tc as u32) << 20));
    }
    /// Sets the flow label (its low 20 bits), keeping version and traffic class.
    pub fn set_flow_label(&mut self, label: u32) {
        let w = self.first_word();
        self.set_first_word((w & 0xfff0_0000) | (label & 0x000f_ffff));
    }
    /// Sets the payload length.
    pub fn set_payload_len(&mut self, len: u16) {
        write16(&mut self.buffer.as_mut()[field::PAYLOAD_LEN], len);
    }
    /// Sets the first next header.
    pub fn set_next_header(&mut self, nh: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = nh;
    }
    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, h: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = h;
    }
    /// Sets the source address.
    pub fn set_src(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }
    /// Sets the destination address.
    pub fn set_dst(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }
    /// Swaps source and destination (an upper-layer checksum is unchanged: the pseudo-header sum commutes).
    pub fn swap_addresses(&mut self) {
        let (src, dst) = (self.src(), self.dst());
        self.set_src(dst);
        self.set_dst(src);
    }
    /// The payload (up to the payload length), to write into.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = self.total_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// An IPv6 fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
    /// The first next header (an extension header or the upper layer).
    pub next_header: u8,
    /// Bytes after the fixed header.
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
}

impl Repr {
    /// A header from `src` to `dst` carrying `payload_len` bytes of `next_header`: traffic class 0, flow
    /// label 0.
    pub fn new(src: [u8; 16], dst: [u8; 16], next_header: u8, payload_len: usize, hop_limit: u8) -> Repr {
        Repr { src, dst, next_header, payload_len, hop_limit, traffic_class: 0, flow_label: 0 }
    }

    /// Reads the fixed header of a checked packet (extension headers are payload here: see
    /// [`walk_extensions`]).
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        if packet.version() != 6 {
            return Err(Error::new(Layer::Ipv6, ErrorKind::BadVersion, 6, packet.version() as usize));
        }
        Ok(Repr {
            src: packet.src(),
            dst: packet.dst(),
            next_header: packet.next_header(),
            payload_len: packet.payload_len(),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Bytes of the fixed header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Bytes of the packet: fixed header and payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes the fixed header into the first [`HEADER_LEN`] bytes of `packet` (the payload after it is
    /// the caller's).
    #[inline(always)]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = packet.buffer.as_mut();
        // One bounds check for the whole header.
        let h: &mut [u8; HEADER_LEN] = (&mut b[..HEADER_LEN]).try_into().expect("40 bytes");
        let w = (6u32 << 28) | ((self.traffic_class as u32) << 20) | (self.flow_label & 0x000f_ffff);
        write32(&mut h[field::VER_TC_FLOW], w);
        write16(&mut h[field::PAYLOAD_LEN], self.payload_len as u16);
        h[field::NEXT_HEADER] = self.next_header;
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC].copy_from_slice(&self.src);
        h[field::DST].copy_from_slice(&self.dst);
    }
}

/// Fragment header contents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset in bytes.
    pub offset: usize,
    /// More fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

/// Where the upper layer starts after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upper {
    /// The upper-layer protocol (or the first header not walked, such as ESP or No Next Header).
    pub protocol: u8,
    /// Offset of the upper-layer header from the start of the IPv6 header.
    pub offset: usize,
    /// The fragment header, where there is one.
    pub fragment: Option<Fragment>,
}

/// Walks the extension-header chain of `packet` (a checked IPv6 packet, up to its total length).
pub fn walk_extensions(packet: &[u8]) -> Result<Upper, Error> {
    let end = packet.len();
    let mut nh = packet[field::NEXT_HEADER];
    let mut off = HEADER_LEN;
    let mut fragment = None;
    for _ in 0..=MAX_EXTENSIONS {
        let len = match nh {
            next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTS | next_header::MOBILITY => {
                let h = packet.get(off..off + 2).ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + 2, end))?;
                (h[field::EXT_LEN] as usize + 1) * 8
            }
            next_header::AUTH => {
                let h = packet.get(off..off + 2).ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + 2, end))?;
                (h[field::EXT_LEN] as usize + 2) * 4
            }
            next_header::FRAGMENT => {
                let h = packet
                    .get(off..off + field::FRAG_LEN)
                    .ok_or_else(|| Error::truncated(Layer::Ipv6Extension, off + field::FRAG_LEN, end))?;
                let fo = read16(&h[field::FRAG_OFFSET_FLAGS]);
                fragment = Some(Fragment {
                    offset: ((fo >> 3) as usize) * 8,
                    more: fo & 1 == 1,
                    ident: read32(&h[field::FRAG_IDENT]),
                });
                field::FRAG_LEN
            }
            _ => return Ok(Upper { protocol: nh, offset: off, fragment }),
        };
        if off + len > end {
            return Err(Error::truncated(Layer::Ipv6Extension, off + len, end));
        }
        nh = packet[off + field::EXT_NEXT_HEADER];
        off += len;
        // After a non-first fragment's header the rest is not a header chain but data.
        if matches!(fragment, Some(f) if f.offset != 0) {
            return Ok(Upper { protocol: nh, offset: off, fragment });
        }
    }
    Err(Error::new(Layer::Ipv6Extension, ErrorKind::TooManyHeaders, MAX_EXTENSIONS, MAX_EXTENSIONS + 1))
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

    /// A node's SYN|ACK to a client, from 2001:db8:10::1 to 2001:db8:c::5: traffic class 0xb8 (EF), flow
    /// label 0x3b2a1, hop limit 64, 40 bytes of TCP.
    const SYN_ACK: [u8; 80] = [
        0x6b, 0x83, 0xb2, 0xa1, 0x00, 0x28, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x05, // TCP:
        0x0c, 0xbc, 0x9c, 0x41, 0x2c, 0x5e, 0x9f, 0x10, 0x9a, 0x3b, 0x11, 0x23, 0xa0, 0x12, 0xfd, 0x20, 0x1a, 0x18,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x7f, 0x12, 0x34, 0x56, 0x00, 0x01, 0x02, 0x03,
        0x01, 0x03, 0x03, 0x07,
    ];
    const VIP: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const CLIENT: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];

    fn syn_ack_repr() -> Repr {
        Repr {
            src: VIP,
            dst: CLIENT,
            next_header: 6,
            payload_len: 40,
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x3b2a1,
        }
    }

    #[test]
    fn syn_ack_deconstruct() {
        let p = Packet::new_checked(&SYN_ACK[..]).unwrap();
        assert_eq!((p.version(), p.traffic_class(), p.flow_label()), (6, 0xb8, 0x3b2a1));
        assert_eq!((p.payload_len(), p.total_len(), p.next_header(), p.hop_limit()), (40, 80, 6, 64));
        assert_eq!((p.src(), p.dst()), (VIP, CLIENT));
        assert_eq!(p.payload(), &SYN_ACK[40..]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, syn_ack_repr());
        assert_eq!((r.header_len(), r.buffer_len()), (40, 80));
        assert_eq!(walk_extensions(&SYN_ACK).unwrap(), Upper { protocol: 6, offset: 40, fragment: None });
    }

    #[test]
    fn syn_ack_construct() {
        let mut b = [0u8; 80];
        b[40..].copy_from_slice(&SYN_ACK[40..]);
        syn_ack_repr().emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, SYN_ACK);
        // The same through the setters alone, in an order that checks each keeps its neighbours.
        let mut b = [0u8; 80];
        b[40..].copy_from_slice(&SYN_ACK[40..]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_flow_label(0xfff3_b2a1);
        p.set_traffic_class(0xb8);
        p.set_version(6);
        p.set_payload_len(40);
        p.set_next_header(6);
        p.set_hop_limit(64);
        p.set_src(CLIENT);
        p.set_dst(VIP);
        p.swap_addresses();
        assert_eq!(b, SYN_ACK);
    }

    #[test]
    fn new_has_sluice_defaults_and_bad_versions_are_refused() {
        let r = Repr::new(CLIENT, VIP, 4, 20, 64);
        assert_eq!((r.traffic_class, r.flow_label), (0, 0));
        let mut b = SYN_ACK;
        b[0] = 0x4b;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::BadVersion);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err().kind, ErrorKind::BadVersion);
    }
}
