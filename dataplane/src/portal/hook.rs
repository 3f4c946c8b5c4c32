//! The pipeline's part in the portal, per packet on a worker:
//! - a TCP segment to a portal VIP's portal port is cut down to its IP packet and handed to the portal's
//!   stack ([`to_portal`]);
//! - a client's connection to a CVM's own portal (the node's address, the portal port), where the portal
//!   sent its login, goes straight to that node ([`to_cvm`]), and the node's answers go back to the
//!   client ([`from_cvm`]). These need no table: the address names the node.

use sluice_control::config::{ClientIdKind, ForwardMode, NodeState};

use super::PACKET_MAX;
use crate::pipeline::rewrite;
use crate::pipeline::{Context, DropReason, FrameBuf, KeyCounter, Verdict, Vip, WorkerState};
use crate::wire::parse::{Addr, Parsed, PROTO_TCP};

/// A client's segment to `vip`'s portal port: the frame becomes its IP packet alone, for the portal.
/// None: not for the portal.
#[inline]
pub(crate) fn to_portal(ctx: &Context, vip: &Vip, frame: &mut FrameBuf<'_>, p: &Parsed) -> Option<Verdict> {
    let portal = ctx.portal.as_ref()?;
    // Later fragments carry no port: they go the VIP's usual way.
    if !vip.portal || p.protocol != PROTO_TCP || p.later_fragment || p.dst_port != portal.port {
        return None;
    }
    if p.fragment || p.l3_len > PACKET_MAX {
        return Some(Verdict::Drop(DropReason::PortalUnfit));
    }
    let start = frame.start() + p.l3_offset;
    if !frame.reframe(start, p.l3_len) {
        return Some(Verdict::Drop(DropReason::PortalUnfit));
    }
    Some(Verdict::Portal)
}

/// A client's segment to a CVM's own portal: to that node, the connection noted for affinity when the
/// portal learns. None: not to a CVM's portal.
#[inline]
pub(crate) fn to_cvm(ctx: &Context, frame: &mut FrameBuf<'_>, p: &Parsed, st: &mut WorkerState) -> Option<Verdict> {
    let portal = ctx.portal.as_ref()?;
    if p.protocol != PROTO_TCP || p.fragment || p.dst_port != portal.port {
        return None;
    }
    let n = ctx.node_by_ip(&p.dst)?;
    // A session's data (not a bare SYN or ACK) to an active CVM teaches the client's CVM.
    let active = ctx.topology.nodes.get(n as usize).is_some_and(|x| x.state == NodeState::Active);
    let carries_data = p.l3_offset + p.l3_len > p.l4_offset + tcp_header_len(frame.data(), p.l4_offset);
    if portal.learn && ctx.client_id == ClientIdKind::Ip && active && carries_data {
        let client = crate::pipeline::ip_client_id(&p.src);
        if !st.learn.record(client, n, frame.len()) {
            st.keys[KeyCounter::AffinityReportsDropped] += 1;
        }
    }
    let hash = crate::pipeline::flow_hash(ctx, &p.src, &p.dst, false, p.src_port, p.dst_port);
    Some(rewrite::forward_to(ctx, frame, p, n, hash))
}

/// A node's segment from its own portal, from its MAC on its port: back to the client. None: not from a
/// CVM's portal.
#[inline]
pub(crate) fn from_cvm(ctx: &Context, in_port: u16, frame: &mut FrameBuf<'_>, p: &Parsed) -> Option<Verdict> {
    let portal = ctx.portal.as_ref()?;
    if p.protocol != PROTO_TCP || p.fragment || p.src_port != portal.port {
        return None;
    }
    let n = ctx.node_by_ip(&p.src)?;
    let node = &ctx.nodes[n as usize];
    let mac: [u8; 6] = frame.data()[6..12].try_into().expect("parsed frame");
    // An IP-in-IP node answers through its tunnel; its `mac` is a router's, which others share.
    if node.forward != ForwardMode::Mac || node.port != in_port || node.mac != mac {
        return Some(Verdict::Drop(DropReason::UnknownSender));
    }
    let len = frame.len() - p.l3_offset;
    Some(rewrite::to_client(ctx, frame, p.l3_offset, len))
}

/// A packet node `node` tunnelled back (`inner`, from `src`) is its own portal's answer: TCP from the
/// node's address and the portal port (an IPv6 one without extension headers).
pub(crate) fn tunnelled_from_cvm(ctx: &Context, node: u16, src: &Addr, inner: &[u8]) -> bool {
    let Some(portal) = ctx.portal.as_ref() else { return false };
    if ctx.nodes.get(node as usize).is_none_or(|n| n.ip != *src) {
        return false;
    }
    let (proto, l4) = match inner.first().map(|b| b >> 4) {
        Some(4) if inner.len() >= 20 => {
            // A later fragment carries no ports.
            let later = u16::from_be_bytes([inner[6], inner[7]]) & 0x1fff != 0;
            (if later { 0 } else { inner[9] }, (inner[0] & 0x0f) as usize * 4)
        }
        Some(6) if inner.len() >= 40 => (inner[6], 40),
        _ => return false,
    };
    proto == PROTO_TCP && inner.get(l4..l4 + 2).is_some_and(|p| u16::from_be_bytes([p[0], p[1]]) == portal.port)
}

/// The TCP header's length (its data offset) at `l4` of `frame`; 20 when it cannot be read.
fn tcp_header_len(frame: &[u8], l4: usize) -> usize {
    frame.get(l4 + 12).map_or(20, |b| (*b >> 4) as usize * 4)
}
