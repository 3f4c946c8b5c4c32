//! One pass over a frame: L2 → L3 → L4, recording offsets and the few fields forwarding decisions need.

use super::ethernet::{self, ethertype, L2};
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
#[derive(Debug, Clone, Copy)]
pub struct Parsed {
    pub l2: L2,
    pub network: Network,
    /// Where L3 starts (= `l2.header_len`).
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

/// Parses a frame: L2 and its tags, then ARP, IPv4 or IPv6, then TCP/UDP/ICMP (unless a later fragment).
pub fn classify(frame: &[u8]) -> Result<Classified, Error> {
    let l2 = ethernet::parse(frame)?;
    let off = l2.header_len;
    let rest = &frame[off..];
    let mut p = Parsed {
        l2,
        network: Network::Arp,
        l3_offset: off,
        l3_len: 0,
        l4_offset: off,
        protocol: 0,
        src: Addr::default(),
        dst: Addr::default(),
        fragment: false,
        later_fragment: false,
        src_port: 0,
        dst_port: 0,
        tcp_flags: 0,
        icmp_type: 0,
        icmp_code: 0,
    };
    match l2.ethertype {
        ethertype::ARP => {
            let a = arp::Packet::new_checked(rest)?;
            p.l3_len = arp::PACKET_LEN;
            p.src = Addr::v4(a.sender_ip());
            p.dst = Addr::v4(a.target_ip());
            return Ok(Classified::Parsed(p));
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
        t => return Ok(Classified::Other(t)),
    }
    if !p.later_fragment {
        parse_upper(&frame[p.l4_offset..p.l3_offset + p.l3_len], &mut p)?;
    }
    Ok(Classified::Parsed(p))
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
