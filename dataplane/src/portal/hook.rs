//! The pipeline's part in the portal, per packet on a worker:
//! - a TCP segment to a portal VIP's portal port is cut down to its IP packet and handed to the portal's
//!   stack ([`to_portal`]);
//! - a client's connection to a CVM's own portal (the node's address, the portal port), where the portal
//!   sent its login, goes straight to that node ([`to_cvm`]), and the node's answers go back to the
//!   client ([`from_cvm`]). These need no table: the address names the node.

use super::PACKET_MAX;
use crate::pipeline::rewrite;
use crate::pipeline::{Context, DropReason, FrameBuf, KeyCounter, Verdict, Vip, WorkerState};
use crate::wire::parse::{Parsed, PROTO_TCP};

/// A client's segment to `vip`'s portal port: the frame becomes its IP packet alone, for the portal.
/// None: not for the portal.
#[inline]
pub(crate) fn to_portal(ctx: &Context, vip: &Vip, frame: &mut FrameBuf<'_>, p: &Parsed) -> Option<Verdict> {
    let portal = ctx.portal.as_ref()?;
    if !vip.portal || p.protocol != PROTO_TCP || (!p.later_fragment && p.dst_port != portal.port) {
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
    if portal.learn {
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
    if node.port != in_port || node.mac != mac {
        return Some(Verdict::Drop(DropReason::UnknownSender));
    }
    let len = frame.len() - p.l3_offset;
    Some(rewrite::to_client(ctx, frame, p.l3_offset, len))
}
