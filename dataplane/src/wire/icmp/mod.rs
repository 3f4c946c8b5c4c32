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

pub mod v4;
pub mod v6;

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
mod tests;
