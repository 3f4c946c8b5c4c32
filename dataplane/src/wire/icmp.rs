//! ICMP (RFC 792) and ICMPv6 (RFC 4443) headers, echo, errors with their embedded packet, and IPv6
//! neighbour discovery (RFC 4861).
//!
//! The two share one layout and one view, [`Packet`]; their `Repr`s are [`v4::Repr`] and [`v6::Repr`].
//! The ICMPv4 checksum covers the message; the ICMPv6 one the pseudo-header too.

use super::parse::PROTO_ICMPV6;
use super::{checksum, read16, read32, write16, write32, Error, ErrorKind, Layer};

/// Bytes of the header: type, code, checksum and the four bytes whose meaning depends on the type.
pub const HEADER_LEN: usize = 8;

/// Byte ranges of an ICMP or ICMPv6 message.
pub mod field {
    use std::ops::Range;
    /// Type.
    pub const TYPE: usize = 0;
    /// Code.
    pub const CODE: usize = 1;
    /// Checksum.
    pub const CHECKSUM: Range<usize> = 2..4;
    /// The rest of the header, whose meaning depends on the type (unused ones are zero).
    pub const REST: Range<usize> = 4..8;
    /// Echo request and reply: identifier.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    /// Echo request and reply: sequence number.
    pub const ECHO_SEQ_NO: Range<usize> = 6..8;
    /// ICMPv4 destination unreachable, fragmentation needed: the next-hop MTU (RFC 1191).
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    /// ICMPv6 packet too big: the MTU.
    pub const MTU: Range<usize> = 4..8;
    /// Neighbour advertisement: flags (router, solicited, override), then three reserved bytes.
    pub const NA_FLAGS: usize = 4;
    /// Neighbour solicitation and advertisement: the target address.
    pub const ND_TARGET: Range<usize> = 8..24;
    /// Neighbour discovery: where the options start.
    pub const ND_OPTIONS: usize = 24;
    /// A neighbour discovery option's type, relative to the option's start.
    pub const ND_OPT_TYPE: usize = 0;
    /// A neighbour discovery option's length in 8-byte units, relative to the option's start.
    pub const ND_OPT_LEN: usize = 1;
    /// A link-layer address option's Ethernet address, relative to the option's start.
    pub const ND_OPT_LLADDR: Range<usize> = 2..8;
}

/// ICMPv4 types and codes, and the `Repr` of the messages sluice writes.
pub mod v4 {
    use super::{field, Error, ErrorKind, Layer, Packet, HEADER_LEN};

    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source quench (deprecated, still an error).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Destination unreachable's code: fragmentation needed and DF set.
    pub const CODE_FRAG_NEEDED: u8 = 4;

    /// Types whose body is the offending datagram's IP header and first bytes.
    pub fn is_error(t: u8) -> bool {
        matches!(t, DEST_UNREACHABLE | SOURCE_QUENCH | TIME_EXCEEDED | PARAMETER_PROBLEM)
    }

    /// An ICMPv4 message sluice writes or answers. Its body (echo data, the quoted datagram) is the
    /// caller's, in place after the header; the `Repr` knows its length.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Repr {
        /// Echo request, with `data_len` bytes of data.
        EchoRequest {
            /// Identifier.
            ident: u16,
            /// Sequence number.
            seq_no: u16,
            /// Bytes of data after the header.
            data_len: usize,
        },
        /// Echo reply, with `data_len` bytes of data.
        EchoReply {
            /// Identifier.
            ident: u16,
            /// Sequence number.
            seq_no: u16,
            /// Bytes of data after the header.
            data_len: usize,
        },
        /// Destination unreachable, fragmentation needed and DF set (RFC 1191), quoting the start of the
        /// datagram that did not fit.
        FragNeeded {
            /// The next-hop MTU.
            mtu: u16,
            /// Bytes of the quoted datagram after the header.
            quote_len: usize,
        },
    }

    impl Repr {
        /// Reads a checked message; refuses a checksum that does not verify, and types and codes it does
        /// not represent.
        pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
            let len = packet.buffer.as_ref().len();
            if !packet.checksum_ok() {
                return Err(Error::new(Layer::Icmp, ErrorKind::BadChecksum, field::CHECKSUM.start, len));
            }
            let body = len - HEADER_LEN;
            let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
            match (packet.msg_type(), packet.code()) {
                (ECHO_REQUEST, 0) => Ok(Repr::EchoRequest { ident, seq_no, data_len: body }),
                (ECHO_REPLY, 0) => Ok(Repr::EchoReply { ident, seq_no, data_len: body }),
                (DEST_UNREACHABLE, CODE_FRAG_NEEDED) => {
                    Ok(Repr::FragNeeded { mtu: packet.next_hop_mtu(), quote_len: body })
                }
                _ => Err(Error::new(Layer::Icmp, ErrorKind::Unsupported, field::TYPE, len)),
            }
        }

        /// Bytes of the header.
        pub const fn header_len(&self) -> usize {
            HEADER_LEN
        }

        /// Bytes of the message: header and body.
        pub const fn buffer_len(&self) -> usize {
            HEADER_LEN
                + match *self {
                    Repr::EchoRequest { data_len, .. } | Repr::EchoReply { data_len, .. } => data_len,
                    Repr::FragNeeded { quote_len, .. } => quote_len,
                }
        }

        /// Writes the header into `packet`, and the checksum over it and the body that follows (the
        /// caller's, written before). `packet` holds at least [`Repr::buffer_len`] bytes; the checksum
        /// covers exactly that many.
        pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
            packet.set_rest(0);
            match *self {
                Repr::EchoRequest { ident, seq_no, .. } | Repr::EchoReply { ident, seq_no, .. } => {
                    let t = if matches!(self, Repr::EchoRequest { .. }) { ECHO_REQUEST } else { ECHO_REPLY };
                    packet.set_msg_type(t);
                    packet.set_code(0);
                    packet.set_echo_ident(ident);
                    packet.set_echo_seq_no(seq_no);
                }
                Repr::FragNeeded { mtu, .. } => {
                    packet.set_msg_type(DEST_UNREACHABLE);
                    packet.set_code(CODE_FRAG_NEEDED);
                    packet.set_next_hop_mtu(mtu);
                }
            }
            Packet::new_unchecked(&mut packet.buffer.as_mut()[..self.buffer_len()]).fill_checksum();
        }
    }
}

/// ICMPv6 types, neighbour discovery's flags and options, and the `Repr` of the messages sluice writes.
pub mod v6 {
    use super::{field, Error, ErrorKind, Layer, Packet, HEADER_LEN};

    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAMETER_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Neighbour solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbour advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Neighbour advertisement flag: the sender is a router.
    pub const NA_ROUTER: u8 = 0x80;
    /// Neighbour advertisement flag: an answer to a solicitation.
    pub const NA_SOLICITED: u8 = 0x40;
    /// Neighbour advertisement flag: override a cached link-layer address.
    pub const NA_OVERRIDE: u8 = 0x20;
    /// Neighbour discovery option: source link-layer address.
    pub const ND_OPT_SOURCE_LLADDR: u8 = 1;
    /// Neighbour discovery option: target link-layer address.
    pub const ND_OPT_TARGET_LLADDR: u8 = 2;
    /// Bytes of a neighbour solicitation or advertisement before its options.
    pub const ND_LEN: usize = field::ND_OPTIONS;
    /// Bytes of a link-layer address option for Ethernet.
    const LLADDR_OPT_LEN: usize = 8;

    /// Types whose body is the offending packet's start.
    pub fn is_error(t: u8) -> bool {
        (DEST_UNREACHABLE..=PARAMETER_PROBLEM).contains(&t)
    }

    /// An ICMPv6 message sluice writes or answers. Its body (echo data, the quoted packet) is the
    /// caller's, in place after the header; the `Repr` knows its length. A neighbour advertisement's
    /// target and option are part of it.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Repr {
        /// Echo request, with `data_len` bytes of data.
        EchoRequest {
            /// Identifier.
            ident: u16,
            /// Sequence number.
            seq_no: u16,
            /// Bytes of data after the header.
            data_len: usize,
        },
        /// Echo reply, with `data_len` bytes of data.
        EchoReply {
            /// Identifier.
            ident: u16,
            /// Sequence number.
            seq_no: u16,
            /// Bytes of data after the header.
            data_len: usize,
        },
        /// Packet too big (RFC 4443 3.2, RFC 8201), quoting the start of the packet that did not fit.
        PacketTooBig {
            /// The MTU of the next hop.
            mtu: u32,
            /// Bytes of the quoted packet after the header.
            quote_len: usize,
        },
        /// Neighbour advertisement (RFC 4861 4.4), with a target link-layer address option or none.
        NeighborAdvert {
            /// Flags ([`NA_ROUTER`], [`NA_SOLICITED`], [`NA_OVERRIDE`]).
            flags: u8,
            /// The address advertised.
            target: [u8; 16],
            /// Its link-layer address.
            target_mac: Option<[u8; 6]>,
        },
    }

    impl Repr {
        /// Reads a checked message from `src` to `dst`; refuses a checksum that does not verify, types
        /// and codes it does not represent, and an advertisement with options other than one target
        /// link-layer address.
        pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, src: &[u8; 16], dst: &[u8; 16]) -> Result<Repr, Error> {
            let b = packet.buffer.as_ref();
            let len = b.len();
            if !packet.checksum_ok_v6(src, dst) {
                return Err(Error::new(Layer::Icmp, ErrorKind::BadChecksum, field::CHECKSUM.start, len));
            }
            let unsupported = Error::new(Layer::Icmp, ErrorKind::Unsupported, field::TYPE, len);
            let body = len - HEADER_LEN;
            let (ident, seq_no) = (packet.echo_ident(), packet.echo_seq_no());
            match (packet.msg_type(), packet.code()) {
                (ECHO_REQUEST, 0) => Ok(Repr::EchoRequest { ident, seq_no, data_len: body }),
                (ECHO_REPLY, 0) => Ok(Repr::EchoReply { ident, seq_no, data_len: body }),
                (PACKET_TOO_BIG, 0) => Ok(Repr::PacketTooBig { mtu: packet.mtu(), quote_len: body }),
                (NEIGHBOR_ADVERT, 0) => {
                    if len < ND_LEN {
                        return Err(Error::truncated(Layer::Icmp, ND_LEN, len));
                    }
                    let target_mac = match &b[ND_LEN..] {
                        [] => None,
                        [t, 1, mac @ ..] if *t == ND_OPT_TARGET_LLADDR && mac.len() == 6 => {
                            Some(mac.try_into().expect("6"))
                        }
                        _ => return Err(unsupported),
                    };
                    Ok(Repr::NeighborAdvert { flags: packet.na_flags(), target: packet.nd_target(), target_mac })
                }
                _ => Err(unsupported),
            }
        }

        /// Bytes of the header.
        pub const fn header_len(&self) -> usize {
            HEADER_LEN
        }

        /// Bytes of the message: header and body (for an advertisement: target and option).
        pub const fn buffer_len(&self) -> usize {
            match *self {
                Repr::EchoRequest { data_len, .. } | Repr::EchoReply { data_len, .. } => HEADER_LEN + data_len,
                Repr::PacketTooBig { quote_len, .. } => HEADER_LEN + quote_len,
                Repr::NeighborAdvert { target_mac: None, .. } => ND_LEN,
                Repr::NeighborAdvert { target_mac: Some(_), .. } => ND_LEN + LLADDR_OPT_LEN,
            }
        }

        /// Writes the message into `packet`, and the checksum over the pseudo-header for `src` → `dst`,
        /// the header and the body (echo data or a quoted packet: the caller's, written before).
        /// `packet` holds at least [`Repr::buffer_len`] bytes; the checksum covers exactly that many.
        pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, src: &[u8; 16], dst: &[u8; 16]) {
            packet.set_rest(0);
            packet.set_code(0);
            match *self {
                Repr::EchoRequest { ident, seq_no, .. } | Repr::EchoReply { ident, seq_no, .. } => {
                    let t = if matches!(self, Repr::EchoRequest { .. }) { ECHO_REQUEST } else { ECHO_REPLY };
                    packet.set_msg_type(t);
                    packet.set_echo_ident(ident);
                    packet.set_echo_seq_no(seq_no);
                }
                Repr::PacketTooBig { mtu, .. } => {
                    packet.set_msg_type(PACKET_TOO_BIG);
                    packet.set_mtu(mtu);
                }
                Repr::NeighborAdvert { flags, target, target_mac } => {
                    packet.set_msg_type(NEIGHBOR_ADVERT);
                    packet.set_na_flags(flags);
                    packet.set_nd_target(target);
                    if let Some(mac) = target_mac {
                        let opt = &mut packet.buffer.as_mut()[ND_LEN..ND_LEN + LLADDR_OPT_LEN];
                        opt[field::ND_OPT_TYPE] = ND_OPT_TARGET_LLADDR;
                        opt[field::ND_OPT_LEN] = (LLADDR_OPT_LEN / 8) as u8;
                        opt[field::ND_OPT_LLADDR].copy_from_slice(&mac);
                    }
                }
            }
            Packet::new_unchecked(&mut packet.buffer.as_mut()[..self.buffer_len()]).fill_checksum_v6(src, dst);
        }
    }
}

/// A view of an ICMP or ICMPv6 message (the two share this layout): the whole buffer is the message.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer is the message, at least its header).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks that the buffer holds the header.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let have = buffer.as_ref().len();
        if have < HEADER_LEN {
            return Err(Error::truncated(Layer::Icmp, HEADER_LEN, have));
        }
        Ok(Packet { buffer })
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type.
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    /// Code.
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    /// Checksum as written.
    pub fn checksum(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::CHECKSUM])
    }
    /// Echo request and reply: identifier.
    pub fn echo_ident(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::ECHO_IDENT])
    }
    /// Echo request and reply: sequence number.
    pub fn echo_seq_no(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::ECHO_SEQ_NO])
    }
    /// ICMPv4 fragmentation needed: the next-hop MTU.
    pub fn next_hop_mtu(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::NEXT_HOP_MTU])
    }
    /// ICMPv6 packet too big: the MTU.
    pub fn mtu(&self) -> u32 {
        read32(&self.buffer.as_ref()[field::MTU])
    }
    /// Neighbour advertisement: flags.
    pub fn na_flags(&self) -> u8 {
        self.buffer.as_ref()[field::NA_FLAGS]
    }
    /// Neighbour solicitation and advertisement: the target address (the buffer holds at least
    /// [`v6::ND_LEN`] bytes).
    pub fn nd_target(&self) -> [u8; 16] {
        self.buffer.as_ref()[field::ND_TARGET].try_into().expect("16")
    }
    /// The body after the 8-byte header (for errors: the embedded packet).
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// An ICMPv4 checksum verifies over the whole message.
    pub fn checksum_ok(&self) -> bool {
        checksum::checksum(self.buffer.as_ref()) == 0
    }
    /// An ICMPv6 checksum verifies over the pseudo-header for `src` → `dst` and the whole message.
    pub fn checksum_ok_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> bool {
        checksum::finish(self.sum_v6(src, dst)) == 0
    }
    fn sum_v6(&self, src: &[u8; 16], dst: &[u8; 16]) -> u32 {
        let b = self.buffer.as_ref();
        checksum::sum(checksum::pseudo_header(src, dst, PROTO_ICMPV6, b.len() as u32), b)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the type (the checksum is left as it is: see [`Packet::update_type`]).
    pub fn set_msg_type(&mut self, t: u8) {
        self.buffer.as_mut()[field::TYPE] = t;
    }
    /// Changes the type (e.g. echo request → reply), keeping the checksum right incrementally (RFC 1624).
    pub fn update_type(&mut self, t: u8) {
        // The type and the code make one 16-bit word of the checksum.
        let word = field::TYPE..field::CODE + 1;
        let b = self.buffer.as_mut();
        let old = read16(&b[word.clone()]);
        b[field::TYPE] = t;
        let new = read16(&b[word]);
        let c = checksum::update16(read16(&b[field::CHECKSUM]), old, new);
        write16(&mut b[field::CHECKSUM], c);
    }
    /// Sets the code.
    pub fn set_code(&mut self, code: u8) {
        self.buffer.as_mut()[field::CODE] = code;
    }
    /// Sets the checksum field.
    pub fn set_checksum(&mut self, c: u16) {
        write16(&mut self.buffer.as_mut()[field::CHECKSUM], c);
    }
    /// Sets the four bytes after the checksum as one word (0 clears them for a type that leaves them
    /// unused).
    pub fn set_rest(&mut self, w: u32) {
        write32(&mut self.buffer.as_mut()[field::REST], w);
    }
    /// Echo request and reply: sets the identifier.
    pub fn set_echo_ident(&mut self, ident: u16) {
        write16(&mut self.buffer.as_mut()[field::ECHO_IDENT], ident);
    }
    /// Echo request and reply: sets the sequence number.
    pub fn set_echo_seq_no(&mut self, seq_no: u16) {
        write16(&mut self.buffer.as_mut()[field::ECHO_SEQ_NO], seq_no);
    }
    /// ICMPv4 fragmentation needed: sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, mtu: u16) {
        write16(&mut self.buffer.as_mut()[field::NEXT_HOP_MTU], mtu);
    }
    /// ICMPv6 packet too big: sets the MTU.
    pub fn set_mtu(&mut self, mtu: u32) {
        write32(&mut self.buffer.as_mut()[field::MTU], mtu);
    }
    /// Neighbour advertisement: sets the flags.
    pub fn set_na_flags(&mut self, flags: u8) {
        self.buffer.as_mut()[field::NA_FLAGS] = flags;
    }
    /// Neighbour solicitation and advertisement: sets the target address.
    pub fn set_nd_target(&mut self, target: [u8; 16]) {
        self.buffer.as_mut()[field::ND_TARGET].copy_from_slice(&target);
    }
    /// The body after the 8-byte header, to write into.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
    /// Works out an ICMPv4 checksum over the whole message and writes it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
    /// Works out an ICMPv6 checksum over the pseudo-header for `src` → `dst` and the whole message, and
    /// writes it.
    pub fn fill_checksum_v6(&mut self, src: &[u8; 16], dst: &[u8; 16]) {
        self.set_checksum(0);
        let c = checksum::finish(self.sum_v6(src, dst));
        self.set_checksum(c);
    }
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
        p.update_type(v4::ECHO_REPLY);
        assert_eq!(checksum::checksum(&m), 0);
        assert_eq!(m[0], 0);
    }

    /// `ping -c 1 10.10.0.1` from Linux: identifier 0x1c46, sequence 1, 56 bytes of data (a timestamp,
    /// then 0x10..0x37). Checksum 0x57a5.
    const ECHO4: [u8; 64] = [
        0x08, 0x00, 0x57, 0xa5, 0x1c, 0x46, 0x00, 0x01, 0x38, 0x5d, 0x56, 0x65, 0x00, 0x00, 0x00, 0x00, 0x2b, 0x7e,
        0x0b, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
        0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d,
        0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    ];

    /// The fragmentation-needed sluice sends a client whose 1500-byte DF segment (192.0.2.7:40000 →
    /// 10.10.0.1:2049, ident 0x04d2) does not fit an IP-in-IP node: next-hop MTU 1480, quoting the IP
    /// header and 8 bytes. Checksum 0x52f1.
    const FRAG_NEEDED: [u8; 36] = [
        0x03, 0x04, 0x52, 0xf1, 0x00, 0x00, 0x05, 0xc8, // quote:
        0x45, 0x00, 0x05, 0xdc, 0x04, 0xd2, 0x40, 0x00, 0x40, 0x06, 0x64, 0x38, 0xc0, 0x00, 0x02, 0x07, 0x0a, 0x0a,
        0x00, 0x01, 0x9c, 0x40, 0x08, 0x01, 0x00, 0x00, 0x00, 0x01,
    ];

    const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5];
    const ROUTER6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x0c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const VIP6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];

    /// An echo request from 2001:db8:c::5 to 2001:db8:10::1: identifier 0x0a2b, sequence 7, 16 bytes of
    /// data (0x20..0x2f). Checksum 0xe0a5 over the pseudo-header.
    const ECHO6: [u8; 24] = [
        0x80, 0x00, 0xe0, 0xa5, 0x0a, 0x2b, 0x00, 0x07, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29,
        0x2a, 0x2b, 0x2c, 0x2d, 0x2e, 0x2f,
    ];

    /// A packet too big from 2001:db8:c::1 to 2001:db8:c::5 (MTU 1280) quoting the IPv6 header and 8 bytes
    /// of a 1500-byte segment [2001:db8:c::5]:40001 → [2001:db8:10::1]:3260. Checksum 0x2c72.
    const TOO_BIG: [u8; 56] = [
        0x02, 0x00, 0x2c, 0x72, 0x00, 0x00, 0x05, 0x00, // quote:
        0x60, 0x00, 0x00, 0x00, 0x05, 0xb4, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x0c, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x9c, 0x41, 0x0c, 0xbc, 0x00, 0x00, 0x00, 0x05,
    ];

    /// The solicited advertisement sluice sends for a VIP, 2001:db8:10::1 → 2001:db8:c::5: solicited and
    /// override, target link-layer address 02:00:00:00:00:01. Checksum 0x8a44.
    const ADVERT: [u8; 32] = [
        0x88, 0x00, 0x8a, 0x44, 0x60, 0x00, 0x00, 0x00, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01,
    ];

    /// An emitted copy of `bytes`: the body (echo data, quoted packet) copied in first, as callers do.
    fn emitted(bytes: &[u8], body_from: usize, emit: impl FnOnce(&mut Packet<&mut [u8]>)) -> Vec<u8> {
        let mut b = vec![0u8; bytes.len()];
        b[body_from..].copy_from_slice(&bytes[body_from..]);
        emit(&mut Packet::new_unchecked(&mut b[..]));
        b
    }

    #[test]
    fn echo4_deconstruct() {
        let p = Packet::new_checked(&ECHO4[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum()), (v4::ECHO_REQUEST, 0, 0x57a5));
        assert_eq!((p.echo_ident(), p.echo_seq_no(), p.body()), (0x1c46, 1, &ECHO4[8..]));
        assert!(p.checksum_ok());
        let r = v4::Repr::parse(&p).unwrap();
        assert_eq!(r, v4::Repr::EchoRequest { ident: 0x1c46, seq_no: 1, data_len: 56 });
        assert_eq!((r.header_len(), r.buffer_len()), (8, 64));
    }

    #[test]
    fn echo4_construct() {
        let r = v4::Repr::EchoRequest { ident: 0x1c46, seq_no: 1, data_len: 56 };
        assert_eq!(emitted(&ECHO4, 8, |p| r.emit(p)), ECHO4);
    }

    #[test]
    fn frag_needed_deconstruct() {
        let p = Packet::new_checked(&FRAG_NEEDED[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum()), (v4::DEST_UNREACHABLE, v4::CODE_FRAG_NEEDED, 0x52f1));
        assert_eq!((p.next_hop_mtu(), p.body()), (1480, &FRAG_NEEDED[8..]));
        assert!(v4::is_error(p.msg_type()));
        let r = v4::Repr::parse(&p).unwrap();
        assert_eq!(r, v4::Repr::FragNeeded { mtu: 1480, quote_len: 28 });
        assert_eq!(r.buffer_len(), 36);
        // The quote is a datagram sluice can follow back to its flow.
        let flow = crate::wire::parse::embedded_flow(p.body(), false).unwrap();
        assert_eq!((flow.src_port, flow.dst_port, flow.protocol), (40000, 2049, 6));
    }

    #[test]
    fn frag_needed_construct() {
        let r = v4::Repr::FragNeeded { mtu: 1480, quote_len: 28 };
        assert_eq!(emitted(&FRAG_NEEDED, 8, |p| r.emit(p)), FRAG_NEEDED);
    }

    #[test]
    fn echo6_deconstruct() {
        let p = Packet::new_checked(&ECHO6[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum()), (v6::ECHO_REQUEST, 0, 0xe0a5));
        assert_eq!((p.echo_ident(), p.echo_seq_no(), p.body()), (0x0a2b, 7, &ECHO6[8..]));
        assert!(p.checksum_ok_v6(&CLIENT6, &VIP6));
        let r = v6::Repr::parse(&p, &CLIENT6, &VIP6).unwrap();
        assert_eq!(r, v6::Repr::EchoRequest { ident: 0x0a2b, seq_no: 7, data_len: 16 });
        assert_eq!(r.buffer_len(), 24);
        let e = v6::Repr::parse(&p, &VIP6, &ROUTER6).unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadChecksum, "the pseudo-header counts");
    }

    #[test]
    fn echo6_construct() {
        let r = v6::Repr::EchoRequest { ident: 0x0a2b, seq_no: 7, data_len: 16 };
        assert_eq!(emitted(&ECHO6, 8, |p| r.emit(p, &CLIENT6, &VIP6)), ECHO6);
    }

    #[test]
    fn too_big_deconstruct() {
        let p = Packet::new_checked(&TOO_BIG[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum(), p.mtu()), (v6::PACKET_TOO_BIG, 0, 0x2c72, 1280));
        assert!(v6::is_error(p.msg_type()));
        let r = v6::Repr::parse(&p, &ROUTER6, &CLIENT6).unwrap();
        assert_eq!(r, v6::Repr::PacketTooBig { mtu: 1280, quote_len: 48 });
        assert_eq!(r.buffer_len(), 56);
        let flow = crate::wire::parse::embedded_flow(p.body(), true).unwrap();
        assert_eq!((flow.src_port, flow.dst_port, flow.protocol), (40001, 3260, 6));
    }

    #[test]
    fn too_big_construct() {
        let r = v6::Repr::PacketTooBig { mtu: 1280, quote_len: 48 };
        assert_eq!(emitted(&TOO_BIG, 8, |p| r.emit(p, &ROUTER6, &CLIENT6)), TOO_BIG);
    }

    fn advert() -> v6::Repr {
        let flags = v6::NA_SOLICITED | v6::NA_OVERRIDE;
        v6::Repr::NeighborAdvert { flags, target: VIP6, target_mac: Some([2, 0, 0, 0, 0, 1]) }
    }

    #[test]
    fn neighbour_advert_deconstruct() {
        let p = Packet::new_checked(&ADVERT[..]).unwrap();
        assert_eq!((p.msg_type(), p.code(), p.checksum(), p.na_flags()), (v6::NEIGHBOR_ADVERT, 0, 0x8a44, 0x60));
        assert_eq!(p.nd_target(), VIP6);
        assert!(p.checksum_ok_v6(&VIP6, &CLIENT6));
        let r = v6::Repr::parse(&p, &VIP6, &CLIENT6).unwrap();
        assert_eq!(r, advert());
        assert_eq!(r.buffer_len(), 32);
    }

    #[test]
    fn neighbour_advert_construct() {
        assert_eq!(emitted(&ADVERT, 32, |p| advert().emit(p, &VIP6, &CLIENT6)), ADVERT);
        // Without the option: 24 bytes, and it verifies.
        let r = v6::Repr::NeighborAdvert { flags: v6::NA_ROUTER, target: VIP6, target_mac: None };
        let mut b = [0xa5u8; 24];
        r.emit(&mut Packet::new_unchecked(&mut b[..]), &VIP6, &CLIENT6);
        assert_eq!(b[4..8], [0x80, 0, 0, 0]);
        assert_eq!(v6::Repr::parse(&Packet::new_checked(&b[..]).unwrap(), &VIP6, &CLIENT6).unwrap(), r);
    }

    #[test]
    fn unsupported_types_and_bad_checksums_are_refused() {
        let mut b = ECHO4;
        b[2] ^= 0x80;
        let e = v4::Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap_err();
        assert_eq!((e.layer, e.kind), (Layer::Icmp, ErrorKind::BadChecksum));
        // Time exceeded, checksummed right, is not something a Repr represents.
        let mut b = FRAG_NEEDED;
        b[0] = v4::TIME_EXCEEDED;
        b[1] = 0;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert_eq!(v4::Repr::parse(&p).unwrap_err().kind, ErrorKind::Unsupported);
        // An advertisement with a source link-layer address option instead.
        let mut b = ADVERT;
        b[24] = v6::ND_OPT_SOURCE_LLADDR;
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum_v6(&VIP6, &CLIENT6);
        assert_eq!(v6::Repr::parse(&p, &VIP6, &CLIENT6).unwrap_err().kind, ErrorKind::Unsupported);
        assert!(Packet::new_checked(&ADVERT[..7]).is_err());
    }
}
