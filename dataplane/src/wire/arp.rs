//! ARP over Ethernet/IPv4 (RFC 826).

use super::{read16, write16, Error, ErrorKind, Layer};

/// Bytes of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;
/// Operation: request.
pub const OP_REQUEST: u16 = 1;
/// Operation: reply.
pub const OP_REPLY: u16 = 2;
/// Hardware type: Ethernet.
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type: IPv4 (its ethertype).
pub const PTYPE_IPV4: u16 = 0x0800;

/// Byte ranges of an Ethernet/IPv4 ARP packet.
pub mod field {
    use std::ops::Range;
    /// Hardware type.
    pub const HTYPE: Range<usize> = 0..2;
    /// Protocol type.
    pub const PTYPE: Range<usize> = 2..4;
    /// Hardware address length.
    pub const HLEN: usize = 4;
    /// Protocol address length.
    pub const PLEN: usize = 5;
    /// Operation.
    pub const OPER: Range<usize> = 6..8;
    /// Sender hardware address.
    pub const SHA: Range<usize> = 8..14;
    /// Sender protocol address.
    pub const SPA: Range<usize> = 14..18;
    /// Target hardware address.
    pub const THA: Range<usize> = 18..24;
    /// Target protocol address.
    pub const TPA: Range<usize> = 24..28;
}

/// A view of an Ethernet/IPv4 ARP packet.
#[derive(Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks, to emit into (the buffer holds at least [`PACKET_LEN`] bytes).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Checks the length and that this is Ethernet (1) / IPv4 (0x0800) with 6/4-byte addresses.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let b = buffer.as_ref();
        if b.len() < PACKET_LEN {
            return Err(Error::truncated(Layer::Arp, PACKET_LEN, b.len()));
        }
        let p = Packet { buffer };
        if !p.is_ethernet_ipv4() {
            return Err(Error::new(Layer::Arp, ErrorKind::Unsupported, PACKET_LEN, p.buffer.as_ref().len()));
        }
        Ok(p)
    }

    /// The buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Ethernet (1) / IPv4 (0x0800) with 6/4-byte addresses.
    fn is_ethernet_ipv4(&self) -> bool {
        self.hardware_type() == HTYPE_ETHERNET
            && self.protocol_type() == PTYPE_IPV4
            && self.hardware_len() == 6
            && self.protocol_len() == 4
    }

    /// Hardware type.
    pub fn hardware_type(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::HTYPE])
    }
    /// Protocol type.
    pub fn protocol_type(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::PTYPE])
    }
    /// Hardware address length.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }
    /// Protocol address length.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }
    /// Operation ([`OP_REQUEST`], [`OP_REPLY`], or another).
    pub fn operation(&self) -> u16 {
        read16(&self.buffer.as_ref()[field::OPER])
    }
    /// Sender hardware address.
    pub fn sender_mac(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::SHA].try_into().expect("6")
    }
    /// Sender protocol address.
    pub fn sender_ip(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::SPA].try_into().expect("4")
    }
    /// Target hardware address.
    pub fn target_mac(&self) -> [u8; 6] {
        self.buffer.as_ref()[field::THA].try_into().expect("6")
    }
    /// Target protocol address.
    pub fn target_ip(&self) -> [u8; 4] {
        self.buffer.as_ref()[field::TPA].try_into().expect("4")
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, t: u16) {
        write16(&mut self.buffer.as_mut()[field::HTYPE], t);
    }
    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, t: u16) {
        write16(&mut self.buffer.as_mut()[field::PTYPE], t);
    }
    /// Sets the hardware address length.
    pub fn set_hardware_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::HLEN] = len;
    }
    /// Sets the protocol address length.
    pub fn set_protocol_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::PLEN] = len;
    }
    /// Sets the operation.
    pub fn set_operation(&mut self, op: u16) {
        write16(&mut self.buffer.as_mut()[field::OPER], op);
    }
    /// Sets the sender hardware address.
    pub fn set_sender_mac(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&mac);
    }
    /// Sets the sender protocol address.
    pub fn set_sender_ip(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[field::SPA].copy_from_slice(&ip);
    }
    /// Sets the target hardware address.
    pub fn set_target_mac(&mut self, mac: [u8; 6]) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&mac);
    }
    /// Sets the target protocol address.
    pub fn set_target_ip(&mut self, ip: [u8; 4]) {
        self.buffer.as_mut()[field::TPA].copy_from_slice(&ip);
    }
}

/// An Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Operation ([`OP_REQUEST`], [`OP_REPLY`], or another, kept as it is).
    pub operation: u16,
    /// Sender hardware address.
    pub sender_mac: [u8; 6],
    /// Sender protocol address.
    pub sender_ip: [u8; 4],
    /// Target hardware address (zero in a request).
    pub target_mac: [u8; 6],
    /// Target protocol address.
    pub target_ip: [u8; 4],
}

impl Repr {
    /// Reads a packet; refuses one that is not Ethernet/IPv4 with 6/4-byte addresses.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Repr, Error> {
        if !packet.is_ethernet_ipv4() {
            return Err(Error::new(Layer::Arp, ErrorKind::Unsupported, PACKET_LEN, packet.buffer.as_ref().len()));
        }
        Ok(Repr {
            operation: packet.operation(),
            sender_mac: packet.sender_mac(),
            sender_ip: packet.sender_ip(),
            target_mac: packet.target_mac(),
            target_ip: packet.target_ip(),
        })
    }

    /// A request from `sender_mac`/`sender_ip` for the MAC of `target_ip`.
    pub fn request(sender_mac: [u8; 6], sender_ip: [u8; 4], target_ip: [u8; 4]) -> Repr {
        Repr { operation: OP_REQUEST, sender_mac, sender_ip, target_mac: [0; 6], target_ip }
    }

    /// The reply `mac` gives to this request: from the address asked for, to the asker.
    pub fn reply(&self, mac: [u8; 6]) -> Repr {
        Repr {
            operation: OP_REPLY,
            sender_mac: mac,
            sender_ip: self.target_ip,
            target_mac: self.sender_mac,
            target_ip: self.sender_ip,
        }
    }

    /// Bytes of the packet.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet into the first [`PACKET_LEN`] bytes of `packet`.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_sender_mac(self.sender_mac);
        packet.set_sender_ip(self.sender_ip);
        packet.set_target_mac(self.target_mac);
        packet.set_target_ip(self.target_ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Who has 10.10.0.1? Tell 192.0.2.100 (02:00:00:00:00:aa).
    const REQUEST: [u8; 28] =
        [0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 0xaa, 192, 0, 2, 100, 0, 0, 0, 0, 0, 0, 10, 10, 0, 1];
    /// 10.10.0.1 is at 02:00:00:00:00:01, to 192.0.2.100 (02:00:00:00:00:aa).
    const REPLY: [u8; 28] =
        [0, 1, 8, 0, 6, 4, 0, 2, 2, 0, 0, 0, 0, 1, 10, 10, 0, 1, 2, 0, 0, 0, 0, 0xaa, 192, 0, 2, 100];

    fn request() -> Repr {
        Repr::request([2, 0, 0, 0, 0, 0xaa], [192, 0, 2, 100], [10, 10, 0, 1])
    }

    fn reply() -> Repr {
        Repr {
            operation: OP_REPLY,
            sender_mac: [2, 0, 0, 0, 0, 1],
            sender_ip: [10, 10, 0, 1],
            target_mac: [2, 0, 0, 0, 0, 0xaa],
            target_ip: [192, 0, 2, 100],
        }
    }

    #[test]
    fn request_deconstruct() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        assert_eq!((p.hardware_type(), p.protocol_type(), p.hardware_len(), p.protocol_len()), (1, 0x0800, 6, 4));
        assert_eq!(p.operation(), OP_REQUEST);
        assert_eq!((p.sender_mac(), p.sender_ip()), ([2, 0, 0, 0, 0, 0xaa], [192, 0, 2, 100]));
        assert_eq!((p.target_mac(), p.target_ip()), ([0; 6], [10, 10, 0, 1]));
        assert_eq!(Repr::parse(&p).unwrap(), request());
    }

    #[test]
    fn request_construct() {
        let mut b = [0u8; 28];
        request().emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, REQUEST);
    }

    #[test]
    fn reply_deconstruct() {
        let p = Packet::new_checked(&REPLY[..]).unwrap();
        assert_eq!(p.operation(), OP_REPLY);
        assert_eq!((p.sender_mac(), p.sender_ip()), ([2, 0, 0, 0, 0, 1], [10, 10, 0, 1]));
        assert_eq!((p.target_mac(), p.target_ip()), ([2, 0, 0, 0, 0, 0xaa], [192, 0, 2, 100]));
        assert_eq!(Repr::parse(&p).unwrap(), reply());
    }

    #[test]
    fn reply_construct() {
        let mut b = [0u8; 28];
        reply().emit(&mut Packet::new_unchecked(&mut b[..]));
        assert_eq!(b, REPLY);
    }

    #[test]
    fn request_to_reply_in_place() {
        assert_eq!(request().reply([2, 0, 0, 0, 0, 1]), reply());
        // Emitted over the request (Ethernet padding after it untouched).
        let mut b = REQUEST.to_vec();
        b.extend_from_slice(&[0x5a; 18]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        Repr::parse(&p).unwrap().reply([2, 0, 0, 0, 0, 1]).emit(&mut p);
        assert_eq!(b[..28], REPLY);
        assert_eq!(b[28..], [0x5a; 18]);
    }

    #[test]
    fn truncated_and_unsupported() {
        for len in 0..28 {
            assert_eq!(Packet::new_checked(&REQUEST[..len]).unwrap_err().kind, ErrorKind::Truncated);
        }
        let mut b = REQUEST;
        b[1] = 6;
        assert_eq!(Packet::new_checked(&b[..]).unwrap_err().kind, ErrorKind::Unsupported);
        assert_eq!(Repr::parse(&Packet::new_unchecked(&b[..])).unwrap_err().kind, ErrorKind::Unsupported);
    }
}
