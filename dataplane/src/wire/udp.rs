//! UDP headers (RFC 768).

use super::{read16, write16, Error, ErrorKind, Layer};

/// Bytes of the header.
pub const HEADER_LEN: usize = 8;

/// Byte ranges of the UDP header.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Length of the datagram, header included.
    pub const LENGTH: Range<usize> = 4..6;
    /// Checksum (0: none, over IPv4).
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// A view of a UDP datagram at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer holds at least [`HEADER_LEN`] bytes).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks the length field against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Error::truncated(Layer::Udp, HEADER_LEN, b.len()));
        }
        let p = Packet { buffer };
        let (len, have) = (p.len(), p.buffer.as_ref().len());
        if len < HEADER_LEN || len > have {
            return Err(Error::new(Layer::Udp, ErrorKind::BadTotalLength, len, have));
        }
        Ok(p)
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::SRC_PORT])
    }
    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::DST_PORT])
    }
    /// Length of the datagram, header included.
    pub fn len(&self) -> usize {
        read16(&self.buffer.as_ref()[field::LENGTH]) as usize
    }
    /// The datagram carries no payload.
    pub fn is_empty(&self) -> bool {
        self.len() == HEADER_LEN
    }
    /// Checksum as written.
    pub fn checksum(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// The payload (up to the length).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        write16(&mut self.buffer.as_mut()[field::SRC_PORT], port);
    }
    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        write16(&mut self.buffer.as_mut()[field::DST_PORT], port);
    }
    /// Sets the length of the datagram, header included.
    pub fn set_len(&mut self, len: u16) {
        write16(&mut self.buffer.as_mut()[field::LENGTH], len);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        write16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }
    /// The payload (up to the length), to write into.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len();
        &mut self.buffer.as_mut()[HEADER_LEN..len]
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

    #[test]
    fn setters_write_the_fields() {
        let d = [0x03, 0x20, 0x08, 0x01, 0x00, 0x0c, 0xab, 0xcd, 1, 2, 3, 4];
        let mut b = [0u8; 12];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(800);
        p.set_dst_port(2049);
        p.set_len(12);
        p.set_checksum(0xabcd);
        p.payload_mut().copy_from_slice(&[1, 2, 3, 4]);
        assert_eq!(b, d);
        assert_eq!(Packet::new_checked(&b[..]).unwrap().checksum(), 0xabcd);
    }
}
