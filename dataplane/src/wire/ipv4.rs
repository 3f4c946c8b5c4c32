//! IPv4 headers with options and fragments (RFC 791).

use super::{checksum, read16, write16, Error, ErrorKind, Layer};

/// Bytes of a header without options.
pub const MIN_HEADER_LEN: usize = 20;

/// Don't fragment, in the flags/fragment-offset word.
const DF: u16 = 0x4000;
/// More fragments, in the flags/fragment-offset word.
const MF: u16 = 0x2000;
/// The fragment offset (in 8-byte units) in the flags/fragment-offset word.
const OFFSET: u16 = 0x1fff;

/// Byte ranges of the IPv4 header.
pub mod field {
    use std::ops::Range;
    /// Version (high nibble) and header length in 32-bit words (low nibble).
    pub const VER_IHL: usize = 0;
    /// Type of service: DSCP (high six bits) and ECN.
    pub const TOS: usize = 1;
    /// Total length, header included.
    pub const LENGTH: Range<usize> = 2..4;
    /// Identification.
    pub const IDENT: Range<usize> = 4..6;
    /// Flags (reserved, DF, MF) and fragment offset in 8-byte units.
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    /// Time to live.
    pub const TTL: usize = 8;
    /// Upper-layer protocol.
    pub const PROTOCOL: usize = 9;
    /// Header checksum.
    pub const CHECKSUM: Range<usize> = 10..12;
    /// Source address.
    pub const SRC: Range<usize> = 12..16;
    /// Destination address.
    pub const DST: Range<usize> = 16..20;
}

/// A view of an IPv4 packet (header and payload) at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer holds at least the header).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks version, IHL (options included) and total length against the buffer. Bytes after the total
    /// length (Ethernet padding) are allowed and ignored.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::truncated(Layer::Ipv4, MIN_HEADER_LEN, b.len()));
        }
        let p = Packet { buffer };
        let have = p.buffer.as_ref().len();
        if p.version() != 4 {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadVersion, 4, p.version() as usize));
        }
        let ihl = p.header_len();
        if ihl < MIN_HEADER_LEN || ihl > have {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadHeaderLength, ihl, have));
        }
        let total = p.total_len();
        if total < ihl || total > have {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadTotalLength, total, have));
        }
        Ok(p)
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version (4 in a checked packet).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    /// Total length in bytes, header included.
    pub fn total_len(&self) -> usize {
        read16(&self.buffer.as_ref()[field::LENGTH]) as usize
    }
    /// Type of service (DSCP and ECN).
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    /// Identification.
    pub fn ident(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::IDENT])
    }
    /// The don't-fragment flag.
    pub fn dont_frag(&self) -> bool {
        read16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & DF != 0
    }
    /// The more-fragments flag.
    pub fn more_fragments(&self) -> bool {
        read16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & MF != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        ((read16(&self.buffer.as_ref()[field::FLAGS_FRAG]) & OFFSET) as usize) * 8
    }
    /// A fragment of a larger datagram (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }
    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    /// Upper-layer protocol.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    /// Header checksum as written.
    pub fn checksum(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Source address.
    pub fn src(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::SRC].try_into().expect("4")
    }
    /// Destination address.
    pub fn dst(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::DST].try_into().expect("4")
    }
    /// The header checksum verifies.
    pub fn checksum_ok(&self) -> bool {
        checksum::checksum(&self.buffer.as_ref()[..self.header_len()]) == 0
    }
    /// The payload (up to the total length).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the version, keeping the header length.
    pub fn set_version(&mut self, v: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (v << 4) | (*b & 0x0f);
    }
    /// Sets the header length in bytes (a multiple of 4, at most 60), keeping the version.
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xf0) | ((len / 4) as u8 & 0x0f);
    }
    /// Sets the type of service (DSCP and ECN).
    pub fn set_tos(&mut self, tos: u8) {
        self.buffer.as_mut()[field::TOS] = tos;
    }
    /// Sets the total length, header included.
    pub fn set_total_len(&mut self, len: u16) {
        write16(&mut self.buffer.as_mut()[field::LENGTH], len);
    }
    /// Sets the identification.
    pub fn set_ident(&mut self, ident: u16) {
        write16(&mut self.buffer.as_mut()[field::IDENT], ident);
    }
    /// Sets or clears the don't-fragment flag.
    pub fn set_dont_frag(&mut self, df: bool) {
        self.set_flag(DF, df);
    }
    /// Sets or clears the more-fragments flag.
    pub fn set_more_fragments(&mut self, mf: bool) {
        self.set_flag(MF, mf);
    }
    /// Sets the fragment offset in bytes (a multiple of 8), keeping the flags.
    pub fn set_frag_offset(&mut self, offset: usize) {
        let f = &mut self.buffer.as_mut()[field::FLAGS_FRAG];
        let w = (read16(f) & !OFFSET) | ((offset / 8) as u16 & OFFSET);
        write16(f, w);
    }
    fn set_flag(&mut self, flag: u16, on: bool) {
        let f = &mut self.buffer.as_mut()[field::FLAGS_FRAG];
        let w = if on { read16(f) | flag } else { read16(f) & !flag };
        write16(f, w);
    }
    /// Sets the time to live (the checksum is left as it is: see [`Packet::update_ttl`]).
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buffer.as_mut()[field::TTL] = ttl;
    }
    /// Sets the time to live, keeping the checksum right incrementally (RFC 1624).
    pub fn update_ttl(&mut self, ttl: u8) {
        // The TTL and the protocol make one 16-bit word of the checksum.
        let word = field::TTL..field::PROTOCOL + 1;
        let b = self.buffer.as_mut();
        let old = read16(&b[word.clone()]);
        b[field::TTL] = ttl;
        let new = read16(&b[word]);
        let c = checksum::update16(read16(&b[field::CHECKSUM]), old, new);
        write16(&mut b[field::CHECKSUM], c);
    }
    /// Sets the upper-layer protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = protocol;
    }
    /// Sets the header checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        write16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }
    /// Sets the source address.
    pub fn set_src(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }
    /// Sets the destination address.
    pub fn set_dst(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }
    /// Swaps source and destination (the checksum is unchanged: the sum commutes).
    pub fn swap_addresses(&mut self) {
        let (src, dst) = (self.src(), self.dst());
        self.set_src(dst);
        self.set_dst(src);
    }
    /// Works out the header checksum (options included) and writes it.
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    /// The payload (up to the total length), to write into.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.buffer.as_mut()[h..t]
    }
}

/// An IPv4 header as sluice writes it: no options, not a fragment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Bytes after the header (the total length less the header).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// Type of service (DSCP and ECN).
    pub tos: u8,
    /// Identification.
    pub ident: u16,
    /// The don't-fragment flag.
    pub dont_frag: bool,
}

impl Repr {
    /// A header from `src` to `dst` carrying `payload_len` bytes of `protocol`: TOS 0, identification 0,
    /// DF clear.
    pub fn new(src: [u8; 4], dst: [u8; 4], protocol: u8, payload_len: usize, ttl: u8) -> Repr {
        Repr { src, dst, protocol, payload_len, ttl, tos: 0, ident: 0, dont_frag: false }
    }

    /// Reads the header of a checked packet; refuses options (which a `Repr` does not carry), fragments,
    /// and a header checksum that does not verify.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        let (hl, have) = (packet.header_len(), packet.buffer.as_ref().len());
        if packet.version() != 4 {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadVersion, 4, packet.version() as usize));
        }
        if hl != MIN_HEADER_LEN {
            return Err(Error::new(Layer::Ipv4, ErrorKind::Unsupported, MIN_HEADER_LEN, hl));
        }
        if packet.is_fragment() {
            return Err(Error::new(Layer::Ipv4, ErrorKind::Unsupported, field::FLAGS_FRAG.start, have));
        }
        if !packet.checksum_ok() {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadChecksum, field::CHECKSUM.start, have));
        }
        Ok(Repr {
            src: packet.src(),
            dst: packet.dst(),
            protocol: packet.protocol(),
            payload_len: packet.total_len() - hl,
            ttl: packet.ttl(),
            tos: packet.tos(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Bytes of the header.
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN
    }

    /// Bytes of the packet: header and payload.
    pub const fn buffer_len(&self) -> usize {
        MIN_HEADER_LEN + self.payload_len
    }

    /// Writes the header, its checksum included, into the first [`MIN_HEADER_LEN`] bytes of `packet`
    /// (the payload after it is the caller's).
    #[inline(always)]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = packet.buffer.as_mut();
        // One bounds check for the whole header; the checksum over a fixed 20 bytes.
        let h: &mut [u8; MIN_HEADER_LEN] = (&mut b[..MIN_HEADER_LEN]).try_into().expect("20 bytes");
        h[field::VER_IHL] = 0x40 | (MIN_HEADER_LEN / 4) as u8;
        h[field::TOS] = self.tos;
        write16(&mut h[field::LENGTH], (MIN_HEADER_LEN + self.payload_len) as u16);
        write16(&mut h[field::IDENT], self.ident);
        write16(&mut h[field::FLAGS_FRAG], if self.dont_frag { DF } else { 0 });
        h[field::TTL] = self.ttl;
        h[field::PROTOCOL] = self.protocol;
        write16(&mut h[field::CHECKSUM], 0);
        h[field::SRC].copy_from_slice(&self.src);
        h[field::DST].copy_from_slice(&self.dst);
        let c = checksum::checksum(h);
        write16(&mut h[field::CHECKSUM], c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ICMP echo request header (10.0.0.1 → 10.0.0.2, 84 bytes, DF, TTL 64).
    const HDR: [u8; 20] = [0x45, 0, 0, 0x54, 0xa6, 0xf2, 0x40, 0, 0x40, 1, 0x7f, 0xb4, 10, 0, 0, 1, 10, 0, 0, 2];

    fn packet() -> Vec<u8> {
        let mut p = HDR.to_vec();
        p.resize(84, 0);
        p
    }

    #[test]
    fn fields_and_checksum() {
        let b = packet();
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.header_len(), p.total_len(), p.protocol(), p.ttl()), (20, 84, 1, 64));
        assert!(p.checksum_ok());
        assert!(!p.is_fragment());
        assert_eq!(p.src(), [10, 0, 0, 1]);
    }

    #[test]
    fn ttl_update_keeps_checksum() {
        let mut b = packet();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.update_ttl(63);
        assert!(p.checksum_ok());
        p.swap_addresses();
        assert!(p.checksum_ok());
        assert_eq!(p.dst(), [10, 0, 0, 1]);
        p.set_ttl(62);
        assert!(!p.checksum_ok(), "set_ttl writes the field alone");
        p.fill_checksum();
        assert!(p.checksum_ok());
    }

    #[test]
    fn bad_versions_lengths_and_truncation() {
        let b = packet();
        for len in 0..84 {
            assert!(Packet::new_checked(&b[..len]).is_err(), "len {len}");
        }
        let mut x = packet();
        x[0] = 0x65;
        assert_eq!(Packet::new_checked(&x[..]).unwrap_err().kind, ErrorKind::BadVersion);
        for ihl in [0u8, 1, 4] {
            x[0] = 0x40 | ihl;
            assert_eq!(Packet::new_checked(&x[..]).unwrap_err().kind, ErrorKind::BadHeaderLength);
        }
        let mut y = packet();
        y[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(Packet::new_checked(&y[..]).unwrap_err().kind, ErrorKind::BadTotalLength);
    }

    #[test]
    fn options_and_fragments() {
        let mut b = packet();
        b[0] = 0x46; // one 4-byte option word
        b[6] = 0x20; // more fragments
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.header_len(), 24);
        assert!(p.is_fragment() && p.more_fragments() && p.frag_offset() == 0);
        assert_eq!(Repr::parse(&p).unwrap_err().kind, ErrorKind::Unsupported, "options");
        b[0] = 0x45;
        assert_eq!(Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err().kind, ErrorKind::Unsupported);
        b[6] = 0x00;
        b[7] = 0x10;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.frag_offset(), 128);
    }

    #[test]
    fn fragment_setters() {
        let mut b = packet();
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.set_more_fragments(true);
        p.set_frag_offset(1480);
        assert!(p.dont_frag() && p.more_fragments() && p.frag_offset() == 1480);
        p.set_dont_frag(false);
        p.set_more_fragments(false);
        assert!(!p.dont_frag() && !p.more_fragments() && p.frag_offset() == 1480);
        p.set_frag_offset(0);
        assert_eq!(b[6..8], [0, 0]);
    }

    /// A Linux client's SYN to an NFS VIP: 192.0.2.7:50000 → 10.10.0.1:2049, TOS 0x10, ident 0x1c46, DF,
    /// TTL 64, 40 bytes of TCP (MSS, SACK-permitted, timestamps, window scale). Header checksum 0x5254.
    const SYN: [u8; 60] = [
        0x45, 0x10, 0x00, 0x3c, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x06, 0x52, 0x54, 0xc0, 0x00, 0x02, 0x07, 0x0a, 0x0a,
        0x00, 0x01, // TCP:
        0xc3, 0x50, 0x08, 0x01, 0x9a, 0x3b, 0x11, 0x22, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x08, 0x4a,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ];

    fn syn_repr() -> Repr {
        Repr {
            src: [192, 0, 2, 7],
            dst: [10, 10, 0, 1],
            protocol: 6,
            payload_len: 40,
            ttl: 64,
            tos: 0x10,
            ident: 0x1c46,
            dont_frag: true,
        }
    }

    #[test]
    fn syn_deconstruct() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.version(), p.header_len(), p.tos(), p.total_len()), (4, 20, 0x10, 60));
        assert_eq!((p.ident(), p.dont_frag(), p.more_fragments(), p.frag_offset()), (0x1c46, true, false, 0));
        assert_eq!((p.ttl(), p.protocol(), p.checksum()), (64, 6, 0x5254));
        assert_eq!((p.src(), p.dst()), ([192, 0, 2, 7], [10, 10, 0, 1]));
        assert!(p.checksum_ok());
        assert_eq!(p.payload(), &SYN[20..]);
        let r = Repr::parse(&p).unwrap();
        assert_eq!(r, syn_repr());
        assert_eq!((r.header_len(), r.buffer_len()), (20, 60));
    }

    #[test]
    fn syn_construct() {
        let mut b = [0u8; 60];
        b[20..].copy_from_slice(&SYN[20..]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        syn_repr().emit(&mut p);
        assert_eq!(b, SYN);
        // The same through the setters alone.
        let mut b = [0u8; 60];
        b[20..].copy_from_slice(&SYN[20..]);
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_version(4);
        p.set_header_len(20);
        p.set_tos(0x10);
        p.set_total_len(60);
        p.set_ident(0x1c46);
        p.set_dont_frag(true);
        p.set_ttl(64);
        p.set_protocol(6);
        p.set_src([192, 0, 2, 7]);
        p.set_dst([10, 10, 0, 1]);
        p.fill_checksum();
        assert_eq!(b, SYN);
    }

    #[test]
    fn bad_checksum_is_refused() {
        let mut b = SYN;
        b[11] ^= 1;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Repr::parse(&p).unwrap_err().kind, ErrorKind::BadChecksum);
    }

    #[test]
    fn new_has_sluice_defaults() {
        let r = Repr::new([1, 2, 3, 4], [5, 6, 7, 8], 4, 100, 64);
        let mut b = [0u8; 120];
        r.emit(&mut Packet::new_unchecked(&mut b[..]));
        let p = Packet::new_checked(&b[..]).unwrap();
        assert!(p.checksum_ok());
        assert_eq!((p.total_len(), p.tos(), p.ident(), p.dont_frag()), (120, 0, 0, false));
        assert_eq!(Repr::parse(&p).unwrap(), r);
    }
}
