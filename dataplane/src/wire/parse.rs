//! One pass over a frame: L2 → L3 → L4, recording offsets and the few fields forwarding decisions need.

use super::ethernet::{self, ethertype};
use super::{arp, icmp, ipv4, ipv6, tcp, udp, Error, Layer};

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_IPV6: u8 = 41;
pub const PROTO_ICMPV6: u8 = 58;

/// An IPv4 or IPv6 address as bytes: IPv4 in the first four, the rest zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Addr {
    pub bytes: [u8; 16],
    pub v6: bool,
}

impl Addr {
    pub fn v4(b: [u8; 4]) -> Addr {
        let mut bytes = [0u8; 16];
        bytes[..4].copy_from_slice(&b);
        Addr { bytes, v6: false }
    }
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
    Arp,
    Ipv4,
    Ipv6,
}

/// Everything forwarding needs from one frame. Offsets are from the start of the frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub network: Network,
    /// Where L3 starts: after the Ethernet header and any VLAN tags (which forwarding drops).
    pub l3_offset: usize,
    /// The IP packet's length per its header (excludes Ethernet padding); ARP: 28.
    pub l3_len: usize,
    /// Where the upper-layer header starts (meaningless for ARP).
    pub l4_offset: usize,
    /// Upper-layer protocol (after IPv6 extension headers).
    pub protocol: u8,
    pub src: Addr,
    pub dst: Addr,
    /// Part of a fragmented datagram.
    pub fragment: bool,
    /// A fragment other than the first: it has no upper-layer header.
    pub later_fragment: bool,
    /// TCP/UDP ports (0 when absent).
    pub src_port: u16,
    pub dst_port: u16,
    pub tcp_flags: u8,
    /// ICMP/ICMPv6 type and code (0 when absent).
    pub icmp_type: u8,
    pub icmp_code: u8,
}

/// The outcome of [`classify`] for a well-formed frame.
pub enum Classified {
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
    const L4_V4: usize = ethernet::HEADER_LEN + ipv4::MIN_HEADER_LEN;
    const L4_V6: usize = ethernet::HEADER_LEN + ipv6::HEADER_LEN;
    if let Some(f) = frame.get(..L4_V4) {
        // Ethertype IPv4, version 4 with a 5-word header, neither MF nor a fragment offset.
        // Whole-field compares joined without short-circuits: a few instructions, no branches.
        let flags_offset = u16::from_be_bytes([f[20], f[21]]) & 0x3fff;
        let plain = (u16::from_be_bytes([f[12], f[13]]) == ethertype::IPV4) & (f[14] == 0x45) & (flags_offset == 0);
        let total = u16::from_be_bytes([f[16], f[17]]) as usize;
        if plain && total >= ipv4::MIN_HEADER_LEN && ethernet::HEADER_LEN + total <= frame.len() {
            if let Some((sp, dp, flags)) = plain_ports(f[23], &frame[L4_V4..ethernet::HEADER_LEN + total]) {
                let (src, dst) = (Addr::v4([f[26], f[27], f[28], f[29]]), Addr::v4([f[30], f[31], f[32], f[33]]));
                *p = Parsed::plain(Network::Ipv4, total, f[23], src, dst, (sp, dp, flags));
                return true;
            }
        }
    }
    if let Some(f) = frame.get(..L4_V6) {
        // Ethertype IPv6, version 6, the upper layer right after the fixed header.
        let total = ipv6::HEADER_LEN + u16::from_be_bytes([f[18], f[19]]) as usize;
        if f[12] == 0x86 && f[13] == 0xdd && f[14] >> 4 == 6 && ethernet::HEADER_LEN + total <= frame.len() {
            if let Some((sp, dp, flags)) = plain_ports(f[20], &frame[L4_V6..ethernet::HEADER_LEN + total]) {
                let (src, dst) =
                    (Addr::v6(f[22..38].try_into().expect("16")), Addr::v6(f[38..54].try_into().expect("16")));
                *p = Parsed::plain(Network::Ipv6, total, f[20], src, dst, (sp, dp, flags));
                return true;
            }
        }
    }
    false
}

/// The ports and TCP flags of a TCP or UDP header at the start of `seg` (the IP payload), when the
/// general path would accept it; None for other protocols and for any header it would refuse.
#[inline(always)]
fn plain_ports(protocol: u8, seg: &[u8]) -> Option<(u16, u16, u8)> {
    let flags = match protocol {
        PROTO_TCP if seg.len() >= tcp::MIN_HEADER_LEN => {
            let hl = (seg[12] >> 4) as usize * 4;
            if hl < tcp::MIN_HEADER_LEN || hl > seg.len() {
                return None;
            }
            seg[13]
        }
        PROTO_UDP if seg.len() >= udp::HEADER_LEN => {
            let len = u16::from_be_bytes([seg[4], seg[5]]) as usize;
            if len < udp::HEADER_LEN || len > seg.len() {
                return None;
            }
            0
        }
        _ => return None,
    };
    Some((u16::from_be_bytes([seg[0], seg[1]]), u16::from_be_bytes([seg[2], seg[3]]), flags))
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
                p.src_port = super::be16(l4, 0);
                p.dst_port = super::be16(l4, 2);
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
    pub src: Addr,
    pub dst: Addr,
    pub protocol: u8,
    pub src_port: u16,
    pub dst_port: u16,
    /// The embedded packet was a fragment: use the 3-tuple.
    pub fragment: bool,
}

/// Parses the packet embedded in an ICMP (v6 = false) or ICMPv6 error body.
pub fn embedded_flow(body: &[u8], v6: bool) -> Result<EmbeddedFlow, Error> {
    let (src, dst, protocol, l4, fragment) = if v6 {
        if body.len() < ipv6::HEADER_LEN || body[0] >> 4 != 6 {
            return Err(Error::truncated(Layer::Ipv6, ipv6::HEADER_LEN, body.len()));
        }
        let src: [u8; 16] = body[8..24].try_into().expect("16");
        let dst: [u8; 16] = body[24..40].try_into().expect("16");
        // The embedded packet is cut short, so walk only what is there.
        let upper = ipv6::walk_extensions(body)?;
        (Addr::v6(src), Addr::v6(dst), upper.protocol, &body[upper.offset..], upper.fragment.is_some())
    } else {
        if body.len() < ipv4::MIN_HEADER_LEN || body[0] >> 4 != 4 {
            return Err(Error::truncated(Layer::Ipv4, ipv4::MIN_HEADER_LEN, body.len()));
        }
        let hl = ((body[0] & 0x0f) as usize) * 4;
        if hl < ipv4::MIN_HEADER_LEN || hl > body.len() {
            return Err(Error::new(Layer::Ipv4, super::ErrorKind::BadHeaderLength, hl, body.len()));
        }
        let frag = (super::be16(body, 6) & 0x3fff) != 0;
        let src = Addr::v4(body[12..16].try_into().expect("4"));
        let dst = Addr::v4(body[16..20].try_into().expect("4"));
        (src, dst, body[9], &body[hl..], frag)
    };
    let (src_port, dst_port) = match protocol {
        PROTO_TCP | PROTO_UDP if !fragment || l4.len() >= 4 => {
            if l4.len() < 4 {
                return Err(Error::truncated(Layer::Tcp, 4, l4.len()));
            }
            (super::be16(l4, 0), super::be16(l4, 2))
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
