//! TCP headers (RFC 9293).

use super::parse::{Addr, PROTO_TCP};
use super::{checksum, read16, read32, write16, write32, Error, ErrorKind, Layer};

/// Bytes of a header without options.
pub const MIN_HEADER_LEN: usize = 20;
/// Bytes of a header with the most options (a data offset of 15 words).
pub const MAX_HEADER_LEN: usize = 60;

/// The flag bits (the low byte of the flags word).
pub mod flags {
    /// No more data from the sender.
    pub const FIN: u8 = 0x01;
    /// Synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// Reset the connection.
    pub const RST: u8 = 0x04;
    /// Push.
    pub const PSH: u8 = 0x08;
    /// The acknowledgement number is valid.
    pub const ACK: u8 = 0x10;
}

/// Byte ranges of the TCP header.
pub mod field {
    use std::ops::Range;
    /// Source port.
    pub const SRC_PORT: Range<usize> = 0..2;
    /// Destination port.
    pub const DST_PORT: Range<usize> = 2..4;
    /// Sequence number.
    pub const SEQ: Range<usize> = 4..8;
    /// Acknowledgement number.
    pub const ACK: Range<usize> = 8..12;
    /// Data offset: the header length in 32-bit words (high nibble).
    pub const DATA_OFFSET: usize = 12;
    /// Flags (CWR, ECE, URG, ACK, PSH, RST, SYN, FIN).
    pub const FLAGS: usize = 13;
    /// Window.
    pub const WINDOW: Range<usize> = 14..16;
    /// Checksum, over the pseudo-header, the header and the payload.
    pub const CHECKSUM: Range<usize> = 16..18;
    /// Urgent pointer.
    pub const URGENT: Range<usize> = 18..20;

    /// Options, in a header of `header_len` bytes.
    pub const fn options(header_len: usize) -> Range<usize> {
        URGENT.end..header_len
    }
}

/// A view of a TCP segment (header and payload: the whole buffer) at the start of a buffer.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer is the segment, at least its header).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks the length and the data offset.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Error::truncated(Layer::Tcp, MIN_HEADER_LEN, b.len()));
        }
        let p = Packet { buffer };
        let (hl, have) = (p.header_len(), p.buffer.as_ref().len());
        if hl < MIN_HEADER_LEN || hl > have {
            return Err(Error::new(Layer::Tcp, ErrorKind::BadHeaderLength, hl, have));
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
    /// Sequence number.
    pub fn seq(&self) -> u32 {
        read32(&self.buffer.as_ref()[field::SEQ])
    }
    /// Acknowledgement number.
    pub fn ack(&self) -> u32 {
        read32(&self.buffer.as_ref()[field::ACK])
    }
    /// Header length in bytes, options included.
    pub fn header_len(&self) -> usize {
        ((self.buffer.as_ref()[field::DATA_OFFSET] >> 4) as usize) * 4
    }
    /// Flags (see [`flags`]).
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    /// Window.
    pub fn window(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::WINDOW])
    }
    /// Checksum as written.
    pub fn checksum(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Urgent pointer.
    pub fn urgent(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::URGENT])
    }
    /// The options (between the fixed header and the payload).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::options(self.header_len())]
    }
    /// The payload: everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// The checksum verifies over the pseudo-header for `src` → `dst` and the whole segment.
    pub fn checksum_ok(&self, src: &Addr, dst: &Addr) -> bool {
        checksum::finish(self.sum(src, dst)) == 0
    }
    fn sum(&self, src: &Addr, dst: &Addr) -> u32 {
        let b = self.buffer.as_ref();
        checksum::sum(checksum::pseudo_header(src.octets(), dst.octets(), PROTO_TCP, b.len() as u32), b)
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
    /// Sets the sequence number.
    pub fn set_seq(&mut self, seq: u32) {
        write32(&mut self.buffer.as_mut()[field::SEQ], seq);
    }
    /// Sets the acknowledgement number.
    pub fn set_ack(&mut self, ack: u32) {
        write32(&mut self.buffer.as_mut()[field::ACK], ack);
    }
    /// Sets the header length in bytes (a multiple of 4, at most 60), keeping the low nibble.
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFFSET];
        *b = (((len / 4) as u8) << 4) | (*b & 0x0f);
    }
    /// Sets the flags.
    pub fn set_flags(&mut self, f: u8) {
        self.buffer.as_mut()[field::FLAGS] = f;
    }
    /// Sets the window.
    pub fn set_window(&mut self, w: u16) {
        write16(&mut self.buffer.as_mut()[field::WINDOW], w);
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        write16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }
    /// Sets the urgent pointer.
    pub fn set_urgent(&mut self, u: u16) {
        write16(&mut self.buffer.as_mut()[field::URGENT], u);
    }
    /// The options, to write into.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let r = field::options(self.header_len());
        &mut self.buffer.as_mut()[r]
    }
    /// The payload, to write into.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let h = self.header_len();
        &mut self.buffer.as_mut()[h..]
    }
    /// Works out the checksum over the pseudo-header for `src` → `dst` and the whole segment, and writes it.
    pub fn fill_checksum(&mut self, src: &Addr, dst: &Addr) {
        self.set_checksum(0);
        let c = checksum::finish(self.sum(src, dst));
        self.set_checksum(c);
    }
}

/// A TCP header. Its options are kept as bytes; the payload is the caller's, in place after the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags (see [`flags`]).
    pub flags: u8,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options, as they are on the wire (at most 40 bytes; padded with zeros to a multiple of 4).
    pub options: &'a [u8],
    /// Bytes of payload after the header.
    pub payload_len: usize,
}

impl<'a> Repr<'a> {
    /// A segment without options or payload: window and urgent pointer 0.
    pub fn new(src_port: u16, dst_port: u16, seq: u32, ack: u32, flags: u8) -> Repr<'static> {
        Repr { src_port, dst_port, seq, ack, flags, window: 0, urgent: 0, options: &[], payload_len: 0 }
    }

    /// Reads the header of a checked segment whose IP header says `src` → `dst`; refuses a checksum that
    /// does not verify.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>, src: &Addr, dst: &Addr) -> Result<Repr<'a>, Error> {
        let b: &'a [u8] = T::as_ref(packet.buffer);
        let hl = packet.header_len();
        if hl < MIN_HEADER_LEN || hl > b.len() {
            return Err(Error::new(Layer::Tcp, ErrorKind::BadHeaderLength, hl, b.len()));
        }
        if !packet.checksum_ok(src, dst) {
            return Err(Error::new(Layer::Tcp, ErrorKind::BadChecksum, field::CHECKSUM.start, b.len()));
        }
        Ok(Repr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq(),
            ack: packet.ack(),
            flags: packet.flags(),
            window: packet.window(),
            urgent: packet.urgent(),
            options: &b[field::options(hl)],
            payload_len: b.len() - hl,
        })
    }

    /// Bytes of the header, options (padded to a multiple of 4) included.
    pub const fn header_len(&self) -> usize {
        MIN_HEADER_LEN + self.options.len().div_ceil(4) * 4
    }

    /// Bytes of the segment: header and payload.
    pub const fn buffer_len(&self) -> usize {
        self.header_len() + self.payload_len
    }

    /// Writes the header into `packet`, and the checksum over the pseudo-header for `src` → `dst`, the
    /// header and the payload that follows it (the caller's, written before). `packet` holds at least
    /// [`Repr::buffer_len`] bytes; the checksum covers exactly that many.
    #[inline]
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, src: &Addr, dst: &Addr) {
        let hl = self.header_len();
        debug_assert!(hl <= MAX_HEADER_LEN, "{} bytes of TCP options", self.options.len());
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq(self.seq);
        packet.set_ack(self.ack);
        packet.buffer.as_mut()[field::DATA_OFFSET] = ((hl / 4) as u8) << 4;
        packet.set_flags(self.flags);
        packet.set_window(self.window);
        packet.set_urgent(self.urgent);
        let options = packet.options_mut();
        options[..self.options.len()].copy_from_slice(self.options);
        options[self.options.len()..].fill(0);
        let mut segment = Packet::new_unchecked(&mut packet.buffer.as_mut()[..self.buffer_len()]);
        segment.fill_checksum(src, dst);
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

    const CLIENT4: [u8; 4] = [192, 0, 2, 7];
    const VIP4: [u8; 4] = [10, 10, 0, 1];
    const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    /// A Linux client's SYN, 192.0.2.7:50000 → 10.10.0.1:2049: window 64240; MSS 1460, SACK-permitted,
    /// timestamps (1..3, 0), NOP, window scale 7. Checksum 0x084a over the IPv4 pseudo-header.
    const SYN4: [u8; 40] = [
        0xc3, 0x50, 0x08, 0x01, 0x9a, 0x3b, 0x11, 0x22, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0x08, 0x4a,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xb4, 0x04, 0x02, 0x08, 0x0a, 0x00, 0x01, 0x02, 0x03, 0x00, 0x00, 0x00, 0x00,
        0x01, 0x03, 0x03, 0x07,
    ];
    const SYN4_OPTIONS: [u8; 20] = [2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 1, 2, 3, 0, 0, 0, 0, 1, 3, 3, 7];

    /// The exact RST sluice sends a stale holder, as from the client: 192.0.2.7:50000 → 10.10.0.1:2049,
    /// sequence 0x6e0f4a31 (the holder's rcv_nxt), no ACK, window 0. Checksum 0x603c.
    const RST4: [u8; 20] = [
        0xc3, 0x50, 0x08, 0x01, 0x6e, 0x0f, 0x4a, 0x31, 0x00, 0x00, 0x00, 0x00, 0x50, 0x04, 0x00, 0x00, 0x60, 0x3c,
        0x00, 0x00,
    ];

    /// A node's SYN|ACK, [2001:db8:10::1]:3260 → [2001:db8:c::5]:40001: window 64800; MSS 1440,
    /// SACK-permitted, timestamps, NOP, window scale 7. Checksum 0x1a18 over the IPv6 pseudo-header.
    const SYN_ACK6: [u8; 40] = [
        0x0c, 0xbc, 0x9c, 0x41, 0x2c, 0x5e, 0x9f, 0x10, 0x9a, 0x3b, 0x11, 0x23, 0xa0, 0x12, 0xfd, 0x20, 0x1a, 0x18,
        0x00, 0x00, 0x02, 0x04, 0x05, 0xa0, 0x04, 0x02, 0x08, 0x0a, 0x7f, 0x12, 0x34, 0x56, 0x00, 0x01, 0x02, 0x03,
        0x01, 0x03, 0x03, 0x07,
    ];
    const SYN_ACK6_OPTIONS: [u8; 20] = [2, 4, 5, 0xa0, 4, 2, 8, 10, 0x7f, 0x12, 0x34, 0x56, 0, 1, 2, 3, 1, 3, 3, 7];

    /// sluice's reset probe, [2001:db8:c::5]:40001 → [2001:db8:10::1]:3260: a SYN|ACK acknowledging the
    /// cookie 0xdeadbeef (its sequence number too), window 0. Checksum 0x7006.
    const PROBE6: [u8; 20] = [
        0x9c, 0x41, 0x0c, 0xbc, 0xde, 0xad, 0xbe, 0xef, 0xde, 0xad, 0xbe, 0xef, 0x50, 0x12, 0x00, 0x00, 0x70, 0x06,
        0x00, 0x00,
    ];

    fn syn4() -> Repr<'static> {
        Repr { window: 64240, options: &SYN4_OPTIONS, ..Repr::new(50000, 2049, 0x9a3b_1122, 0, flags::SYN) }
    }

    fn rst4() -> Repr<'static> {
        Repr::new(50000, 2049, 0x6e0f_4a31, 0, flags::RST)
    }

    fn syn_ack6() -> Repr<'static> {
        let r = Repr::new(3260, 40001, 0x2c5e_9f10, 0x9a3b_1123, flags::SYN | flags::ACK);
        Repr { window: 64800, options: &SYN_ACK6_OPTIONS, ..r }
    }

    fn probe6() -> Repr<'static> {
        Repr::new(40001, 3260, 0xdead_beef, 0xdead_beef, flags::SYN | flags::ACK)
    }

    /// Each vector, its addresses and its Repr.
    fn vectors() -> [(&'static [u8], Addr, Addr, Repr<'static>); 4] {
        let (c4, v4, c6, v6) = (Addr::v4(CLIENT4), Addr::v4(VIP4), Addr::v6(CLIENT6), Addr::v6(VIP6));
        [(&SYN4, c4, v4, syn4()), (&RST4, c4, v4, rst4()), (&SYN_ACK6, v6, c6, syn_ack6()), (&PROBE6, c6, v6, probe6())]
    }

    #[test]
    fn syn_deconstruct() {
        let p = Packet::new_checked(&SYN4[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.seq(), p.ack()), (50000, 2049, 0x9a3b_1122, 0));
        assert_eq!(
            (p.header_len(), p.flags(), p.window(), p.checksum(), p.urgent()),
            (40, flags::SYN, 64240, 0x084a, 0)
        );
        assert_eq!((p.options(), p.payload()), (&SYN4_OPTIONS[..], &[][..]));
        assert!(p.checksum_ok(&Addr::v4(CLIENT4), &Addr::v4(VIP4)));
        assert!(!p.checksum_ok(&Addr::v4(CLIENT4), &Addr::v4([10, 10, 0, 2])));
    }

    #[test]
    fn rst_and_probe_deconstruct() {
        let p = Packet::new_checked(&RST4[..]).unwrap();
        assert_eq!(
            (p.seq(), p.ack(), p.header_len(), p.flags(), p.window(), p.checksum()),
            (0x6e0f_4a31, 0, 20, 4, 0, 0x603c)
        );
        let p = Packet::new_checked(&PROBE6[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.seq(), p.ack()), (40001, 3260, 0xdead_beef, 0xdead_beef));
        assert_eq!((p.flags(), p.checksum(), p.options()), (flags::SYN | flags::ACK, 0x7006, &[][..]));
    }

    #[test]
    fn syn_ack_deconstruct() {
        let p = Packet::new_checked(&SYN_ACK6[..]).unwrap();
        assert_eq!((p.src_port(), p.dst_port(), p.seq(), p.ack()), (3260, 40001, 0x2c5e_9f10, 0x9a3b_1123));
        assert_eq!((p.flags(), p.window(), p.checksum(), p.options()), (0x12, 64800, 0x1a18, &SYN_ACK6_OPTIONS[..]));
    }

    #[test]
    fn every_vector_parses_to_its_repr() {
        for (bytes, src, dst, repr) in vectors() {
            let p = Packet::new_checked(bytes).unwrap();
            assert!(p.checksum_ok(&src, &dst));
            assert_eq!(Repr::parse(&p, &src, &dst).unwrap(), repr);
            assert_eq!((repr.header_len(), repr.buffer_len()), (bytes.len(), bytes.len()));
            // The pseudo-header counts: another destination does not verify.
            let mut other = dst;
            other.bytes[3] ^= 1;
            assert_eq!(Repr::parse(&p, &src, &other).unwrap_err().kind, ErrorKind::BadChecksum);
        }
    }

    #[test]
    fn every_repr_emits_its_vector() {
        for (bytes, src, dst, repr) in vectors() {
            let mut b = vec![0u8; bytes.len()];
            repr.emit(&mut Packet::new_unchecked(&mut b[..]), &src, &dst);
            assert_eq!(b, bytes);
            // Over whatever was in the buffer before.
            let mut b = vec![0xa5u8; bytes.len()];
            repr.emit(&mut Packet::new_unchecked(&mut b[..]), &src, &dst);
            assert_eq!(b, bytes);
        }
    }

    #[test]
    fn setters_write_the_syn() {
        let mut b = [0u8; 40];
        let mut p = Packet::new_unchecked(&mut b[..]);
        p.set_src_port(50000);
        p.set_dst_port(2049);
        p.set_seq(0x9a3b_1122);
        p.set_ack(0);
        p.set_header_len(40);
        p.set_flags(flags::SYN);
        p.set_window(64240);
        p.set_urgent(0);
        p.options_mut().copy_from_slice(&SYN4_OPTIONS);
        p.fill_checksum(&Addr::v4(CLIENT4), &Addr::v4(VIP4));
        assert_eq!(b, SYN4);
    }

    #[test]
    fn payload_in_place_and_odd_options() {
        let (src, dst) = (Addr::v4(CLIENT4), Addr::v4(VIP4));
        // Three bytes of options are padded to a word; five bytes of payload are checksummed in place.
        let r = Repr { options: &[1, 1, 1], payload_len: 5, ..Repr::new(1, 2, 3, 4, flags::ACK | flags::PSH) };
        assert_eq!((r.header_len(), r.buffer_len()), (24, 29));
        let mut b = [0xffu8; 29];
        b[24..].copy_from_slice(b"hello");
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &src, &dst);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!((p.options(), p.payload()), (&[1u8, 1, 1, 0][..], &b"hello"[..]));
        let parsed = Repr::parse(&p, &src, &dst).unwrap();
        assert_eq!((parsed.options, parsed.payload_len), (&[1u8, 1, 1, 0][..], 5));
    }
}
