//! Rewrites toward a node (MAC rewrite or IP-in-IP) and back toward the client.

use sluice_control::config::{ForwardMode, Role};

use super::{Context, DropReason, FrameBuf, Verdict};
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{Network, Parsed, PROTO_IPIP, PROTO_IPV6};
use crate::wire::{ipv4, ipv6};

/// Sends a client packet to the node `hash` selects: the Ethernet header is rebuilt untagged in front of
/// L3 (MAC mode), or an outer IP header goes between them (IP-in-IP).
#[inline(always)]
pub(super) fn to_node(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, hash: u32) -> Verdict {
    let n = match (ctx.role, ctx.this_chassis) {
        (Role::Chassis, Some(c)) => ctx.topology.lookup_in_chassis(c, hash),
        _ => ctx.topology.lookup(hash),
    };
    match (n, ctx.role) {
        (None, _) => Verdict::Drop(DropReason::NoNode),
        (Some(n), Role::Spine) => to_chassis_appliance(ctx, frame, p, n),
        (Some(n), _) => forward_to(ctx, frame, p, n, hash),
    }
}

/// Sends a client packet to node `n`, which its connection's flow entry names: through the node's
/// chassis appliance at a spine, else straight to the node.
#[inline]
pub(super) fn tracked_to(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, n: u16, hash: u32) -> Verdict {
    match ctx.role {
        Role::Spine => to_chassis_appliance(ctx, frame, p, n),
        _ => forward_to(ctx, frame, p, n, hash),
    }
}

/// A spine sends the packet unchanged above L2 to the appliance of node `n`'s chassis.
fn to_chassis_appliance(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, n: u16) -> Verdict {
    let chassis = ctx.topology.nodes[n as usize].chassis;
    let Some((mac, port)) = ctx.chassis_links[chassis as usize] else {
        return Verdict::Drop(DropReason::NoNode);
    };
    let ty = if p.network == Network::Ipv6 { ethertype::IPV6 } else { ethertype::IPV4 };
    let start = frame.start + p.l3_offset - ethernet::HEADER_LEN;
    let len = frame.len - p.l3_offset + ethernet::HEADER_LEN;
    if !frame.reframe(start, len) {
        return Verdict::Drop(DropReason::NoHeadroom);
    }
    let eth = ethernet::Repr { dst: mac, src: ctx.ports[port as usize].mac, ethertype: ty };
    eth.emit(&mut ethernet::Frame::new_unchecked(frame.data_mut()));
    Verdict::Node { node: n, port }
}

/// Sends the client packet in `frame` to node `n` (chosen by the caller). `hash` becomes the outer IPv6
/// flow label when the node is reached by IPv6-in-IP.
#[inline(always)]
pub(crate) fn forward_to(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, n: u16, hash: u32) -> Verdict {
    let node = &ctx.nodes[n as usize];
    let port = &ctx.ports[node.port as usize];
    let inner_type = if p.network == Network::Ipv6 { ethertype::IPV6 } else { ethertype::IPV4 };
    match node.forward {
        ForwardMode::Mac => {
            let start = frame.start + p.l3_offset - ethernet::HEADER_LEN;
            let len = frame.len - p.l3_offset + ethernet::HEADER_LEN;
            if !frame.reframe(start, len) {
                return Verdict::Drop(DropReason::NoHeadroom);
            }
            let eth = ethernet::Repr { dst: node.mac, src: port.mac, ethertype: inner_type };
            eth.emit(&mut ethernet::Frame::new_unchecked(frame.data_mut()));
        }
        ForwardMode::Ipip => {
            let outer = if node.ip.v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
            if p.l3_len + outer > port.mtu as usize {
                return Verdict::Drop(DropReason::EncapTooBig);
            }
            let Some(start) = (frame.start + p.l3_offset).checked_sub(ethernet::HEADER_LEN + outer) else {
                return Verdict::Drop(DropReason::NoHeadroom);
            };
            // Ethernet padding after the inner packet is dropped; the outer length covers the inner exactly.
            if !frame.reframe(start, ethernet::HEADER_LEN + outer + p.l3_len) {
                return Verdict::Drop(DropReason::NoHeadroom);
            }
            let (tos, proto) = match p.network {
                Network::Ipv6 => {
                    let d = &frame.data()[ethernet::HEADER_LEN + outer..];
                    ((d[0] << 4) | (d[1] >> 4), PROTO_IPV6)
                }
                _ => (frame.data()[ethernet::HEADER_LEN + outer + 1], PROTO_IPIP),
            };
            let (l2, l3) = frame.data_mut().split_at_mut(ethernet::HEADER_LEN);
            if node.ip.v6 {
                // The outer flow label is the flow's hash; the traffic class is 0.
                let (src, dst) = (node.tunnel_src.bytes, node.ip.bytes);
                let outer = ipv6::Repr { flow_label: hash, ..ipv6::Repr::new(src, dst, proto, p.l3_len, 64) };
                let eth = ethernet::Repr { dst: node.mac, src: port.mac, ethertype: ethertype::IPV6 };
                eth.emit(&mut ethernet::Frame::new_unchecked(l2));
                outer.emit(&mut ipv6::Packet::new_unchecked(l3));
            } else {
                // The outer TOS carries the inner DSCP (not its ECN bits).
                let (src, dst) = (node.tunnel_src.v4_bytes(), node.ip.v4_bytes());
                let outer = ipv4::Repr { tos: tos & 0xfc, ..ipv4::Repr::new(src, dst, proto, p.l3_len, 64) };
                let eth = ethernet::Repr { dst: node.mac, src: port.mac, ethertype: ethertype::IPV4 };
                eth.emit(&mut ethernet::Frame::new_unchecked(l2));
                outer.emit(&mut ipv4::Packet::new_unchecked(l3));
            }
        }
    }
    Verdict::Node { node: n, port: node.port }
}

/// Sends return traffic (the IP packet at `l3_offset`, `l3_bytes` long) out of the client port, untagged,
/// from the port's MAC to its gateway.
#[inline(always)]
pub(crate) fn to_client(ctx: &Context, frame: &mut FrameBuf<'_>, l3_offset: usize, l3_bytes: usize) -> Verdict {
    let port = &ctx.ports[ctx.client_port as usize];
    let ty = if frame.data()[l3_offset] >> 4 == 6 { ethertype::IPV6 } else { ethertype::IPV4 };
    let start = frame.start + l3_offset - ethernet::HEADER_LEN;
    if !frame.reframe(start, ethernet::HEADER_LEN + l3_bytes) {
        return Verdict::Drop(DropReason::NoHeadroom);
    }
    let eth = ethernet::Repr { dst: port.gateway_mac, src: port.mac, ethertype: ty };
    eth.emit(&mut ethernet::Frame::new_unchecked(frame.data_mut()));
    Verdict::Client { port: ctx.client_port }
}

/// Return traffic a remote node tunnelled back to the appliance: strip the outer header if the inner
/// packet is from a VIP, or from node `node`'s own address when a portal sends logins to the CVMs.
pub(super) fn decapsulate_to_client(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, node: u16) -> Verdict {
    let inner = &frame.data()[p.l4_offset..p.l3_offset + p.l3_len];
    let (src, len) = if p.protocol == PROTO_IPIP {
        match ipv4::Packet::new_checked(inner) {
            Ok(ip) => (crate::wire::parse::Addr::v4(ip.src()), ip.total_len()),
            Err(e) => return Verdict::Drop(e.into()),
        }
    } else {
        match ipv6::Packet::new_checked(inner) {
            Ok(ip) => (crate::wire::parse::Addr::v6(ip.src()), ip.total_len()),
            Err(e) => return Verdict::Drop(e.into()),
        }
    };
    if ctx.vip(&src).is_none() && !crate::portal::hook::tunnelled_from_cvm(ctx, node, &src, inner) {
        return Verdict::Drop(DropReason::UnknownSource);
    }
    to_client(ctx, frame, p.l4_offset, len)
}
