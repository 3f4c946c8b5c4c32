//! The pipeline's look at health answers: frames addressed to the appliance on a node port that answer a
//! probe are noted in the worker's [`Inbox`] and consumed (a SYN-ACK becomes the RST that closes it).

use super::{Answer, Inbox, Kind, ICMP_ID, SPORT_BASE, SPORT_SPAN};
use crate::pipeline::{Context, DropReason, FrameBuf, Verdict};
use crate::reset::frames::write_tcp_frame;
use crate::wire::parse::{Addr, Parsed, PROTO_ICMP, PROTO_ICMPV6, PROTO_TCP};
use crate::wire::tcp::{self, flags};
use crate::wire::{arp, icmp};

/// A TCP or ICMP answer to a health probe, addressed to the appliance on node port `in_port`: noted in
/// `inbox`. A SYN-ACK is turned into the RST that closes the half-open connection; everything else is
/// consumed. None: not a health answer.
pub(crate) fn answer(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
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
            let port_mac = ctx.ports[in_port as usize].mac;
            let rst = tcp::Repr::new(p.dst_port, p.src_port, ack, 0, flags::RST);
            let start = frame.start;
            let Some(len) = write_tcp_frame(&mut frame.buf[start..], node_mac, port_mac, p.dst, p.src, &rst) else {
                return Some(Verdict::Drop(DropReason::HealthAnswer));
            };
            if !frame.reframe(start, len) {
                return Some(Verdict::Drop(DropReason::HealthAnswer));
            }
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

/// An ARP reply from a node to the appliance's own address on `in_port`: noted and consumed when the
/// health check is `arp` and it comes from the node on its port; refused (counted) otherwise.
pub(crate) fn arp_answer(
    ctx: &Context,
    in_port: u16,
    frame: &FrameBuf<'_>,
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
