//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers, echo, errors with their embedded packet, and IPv6
//! neighbour discovery (RFC 4861).

use super::{checksum, Error, Layer};

pub const HEADER_LEN: usize = 8;

pub mod v4 {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const ECHO_REQUEST: u8 = 8;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAMETER_PROBLEM: u8 = 12;

    /// Types whose body is the offending datagram's IP header and first bytes.
    pub fn is_error(t: u8) -> bool {
        matches!(t, DEST_UNREACHABLE | SOURCE_QUENCH | TIME_EXCEEDED | PARAMETER_PROBLEM)
    }
}

pub mod v6 {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAMETER_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    pub const NEIGHBOR_ADVERT: u8 = 136;

    pub fn is_error(t: u8) -> bool {
        (DEST_UNREACHABLE..=PARAMETER_PROBLEM).contains(&t)
    }
}

/// A view of an ICMP or ICMPv6 message (the two share this layout) at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::truncated(Layer::Icmp, HEADER_LEN, have));
        }
        Ok(Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[1]
    }
    pub fn checksum(&self) -> u16 {
        super::be16(self.buffer.as_ref(), 2)
    }
    /// The body after the 8-byte header (for errors: the embedded packet).
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Changes the type (e.g. echo request → reply), keeping the checksum right incrementally.
    pub fn set_type(&mut self, t: u8) {
        let b = self.buffer.as_mut();
        let old = super::be16(b, 0);
        b[0] = t;
        let new = super::be16(b, 0);
        let c = checksum::update16(super::be16(b, 2), old, new);
        b[2..4].copy_from_slice(&c.to_be_bytes());
    }
}

/// Builds a solicited neighbour advertisement for `target` with our MAC into `buf` (32 bytes: header,
/// target, target link-layer address option), checksummed for `src` → `dst`.
pub fn emit_neighbor_advert(buf: &mut [u8], target: [u8; 16], mac: [u8; 6], src: [u8; 16], dst: [u8; 16]) -> usize {
    const LEN: usize = 32;
    let b = &mut buf[..LEN];
    b[0] = v6::NEIGHBOR_ADVERT;
    b[1] = 0;
    b[2..4].fill(0);
    b[4] = 0x60; // solicited + override
    b[5..8].fill(0);
    b[8..24].copy_from_slice(&target);
    b[24] = 2; // target link-layer address
    b[25] = 1; // 8 bytes
    b[26..32].copy_from_slice(&mac);
    let c = checksum::finish(checksum::sum(checksum::pseudo_header(&src, &dst, 58, LEN as u32), b));
    b[2..4].copy_from_slice(&c.to_be_bytes());
    LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_request_to_reply_keeps_checksum() {
        let mut m = vec![8u8, 0, 0, 0, 0x12, 0x34, 0, 1, b'p', b'i', b'n', b'g'];
        let c = checksum::checksum(&m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        let mut p = Packet::new_checked(&mut m[..]).unwrap();
        p.set_type(v4::ECHO_REPLY);
        assert_eq!(checksum::checksum(&m), 0);
        assert_eq!(m[0], 0);
    }

    #[test]
    fn neighbour_advert_checksum_verifies() {
        let mut b = [0u8; 32];
        let src = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let dst = [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let n = emit_neighbor_advert(&mut b, src, [2, 0, 0, 0, 0, 1], src, dst);
        let sum = checksum::sum(checksum::pseudo_header(&src, &dst, 58, n as u32), &b);
        assert_eq!(checksum::finish(sum), 0);
        assert!(Packet::new_checked(&b[..7]).is_err());
    }
}
