//! Ethernet II frames with up to two VLAN tags (802.1Q, and QinQ as 802.1ad or the legacy 0x9100).

use super::{read16, write16, Error, Layer};

/// Bytes of an untagged Ethernet header.
pub const HEADER_LEN: usize = 14;
/// Bytes of one VLAN tag.
pub const VLAN_TAG_LEN: usize = 4;
/// Most tags parsed before the frame is refused.
pub const MAX_VLAN_TAGS: usize = 2;

/// The ethertypes sluice knows.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// An 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// An 802.1ad (QinQ) service tag.
    pub const QINQ: u16 = 0x88a8;
    /// The legacy QinQ service tag.
    pub const QINQ_LEGACY: u16 = 0x9100;
}

/// Byte ranges of the Ethernet header, and of a VLAN tag relative to the tag's start.
pub mod field {
    use std::ops::Range;
    /// Destination MAC.
    pub const DST: Range<usize> = 0..6;
    /// Source MAC.
    pub const SRC: Range<usize> = 6..12;
    /// Ethertype (or the first tag's TPID).
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// A VLAN tag's control information: priority, DEI, and the VLAN id in the low 12 bits.
    pub const VLAN_TCI: Range<usize> = 0..2;
    /// The ethertype after a VLAN tag.
    pub const VLAN_ETHERTYPE: Range<usize> = 2..4;
}

/// A view of an Ethernet header at the start of a buffer.
#[derive(Debug)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// A view without checks, to emit into (the buffer holds at least [`HEADER_LEN`] bytes).
    pub fn new_unchecked(buffer: T) -> Self {
        Frame { buffer }
    }

    /// Checks that the buffer holds the header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::truncated(Layer::Ethernet, HEADER_LEN, have));
        }
        Ok(Frame { buffer })
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC.
    pub fn dst(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::DST].try_into().expect("6 bytes")
    }

    /// Source MAC.
    pub fn src(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SRC].try_into().expect("6 bytes")
    }

    /// Ethertype (of a tagged frame: the first tag's TPID).
    pub fn ethertype(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::ETHERTYPE])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC.
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac);
    }
    /// Sets the source MAC.
    pub fn set_src(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac);
    }
    /// Sets the ethertype.
    pub fn set_ethertype(&mut self, t: u16) {
        write16(&mut self.buffer.as_mut()[field::ETHERTYPE], t);
    }
}

/// An untagged Ethernet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
    /// Ethertype.
    pub ethertype: u16,
}

impl Repr {
    /// Reads the header of a checked frame (a tagged frame's ethertype is its first tag's TPID).
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<Repr, Error> {
        Ok(Repr { dst: frame.dst(), src: frame.src(), ethertype: frame.ethertype() })
    }

    /// Bytes of the header.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Bytes this header takes in a buffer (the header alone).
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `frame`.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        // One bounds check for the whole header.
        let h: &mut [u8; HEADER_LEN] = (&mut frame.buffer.as_mut()[..HEADER_LEN]).try_into().expect("14 bytes");
        h[field::DST].copy_from_slice(&self.dst);
        h[field::SRC].copy_from_slice(&self.src);
        write16(&mut h[field::ETHERTYPE], self.ethertype);
    }
}

/// What is under the Ethernet header and its tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct L2 {
    /// Bytes of Ethernet header and VLAN tags: where L3 starts.
    pub header_len: usize,
    /// The innermost ethertype.
    pub ethertype: u16,
    /// VLAN ids, outermost first (0 where there is no tag).
    pub vlans: [u16; MAX_VLAN_TAGS],
    /// How many VLAN tags there are.
    pub vlan_count: u8,
}

/// Walks the Ethernet header and its VLAN tags.
pub fn parse(frame: &[u8]) -> Result<L2, Error> {
    let f = Frame::new_checked(frame)?;
    let mut ethertype = f.ethertype();
    let mut off = HEADER_LEN;
    let mut vlans = [0u16; MAX_VLAN_TAGS];
    let mut n = 0usize;
    while matches!(ethertype, ethertype::VLAN | ethertype::QINQ | ethertype::QINQ_LEGACY) {
        if n == MAX_VLAN_TAGS {
            return Err(Error::new(Layer::Vlan, super::ErrorKind::TooManyHeaders, off, frame.len()));
        }
        let tag = frame
            .get(off..off + VLAN_TAG_LEN)
            .ok_or_else(|| Error::truncated(Layer::Vlan, off + VLAN_TAG_LEN, frame.len()))?;
        vlans[n] = read16(&tag[field::VLAN_TCI]) & 0x0fff;
        ethertype = read16(&tag[field::VLAN_ETHERTYPE]);
        off += VLAN_TAG_LEN;
        n += 1;
    }
    Ok(L2 { header_len: off, ethertype, vlans, vlan_count: n as u8 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_single_and_double_tags() {
        let mut f = vec![0u8; 30];
        f[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
        assert_eq!(parse(&f).unwrap(), L2 { header_len: 14, ethertype: ethertype::IPV4, vlans: [0, 0], vlan_count: 0 });
        f[12..18].copy_from_slice(&[0x81, 0x00, 0x20, 0x64, 0x86, 0xdd]);
        assert_eq!(parse(&f).unwrap().vlans, [100, 0]);
        assert_eq!(parse(&f).unwrap().ethertype, ethertype::IPV6);
        f[12..22].copy_from_slice(&[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14, 0x08, 0x06]);
        let l2 = parse(&f).unwrap();
        assert_eq!((l2.header_len, l2.vlans, l2.ethertype), (22, [10, 20], ethertype::ARP));
    }

    #[test]
    fn three_tags_and_truncation() {
        let mut f = vec![0u8; 40];
        f[12..26].copy_from_slice(&[0x88, 0xa8, 0, 1, 0x81, 0, 0, 2, 0x81, 0, 0, 3, 0x08, 0]);
        assert_eq!(parse(&f).unwrap_err().kind, super::super::ErrorKind::TooManyHeaders);
        for len in 0..18 {
            assert!(parse(&f[..len]).is_err(), "len {len}");
        }
    }

    /// The Ethernet header of an IPv6 frame from a host to its router.
    const HEADER: [u8; 14] = [0x52, 0x54, 0x00, 0x12, 0x35, 0x02, 0x08, 0x00, 0x27, 0xa1, 0xb2, 0xc3, 0x86, 0xdd];

    fn repr() -> Repr {
        Repr { dst: [0x52, 0x54, 0x00, 0x12, 0x35, 0x02], src: [0x08, 0x00, 0x27, 0xa1, 0xb2, 0xc3], ethertype: 0x86dd }
    }

    #[test]
    fn header_deconstruct() {
        let f = Frame::new_checked(&HEADER[..]).unwrap();
        assert_eq!((f.dst(), f.src(), f.ethertype()), (repr().dst, repr().src, ethertype::IPV6));
        assert_eq!(Repr::parse(&f).unwrap(), repr());
        assert_eq!(repr().buffer_len(), HEADER_LEN);
    }

    #[test]
    fn header_construct() {
        let mut b = [0u8; 14];
        repr().emit(&mut Frame::new_unchecked(&mut b[..]));
        assert_eq!(b, HEADER);
    }
}
