//! Health checks on the wire: the probes the control core asks for (TCP SYN to the service port, ICMP
//! echo, ARP request), written from the node port's own address, and the recognition of their answers
//! on the node side, which the worker hands back to the control core.
//!
//! A TCP probe's sequence number is its token and its source port is in [`SPORT_BASE`]`..+`[`SPORT_SPAN`];
//! the node's SYN-ACK (healthy) is answered with a RST at its ack so no half-open connection stays behind;
//! its RST (nothing listens) is a failure. An echo's sequence number carries the token's low 16 bits.

use super::{Context, DropReason, Frame, Verdict};
use crate::reset::{write_segment, Conn};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{Addr, Parsed, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::wire::tcp::flags;
use crate::wire::{arp, checksum, icmp, ipv4, ipv6};

/// TCP probes leave from source ports `SPORT_BASE..SPORT_BASE + SPORT_SPAN`.
pub const SPORT_BASE: u16 = 61000;
pub const SPORT_SPAN: u16 = 4096;
/// The ICMP echo identifier of health probes.
pub const ICMP_ID: u16 = 0x5c1e;
/// Room for the largest probe (IPv6 + TCP).
pub const PROBE_MAX: usize = 96;

/// What kind of check an answer belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Tcp,
    Icmp,
    Arp,
}

/// An answer to a health probe, from the node at `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    pub from: Addr,
    pub kind: Kind,
    /// The probe's token (TCP: all 32 bits; ICMP: the low 16); None for ARP.
    pub token: Option<u32>,
    pub ok: bool,
}

/// A probe frame for a worker to send out of `port`.
#[derive(Clone, Copy)]
pub struct Probe {
    pub port: u16,
    pub len: u16,
    pub frame: [u8; PROBE_MAX],
}

/// Answers a worker saw since it last handed them over (bounded; the rest are counted as lost).
#[derive(Default)]
pub struct Inbox {
    items: [Option<Answer>; 32],
    n: usize,
    pub lost: u64,
}

impl Inbox {
    fn push(&mut self, a: Answer) {
        match self.items.get_mut(self.n) {
            Some(slot) => {
                *slot = Some(a);
                self.n += 1;
            }
            None => self.lost += 1,
        }
    }

    /// Takes every answer out.
    pub fn drain(&mut self) -> impl Iterator<Item = Answer> + '_ {
        let n = std::mem::take(&mut self.n);
        self.items[..n].iter_mut().filter_map(Option::take)
    }
}

/// Writes the probe of kind `kind` for node `n` with `token`: from the node port's address of the node's
/// family to the node (TCP to `tcp_port`). None if the port has no such address.
pub fn write_probe(ctx: &Context, n: u16, kind: Kind, tcp_port: u16, token: u32) -> Option<Probe> {
    let node = &ctx.nodes[n as usize];
    let port = &ctx.ports[node.port as usize];
    let src = *port.addresses.iter().find(|a| a.v6 == node.ip.v6)?;
    let mut p = Probe { port: node.port, len: 0, frame: [0; PROBE_MAX] };
    let b = &mut p.frame;
    let len = match kind {
        Kind::Tcp => {
            let conn = Conn {
                client: src,
                vip: node.ip,
                cport: SPORT_BASE + (token % SPORT_SPAN as u32) as u16,
                vport: tcp_port,
            };
            let len = write_segment(b, &conn, token, 0, flags::SYN)?;
            // A window, so the node's stack treats it as an ordinary connection attempt.
            let l4 = len - 20;
            b[l4 + 14..l4 + 16].copy_from_slice(&1024u16.to_be_bytes());
            let c = u16::from_be_bytes([b[l4 + 16], b[l4 + 17]]);
            let c = checksum::update16(c, 0, 1024);
            b[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
            ethernet::emit(b, node.mac, port.mac, if src.v6 { ethertype::IPV6 } else { ethertype::IPV4 });
            len
        }
        Kind::Icmp => {
            const BODY: usize = icmp::HEADER_LEN + 8;
            let ip_len = if src.v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
            let l4 = ethernet::HEADER_LEN + ip_len;
            ethernet::emit(b, node.mac, port.mac, if src.v6 { ethertype::IPV6 } else { ethertype::IPV4 });
            let (proto, ty) = if src.v6 {
                ipv6::emit(&mut b[ethernet::HEADER_LEN..], src.bytes, node.ip.bytes, PROTO_ICMPV6, BODY, 64, 0);
                (PROTO_ICMPV6, icmp::v6::ECHO_REQUEST)
            } else {
                ipv4::emit(&mut b[ethernet::HEADER_LEN..], src.v4_bytes(), node.ip.v4_bytes(), PROTO_ICMP, BODY, 64, 0);
                (PROTO_ICMP, icmp::v4::ECHO_REQUEST)
            };
            let m = &mut b[l4..l4 + BODY];
            m[0] = ty;
            m[1] = 0;
            m[2..4].fill(0);
            m[4..6].copy_from_slice(&ICMP_ID.to_be_bytes());
            m[6..8].copy_from_slice(&(token as u16).to_be_bytes());
            m[8..16].copy_from_slice(b"sluice-h");
            let start =
                if src.v6 { checksum::pseudo_header(&src.bytes, &node.ip.bytes, proto, BODY as u32) } else { 0 };
            let c = checksum::finish(checksum::sum(start, m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
            l4 + BODY
        }
        Kind::Arp => {
            if src.v6 {
                return None;
            }
            ethernet::emit(b, [0xff; 6], port.mac, ethertype::ARP);
            let a = &mut b[ethernet::HEADER_LEN..ethernet::HEADER_LEN + arp::PACKET_LEN];
            a[0..8].copy_from_slice(&[0, 1, 8, 0, 6, 4, 0, arp::OP_REQUEST as u8]);
            a[arp::field::SHA].copy_from_slice(&port.mac);
            a[arp::field::SPA].copy_from_slice(&src.v4_bytes());
            a[arp::field::THA].fill(0);
            a[arp::field::TPA].copy_from_slice(&node.ip.v4_bytes());
            ethernet::HEADER_LEN + arp::PACKET_LEN
        }
    };
    p.len = len as u16;
    Some(p)
}

/// A TCP or ICMP answer to a health probe, addressed to the appliance on node port `in_port`: noted in
/// `inbox`. A SYN-ACK is turned into the RST that closes the half-open connection; everything else is
/// consumed. None: not a health answer.
pub(super) fn answer(
    ctx: &Context,
    in_port: u16,
    frame: &mut Frame<'_>,
    p: &Parsed,
    inbox: &mut Inbox,
) -> Option<Verdict> {
    if p.fragment {
        return None;
    }
    let is_answer = match p.protocol {
        PROTO_TCP => p.dst_port.wrapping_sub(SPORT_BASE) < SPORT_SPAN,
        PROTO_ICMP | PROTO_ICMPV6 => {
            let reply = if p.protocol == PROTO_ICMP { icmp::v4::ECHO_REPLY } else { icmp::v6::ECHO_REPLY };
            let id = frame.data().get(p.l4_offset + 4..p.l4_offset + 6)?;
            p.icmp_type == reply && u16::from_be_bytes([id[0], id[1]]) == ICMP_ID
        }
        _ => false,
    };
    if !is_answer {
        return None;
    }
    // Only the probed node, on its own port and from its own MAC, answers a health probe.
    let src_mac: [u8; 6] = frame.data()[6..12].try_into().expect("parsed frame");
    if !from_node(ctx, &p.src, in_port, src_mac) {
        return Some(Verdict::Drop(DropReason::HealthForged));
    }
    match p.protocol {
        PROTO_TCP => {
            let d = frame.data();
            let ack = u32::from_be_bytes(d[p.l4_offset + 8..p.l4_offset + 12].try_into().expect("parsed TCP"));
            let token = ack.wrapping_sub(1);
            let f = p.tcp_flags;
            if f & flags::RST != 0 {
                inbox.push(Answer { from: p.src, kind: Kind::Tcp, token: Some(token), ok: false });
                return Some(Verdict::Drop(DropReason::HealthAnswer));
            }
            if f & (flags::SYN | flags::ACK) != flags::SYN | flags::ACK {
                return Some(Verdict::Drop(DropReason::HealthAnswer));
            }
            inbox.push(Answer { from: p.src, kind: Kind::Tcp, token: Some(token), ok: true });
            let node_mac: [u8; 6] = d[6..12].try_into().expect("parsed frame");
            let conn = Conn { client: p.dst, vip: p.src, cport: p.dst_port, vport: p.src_port };
            let start = frame.start;
            let Some(len) = write_segment(&mut frame.buf[start..], &conn, ack, 0, flags::RST) else {
                return Some(Verdict::Drop(DropReason::HealthAnswer));
            };
            frame.reframe(start, len);
            ethernet::emit(frame.data_mut(), node_mac, ctx.ports[in_port as usize].mac, ethernet_type(&p.dst));
            Some(Verdict::Reply { port: in_port })
        }
        _ => {
            let id = frame.data().get(p.l4_offset + 4..p.l4_offset + 8)?;
            let seq = u16::from_be_bytes([id[2], id[3]]) as u32;
            inbox.push(Answer { from: p.src, kind: Kind::Icmp, token: Some(seq), ok: true });
            Some(Verdict::Drop(DropReason::HealthAnswer))
        }
    }
}

/// `ip` is a configured node's address, and the frame came in on that node's port from its MAC.
fn from_node(ctx: &Context, ip: &Addr, in_port: u16, mac: [u8; 6]) -> bool {
    ctx.node_by_ip(ip).is_some_and(|n| {
        let node = &ctx.nodes[n as usize];
        node.port == in_port && node.mac == mac
    })
}

fn ethernet_type(a: &Addr) -> u16 {
    if a.v6 {
        ethertype::IPV6
    } else {
        ethertype::IPV4
    }
}

/// An ARP reply from a node to the appliance's own address on `in_port`: noted and consumed when the
/// health check is `arp` and it comes from the node on its port; refused (counted) otherwise.
pub(super) fn arp_answer(
    ctx: &Context,
    in_port: u16,
    frame: &Frame<'_>,
    p: &Parsed,
    inbox: &mut Inbox,
) -> Option<Verdict> {
    let a = arp::Packet::new_checked(&frame.data()[p.l3_offset..]).ok()?;
    if a.operation() != arp::OP_REPLY || !ctx.is_own(in_port, &Addr::v4(a.target_ip())) {
        return None;
    }
    let from = Addr::v4(a.sender_ip());
    ctx.node_by_ip(&from)?;
    let src_mac: [u8; 6] = frame.data()[6..12].try_into().expect("parsed frame");
    if !ctx.health_arp || a.sender_mac() != src_mac || !from_node(ctx, &from, in_port, src_mac) {
        return Some(Verdict::Drop(DropReason::HealthForged));
    }
    inbox.push(Answer { from, kind: Kind::Arp, token: None, ok: true });
    Some(Verdict::Drop(DropReason::HealthAnswer))
}
