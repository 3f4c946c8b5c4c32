//! One pass over a frame: L2 → L3 → L4, recording offsets and the few fields forwarding decisions need.

use std::ops::Range;

use super::ethernet::{self, ethertype};
use super::{arp, icmp, ipv4, ipv6, read16, tcp, udp, Error, Layer};

/// IP protocol number: ICMP.
pub const PROTO_ICMP: u8 = 1;
/// IP protocol number: IPv4 in IP (IP-in-IP).
pub const PROTO_IPIP: u8 = 4;
/// IP protocol number: TCP.
pub const PROTO_TCP: u8 = 6;
/// IP protocol number: UDP.
pub const PROTO_UDP: u8 = 17;
/// IP protocol number: IPv6 in IP.
pub const PROTO_IPV6: u8 = 41;
/// IP protocol number: ICMPv6.
pub const PROTO_ICMPV6: u8 = 58;

/// An IPv4 or IPv6 address as bytes: IPv4 in the first four, the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Addr {
    /// The address: all 16 bytes for IPv6, the first four for IPv4 (the rest zero).
    pub bytes: [u8; 16],
    /// An IPv6 address.
    pub v6: bool,
}

impl Addr {
    /// An IPv4 address.
    pub fn v4(b: [u8; 4]) -> Addr {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&b);
        Addr { bytes, v6: false }
    }
    /// An IPv6 address.
    pub fn v6(b: [u8; 16]) -> Addr {
        Addr { bytes: b, v6: true }
    }
    /// The address's own bytes (4 or 16).
    pub fn octets(&self) -> &[u8] {
        if self.v6 {
            &self.bytes
        } else {
            &self.bytes[..4]
        }
    }
    /// As a standard address.
    pub fn to_ip(&self) -> std::net::IpAddr {
        if self.v6 {
            std::net::IpAddr::from(self.bytes)
        } else {
            std::net::IpAddr::from(self.v4_bytes())
        }
    }

    /// The first four bytes: an IPv4 address's own.
    pub fn v4_bytes(&self) -> [u8; 4] {
        self.bytes[..4].try_into().expect("4")
    }
}

impl From<std::net::IpAddr> for Addr {
    fn from(a: std::net::IpAddr) -> Addr {
        match a {
            std::net::IpAddr::V4(a) => Addr::v4(a.octets()),
            std::net::IpAddr::V6(a) => Addr::v6(a.octets()),
        }
    }
}

/// The network layer found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    /// ARP.
    Arp,
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// Everything forwarding needs from one frame. Offsets are from the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The network layer.
    pub network: Network,
    /// Where L3 starts: after the Ethernet header and any VLAN tags (which forwarding drops).
    pub l3_offset: usize,
    /// The IP packet's length per its header (excludes Ethernet padding); ARP: 28.
    pub l3_len: usize,
    /// Where the upper-layer header starts (meaningless for ARP).
    pub l4_offset: usize,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    /// Source address (ARP: the sender's).
    pub src: Addr,
    /// Destination address (ARP: the target's).
    pub dst: Addr,
    /// Part of a fragmented datagram.
    pub fragment: bool,
    /// A fragment other than the first: it has no upper-layer header.
    pub later_fragment: bool,
    /// TCP/UDP source port (0 when absent).
    pub src_port: u16,
    /// TCP/UDP destination port (0 when absent).
    pub dst_port: u16,
    /// TCP flags (0 when absent).
    pub tcp_flags: u8,
    /// ICMP/ICMPv6 type (0 when absent).
    pub icmp_type: u8,
    /// ICMP/ICMPv6 code (0 when absent).
    pub icmp_code: u8,
}

/// The outcome of [`classify`] for a well-formed frame.
pub enum Classified {
    /// ARP, IPv4 or IPv6, parsed.
    Parsed(Parsed),
    /// An ethertype sluice does not handle.
    Other(u16),
}

/// What [`classify_into`] found in a well-formed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    /// ARP, IPv4 or IPv6: the parse results are in the caller's [`Parsed`].
    Parsed,
    /// The same, known to be an untagged, unfragmented TCP or UDP packet (no ARP, ICMP or tunnel).
    Plain,
    /// An ethertype sluice does not handle.
    Other(u16),
}

impl Parsed {
    /// Nothing parsed yet: what [`classify_into`] expects to start from.
    pub const EMPTY: Parsed = Parsed {
        network: Network::Arp,
        l3_offset: 0,
        l3_len: 0,
        l4_offset: 0,
        protocol: 0,
        src: Addr { bytes: [0; 16], v6: false },
        dst: Addr { bytes: [0; 16], v6: false },
        fragment: false,
        later_fragment: false,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    };
}

/// Parses a frame: L2 and its tags, then ARP, IPv4 or IPv6, then TCP/UDP/ICMP (unless a later fragment).
pub fn classify(frame: &[u8]) -> Result<Classified, Error> {
    let mut p = Parsed::EMPTY;
    Ok(match classify_into(frame, &mut p)? {
        Found::Parsed | Found::Plain => Classified::Parsed(p),
        Found::Other(t) => Classified::Other(t),
    })
}

/// [`classify`] into the caller's `p` (which it overwrites), so that the per-packet path moves no parse
/// results around. The common frames, untagged IPv4 without options or fragmentation and untagged IPv6
/// without extension headers, carrying TCP or UDP, take a straight-line path that checks exactly what the
/// general one does; anything else, including every malformed frame, takes the general path, which names
/// the fault.
#[inline(always)]
pub fn classify_into(frame: &[u8], p: &mut Parsed) -> Result<Found, Error> {
    if plain_into(frame, p) {
        return Ok(Found::Plain);
    }
    classify_general(frame, p)
}

/// The straight-line path of [`classify_into`] alone: parses a plain frame (untagged, unfragmented IPv4
/// without options or IPv6 without extension headers, carrying TCP or UDP) into `p` and says true; says
/// false, leaving `p` alone, for anything else, which [`classify_general`] then parses.
#[inline(always)]
pub fn plain_into(frame: &[u8], p: &mut Parsed) -> bool {
    // Offsets in the frame: after an untagged Ethernet header.
    const L3: usize = ethernet::HEADER_LEN;
    const L4_V4: usize = L3 + ipv4::MIN_HEADER_LEN;
    const L4_V6: usize = L3 + ipv6::HEADER_LEN;
    const ETHERTYPE: Range<usize> = ethernet::field::ETHERTYPE;
    if let Some(f) = frame.get(..L4_V4) {
        use ipv4::field as ip;
        // Ethertype IPv4, version 4 with a 5-word header, neither MF nor a fragment offset.
        // Whole-field compares joined without short-circuits: a few instructions, no branches.
        let flags_offset = read16(&f[at(L3, ip::FLAGS_FRAG)]) & 0x3fff;
        let plain = (read16(&f[ETHERTYPE]) == ethertype::IPV4) & (f[L3 + ip::VER_IHL] == 0x45) & (flags_offset == 0);
        let total = read16(&f[at(L3, ip::LENGTH)]) as usize;
        if plain && total >= ipv4::MIN_HEADER_LEN && L3 + total <= frame.len() {
            let protocol = f[L3 + ip::PROTOCOL];
            if let Some((sp, dp, flags)) = plain_ports(protocol, &frame[L4_V4..L3 + total]) {
                let src = Addr::v4(f[at(L3, ip::SRC)].try_into().expect("4"));
                let dst = Addr::v4(f[at(L3, ip::DST)].try_into().expect("4"));
                *p = Parsed::plain(Network::Ipv4, total, protocol, src, dst, (sp, dp, flags));
                return true;
            }
        }
    }
    if let Some(f) = frame.get(..L4_V6) {
        use ipv6::field as ip;
        // Ethertype IPv6, version 6, the upper layer right after the fixed header.
        let total = ipv6::HEADER_LEN + read16(&f[at(L3, ip::PAYLOAD_LEN)]) as usize;
        let version = f[L3 + ip::VER_TC_FLOW.start] >> 4;
        if read16(&f[ETHERTYPE]) == ethertype::IPV6 && version == 6 && L3 + total <= frame.len() {
            let protocol = f[L3 + ip::NEXT_HEADER];
            if let Some((sp, dp, flags)) = plain_ports(protocol, &frame[L4_V6..L3 + total]) {
                let src = Addr::v6(f[at(L3, ip::SRC)].try_into().expect("16"));
                let dst = Addr::v6(f[at(L3, ip::DST)].try_into().expect("16"));
                *p = Parsed::plain(Network::Ipv6, total, protocol, src, dst, (sp, dp, flags));
                return true;
            }
        }
    }
    false
}

/// A header's field range `r`, for a header that starts `base` bytes into the buffer.
#[inline(always)]
const fn at(base: usize, r: Range<usize>) -> Range<usize> {
    base + r.start..base + r.end
}

/// The ports and TCP flags of a TCP or UDP header at the start of `seg` (the IP payload), when the
/// general path would accept it; None for other protocols and for any header it would refuse.
#[inline(always)]
fn plain_ports(protocol: u8, seg: &[u8]) -> Option<(u16, u16, u8)> {
    // TCP and UDP ports are in the same place.
    let flags = match protocol {
        PROTO_TCP if seg.len() >= tcp::MIN_HEADER_LEN => {
            let hl = (seg[tcp::field::DATA_OFFSET] >> 4) as usize * 4;
            if hl < tcp::MIN_HEADER_LEN || hl > seg.len() {
                return None;
            }
            seg[tcp::field::FLAGS]
        }
        PROTO_UDP if seg.len() >= udp::HEADER_LEN => {
            let len = read16(&seg[udp::field::LENGTH]) as usize;
            if len < udp::HEADER_LEN || len > seg.len() {
                return None;
            }
            0
        }
        _ => return None,
    };
    Some((read16(&seg[udp::field::SRC_PORT]), read16(&seg[udp::field::DST_PORT]), flags))
}

impl Parsed {
    /// An untagged, unfragmented TCP/UDP packet: every field written at once, none read back.
    #[inline(always)]
    fn plain(network: Network, l3_len: usize, protocol: u8, src: Addr, dst: Addr, l4: (u16, u16, u8)) -> Parsed {
        let l3 = if network == Network::Ipv6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
        Parsed {
            network,
            l3_offset: ethernet::HEADER_LEN,
            l3_len,
            l4_offset: ethernet::HEADER_LEN + l3,
            protocol,
            src,
            dst,
            fragment: false,
            later_fragment: false,
            src_port: l4.0,
            dst_port: l4.1,
            tcp_flags: l4.2,
            icmp_type: 0,
            icmp_code: 0,
        }
    }
}

/// The general parse: every layout sluice accepts, and a named error for every frame it refuses.
pub fn classify_general(frame: &[u8], p: &mut Parsed) -> Result<Found, Error> {
    let l2 = ethernet::parse(frame)?;
    let off = l2.header_len;
    let rest = &frame[off..];
    *p = Parsed { l3_offset: off, l4_offset: off, ..Parsed::EMPTY };
    match l2.ethertype {
        ethertype::ARP => {
            let a = arp::Packet::new_checked(rest)?;
            p.l3_len = arp::PACKET_LEN;
            p.src = Addr::v4(a.sender_ip());
            p.dst = Addr::v4(a.target_ip());
            return Ok(Found::Parsed);
        }
        ethertype::IPV4 => {
            let ip = ipv4::Packet::new_checked(rest)?;
            p.network = Network::Ipv4;
            p.l3_len = ip.total_len();
            p.l4_offset = off + ip.header_len();
            p.protocol = ip.protocol();
            p.src = Addr::v4(ip.src());
            p.dst = Addr::v4(ip.dst());
            p.fragment = ip.is_fragment();
            p.later_fragment = ip.frag_offset() != 0;
        }
        ethertype::IPV6 => {
            let ip = ipv6::Packet::new_checked(rest)?;
            p.network = Network::Ipv6;
            p.l3_len = ip.total_len();
            let upper = ipv6::walk_extensions(&rest[..ip.total_len()])?;
            p.l4_offset = off + upper.offset;
            p.protocol = upper.protocol;
            p.src = Addr::v6(ip.src());
            p.dst = Addr::v6(ip.dst());
            if let Some(f) = upper.fragment {
                p.fragment = true;
                p.later_fragment = f.offset != 0;
            }
        }
        t => return Ok(Found::Other(t)),
    }
    if !p.later_fragment {
        parse_upper(&frame[p.l4_offset..p.l3_offset + p.l3_len], p)?;
    }
    Ok(Found::Parsed)
}

fn parse_upper(l4: &[u8], p: &mut Parsed) -> Result<(), Error> {
    match p.protocol {
        PROTO_TCP => {
            let t = tcp::Packet::new_checked(l4)?;
            p.src_port = t.src_port();
            p.dst_port = t.dst_port();
            p.tcp_flags = t.flags();
        }
        PROTO_UDP => {
            // A first fragment carries the UDP header but not the whole datagram its length names.
            if p.fragment {
                if l4.len() < udp::HEADER_LEN {
                    return Err(Error::truncated(Layer::Udp, udp::HEADER_LEN, l4.len()));
                }
                p.src_port = read16(&l4[udp::field::SRC_PORT]);
                p.dst_port = read16(&l4[udp::field::DST_PORT]);
            } else {
                let u = udp::Packet::new_checked(l4)?;
                p.src_port = u.src_port();
                p.dst_port = u.dst_port();
            }
        }
        PROTO_ICMP | PROTO_ICMPV6 => {
            let i = icmp::Packet::new_checked(l4)?;
            p.icmp_type = i.msg_type();
            p.icmp_code = i.code();
        }
        _ => {}
    }
    Ok(())
}

/// The flow an ICMP error is about: the header embedded in its body, parsed as far as it goes (RFC 792
/// guarantees the IP header and 8 bytes, enough for the ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EmbeddedFlow {
    /// The embedded packet's source address (the flow's sender: sluice's side for an answer to it).
    pub src: Addr,
    /// The embedded packet's destination address.
    pub dst: Addr,
    /// The embedded packet's upper-layer protocol.
    pub protocol: u8,
    /// TCP/UDP source port (0 when absent).
    pub src_port: u16,
    /// TCP/UDP destination port (0 when absent).
    pub dst_port: u16,
    /// The embedded packet was a fragment: use the 3-tuple.
    pub fragment: bool,
}

/// Parses the packet embedded in an ICMP (v6 = false) or ICMPv6 error body.
pub fn embedded_flow(body: &[u8], v6: bool) -> Result<EmbeddedFlow, Error> {
    // The embedded packet is cut short: its length fields describe the original, so the views are made
    // unchecked, over what the checks here have found to be there.
    let (src, dst, protocol, l4, fragment) = if v6 {
        if body.len() < ipv6::HEADER_LEN || body[0] >> 4 != 6 {
            return Err(Error::truncated(Layer::Ipv6, ipv6::HEADER_LEN, body.len()));
        }
        let ip = ipv6::Packet::new_unchecked(body);
        // Walk only what is there.
        let upper = ipv6::walk_extensions(body)?;
        (Addr::v6(ip.src()), Addr::v6(ip.dst()), upper.protocol, &body[upper.offset..], upper.fragment.is_some())
    } else {
        if body.len() < ipv4::MIN_HEADER_LEN || body[0] >> 4 != 4 {
            return Err(Error::truncated(Layer::Ipv4, ipv4::MIN_HEADER_LEN, body.len()));
        }
        let ip = ipv4::Packet::new_unchecked(body);
        let hl = ip.header_len();
        if hl < ipv4::MIN_HEADER_LEN || hl > body.len() {
            return Err(Error::new(Layer::Ipv4, super::ErrorKind::BadHeaderLength, hl, body.len()));
        }
        (Addr::v4(ip.src()), Addr::v4(ip.dst()), ip.protocol(), &body[hl..], ip.is_fragment())
    };
    // TCP and UDP ports are in the same place.
    let (src_port, dst_port) = match protocol {
        PROTO_TCP | PROTO_UDP if !fragment || l4.len() >= udp::field::DST_PORT.end => {
            if l4.len() < udp::field::DST_PORT.end {
                return Err(Error::truncated(Layer::Tcp, udp::field::DST_PORT.end, l4.len()));
            }
            (read16(&l4[udp::field::SRC_PORT]), read16(&l4[udp::field::DST_PORT]))
        }
        _ => (0, 0),
    };
    Ok(EmbeddedFlow { src, dst, protocol, src_port, dst_port, fragment })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// An untagged IPv4 (or IPv6) frame with a TCP (or UDP) header and `payload` bytes, built by hand.
    fn frame(v6: bool, tcp: bool, payload: usize) -> Vec<u8> {
        let l4 = if tcp { tcp::MIN_HEADER_LEN } else { udp::HEADER_LEN };
        let l3 = if v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
        let mut f = vec![0u8; ethernet::HEADER_LEN + l3 + l4 + payload];
        let proto = if tcp { PROTO_TCP } else { PROTO_UDP };
        if v6 {
            f[12..14].copy_from_slice(&ethertype::IPV6.to_be_bytes());
            f[14] = 0x60;
            f[18..20].copy_from_slice(&((l4 + payload) as u16).to_be_bytes());
            f[20] = proto;
            f[21] = 64;
            f[22..38].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
            f[38..54].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        } else {
            f[12..14].copy_from_slice(&ethertype::IPV4.to_be_bytes());
            f[14] = 0x45;
            f[16..18].copy_from_slice(&((l3 + l4 + payload) as u16).to_be_bytes());
            f[22] = 64;
            f[23] = proto;
            f[26..34].copy_from_slice(&[192, 0, 2, 7, 10, 10, 0, 1]);
        }
        let at = ethernet::HEADER_LEN + l3;
        f[at..at + 4].copy_from_slice(&[0x9c, 0x40, 0x08, 0x01]);
        if tcp {
            f[at + 12] = 0x50;
            f[at + 13] = 0x10;
        } else {
            f[at + 4..at + 6].copy_from_slice(&((udp::HEADER_LEN + payload) as u16).to_be_bytes());
        }
        f
    }

    fn general(f: &[u8]) -> (Result<Found, Error>, Parsed) {
        let mut p = Parsed::EMPTY;
        (classify_general(f, &mut p), p)
    }

    #[test]
    fn the_straight_line_path_takes_plain_frames() {
        for (v6, tcp) in [(false, true), (false, false), (true, true), (true, false)] {
            let f = frame(v6, tcp, 10);
            let mut p = Parsed::EMPTY;
            assert_eq!(classify_into(&f, &mut p), Ok(Found::Plain));
            let l4 = if v6 { 54 } else { 34 };
            assert_eq!((p.src_port, p.dst_port, p.l3_len, p.l4_offset), (40000, 2049, f.len() - 14, l4));
            assert_eq!(p.network, if v6 { Network::Ipv6 } else { Network::Ipv4 });
            if !v6 {
                assert_eq!((p.src.v4_bytes(), p.dst.v4_bytes()), ([192, 0, 2, 7], [10, 10, 0, 1]));
            }
            assert_eq!((p.src.v6, p.src.octets()), (v6, &f[if v6 { 22..38 } else { 26..30 }]));
            assert_eq!(general(&f), (Ok(Found::Parsed), p));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8192))]
        /// Whatever a frame's bytes, the straight-line paths and the general one agree exactly: the same
        /// fields, or the same error.
        #[test]
        fn both_paths_agree_on_any_frame(
            v6 in any::<bool>(),
            tcp in any::<bool>(),
            payload in 0usize..40,
            edits in proptest::collection::vec((12usize..80, any::<u8>()), 0..4),
            cut in 0usize..48,
        ) {
            let mut f = frame(v6, tcp, payload);
            for (at, v) in edits {
                if at < f.len() {
                    // Mostly small changes to the fields the paths check.
                    f[at] = if v & 1 == 0 { f[at] ^ (1 << (v >> 5)) } else { v };
                }
            }
            // Half the frames are cut short.
            if cut < 24 {
                f.truncate(f.len().saturating_sub(cut));
            }
            let mut p = Parsed::EMPTY;
            // The straight-line path says Plain where the general one says Parsed.
            let fast = classify_into(&f, &mut p).map(|x| if x == Found::Plain { Found::Parsed } else { x });
            let (slow, q) = general(&f);
            prop_assert_eq!(fast, slow);
            if fast.is_ok() {
                prop_assert_eq!(p, q);
            }
        }
    }
}
