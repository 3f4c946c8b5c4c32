//! ARP over Ethernet/IPv4 (RFC 826).

use super::{be16, Error, ErrorKind, Layer};

pub const PACKET_LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

pub mod field {
    use std::ops::Range;
    pub const HTYPE: usize = 0;
    pub const PTYPE: usize = 2;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: usize = 6;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the length and that this is Ethernet (1) / IPv4 (0x0800) with 6/4-byte addresses.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::truncated(Layer::Arp, PACKET_LEN, b.len()));
        }
        if be16(b, field::HTYPE) != 1 || be16(b, field::PTYPE) != 0x0800 || b[field::HLEN] != 6 || b[field::PLEN] != 4 {
            return Err(Error::new(Layer::Arp, ErrorKind::Unsupported, PACKET_LEN, b.len()));
        }
        Ok(Packet { buffer })
    }

    pub fn operation(&self) -> u16 {
        be16(self.buffer.as_ref(), field::OPER)
    }
    pub fn sender_mac(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SHA].try_into().expect("6")
    }
    pub fn sender_ip(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::SPA].try_into().expect("4")
    }
    pub fn target_mac(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::THA].try_into().expect("6")
    }
    pub fn target_ip(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::TPA].try_into().expect("4")
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Turns a request into the reply `our_mac` gives for `target_ip` (sender and target swapped).
    pub fn make_reply(&mut self, our_mac: [u8; 6]) {
        let (sha, spa, tpa) = (self.sender_mac(), self.sender_ip(), self.target_ip());
        let b = self.buffer.as_mut();
        b[field::OPER..field::OPER + 2].copy_from_slice(&OP_REPLY.to_be_bytes());
        b[field::SHA].copy_from_slice(&our_mac);
        b[field::SPA].copy_from_slice(&tpa);
        b[field::THA].copy_from_slice(&sha);
        b[field::TPA].copy_from_slice(&spa);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: [u8; 28] =
        [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0xaa, 192, 0, 2, 100, 0, 0, 0, 0, 0, 0, 10, 10, 0, 1];

    #[test]
    fn request_to_reply() {
        let mut b = REQUEST;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!(p.target_ip(), [10, 10, 0, 1]);
        p.make_reply([2, 0, 0, 0, 0, 1]);
        assert_eq!(p.operation(), OP_REPLY);
        assert_eq!(p.sender_ip(), [10, 10, 0, 1]);
        assert_eq!(p.sender_mac(), [2, 0, 0, 0, 0, 1]);
        assert_eq!(p.target_ip(), [192, 0, 2, 100]);
        assert_eq!(p.target_mac(), [2, 0, 0, 0, 0, 0xaa]);
    }

    #[test]
    fn truncated_and_unsupported() {
        for len in 0..28 {
            assert_eq!(Packet::new_checked(&REQUEST[..len]).unwrap_err().kind, ErrorKind::Truncated);
        }
        let mut b = REQUEST;
        b[1] = 6;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::Unsupported);
    }
}
