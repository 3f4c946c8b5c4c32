//! Ethernet II frames with up to two VLAN tags (802.1Q, and QinQ as 802.1ad or the legacy 0x9100).

use super::{Error, Layer};

pub const HEADER_LEN: usize = 14;
const VLAN_TAG_LEN: usize = 4;
/// Most tags parsed before the frame is refused.
pub const MAX_VLAN_TAGS: usize = 2;

pub mod ethertype {
    pub const IPV4: u16 = 0x0800;
    pub const ARP: u16 = 0x0806;
    pub const IPV6: u16 = 0x86dd;
    pub const VLAN: u16 = 0x8100;
    pub const QINQ: u16 = 0x88a8;
    pub const QINQ_LEGACY: u16 = 0x9100;
}

mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
}

/// A view of an Ethernet header at the start of a buffer.
#[derive(Debug)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::truncated(Layer::Ethernet, HEADER_LEN, have));
        }
        Ok(Frame { buffer })
    }

    pub fn dst(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::DST].try_into().expect("6 bytes")
    }

    pub fn src(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SRC].try_into().expect("6 bytes")
    }

    pub fn ethertype(&self) -> u16 {
        let b = &self.buffer.as_ref()[field::ETHERTYPE];
        u16::from_be_bytes([b[0], b[1]])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    pub fn set_dst(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&mac);
    }
    pub fn set_src(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&mac);
    }
    pub fn set_ethertype(&mut self, t: u16) {
        self.buffer.as_mut()[field::ETHERTYPE].copy_from_slice(&t.to_be_bytes());
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
        vlans[n] = u16::from_be_bytes([tag[0], tag[1]]) & 0x0fff;
        ethertype = u16::from_be_bytes([tag[2], tag[3]]);
        off += VLAN_TAG_LEN;
        n += 1;
    }
    Ok(L2 { header_len: off, ethertype, vlans, vlan_count: n as u8 })
}

/// Writes an untagged Ethernet header into the first 14 bytes of `buf`.
#[inline]
pub fn emit(buf: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    let h: &mut [u8; HEADER_LEN] = (&mut buf[..HEADER_LEN]).try_into().expect("14 bytes");
    h[field::DST].copy_from_slice(&dst);
    h[field::SRC].copy_from_slice(&src);
    h[field::ETHERTYPE].copy_from_slice(&ethertype.to_be_bytes());
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
}
