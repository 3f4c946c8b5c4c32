//! ICMPv6 types, neighbour discovery's flags and options, and the `Repr` of the messages sluice writes.

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
