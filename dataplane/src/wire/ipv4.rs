//! IPv4 headers with options and fragments (RFC 791).

use super::{be16, checksum, Error, ErrorKind, Layer};

pub const MIN_HEADER_LEN: usize = 20;

mod field {
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A view of an IPv4 packet (header and payload) at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks version, IHL (options included) and total length against the buffer. Bytes after the total
    /// length (Ethernet padding) are allowed and ignored.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::truncated(Layer::Ipv4, MIN_HEADER_LEN, b.len()));
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadVersion, 4, (b[0] >> 4) as usize));
        }
        let ihl = ((b[field::VER_IHL] & 0x0f) as usize) * 4;
        if ihl < MIN_HEADER_LEN || ihl > b.len() {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadHeaderLength, ihl, b.len()));
        }
        let total = be16(b, field::LENGTH) as usize;
        if total < ihl || total > b.len() {
            return Err(Error::new(Layer::Ipv4, ErrorKind::BadTotalLength, total, b.len()));
        }
        Ok(Packet { buffer })
    }

    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    pub fn total_len(&self) -> usize {
        be16(self.buffer.as_ref(), field::LENGTH) as usize
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT)
    }
    pub fn more_fragments(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS_FRAG] & 0x20 != 0
    }
    /// Fragment offset in bytes.
    pub fn frag_offset(&self) -> usize {
        ((be16(self.buffer.as_ref(), field::FLAGS_FRAG) & 0x1fff) as usize) * 8
    }
    /// A fragment of a larger datagram (first, middle or last).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM)
    }
    pub fn src(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::SRC..field::SRC + 4].try_into().expect("4")
    }
    pub fn dst(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::DST..field::DST + 4].try_into().expect("4")
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
    /// Sets the TTL, keeping the checksum right incrementally.
    pub fn set_ttl(&mut self, ttl: u8) {
        let b = self.buffer.as_mut();
        let old = be16(b, field::TTL);
        b[field::TTL] = ttl;
        let new = be16(b, field::TTL);
        let c = checksum::update16(be16(b, field::CHECKSUM), old, new);
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    /// Swaps source and destination (the checksum is unchanged: the sum commutes).
    pub fn swap_addresses(&mut self) {
        let b = self.buffer.as_mut();
        for i in 0..4 {
            b.swap(field::SRC + i, field::DST + i);
        }
    }
    /// Sets the source address and recomputes the header checksum.
    pub fn set_src(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC..field::SRC + 4].copy_from_slice(&a);
        self.fill_checksum();
    }
    pub fn fill_checksum(&mut self) {
        let hl = self.header_len();
        let b = self.buffer.as_mut();
        b[field::CHECKSUM..field::CHECKSUM + 2].fill(0);
        let c = checksum::checksum(&b[..hl]);
        b[field::CHECKSUM..field::CHECKSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.buffer.as_mut()[h..t]
    }
}

/// Writes a 20-byte header (no options, DF clear, ident 0) with a correct checksum into `buf[..20]`.
pub fn emit(buf: &mut [u8], src: [u8; 4], dst: [u8; 4], protocol: u8, payload_len: usize, ttl: u8, tos: u8) {
    let h = &mut buf[..MIN_HEADER_LEN];
    h[0] = 0x45;
    h[1] = tos;
    h[2..4].copy_from_slice(&((MIN_HEADER_LEN + payload_len) as u16).to_be_bytes());
    h[4..8].fill(0);
    h[8] = ttl;
    h[9] = protocol;
    h[10..12].fill(0);
    h[12..16].copy_from_slice(&src);
    h[16..20].copy_from_slice(&dst);
    let c = checksum::checksum(h);
    h[10..12].copy_from_slice(&c.to_be_bytes());
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
        p.set_ttl(63);
        assert!(p.checksum_ok());
        p.swap_addresses();
        assert!(p.checksum_ok());
        assert_eq!(p.dst(), [10, 0, 0, 1]);
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
        b[6] = 0x00;
        b[7] = 0x10;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.frag_offset(), 128);
    }

    #[test]
    fn emit_verifies() {
        let mut b = [0u8; 20];
        emit(&mut b, [1, 2, 3, 4], [5, 6, 7, 8], 4, 100, 64, 0);
        let mut full = b.to_vec();
        full.resize(120, 0);
        let p = Packet::new_checked(&full[..]).unwrap();
        assert!(p.checksum_ok());
        assert_eq!(p.total_len(), 120);
    }
}
