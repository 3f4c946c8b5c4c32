//! The pipeline's side of the reset fan-out (see [`crate::reset`]): node RSTs start fan-outs, and a
//! stale holder's answer to a probe becomes the exact RST that clears it.

use sluice_control::config::{PortRole, Role};

use super::{flow_hash, rewrite, Context, DropReason, Frame, Verdict};
use crate::reset::{write_segment, Conn, Resets, FANOUT_MAGIC};
use crate::wire::be32;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{self, Classified, Parsed, PROTO_TCP};
use crate::wire::tcp::flags;

/// The node a return segment came from, looked up only when the reset path needs it.
pub(super) enum Sender {
    /// A MAC-mode node's frame: its source MAC.
    Mac([u8; 6]),
    /// Already known (a tunnelled frame's outer source).
    Known(Option<u16>),
}

impl Sender {
    fn node(self, ctx: &Context) -> Option<u16> {
        match self {
            Sender::Mac(mac) => ctx.node_by_mac(mac),
            Sender::Known(n) => n,
        }
    }
}

/// Looks at a TCP segment from a VIP on its way back to a client. None: forward it as usual. Some: what
/// to do instead (keep it from the client, or send the exact RST back to `sender`).
#[inline]
pub(super) fn return_segment(
    ctx: &Context,
    frame: &mut Frame<'_>,
    p: &Parsed,
    sender: Sender,
    resets: &mut Resets,
    now: u64,
) -> Option<Verdict> {
    if p.protocol != PROTO_TCP || p.later_fragment {
        return None;
    }
    let rst = p.tcp_flags & flags::RST != 0;
    // The common case: not a RST, and no fan-out live (or a spine, which never probes): nothing to do.
    if !rst && (resets.is_idle() || ctx.role == Role::Spine) {
        return None;
    }
    segment_with_resets(ctx, frame, p, sender, resets, now, rst)
}

#[inline(never)]
fn segment_with_resets(
    ctx: &Context,
    frame: &mut Frame<'_>,
    p: &Parsed,
    sender: Sender,
    resets: &mut Resets,
    now: u64,
    rst: bool,
) -> Option<Verdict> {
    let conn = Conn { client: p.dst, vip: p.src, cport: p.dst_port, vport: p.src_port };
    if rst {
        let sender = sender.node(ctx);
        // A chassis appliance leaves starting fan-outs to its spine, which reaches every chassis.
        let forward = match ctx.role {
            Role::Chassis => resets.on_node_rst_passive(conn, now),
            _ => resets.on_node_rst(conn, sender, now),
        };
        return (!forward).then_some(Verdict::Drop(DropReason::ResetSwallowed));
    }
    // A spine never probes nodes itself: challenge ACKs are answered by the chassis appliance.
    if ctx.role == Role::Spine {
        return None;
    }
    if !resets.on_node_segment(conn, now)? {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    }
    let Some(node) = sender.node(ctx) else {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    };
    // The segment's acknowledgement number is the node's rcv_nxt: the one RST sequence it accepts.
    let rcv_nxt = be32(frame.data(), p.l4_offset + 8);
    let start = frame.start;
    let len = write_segment(&mut frame.buf[start..], &conn, rcv_nxt, 0, flags::RST)?;
    frame.reframe(start, len);
    let Ok(Classified::Parsed(rst)) = parse::classify(frame.data()) else {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    };
    let hash = flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport);
    Some(rewrite::forward_to(ctx, frame, &rst, node, hash))
}

/// Addresses a probe for `conn` (already written into `frame` by [`crate::reset::write_probe`]) to node
/// `node`.
pub fn probe_to(ctx: &Context, frame: &mut Frame<'_>, node: u16, conn: &Conn) -> Verdict {
    match parse::classify(frame.data()) {
        Ok(Classified::Parsed(p)) => {
            let hash = flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport);
            rewrite::forward_to(ctx, frame, &p, node, hash)
        }
        _ => Verdict::Drop(DropReason::MalformedL2),
    }
}

/// A fan-out frame (see [`crate::reset::write_fanout_frame`]): a chassis appliance takes it from its
/// spine-side port and probes its own nodes; anywhere else it is forged.
pub(super) fn fanout_frame(
    ctx: &Context,
    in_port: u16,
    frame: &mut Frame<'_>,
    resets: &mut Resets,
    now: u64,
) -> Verdict {
    if ctx.role != Role::Chassis || ctx.ports[in_port as usize].role != PortRole::Client {
        return Verdict::Drop(DropReason::FanoutForged);
    }
    let d = frame.data();
    let inner = ethernet::HEADER_LEN + FANOUT_MAGIC.len();
    if d.len() <= inner || d[ethernet::HEADER_LEN..inner] != FANOUT_MAGIC {
        return Verdict::Drop(DropReason::FanoutForged);
    }
    // Put an Ethernet header in front of the carried IP packet (over the outer header and magic) and parse it.
    let ty = if d[inner] >> 4 == 6 { ethertype::IPV6 } else { ethertype::IPV4 };
    let (start, len) = (frame.start + FANOUT_MAGIC.len(), frame.len - FANOUT_MAGIC.len());
    frame.reframe(start, len);
    ethernet::emit(frame.data_mut(), [0; 6], [0; 6], ty);
    match parse::classify(frame.data()) {
        Ok(Classified::Parsed(p))
            if p.protocol == PROTO_TCP && p.tcp_flags == flags::SYN | flags::ACK && ctx.vip(&p.dst).is_some() =>
        {
            let conn = Conn { client: p.src, vip: p.dst, cport: p.src_port, vport: p.dst_port };
            resets.on_fanout_frame(conn, now);
            Verdict::Drop(DropReason::FanoutReceived)
        }
        _ => Verdict::Drop(DropReason::FanoutForged),
    }
}
