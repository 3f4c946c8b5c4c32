//! The per-packet decision, as a pure function over a byte buffer: testable, fuzzable and benchmarkable
//! without EAL. A worker hands it each mbuf's buffer; it classifies the frame, picks where it goes,
//! rewrites it in place (moving its start into the headroom for encapsulation) and returns a [`Verdict`].

mod context;
mod keys;
mod pmtu;
mod reasons;
mod reply;
pub(crate) mod rewrite;

pub use context::{Context, NodeCtx, PortCtx, PortalCtx, Vip, VipKey};
pub use keys::{KeyCounter, KeyCounters};
pub use pmtu::TooBigBudget;
pub use reasons::DropReason;

use sluice_control::config::{ClientIdKind, PortRole};

use crate::affinity::Learner;
use crate::flows::{FlowTable, Lookup};
use crate::health;
use crate::portal;
use crate::reset::hook::{self as resets, Sender};
use crate::reset::Resets;
use crate::wire::parse::{
    self, Classified, Found, Network, Parsed, PROTO_ICMP, PROTO_ICMPV6, PROTO_IPIP, PROTO_IPV6, PROTO_TCP, PROTO_UDP,
};
use crate::wire::{icmp, tcp};

/// A packet in a buffer with room around it: `buf[start..start + len]` is the frame.
pub struct FrameBuf<'a> {
    pub(crate) buf: &'a mut [u8],
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl<'a> FrameBuf<'a> {
    /// A frame at `buf[start..start + len]`. Panics if that range is outside `buf` (a caller bug).
    pub fn new(buf: &'a mut [u8], start: usize, len: usize) -> FrameBuf<'a> {
        assert!(start + len <= buf.len(), "frame outside its buffer");
        FrameBuf { buf, start, len }
    }
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.start + self.len]
    }
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..self.start + self.len]
    }
    #[inline]
    pub fn start(&self) -> usize {
        self.start
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Moves the frame to `buf[start..start + len]`; false (and no change) if that does not fit.
    #[inline]
    #[must_use = "a frame that did not move still covers its old bytes"]
    pub(crate) fn reframe(&mut self, start: usize, len: usize) -> bool {
        if start.checked_add(len).is_some_and(|e| e <= self.buf.len()) {
            self.start = start;
            self.len = len;
            true
        } else {
            false
        }
    }
}

/// Where a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Client traffic to a VIP, rewritten toward `node`, out of `port`.
    Node {
        node: u16,
        port: u16,
    },
    /// Return traffic from a node, out of client port `port`.
    Client {
        port: u16,
    },
    /// An answer from the appliance (ARP, ND, echo), out of `port`.
    Reply {
        port: u16,
    },
    /// A segment for the portal's TCP stack: the frame now holds its IP packet alone.
    Portal,
    Drop(DropReason),
}

/// What the pipeline keeps per worker between packets: the flow table, the reset soft state, the key
/// counters and the affinity learner.
pub struct WorkerState {
    /// Off unless the worker sets one up ([`FlowTable::new`]).
    pub flows: FlowTable,
    pub resets: Resets,
    pub keys: KeyCounters,
    pub learn: Learner,
    /// Answers to health probes, for the control core.
    pub health: health::Inbox,
    /// ICMP "too big" answers left this second.
    pub too_big: TooBigBudget,
}

impl WorkerState {
    pub fn new(resets: &sluice_control::config::ResetConfig, ticks_per_sec: u64) -> WorkerState {
        WorkerState {
            flows: FlowTable::off(),
            resets: Resets::new(resets, ticks_per_sec),
            keys: [0; KeyCounter::COUNT],
            learn: Learner::default(),
            health: health::Inbox::default(),
            too_big: TooBigBudget::new(sluice_control::config::DEFAULT_TOO_BIG_PER_SEC, ticks_per_sec),
        }
    }
}

/// Decides about the frame that arrived on port `in_port` and rewrites it accordingly. `st` is the
/// worker's state and `now` its clock (TSC ticks).
#[inline]
pub fn process(ctx: &Context, in_port: u16, frame: &mut FrameBuf<'_>, st: &mut WorkerState, now: u64) -> Verdict {
    let mut p = Parsed::EMPTY;
    let plain = match parse::classify_into(frame.data(), &mut p) {
        Ok(Found::Plain) => true,
        Ok(Found::Parsed) => false,
        Ok(Found::Other(crate::reset::FANOUT_ETHERTYPE)) => {
            return resets::fanout_frame(ctx, in_port, frame, &mut st.resets, now)
        }
        Ok(Found::Other(_)) => return Verdict::Drop(DropReason::UnknownEthertype),
        Err(e) => return Verdict::Drop(e.into()),
    };
    if !plain {
        if let Some(v) = answer_local(ctx, in_port, frame, &p, st) {
            return v;
        }
    }
    dispatch(ctx, in_port, frame, &p, st, now)
}

/// Client traffic or return traffic, by the port it came in on.
#[inline(always)]
fn dispatch(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    st: &mut WorkerState,
    now: u64,
) -> Verdict {
    match ctx.ports[in_port as usize].role {
        PortRole::Client => from_client(ctx, in_port, frame, p, st, now),
        PortRole::Node => from_node(ctx, in_port, frame, p, st, now),
    }
}

/// ARP and neighbour solicitations, which the appliance answers itself whatever port they came in on.
#[inline]
fn answer_local(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    st: &mut WorkerState,
) -> Option<Verdict> {
    if p.network == Network::Arp {
        if let Some(v) = health::hook::arp_answer(ctx, in_port, frame, p, &mut st.health) {
            return Some(v);
        }
        return Some(reply::arp(ctx, in_port, frame, p));
    }
    if p.protocol == PROTO_ICMPV6 && p.icmp_type == icmp::v6::NEIGHBOR_SOLICIT {
        return Some(reply::neighbor_solicit(ctx, in_port, frame, p));
    }
    None
}

#[inline(always)]
fn from_client(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    st: &mut WorkerState,
    now: u64,
) -> Verdict {
    let Some(vip) = ctx.vip(&p.dst) else {
        if ctx.is_own(in_port, &p.dst) {
            return reply::echo_or(ctx, in_port, frame, p, DropReason::ToAppliance);
        }
        if let Some(v) = portal::hook::to_cvm(ctx, frame, p, st) {
            if v == Verdict::Drop(DropReason::EncapTooBig) {
                return pmtu::too_big(ctx, in_port, frame, p, st, now);
            }
            return v;
        }
        return Verdict::Drop(DropReason::NotForVip);
    };
    if let Some(v) = portal::hook::to_portal(ctx, vip, frame, p) {
        return v;
    }
    match p.protocol {
        PROTO_TCP | PROTO_UDP => {
            let port = (!p.later_fragment).then_some(p.dst_port);
            if !vip.serves(p.protocol, port) {
                return Verdict::Drop(DropReason::VipUnserved);
            }
            let hash = keys::key_hash(ctx, vip, p, frame.data(), &mut st.keys);
            // TCP connections the flow table knows stay on their node; the rest follow the tables, and
            // the table notes where they went.
            let tracked = if p.protocol == PROTO_TCP && !p.fragment {
                st.flows.lookup(ctx, (&p.src, &p.dst, p.src_port, p.dst_port), p.tcp_flags, now)
            } else {
                Lookup::Off
            };
            let v = match tracked {
                Lookup::Node(n) => {
                    if vip.affinity {
                        // The client VM's traffic still goes to this CVM: the learner keeps its entry fresh.
                        let (client, bytes) = (client_id(ctx, frame.data(), &p.src), frame.len());
                        if !st.learn.record(client, n, bytes) {
                            st.keys[KeyCounter::AffinityReportsDropped] += 1;
                        }
                    }
                    rewrite::tracked_to(ctx, frame, p, n, hash)
                }
                _ if vip.affinity => with_affinity(ctx, frame, p, hash, client_id(ctx, frame.data(), &p.src), st),
                _ => rewrite::to_node(ctx, frame, p, hash),
            };
            match (tracked, v) {
                (Lookup::Decide(tag), Verdict::Node { node, .. }) => st.flows.record(ctx, tag, node, p.tcp_flags, now),
                (_, Verdict::Drop(DropReason::EncapTooBig)) => return pmtu::too_big(ctx, in_port, frame, p, st, now),
                _ => {}
            }
            v
        }
        PROTO_ICMP | PROTO_ICMPV6 if !p.fragment => {
            let v6 = p.protocol == PROTO_ICMPV6;
            let is_error = if v6 { icmp::v6::is_error(p.icmp_type) } else { icmp::v4::is_error(p.icmp_type) };
            if !is_error {
                return reply::echo_or(ctx, in_port, frame, p, DropReason::IcmpUnhandled);
            }
            // An error about a packet a node sent from the VIP: route it to the node owning that flow,
            // hashed in the client → VIP direction.
            let body = &frame.data()[p.l4_offset + icmp::HEADER_LEN..p.l3_offset + p.l3_len];
            match parse::embedded_flow(body, v6) {
                Ok(f) if f.src == p.dst && vip.serves(f.protocol, (!f.fragment).then_some(f.src_port)) => {
                    let hash = flow_hash(ctx, &f.dst, &f.src, f.fragment, f.dst_port, f.src_port);
                    // The flow's node: where this worker's flow table keeps the connection (when the error
                    // reaches the worker that tracks it), else its client's CVM when the VIP keeps
                    // affinity, else the tables' pick.
                    let tracked = (!f.fragment && f.protocol == PROTO_TCP)
                        .then(|| st.flows.peek(ctx, (&f.dst, &f.src, f.dst_port, f.src_port), now))
                        .flatten();
                    let bound = vip.affinity.then(|| ctx.affinity.get(client_id(ctx, frame.data(), &f.dst))).flatten();
                    match (tracked, bound) {
                        (Some(n), _) => rewrite::tracked_to(ctx, frame, p, n, hash),
                        (None, Some(n)) => rewrite::forward_to(ctx, frame, p, n, hash),
                        (None, None) => rewrite::to_node(ctx, frame, p, hash),
                    }
                }
                _ => Verdict::Drop(DropReason::IcmpUnhandled),
            }
        }
        PROTO_ICMP | PROTO_ICMPV6 => Verdict::Drop(DropReason::IcmpUnhandled),
        _ => Verdict::Drop(DropReason::VipUnserved),
    }
}

#[inline(always)]
fn from_node(
    ctx: &Context,
    in_port: u16,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    st: &mut WorkerState,
    now: u64,
) -> Verdict {
    let resets = &mut st.resets;
    if ctx.vip(&p.src).is_some() {
        let sender = Sender::Mac(frame.data()[6..12].try_into().expect("parsed frame"), in_port);
        if let Some(v) = resets::return_segment(ctx, frame, p, sender, resets, now) {
            return v;
        }
        if ctx.mss_clamp && p.protocol == PROTO_TCP && p.tcp_flags & tcp::flags::SYN != 0 {
            let mac: [u8; 6] = frame.data()[6..12].try_into().expect("parsed frame");
            pmtu::clamp_syn_ack(frame, p, pmtu::ipip_inner_mtu_by_mac(ctx, mac), &mut st.keys);
        }
        return rewrite::to_client(ctx, frame, p.l3_offset, frame.len() - p.l3_offset);
    }
    if ctx.is_own(in_port, &p.dst) {
        if let Some(v) = health::hook::answer(ctx, in_port, frame, p, &mut st.health) {
            return v;
        }
        if matches!(p.protocol, PROTO_IPIP | PROTO_IPV6) && !p.fragment {
            // Only a configured node tunnels return traffic back.
            let Some(node) = ctx.node_by_ip(&p.src) else {
                return Verdict::Drop(DropReason::UnknownSender);
            };
            let sender = Sender::Node(node);
            let v = rewrite::decapsulate_to_client(ctx, frame, p, node);
            if v != (Verdict::Client { port: ctx.client_port }) {
                return v;
            }
            // The inner packet now sits behind a fresh Ethernet header: give the reset path its look
            // (not at a CVM's own portal's answers, which are no VIP's).
            return match parse::classify(frame.data()) {
                Ok(Classified::Parsed(inner)) if ctx.vip(&inner.src).is_none() => {
                    if ctx.mss_clamp {
                        pmtu::clamp_syn_ack(frame, &inner, ctx.nodes[node as usize].inner_mtu, &mut st.keys);
                    }
                    v
                }
                Ok(Classified::Parsed(inner)) => {
                    let verdict = resets::return_segment(ctx, frame, &inner, sender, resets, now).unwrap_or(v);
                    if ctx.mss_clamp && verdict == v && inner.protocol == PROTO_TCP {
                        let mtu = ctx.nodes[node as usize].inner_mtu;
                        pmtu::clamp_syn_ack(frame, &inner, mtu, &mut st.keys);
                    }
                    verdict
                }
                _ => v,
            };
        }
        return reply::echo_or(ctx, in_port, frame, p, DropReason::ToAppliance);
    }
    if let Some(v) = portal::hook::from_cvm(ctx, in_port, frame, p) {
        return v;
    }
    Verdict::Drop(DropReason::UnknownSource)
}

/// The client VM a packet from `src` (in `frame`) belongs to, as the affinity table identifies it.
#[inline]
fn client_id(ctx: &Context, frame: &[u8], src: &parse::Addr) -> u128 {
    match ctx.client_id {
        ClientIdKind::Ip => ip_client_id(src),
        ClientIdKind::Mac => frame[6..12].iter().fold(0u128, |a, b| a << 8 | *b as u128),
    }
}

/// The client VM at address `src` when client VMs are identified by address.
#[inline]
pub(crate) fn ip_client_id(src: &parse::Addr) -> u128 {
    if src.v6 {
        u128::from_be_bytes(src.bytes)
    } else {
        0xffff_0000_0000 | u32::from_be_bytes(src.v4_bytes()) as u128
    }
}

/// An affinity VIP: the client VM's CVM when it has an active one, else the node its key picks; either
/// way the learner notes what the client sent where.
#[inline]
fn with_affinity(
    ctx: &Context,
    frame: &mut FrameBuf<'_>,
    p: &Parsed,
    hash: u32,
    client: u128,
    st: &mut WorkerState,
) -> Verdict {
    let bytes = frame.len();
    let v = match ctx.affinity.get(client) {
        Some(n) => {
            st.keys[KeyCounter::AffinityHit] += 1;
            rewrite::forward_to(ctx, frame, p, n, hash)
        }
        None => {
            st.keys[KeyCounter::AffinityNone] += 1;
            rewrite::to_node(ctx, frame, p, hash)
        }
    };
    if let Verdict::Node { node, .. } = v {
        if !st.learn.record(client, node, bytes) {
            st.keys[KeyCounter::AffinityReportsDropped] += 1;
        }
    }
    v
}

/// The flow hash in the client → VIP direction: Toeplitz over addresses and ports, or over addresses alone
/// for fragments (later fragments carry no ports, and every fragment of a datagram must agree).
#[inline]
pub(crate) fn flow_hash(
    ctx: &Context,
    src: &parse::Addr,
    dst: &parse::Addr,
    fragment: bool,
    sport: u16,
    dport: u16,
) -> u32 {
    let ports = (!fragment).then_some((sport, dport));
    if src.v6 {
        ctx.toeplitz.hash_v6(&src.bytes, &dst.bytes, ports)
    } else {
        ctx.toeplitz.hash_v4(src.v4_bytes(), dst.v4_bytes(), ports)
    }
}
