//! TCP headers (RFC 9293).

use super::{be16, be32, Error, ErrorKind, Layer};

pub const MIN_HEADER_LEN: usize = 20;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
}

/// A view of a TCP segment at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the length and the data offset.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::truncated(Layer::Tcp, MIN_HEADER_LEN, b.len()));
        }
        let hl = ((b[12] >> 4) as usize) * 4;
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(Error::new(Layer::Tcp, ErrorKind::BadHeaderLength, hl, b.len()));
        }
        Ok(Packet { buffer })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), 8)
    }
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[12] >> 4) as usize) * 4
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[13]
    }
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), 14)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A SYN from a Linux client: 40-byte header (MSS, SACK-permitted, timestamps, window scale).
    const SYN: [u8; 40] = [
        0xc3, 0x50, 0x08, 0x01, 0x9a, 0x3b, 0x11, 0x22, 0, 0, 0, 0, 0xa0, 0x02, 0xfa, 0xf0, 0x12, 0x34, 0, 0, 2, 4, 5,
        0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7,
    ];

    #[test]
    fn fields() {
        let p = Packet::new_checked(&SYN[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.header_len(), p.flags()), (50000, 2049, 40, flags::SYN));
        assert_eq!(p.seq(), 0x9a3b_1122);
    }

    #[test]
    fn truncation_and_bad_offsets() {
        for len in 0..40 {
            assert!(Packet::new_checked(&SYN[..len]).is_err(), "len {len}");
        }
        let mut b = SYN;
        b[12] = 0x40;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::BadHeaderLength);
        b[12] = 0xf0;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::BadHeaderLength);
    }
}
