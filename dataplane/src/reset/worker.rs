//! The worker's part in the fan-out between bursts: the fan-outs a burst started are shared with every other
//! worker, told to peer appliances, probed (or handed to chassis appliances), and reported to the console.

use dpdk_sys::Mempool;
use sluice_control::config::{NodeState, Role};

use super::{Fanout, FanoutEvent, Origin, Resets};
use crate::pipeline::{Context, FrameBuf, Verdict};
use crate::stats::Local;
use crate::worker::{Links, Tx};

/// Starts the fan-outs `fanouts` the last burst asked for.
pub(crate) fn start(
    ctx: &Context,
    links: &Links<'_>,
    fanouts: &[Fanout],
    resets: &mut Resets,
    tx: &mut Tx<'_>,
    local: &mut Local,
    now: u64,
) {
    for f in fanouts {
        // Every worker a node's answer may reach knows the entry before any probe leaves.
        for (w, q) in links.shares.iter().enumerate() {
            if w != links.index as usize && q.push(*f).is_err() {
                resets.count_share_dropped();
            }
        }
        match f.origin {
            // The peer that started it probes; this appliance only completes.
            Origin::Peer => {}
            Origin::NodeRst | Origin::Spine => {
                if !ctx.peers.is_empty() {
                    send_to_peers(ctx, f, links.pool, resets, tx, local);
                    // Out before any probe: a probe's answer may reach a peer at once.
                    tx.flush_all(local);
                }
                send_probes(ctx, f, links.pool, resets, tx, local);
                // A spine's chassis appliances probe, and probe again, themselves.
                if ctx.role != Role::Spine {
                    resets.schedule_reprobe(f, now);
                }
            }
        }
        let e = FanoutEvent { conn: f.conn, worker: links.index, origin: f.origin };
        if links.events.push(e).is_err() {
            resets.count_event_dropped();
        }
    }
}

/// Probes again for the fan-outs whose second round is due: a probe, or its challenge ACK, may have been
/// lost, or the answer may have reached a peer appliance that did not have the entry yet. A node that
/// still holds the connection answers again (its challenge-ACK rate limit has passed); one cleared by the
/// first round, or that never held it, refuses.
pub(crate) fn reprobe(
    ctx: &Context,
    pool: &Mempool,
    resets: &mut Resets,
    tx: &mut Tx<'_>,
    local: &mut Local,
    now: u64,
) {
    while let Some(f) = resets.next_reprobe(now) {
        send_probes(ctx, &f, pool, resets, tx, local);
    }
}

/// Tells every peer appliance about a fan-out this one starts, before any probe leaves: the nodes' answers
/// follow their own routes back, which may lead to a peer.
fn send_to_peers(ctx: &Context, f: &Fanout, pool: &Mempool, resets: &mut Resets, tx: &mut Tx<'_>, local: &mut Local) {
    for &(mac, port) in &ctx.peers {
        let Some(mut m) = pool.alloc() else {
            resets.count_peer_frame(false);
            continue;
        };
        let (buf, off, _) = m.buffer_mut();
        let cookie = ctx.cookie.of(&f.conn);
        let src = ctx.ports[port as usize].mac;
        let Some(len) = super::write_peer_frame(&mut buf[off..], &f.conn, cookie, f.owner, mac, src) else {
            resets.count_peer_frame(false);
            continue;
        };
        m.set_data_range(off, len);
        local.generated += 1;
        resets.count_peer_frame(true);
        tx.push(port, m, local);
    }
}

/// Sends the fan-out for one connection: a fan-out frame to every chassis appliance (spine), or a probe
/// to every node that may hold the connection (single: all but down ones and the sender; chassis: those
/// of its own chassis).
fn send_probes(ctx: &Context, f: &Fanout, pool: &Mempool, resets: &mut Resets, tx: &mut Tx<'_>, local: &mut Local) {
    let topo = &ctx.topology;
    if ctx.role == Role::Spine {
        for (c, link) in ctx.chassis_links.iter().enumerate() {
            let Some((mac, port)) = *link else { continue };
            if topo.chassis[c].nodes.iter().all(|&n| topo.nodes[n as usize].state == NodeState::Down) {
                continue;
            }
            let Some(mut m) = pool.alloc() else {
                resets.count_fanout_frame(false);
                continue;
            };
            let (buf, off, _) = m.buffer_mut();
            let Some(len) = super::write_fanout_frame(&mut buf[off..], &f.conn, mac, ctx.ports[port as usize].mac)
            else {
                resets.count_fanout_frame(false);
                continue;
            };
            m.set_data_range(off, len);
            local.generated += 1;
            resets.count_fanout_frame(true);
            tx.push(port, m, local);
        }
        return;
    }
    let cookie = ctx.cookie.of(&f.conn);
    for (n, node) in topo.nodes.iter().enumerate() {
        let n = n as u16;
        let outside = ctx.role == Role::Chassis && Some(node.chassis) != ctx.this_chassis;
        let owner = f.owner == Some(ctx.nodes[n as usize].ip);
        if node.state == NodeState::Down || owner || outside {
            continue;
        }
        let Some(mut m) = pool.alloc() else {
            resets.count_probe(false);
            continue;
        };
        let (verdict, start, len) = {
            let (buf, off, _) = m.buffer_mut();
            let Some(len) = super::write_probe(&mut buf[off..], &f.conn, cookie) else {
                resets.count_probe(false);
                continue;
            };
            let mut fr = FrameBuf::new(buf, off, len);
            let v = super::hook::probe_to(ctx, &mut fr, n, &f.conn);
            (v, fr.start(), fr.len())
        };
        if let Verdict::Node { port, .. } = verdict {
            m.set_data_range(start, len);
            local.generated += 1;
            resets.count_probe(true);
            tx.push(port, m, local);
        } else {
            resets.count_probe(false);
        }
    }
}
