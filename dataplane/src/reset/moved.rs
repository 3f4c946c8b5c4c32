//! Which connections moved. A node's RST starts a fan-out only when it answers for a connection that a
//! recent membership or affinity change really moved: the RST comes from the node the current snapshot
//! picks for the connection, and a snapshot in force within `resets.moved_window_ms` picked another.
//! A drain that times out moves connections too, though no snapshot changes then: the flow table kept them
//! on the draining node until its deadline, and a RST from their owner within the window after it counts
//! as a move.
//! Everything else (a RST for a connection that exists nowhere, a forged segment a node refused, a RST
//! from a node the connection's flow does not reach) is forwarded to the client and fans out nowhere.
//!
//! The control lcore keeps the few snapshots this needs ([`Prior`]: tables and affinity map, with when
//! they stopped being in force) and hands them to the workers inside each new context.

use std::sync::Arc;

use sluice_control::config::{ClientIdKind, Role};
use sluice_control::Topology;

use super::Conn;
use crate::affinity::AffinityMap;
use crate::pipeline::{flow_hash, ip_client_id, Context, VipKey};

/// Earlier snapshots with other tables a context carries, at most (table changes come from operators and
/// health checks; within one moved window there are few).
pub const TABLE_PRIORS_MAX: usize = 32;
/// Earlier snapshots that differ only in their affinity map, at most (each learned or aged client
/// republishes the map).
pub const AFFINITY_PRIORS_MAX: usize = 16;

/// What an earlier snapshot decided from, and when it stopped being in force (TSC ticks).
#[derive(Clone)]
pub struct Prior {
    pub topology: Arc<Topology>,
    pub affinity: Arc<AffinityMap>,
    pub retired: u64,
}

/// Where a node-side RST came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// A node (single appliance): its index in the current topology.
    Node(u16),
    /// A chassis appliance (spine): its chassis.
    Chassis(u16),
}

/// What the reset path makes of a RST that answers none of its probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judgement {
    /// The sender is not where the current snapshot sends the connection: the segment it refused did not
    /// come the connection's way (a forged fragment, say). Forward, no fan-out.
    NotOwner,
    /// The connection is where it has been throughout the window: nothing moved, nothing to clear.
    Stayed,
    /// It moved within the window: clear it where it was.
    Moved,
}

/// The node a snapshot picks for a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Node(u16),
    /// No node can take it.
    Nobody,
    /// The client VM is identified by a MAC address, which a node's RST does not carry: `table` is what
    /// the tables pick without affinity.
    Unknowable {
        table: Option<u16>,
    },
}

/// The node `topology` and `affinity` pick for `conn`, keyed the way the client's packets are.
fn pick(ctx: &Context, topology: &Topology, affinity: &AffinityMap, conn: &Conn) -> Pick {
    let Some(vip) = ctx.vip(&conn.vip) else { return Pick::Nobody };
    let mac_keyed = vip.affinity && !affinity.is_empty() && ctx.client_id == ClientIdKind::Mac;
    if vip.affinity && !affinity.is_empty() && ctx.client_id == ClientIdKind::Ip {
        if let Some(n) = affinity.get(ip_client_id(&conn.client)) {
            return Pick::Node(n);
        }
    }
    // TCP segments use the flow key for content-keyed VIPs; a client key hashes the addresses alone.
    let hash = match vip.key {
        VipKey::Client => flow_hash(ctx, &conn.client, &conn.vip, true, 0, 0),
        _ => flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport),
    };
    let n = match (ctx.role, ctx.this_chassis) {
        // This chassis by name: chassis indices shift when one that sorts earlier comes or goes.
        (Role::Chassis, Some(c)) => {
            let name = &ctx.topology.chassis[c as usize].name;
            topology
                .chassis
                .iter()
                .position(|x| &x.name == name)
                .and_then(|c| topology.lookup_in_chassis(c as u16, hash))
        }
        _ => topology.lookup(hash),
    };
    match n {
        _ if mac_keyed => Pick::Unknowable { table: n },
        Some(n) => Pick::Node(n),
        None => Pick::Nobody,
    }
}

/// The name of the node a pick names, if any (node indices are only valid within one topology).
fn name(t: &Topology, p: Pick) -> Option<&str> {
    match p {
        Pick::Node(n) | Pick::Unknowable { table: Some(n) } => t.nodes.get(n as usize).map(|n| n.name.as_str()),
        _ => None,
    }
}

/// The connection's owner under the current snapshot, where it can be told. A chassis appliance owns a
/// connection only when tier 1 sends it to this chassis: otherwise its pick is only the fallback for a
/// spine that sends the flow here with another view, and the connection's node is elsewhere.
pub fn owner(ctx: &Context, conn: &Conn) -> Option<u16> {
    let Pick::Node(n) = pick(ctx, &ctx.topology, &ctx.affinity, conn) else { return None };
    if ctx.role == Role::Chassis {
        let vip = ctx.vip(&conn.vip)?;
        let hash = match vip.key {
            VipKey::Client => flow_hash(ctx, &conn.client, &conn.vip, true, 0, 0),
            _ => flow_hash(ctx, &conn.client, &conn.vip, false, conn.cport, conn.vport),
        };
        if ctx.topology.lookup(hash) != Some(n) {
            return None;
        }
    }
    Some(n)
}

/// Whether node `node` (by address) is where the current snapshot, or one retired within `window` of
/// `now`, picks for `conn`: the only owners a peer's fan-out frame may name.
pub fn picked_recently(ctx: &Context, conn: &Conn, node: &crate::wire::parse::Addr, now: u64, window: u64) -> bool {
    let Some(i) = ctx.node_by_ip(node) else { return false };
    let Some(wanted) = ctx.topology.nodes.get(i as usize).map(|n| n.name.as_str()) else { return false };
    let current = pick(ctx, &ctx.topology, &ctx.affinity, conn);
    name(&ctx.topology, current) == Some(wanted)
        || ctx
            .history
            .iter()
            .filter(|p| now.saturating_sub(p.retired) < window)
            .any(|p| name(&p.topology, pick(ctx, &p.topology, &p.affinity, conn)) == Some(wanted))
}

/// Judges a node-side RST for `conn` from `from`, at `now`, against the priors retired within `window`
/// ticks.
///
/// Where client VMs are identified by MAC address (`affinity.client_id = "mac"`), a node's RST does not
/// say which client VM it belongs to. The owner is then the node the tables pick or any node the affinity
/// map binds some client VM to, and the connection moved if the tables' pick changed or, for such a bound
/// node, the affinity map changed within the window: weaker than the address-keyed judgement.
pub fn judge(ctx: &Context, conn: &Conn, from: From, now: u64, window: u64) -> Judgement {
    let topo = &ctx.topology;
    let current = pick(ctx, topo, &ctx.affinity, conn);
    let bound = |s: u16| ctx.affinity.binds(s);
    let owner = match (current, from) {
        (Pick::Node(n), From::Node(s)) => n == s,
        (Pick::Node(n), From::Chassis(c)) => topo.nodes[n as usize].chassis == c,
        (Pick::Nobody, _) => false,
        (Pick::Unknowable { table }, From::Node(s)) => table == Some(s) || bound(s),
        (Pick::Unknowable { .. }, From::Chassis(_)) => true,
    };
    if !owner {
        return Judgement::NotOwner;
    }
    let now_name = name(topo, current);
    let by_affinity = match (current, from) {
        (Pick::Unknowable { table }, From::Node(s)) => table != Some(s),
        (Pick::Unknowable { .. }, From::Chassis(_)) => true,
        _ => false,
    };
    for prior in ctx.history.iter().filter(|p| now.saturating_sub(p.retired) < window) {
        let then = pick(ctx, &prior.topology, &prior.affinity, conn);
        let affinity_changed = by_affinity && !Arc::ptr_eq(&prior.affinity, &ctx.affinity);
        if affinity_changed || name(&prior.topology, then) != now_name {
            return Judgement::Moved;
        }
    }
    if drain_ended(ctx, now, window) {
        return Judgement::Moved;
    }
    Judgement::Stayed
}

/// A draining node stopped keeping its tracked connections within `window` of `now` (its drain timed
/// out, see [`crate::flows`]): those connections now follow the tables, wherever they hash, and the node
/// the tables picked all along is the one that refuses them. No snapshot records which connections the
/// drained node held, so a RST from their new owner counts as a move.
fn drain_ended(ctx: &Context, now: u64, window: u64) -> bool {
    ctx.nodes.iter().any(|n| n.keep_until != 0 && n.keep_until <= now && now - n.keep_until < window)
}
