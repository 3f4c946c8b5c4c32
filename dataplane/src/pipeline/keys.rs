//! The key a client packet to a VIP is balanced on (per VIP): its flow, its client, or the content of the
//! storage request it carries. Content keys apply to whole UDP datagrams; TCP segments (a content key per
//! segment would split a connection) and fragments (later ones carry no payload header) use the flow
//! key, and a content key that cannot be read falls back to the flow key and is counted.

use super::{flow_hash, Context, Vip, VipKey};
use crate::counters::named_counters;
use crate::hash::nfs3;
use crate::wire::parse::{Parsed, PROTO_UDP};
use crate::wire::udp;

named_counters! {
    /// A key counter.
    KeyCounter {
    Nfs3 => "nfs3": "requests keyed on an NFSv3 file handle (and offset region)",
    Payload => "payload": "requests keyed on a payload field",
    FallbackFragment => "fallback_fragment": "content-keyed VIP, fragmented datagram: flow key used",
    FallbackUnparsed => "fallback_unparsed": "content-keyed VIP, content not parseable (truncated, not NFSv3, other procedure, bad handle): flow key used",
    AffinityHit => "affinity_hit": "affinity VIP, the client VM has an active CVM: sent there",
    AffinityNone => "affinity_none": "affinity VIP, no entry (yet) for the client VM: its key picked the node",
    AffinityReportsDropped => "affinity_reports_dropped": "affinity observations lost (worker learner or report queue full)",
    HealthAnswersLost => "health_answers_lost": "health-probe answers lost (worker inbox or the control core's queue full)",
    HealthProbesSent => "health_probes_sent": "health probes a worker sent for the control core",
    HealthProbesUnsent => "health_probes_unsent": "health probes not sent for want of an mbuf",
    TooBigSent => "too_big_sent": "ICMP fragmentation-needed / packet-too-big answers to client packets that did not fit an IP-in-IP node's port once encapsulated",
    TooBigSuppressed => "too_big_suppressed": "such answers not sent because the worker's budget (dataplane.too_big_per_sec) was spent (the packet is dropped as encap_too_big)",
    PortalUnsent => "portal_unsent": "packets of the iSCSI portal not sent for want of an mbuf",
    MssClamped => "mss_clamped": "IP-in-IP nodes' SYN-ACKs whose MSS option was lowered (dataplane.mss_clamp)",
}
}

/// A worker's key counters, indexed by [`KeyCounter`].
pub type KeyCounters = [u64; KeyCounter::COUNT];

/// The flow key of a client → VIP packet. The VIP's part of the hash is precomputed: 8 table lookups
/// instead of 12 (IPv6: 20, not 36).
#[inline(always)]
fn flow_key(ctx: &Context, vip: &Vip, p: &Parsed) -> u32 {
    let ports = (!p.fragment).then_some((p.src_port, p.dst_port));
    if p.src.v6 {
        ctx.toeplitz.hash_v6_premixed(&p.src.bytes, vip.toeplitz_dst, ports)
    } else {
        ctx.toeplitz.hash_v4_premixed(p.src.v4_bytes(), vip.toeplitz_dst, ports)
    }
}

/// The hash that selects the node for a TCP/UDP packet `p` (in `frame`) to `vip`. The flow key, by far
/// the most common, is worked out in line; the others out of line.
#[inline(always)]
pub(super) fn key_hash(ctx: &Context, vip: &Vip, p: &Parsed, frame: &[u8], counters: &mut KeyCounters) -> u32 {
    match vip.key {
        VipKey::Flow => flow_key(ctx, vip, p),
        _ => other_key_hash(ctx, vip, p, frame, counters),
    }
}

/// [`key_hash`] for client and content keys.
#[inline(never)]
fn other_key_hash(ctx: &Context, vip: &Vip, p: &Parsed, frame: &[u8], counters: &mut KeyCounters) -> u32 {
    let flow = |ctx: &Context| flow_key(ctx, vip, p);
    match vip.key {
        VipKey::Flow => flow(ctx),
        // The addresses alone: the same key as fragments use, so a client's fragments agree with it.
        VipKey::Client => flow_hash(ctx, &p.src, &p.dst, true, 0, 0),
        VipKey::Nfs3 { .. } | VipKey::Payload { .. } if p.protocol != PROTO_UDP => flow(ctx),
        _ if p.fragment => {
            counters[KeyCounter::FallbackFragment] += 1;
            flow(ctx)
        }
        VipKey::Nfs3 { region_shift } => {
            let payload = &frame[p.l4_offset + udp::HEADER_LEN..p.l3_offset + p.l3_len];
            let mut key = [0u8; nfs3::KEY_MAX];
            match nfs3::call_key(payload, region_shift, &mut key) {
                Ok(n) => {
                    counters[KeyCounter::Nfs3 as usize] += 1;
                    ctx.content.hash(&key[..n])
                }
                Err(_) => {
                    counters[KeyCounter::FallbackUnparsed] += 1;
                    flow(ctx)
                }
            }
        }
        VipKey::Payload { offset, length } => {
            let payload = &frame[p.l4_offset + udp::HEADER_LEN..p.l3_offset + p.l3_len];
            match payload.get(offset as usize..offset as usize + length as usize) {
                Some(field) => {
                    counters[KeyCounter::Payload] += 1;
                    ctx.content.hash(field)
                }
                None => {
                    counters[KeyCounter::FallbackUnparsed] += 1;
                    flow(ctx)
                }
            }
        }
    }
}
