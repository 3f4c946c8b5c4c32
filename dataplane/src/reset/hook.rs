//! The pipeline's side of the reset fan-out (see [`crate::reset`]): node RSTs are forwarded and, for
//! connections that moved, start fan-outs; a stale holder's answer to a probe becomes the exact RST that
//! clears it; fan-out frames from a spine start a chassis appliance's probes.

use sluice_control::config::{PortRole, Role};

use super::frames::{peer_owner, PEER_HEADER_LEN};
use super::moved::{self, From};
use super::{write_segment, Conn, Resets, RstKind, FANOUT_MAGIC, PEER_MAGIC};
use crate::pipeline::{flow_hash, rewrite, Context, DropReason, FrameBuf, Verdict};
use crate::wire::be32;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{self, Classified, Parsed, PROTO_TCP};
use crate::wire::tcp::flags;

/// The sender of a return segment, looked up only when the reset path needs it.
pub(crate) enum Sender {
    /// A frame on the node side from this source MAC, on this port.
    Mac([u8; 6], u16),
    /// Already known (a tunnelled frame's outer source, checked against the nodes).
    Node(u16),
}

impl Sender {
    /// The configured node (single, chassis) or chassis appliance (spine) the frame came from.
    fn resolve(self, ctx: &Context) -> Option<From> {
        match self {
            Sender::Mac(mac, port) if ctx.role == Role::Spine => ctx.chassis_by_mac(port, mac).map(From::Chassis),
            Sender::Mac(mac, _) => ctx.node_by_mac(mac).map(From::Node),
            Sender::Node(n) => Some(From::Node(n)),
        }
    }
}

/// Looks at a TCP segment from a VIP on its way back to a client. None: forward it as usual. Some: what
/// to do instead (drop it, or send the exact RST back to its sender).
#[inline]
pub(crate) fn return_segment(
    ctx: &Context,
    frame: &mut FrameBuf<'_>,
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
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    sender: Sender,
    resets: &mut Resets,
    now: u64,
    rst: bool,
) -> Option<Verdict> {
    let conn = Conn { client: p.dst, vip: p.src, cport: p.dst_port, vport: p.src_port };
    let from = sender.resolve(ctx);
    if rst {
        return node_rst(ctx, frame, p, conn, from, resets, now);
    }
    // A spine never probes nodes itself: challenge ACKs are answered by the chassis appliance.
    if ctx.role == Role::Spine {
        return None;
    }
    // Only a configured node's segments can answer a probe: anything else passes as it always has, and
    // cannot spend a fan-out's completions.
    let Some(From::Node(node)) = from else {
        return None;
    };
    if !resets.on_node_segment(conn, ctx.nodes[node as usize].ip, now)? {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    }
    // The segment's acknowledgement number is the node's rcv_nxt: the one RST sequence it accepts.
    let rcv_nxt = be32(frame.data(), p.l4_offset + 8);
    let start = frame.start;
    let len = write_segment(&mut frame.buf[start..], &conn, rcv_nxt, 0, flags::RST)?;
    if !frame.reframe(start, len) {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    }
    let Ok(Classified::Parsed(rst)) = parse::classify(frame.data()) else {
        return Some(Verdict::Drop(DropReason::ResetSwallowed));
    };
    let hash = flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport);
    Some(rewrite::forward_to(ctx, frame, &rst, node, hash))
}

/// A RST from the node side: from no configured sender, dropped; a refusal of a probe or an identical
/// retransmission, kept from the client; anything else forwarded, and judged for whether its connection
/// moved and needs a fan-out. A spine's fan-out reaches every chassis. A chassis appliance forwards the
/// RST up to its spine and judges it too, against its own snapshots: while it runs a newer snapshot than
/// its spine, a move only it has made (its spine still sends the flow its old way, and it picks another
/// of its own nodes) is one the spine cannot see, and its own fan-out clears its own nodes. When the
/// spine's fan-out frame for the same connection follows, the chassis finds the fan-out already live.
fn node_rst(
    ctx: &Context,
    frame: &FrameBuf<'_>,
    p: &Parsed,
    conn: Conn,
    from: Option<From>,
    resets: &mut Resets,
    now: u64,
) -> Option<Verdict> {
    let Some(from) = from else {
        return Some(Verdict::Drop(DropReason::UnknownSender));
    };
    let seq = be32(frame.data(), p.l4_offset + 4);
    match resets.on_node_rst(conn, seq, ctx.cookie.of(&conn), now) {
        RstKind::Refusal | RstKind::Duplicate => return Some(Verdict::Drop(DropReason::ResetSwallowed)),
        RstKind::UnderFanout => return None,
        RstKind::Fresh => {}
    }
    let judgement = moved::judge(ctx, &conn, from, now, resets.moved_window());
    let owner = match from {
        From::Node(n) => Some(ctx.nodes[n as usize].ip),
        From::Chassis(_) => None,
    };
    resets.judged(conn, seq, judgement, owner, now);
    None
}

/// Addresses a probe for `conn` (already written into `frame` by [`crate::reset::write_probe`]) to node
/// `node`.
pub fn probe_to(ctx: &Context, frame: &mut FrameBuf<'_>, node: u16, conn: &Conn) -> Verdict {
    match parse::classify(frame.data()) {
        Ok(Classified::Parsed(p)) => {
            let hash = flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport);
            rewrite::forward_to(ctx, frame, &p, node, hash)
        }
        _ => Verdict::Drop(DropReason::MalformedL2),
    }
}

/// A fan-out frame (see [`crate::reset::write_fanout_frame`]): a chassis appliance takes it from its
/// spine (the spine-side port's `gateway_mac`) on that port and probes its own nodes; anywhere else, or
/// from anyone else, it is forged.
pub(crate) fn fanout_frame(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    resets: &mut Resets,
    now: u64,
) -> Verdict {
    let port = &ctx.ports[in_port as usize];
    let d = frame.data();
    let magic = d.get(ethernet::HEADER_LEN..ethernet::HEADER_LEN + PEER_MAGIC.len());
    if port.role == PortRole::Node && magic == Some(&PEER_MAGIC[..]) {
        return peer_frame(ctx, in_port, frame, resets, now);
    }
    if ctx.role != Role::Chassis || port.role != PortRole::Client {
        return Verdict::Drop(DropReason::FanoutForged);
    }
    if d[6..12] != port.gateway_mac || port.gateway_mac == [0; 6] {
        return Verdict::Drop(DropReason::FanoutUnknownSender);
    }
    let inner = ethernet::HEADER_LEN + FANOUT_MAGIC.len();
    if d.len() <= inner || d[ethernet::HEADER_LEN..inner] != FANOUT_MAGIC {
        return Verdict::Drop(DropReason::FanoutForged);
    }
    let Some((conn, _)) = carried_conn(ctx, frame, FANOUT_MAGIC.len()) else {
        return Verdict::Drop(DropReason::FanoutForged);
    };
    // The connection's node in this chassis now is not probed, and its segments pass. Only when this
    // appliance has itself taken a change within the moved window, though: one that lags its spine
    // still picks the stale holder, which must be probed like every other node.
    let window = resets.moved_window();
    let current = ctx.history.iter().any(|p| now.saturating_sub(p.retired) < window);
    let owner = current.then(|| moved::owner(ctx, &conn)).flatten().map(|n| ctx.nodes[n as usize].ip);
    resets.on_fanout_frame(conn, owner, now);
    Verdict::Drop(DropReason::FanoutReceived)
}

/// The connection a fan-out frame names: `skip` bytes after the Ethernet header, the probe's IP packet (a
/// SYN|ACK to a VIP of ours), and the probe's acknowledgement number. The frame is reframed over it (an
/// Ethernet header put in front) and parsed.
fn carried_conn(ctx: &Context, frame: &mut FrameBuf<'_>, skip: usize) -> Option<(Conn, u32)> {
    let inner = ethernet::HEADER_LEN + skip;
    let first = *frame.data().get(inner)?;
    let ty = if first >> 4 == 6 { ethertype::IPV6 } else { ethertype::IPV4 };
    let (start, len) = (frame.start + skip, frame.len - skip);
    frame.reframe(start, len).then_some(())?;
    let eth = ethernet::Repr { dst: [0; 6], src: [0; 6], ethertype: ty };
    eth.emit(&mut ethernet::Frame::new_unchecked(frame.data_mut()));
    match parse::classify(frame.data()) {
        Ok(Classified::Parsed(p))
            if p.protocol == PROTO_TCP && p.tcp_flags == flags::SYN | flags::ACK && ctx.vip(&p.dst).is_some() =>
        {
            let conn = Conn { client: p.src, vip: p.dst, cport: p.src_port, vport: p.dst_port };
            Some((conn, be32(frame.data(), p.l4_offset + 8)))
        }
        _ => None,
    }
}

/// A peer appliance's fan-out frame (see [`crate::reset::write_peer_frame`]): taken only on a node port
/// from a configured peer's MAC on that port. Its entry is known here (the peer probes), so that the
/// answers to its probes that the nodes' routes bring to this appliance become exact RSTs too.
fn peer_frame(ctx: &Context, in_port: u16, frame: &mut FrameBuf<'_>, resets: &mut Resets, now: u64) -> Verdict {
    let d = frame.data();
    let src: [u8; 6] = d[6..12].try_into().expect("6 bytes");
    if !ctx.peers.contains(&(src, in_port)) {
        return Verdict::Drop(DropReason::FanoutUnknownSender);
    }
    // The owner must be a node this appliance's own snapshots (now, or within the moved window) pick for
    // the connection: a frame naming anything else would turn the real owner's segments into RSTs. A
    // configured node not picked yet is held until a snapshot picks it (the peer applied a change first).
    let Some(Some(owner)) = peer_owner(&d[ethernet::HEADER_LEN..]) else {
        return Verdict::Drop(DropReason::FanoutForged);
    };
    let Some((conn, ack)) = carried_conn(ctx, frame, PEER_HEADER_LEN) else {
        return Verdict::Drop(DropReason::FanoutForged);
    };
    if ack != ctx.cookie.of(&conn) || ctx.node_by_ip(&owner).is_none() {
        return Verdict::Drop(DropReason::FanoutForged);
    }
    match moved::picked_recently(ctx, &conn, &owner, now, resets.moved_window()) {
        true => resets.on_peer_frame(conn, Some(owner), now),
        // The peer applied a change this appliance has not yet: take the entry when it does.
        false => resets.defer_peer_frame(conn, owner, now),
    }
    Verdict::Drop(DropReason::FanoutReceived)
}
