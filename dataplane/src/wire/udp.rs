//! UDP headers (RFC 768).

use super::{be16, Error, ErrorKind, Layer};

pub const HEADER_LEN: usize = 8;

/// A view of a UDP datagram at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the length field against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated(Layer::Udp, HEADER_LEN, b.len()));
        }
        let len = be16(b, 4) as usize;
        if len < HEADER_LEN || len > b.len() {
            return Err(Error::new(Layer::Udp, ErrorKind::BadTotalLength, len, b.len()));
        }
        Ok(Packet { buffer })
    }

    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 0)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    pub fn len(&self) -> usize {
        be16(self.buffer.as_ref(), 4) as usize
    }
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_lengths() {
        let d = [0x03, 0x20, 0x08, 0x01, 0x00, 0x0c, 0, 0, 1, 2, 3, 4];
        let p = Packet::new_checked(&d[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.len(), p.payload()), (800, 2049, 12, &[1u8, 2, 3, 4][..]));
        for len in 0..12 {
            assert!(Packet::new_checked(&d[..len]).is_err(), "len {len}");
        }
        let mut b = d;
        b[5] = 7;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::BadTotalLength);
    }
}
