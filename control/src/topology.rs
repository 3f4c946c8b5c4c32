//! The cluster as the dataplane sees it: nodes and chassis in a canonical order, and the Maglev tables
//! built from a validated [`Config`].
//!
//! Nodes are indexed in name order and chassis in name order, so two appliances with the same
//! configuration (in any file order) build identical tables and pick identical nodes.
//!
//! **Tier 1** is one weighted Maglev table over every selectable node (active, weight > 0); the chassis a
//! key goes to is the chassis of the node in its slot. Chassis shares are therefore proportional to the
//! active weight they hold, and a node that leaves (drained, down or removed) moves only its own keys, spread
//! over every chassis in proportion, with Maglev's small churn on the rest. (Weighting chassis in a separate
//! table instead moves a share of the *other* nodes' keys whenever a chassis's weight changes, because such
//! a table cannot tell which of a chassis's keys belonged to the node that left.)
//!
//! **Tier 2** picks the node inside a chassis: the tier-1 node when it belongs to that chassis (the usual
//! case, so a `single` appliance does one lookup), else the chassis's own weighted table over its nodes,
//! keyed by a remix of the hash. The fallback serves a chassis appliance whose view of the other chassis
//! differs from its spine's for a moment.
use std::net::IpAddr;

use crate::config::{Config, ForwardMode, MacAddr, NodeState, TableAlgorithm, DEFAULT_LOAD_BOUND};
use crate::maglev::{self, Backend};
use crate::rendezvous;

/// A node as the dataplane needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Index into [`Topology::chassis`].
    pub chassis: u16,
    pub mac: MacAddr,
    pub ip: IpAddr,
    pub weight: u32,
    pub state: NodeState,
    pub forward: ForwardMode,
    /// Index into the configuration's `ports`.
    pub port: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chassis {
    pub name: String,
    /// Global node indices, in name order.
    pub nodes: Vec<u16>,
    /// Sum of its selectable nodes' weights.
    pub weight: u64,
}

/// Nodes, chassis and both tiers of tables.
#[derive(Debug, Clone, PartialEq)]
pub struct Topology {
    pub nodes: Vec<Node>,
    pub chassis: Vec<Chassis>,
    /// Tier 1: slot → global node index ([`maglev::EMPTY`] everywhere if no node can take traffic).
    pub node_table: Vec<u16>,
    /// Tier 2, per chassis: slot → global node index of a node in that chassis.
    pub chassis_tables: Vec<Vec<u16>>,
    /// How the tables were built (rebuilds use the same).
    pub algorithm: TableAlgorithm,
    /// For bounded rendezvous: each node's cap, as a multiple of its weighted share.
    pub load_bound: f64,
    /// For bounded rendezvous: the plain rendezvous tables the capped ones were made from (tier 1, then
    /// each chassis), which the next rebuild starts from; empty for the other algorithms.
    pub unbounded: Vec<Vec<u16>>,
}

impl Topology {
    /// Builds the topology of a validated configuration.
    pub fn build(cfg: &Config) -> Topology {
        Topology::build_after(cfg, None)
    }

    /// [`Topology::build`], reusing `previous` (the topology this one replaces) where that is cheaper:
    /// rendezvous tables are then worked out from the previous ones (see [`rendezvous::rebuild`]), which
    /// gives the same tables as a fresh build in a fraction of the time.
    pub fn build_after(cfg: &Config, previous: Option<&Topology>) -> Topology {
        let mut chassis_names: Vec<&str> = cfg.chassis.iter().map(|c| c.name.as_str()).collect();
        chassis_names.sort_unstable();
        let mut order: Vec<usize> = (0..cfg.nodes.len()).collect();
        order.sort_by(|&a, &b| cfg.nodes[a].name.cmp(&cfg.nodes[b].name));
        let node_ports: Vec<usize> = cfg
            .ports
            .iter()
            .enumerate()
            .filter(|(_, p)| p.role == crate::config::PortRole::Node)
            .map(|(i, _)| i)
            .collect();
        let nodes: Vec<Node> = order
            .iter()
            .map(|&i| {
                let n = &cfg.nodes[i];
                let port = match &n.port {
                    Some(p) => cfg.ports.iter().position(|q| &q.name == p).expect("validated port"),
                    None => node_ports[0],
                };
                Node {
                    name: n.name.clone(),
                    chassis: chassis_names.binary_search(&n.chassis.as_str()).expect("validated chassis") as u16,
                    mac: n.mac,
                    ip: n.ip,
                    weight: n.weight,
                    state: n.state,
                    forward: n.forward,
                    port,
                }
            })
            .collect();
        Topology::assemble(
            chassis_names.iter().map(|s| s.to_string()).collect(),
            nodes,
            (cfg.dataplane.table_size, cfg.dataplane.chassis_table_size),
            (cfg.dataplane.table_algorithm, cfg.dataplane.load_bound),
            previous,
        )
    }

    /// Builds tables for `nodes` (already in name order) over `chassis_names` (in name order).
    pub fn from_parts(
        chassis_names: Vec<String>,
        nodes: Vec<Node>,
        table_size: u32,
        chassis_table_size: u32,
        algorithm: TableAlgorithm,
    ) -> Topology {
        Topology::from_parts_bounded(
            chassis_names,
            nodes,
            (table_size, chassis_table_size),
            algorithm,
            DEFAULT_LOAD_BOUND,
        )
    }

    /// [`Topology::from_parts`] with bounded rendezvous's `load_bound` given.
    pub fn from_parts_bounded(
        chassis_names: Vec<String>,
        nodes: Vec<Node>,
        sizes: (u32, u32),
        algorithm: TableAlgorithm,
        load_bound: f64,
    ) -> Topology {
        Topology::assemble(chassis_names, nodes, sizes, (algorithm, load_bound), None)
    }

    fn assemble(
        chassis_names: Vec<String>,
        nodes: Vec<Node>,
        (table_size, chassis_table_size): (u32, u32),
        (algorithm, load_bound): (TableAlgorithm, f64),
        previous: Option<&Topology>,
    ) -> Topology {
        let chassis: Vec<Chassis> = chassis_names
            .into_iter()
            .enumerate()
            .map(|(ci, name)| {
                let members: Vec<u16> =
                    (0..nodes.len()).filter(|&n| nodes[n].chassis as usize == ci).map(|n| n as u16).collect();
                let weight = members.iter().map(|&n| selectable(&nodes[n as usize]) as u64).sum();
                Chassis { name, nodes: members, weight }
            })
            .collect();
        // A previous rendezvous table of the same size is the starting point; anything else is built afresh.
        let previous = previous.filter(|p| p.algorithm == algorithm && algorithm != TableAlgorithm::Maglev);
        let winners = |members: &[u16], size: u32, before: Option<(&Topology, &[u16], &[u16])>| match before {
            Some((p, old_members, old)) if old.len() == size as usize => {
                rendezvous::rebuild(&backends(&p.nodes, old_members), old, &backends(&nodes, members))
            }
            _ => rendezvous::build(&backends(&nodes, members), size),
        };
        // (table, the unbounded table it was capped from)
        let table = |members: &[u16], size: u32, before| match algorithm {
            TableAlgorithm::Maglev => (maglev::build(&backends(&nodes, members), size), None),
            TableAlgorithm::Rendezvous => (winners(members, size, before), None),
            TableAlgorithm::BoundedRendezvous => {
                let w = winners(members, size, before);
                (rendezvous::bounded::cap(&backends(&nodes, members), &w, load_bound), Some(w))
            }
        };
        let everyone: Vec<u16> = (0..nodes.len() as u16).collect();
        let all_before: Vec<u16> = previous.map_or(Vec::new(), |p| (0..p.nodes.len() as u16).collect());
        let (node_table, node_winners) =
            table(&everyone, table_size, previous.map(|p| (p, &all_before[..], p.winners(None))));
        let (chassis_tables, chassis_winners): (Vec<Vec<u16>>, Vec<Option<Vec<u16>>>) = chassis
            .iter()
            .map(|c| {
                let before = previous.and_then(|p| {
                    let i = p.chassis.iter().position(|x| x.name == c.name)?;
                    Some((p, &p.chassis[i].nodes[..], p.winners(Some(i))))
                });
                table(&c.nodes, chassis_table_size, before)
            })
            .unzip();
        let unbounded = std::iter::once(node_winners).chain(chassis_winners).flatten().collect();
        Topology { nodes, chassis, node_table, chassis_tables, algorithm, load_bound, unbounded }
    }

    /// The rendezvous table a rebuild starts from for tier 1 (`None`) or chassis `i`: the table itself for
    /// plain rendezvous, the unbounded one it was capped from for bounded rendezvous.
    fn winners(&self, chassis: Option<usize>) -> &[u16] {
        let k = chassis.map_or(0, |i| i + 1);
        match (self.unbounded.get(k), chassis) {
            (Some(w), _) => w,
            (None, None) => &self.node_table,
            (None, Some(i)) => &self.chassis_tables[i],
        }
    }

    /// Index of the node called `name`.
    pub fn node_index(&self, name: &str) -> Option<usize> {
        self.nodes.binary_search_by(|n| n.name.as_str().cmp(name)).ok()
    }

    /// A copy with node `name` in `state` and tables rebuilt.
    pub fn with_state(&self, name: &str, state: NodeState) -> Option<Topology> {
        let i = self.node_index(name)?;
        let mut nodes = self.nodes.clone();
        nodes[i].state = state;
        Some(self.rebuilt(nodes))
    }

    /// A copy without node `name`, tables rebuilt (node indices after it shift down by one).
    pub fn without(&self, name: &str) -> Option<Topology> {
        let i = self.node_index(name)?;
        let mut nodes = self.nodes.clone();
        nodes.remove(i);
        Some(self.rebuilt(nodes))
    }

    fn rebuilt(&self, nodes: Vec<Node>) -> Topology {
        Topology::assemble(
            self.chassis.iter().map(|c| c.name.clone()).collect(),
            nodes,
            (self.node_table.len() as u32, self.chassis_tables.first().map_or(251, |t| t.len() as u32)),
            (self.algorithm, self.load_bound),
            Some(self),
        )
    }

    /// Tier 1 and 2 together (a `single` appliance): the node for `hash`, or None when no node can take
    /// traffic.
    #[inline]
    pub fn lookup(&self, hash: u32) -> Option<u16> {
        let n = *self.node_table.get(maglev::slot(hash, self.node_table.len()))?;
        (n != maglev::EMPTY).then_some(n)
    }

    /// Tier 1 alone: the chassis for `hash`.
    #[inline]
    pub fn lookup_chassis(&self, hash: u32) -> Option<u16> {
        self.lookup(hash).map(|n| self.nodes[n as usize].chassis)
    }

    /// Tier 2 alone: the node inside chassis `chassis` for `hash` (see the module comment).
    #[inline]
    pub fn lookup_in_chassis(&self, chassis: u16, hash: u32) -> Option<u16> {
        if let Some(n) = self.lookup(hash) {
            if self.nodes[n as usize].chassis == chassis {
                return Some(n);
            }
        }
        let t = self.chassis_tables.get(chassis as usize)?;
        let n = *t.get(maglev::slot(remix(hash), t.len()))?;
        (n != maglev::EMPTY).then_some(n)
    }
}

/// The weight a node's tables give it: its own while active, 0 while drained or down.
fn selectable(n: &Node) -> u32 {
    if n.state == NodeState::Active {
        n.weight
    } else {
        0
    }
}

/// The table backends for `members` (global node indices) of `nodes`.
fn backends<'a>(nodes: &'a [Node], members: &[u16]) -> Vec<Backend<'a>> {
    members
        .iter()
        .map(|&i| Backend { identity: &nodes[i as usize].name, weight: selectable(&nodes[i as usize]), value: i })
        .collect()
}

/// A bijective 32-bit mixer (murmur3's finaliser), used to derive the tier-2 hash from the tier-1 one.
#[inline(always)]
pub fn remix(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}
