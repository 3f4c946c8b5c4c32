//! ICMPv4 types and codes, and the `Repr` of the messages sluice writes.

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
