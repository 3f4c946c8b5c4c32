//! The controller-VM affinity table, owned by the control core: which CVM (node) served each client VM.
//!
//! Workers report what they sent (client, node, packets, bytes); the first report for a client creates
//! its entry, later ones refresh it and add to its load. The control core ages idle entries, moves the
//! entries of CVMs that stop being active (down, draining, removed, failed health checks) and of CVMs that
//! carry more than their weight share of affinity traffic by a margin, and publishes the honoured entries
//! to workers as an immutable map. Pinned entries are the operator's: they never age and never move; a
//! pin is honoured while its CVM is active and resumes when the CVM comes back.
//!
//! Client addresses come from the network: learning is capped per client prefix (an IPv4 /24, an IPv6
//! /64) as well as in all, so one source cannot fill the table, and an operator's pin evicts the least
//! recently seen learned entry of a full table rather than being refused.
//!
//! Time is passed in as milliseconds so the logic is testable without clocks.

mod client;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use client::PrefixCounts;
pub use client::{ClientDisplay, ClientId};

use crate::config::{AffinityConfig, ClientIdKind, ConfigError, NodeState};
use crate::topology::Topology;

/// One client VM's affinity.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The CVM's node name (names survive topology changes; indices do not), shared by its entries.
    pub node: Arc<str>,
    pub pinned: bool,
    pub created_ms: u64,
    pub last_seen_ms: u64,
    pub packets: u64,
    pub bytes: u64,
    /// Load in the current rebalance window.
    pub window_bytes: u64,
    pub window_packets: u64,
    /// Times the control core moved it.
    pub moves: u32,
}

/// Why an entry moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MoveReason {
    /// Its CVM is no longer active (down, draining, failed checks, removed).
    CvmUnavailable,
    /// Its CVM carried more than its weight share by the margin.
    Overload,
}

/// A move, for logs and the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub client: ClientId,
    pub from: String,
    pub to: String,
    pub reason: MoveReason,
}

/// The table's counters (cumulative).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AffinityCounters {
    pub learned: u64,
    pub aged: u64,
    pub moved_unavailable: u64,
    pub moved_overload: u64,
    pub pinned: u64,
    pub unpinned: u64,
    pub flushed: u64,
    /// Clients not learned because the table was full.
    pub table_full: u64,
    /// Clients not learned because their prefix (IPv4 /24, IPv6 /64) already held
    /// `max_entries_per_prefix` learned entries.
    pub prefix_full: u64,
    /// Learned entries evicted (least recently seen first) to make room for a pin in a full table.
    pub evicted: u64,
    pub reports: u64,
    /// Reports naming a node index of a topology no longer in force.
    pub reports_stale: u64,
    pub publishes: u64,
    /// Honoured entries a publication's worker map had no slot for within its probe bound (each
    /// publication counts those it left out; the clients are balanced by their key meanwhile).
    pub unplaced: u64,
}

/// What `show` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    #[serde(default)]
    pub node: Option<String>,
    #[serde(default)]
    pub client: Option<String>,
    #[serde(default)]
    pub pinned_only: bool,
    /// At most this many (heaviest first); 0: all.
    #[serde(default)]
    pub limit: usize,
}

/// The control core's affinity table.
#[derive(Debug, Clone)]
pub struct AffinityTable {
    cfg: AffinityConfig,
    entries: HashMap<ClientId, Entry>,
    /// Learned (unpinned) entries per client prefix.
    learned: PrefixCounts,
    /// The node names entries refer to, one allocation each (a publication resolves them by address).
    names: HashSet<Arc<str>>,
    pub counters: AffinityCounters,
    /// Something changed since the last [`AffinityTable::take_dirty`].
    dirty: bool,
    window_start_ms: u64,
}

fn active(topo: &Topology, name: &str) -> Option<usize> {
    topo.node_index(name).filter(|&i| topo.nodes[i].state == NodeState::Active && topo.nodes[i].weight > 0)
}

/// The shared copy of node name `node`; names no entry refers to any more are dropped when a new one
/// comes.
fn intern(names: &mut HashSet<Arc<str>>, node: &str) -> Arc<str> {
    if let Some(n) = names.get(node) {
        return n.clone();
    }
    names.retain(|n| Arc::strong_count(n) > 1);
    let n: Arc<str> = node.into();
    names.insert(n.clone());
    n
}

/// The shared copy of every node name of `topo`, by node index.
fn interned(names: &mut HashSet<Arc<str>>, topo: &Topology) -> Vec<Arc<str>> {
    topo.nodes.iter().map(|n| intern(names, &n.name)).collect()
}

/// A deterministic spread of client ids over a topology's table (splitmix64 finaliser).
fn client_hash(c: ClientId) -> u32 {
    let mut z = (c.0 as u64) ^ ((c.0 >> 64) as u64).rotate_left(29);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)) as u32
}

impl AffinityTable {
    pub fn new(cfg: &AffinityConfig, now_ms: u64) -> AffinityTable {
        AffinityTable {
            cfg: cfg.clone(),
            entries: HashMap::new(),
            learned: PrefixCounts::new(cfg.client_id),
            names: HashSet::new(),
            counters: AffinityCounters::default(),
            dirty: false,
            window_start_ms: now_ms,
        }
    }

    pub fn kind(&self) -> ClientIdKind {
        self.cfg.client_id
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, c: ClientId) -> Option<&Entry> {
        self.entries.get(&c)
    }

    /// Learned entries in `c`'s prefix (an IPv4 /24, an IPv6 /64; always 0 for MACs, which have none).
    pub fn learned_in_prefix(&self, c: ClientId) -> u32 {
        self.learned.of(c)
    }

    /// The most learned entries any one client prefix holds, and how many prefixes hold some.
    pub fn prefixes(&self) -> (u32, usize) {
        (self.learned.max(), self.learned.len())
    }

    /// Something changed since the last publication.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// True once since the last change: time to publish.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// A worker's report: `client` sent `packets`/`bytes` to `node`. Learns a new client; for a known one
    /// refreshes it and adds the load (traffic that went elsewhere, before a publication reached the
    /// workers, keeps the client alive but does not change its CVM).
    pub fn observe(&mut self, client: ClientId, node: &str, packets: u64, bytes: u64, now_ms: u64) {
        self.counters.reports += 1;
        if let Some(e) = self.entries.get_mut(&client) {
            e.last_seen_ms = e.last_seen_ms.max(now_ms);
            if *e.node == *node {
                e.packets += packets;
                e.bytes += bytes;
                e.window_packets += packets;
                e.window_bytes += bytes;
            }
            return;
        }
        if self.learned.of(client) >= self.cfg.max_entries_per_prefix {
            self.counters.prefix_full += 1;
            return;
        }
        if self.entries.len() >= self.cfg.max_entries as usize {
            self.counters.table_full += 1;
            return;
        }
        self.learned.add(client);
        let node = intern(&mut self.names, node);
        self.entries.insert(
            client,
            Entry {
                node,
                pinned: false,
                created_ms: now_ms,
                last_seen_ms: now_ms,
                packets,
                bytes,
                window_bytes: bytes,
                window_packets: packets,
                moves: 0,
            },
        );
        self.counters.learned += 1;
        self.dirty = true;
    }

    /// Forgets unpinned entries idle for longer than the timeout. Returns how many.
    pub fn age(&mut self, now_ms: u64) -> usize {
        let timeout = self.cfg.idle_timeout_ms;
        let before = self.entries.len();
        let learned = &mut self.learned;
        self.entries.retain(|c, e| {
            let keep = e.pinned || now_ms.saturating_sub(e.last_seen_ms) <= timeout;
            if !keep {
                learned.remove(*c);
            }
            keep
        });
        let aged = before - self.entries.len();
        if aged > 0 {
            self.counters.aged += aged as u64;
            self.dirty = true;
        }
        aged
    }

    /// Moves every unpinned entry whose CVM is not active in `topo` to the CVM the client's hash picks
    /// among the active ones (weighted, deterministic).
    pub fn evacuate(&mut self, topo: &Topology) -> Vec<Move> {
        let mut moves = Vec::new();
        let names = interned(&mut self.names, topo);
        for (c, e) in self.entries.iter_mut() {
            if e.pinned || active(topo, &e.node).is_some() {
                continue;
            }
            let Some(to) = topo.lookup(client_hash(*c)) else { continue };
            let to = &names[to as usize];
            moves.push(Move {
                client: *c,
                from: std::mem::replace(&mut e.node, to.clone()).to_string(),
                to: to.to_string(),
                reason: MoveReason::CvmUnavailable,
            });
            e.moves += 1;
            e.window_bytes = 0;
            e.window_packets = 0;
        }
        self.counters.moved_unavailable += moves.len() as u64;
        self.dirty |= !moves.is_empty();
        moves
    }

    /// Once per rebalance interval: every active CVM whose share of the window's affinity bytes exceeds
    /// its weight share × (1 + margin) sheds unpinned entries, heaviest first, to the CVMs furthest below
    /// their share; an entry moves only if its new CVM stays within its own bound (no ping-pong). Starts a
    /// new window. Does nothing until the interval has passed.
    pub fn rebalance(&mut self, topo: &Topology, now_ms: u64) -> Vec<Move> {
        if now_ms.saturating_sub(self.window_start_ms) < self.cfg.rebalance_interval_ms {
            return Vec::new();
        }
        self.window_start_ms = now_ms;
        let mut moves = Vec::new();
        let margin = self.cfg.rebalance_margin;
        let packets: u64 = self.entries.values().map(|e| e.window_packets).sum();
        let total: u64 = self.entries.values().map(|e| e.window_bytes).sum();
        if margin >= 0.0 && packets >= self.cfg.rebalance_min_packets && total > 0 {
            let weights: Vec<f64> =
                topo.nodes.iter().map(|n| if n.state == NodeState::Active { n.weight as f64 } else { 0.0 }).collect();
            let wsum: f64 = weights.iter().sum();
            let mut load = vec![0f64; topo.nodes.len()];
            for e in self.entries.values() {
                if let Some(i) = topo.node_index(&e.node) {
                    load[i] += e.window_bytes as f64;
                }
            }
            let total = total as f64;
            let bound = |i: usize| weights[i] / wsum * total * (1.0 + margin);
            for over in 0..topo.nodes.len() {
                if weights[over] == 0.0 || load[over] <= bound(over) {
                    continue;
                }
                let mut mine: Vec<(ClientId, u64)> = self
                    .entries
                    .iter()
                    .filter(|(_, e)| !e.pinned && *e.node == *topo.nodes[over].name && e.window_bytes > 0)
                    .map(|(c, e)| (*c, e.window_bytes))
                    .collect();
                mine.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
                for (c, b) in mine {
                    if load[over] <= bound(over) {
                        break;
                    }
                    let b = b as f64;
                    // The CVM furthest below its share that can take this entry within its bound.
                    let to = (0..topo.nodes.len())
                        .filter(|&j| j != over && weights[j] > 0.0 && load[j] + b <= bound(j))
                        .min_by(|&x, &y| (load[x] / weights[x]).total_cmp(&(load[y] / weights[y])));
                    let Some(to) = to else { continue };
                    load[over] -= b;
                    load[to] += b;
                    let e = self.entries.get_mut(&c).expect("listed above");
                    let name = intern(&mut self.names, &topo.nodes[to].name);
                    moves.push(Move {
                        client: c,
                        from: std::mem::replace(&mut e.node, name.clone()).to_string(),
                        to: name.to_string(),
                        reason: MoveReason::Overload,
                    });
                    e.moves += 1;
                }
            }
        }
        for e in self.entries.values_mut() {
            e.window_bytes = 0;
            e.window_packets = 0;
        }
        self.counters.moved_overload += moves.len() as u64;
        self.dirty |= !moves.is_empty();
        moves
    }

    /// Pins `client` to `node`, which must exist and be active. Replaces a learned entry. In a full table
    /// it evicts the least recently seen learned entry (counted); only a table full of pins refuses it.
    pub fn pin(&mut self, client: ClientId, node: &str, topo: &Topology, now_ms: u64) -> Result<(), ConfigError> {
        self.pin_checked(client, node, topo, now_ms, true)
    }

    /// Puts back a pin kept across a restart: its node must exist, but need not be active (a pin outlives
    /// its node's drain, as it did before the restart).
    pub fn restore_pin(
        &mut self,
        client: ClientId,
        node: &str,
        topo: &Topology,
        now_ms: u64,
    ) -> Result<(), ConfigError> {
        self.pin_checked(client, node, topo, now_ms, false)
    }

    fn pin_checked(
        &mut self,
        client: ClientId,
        node: &str,
        topo: &Topology,
        now_ms: u64,
        active: bool,
    ) -> Result<(), ConfigError> {
        let Some(i) = topo.node_index(node) else {
            return Err(ConfigError::new("node", format!("no node {node:?}")));
        };
        let n = &topo.nodes[i];
        if active && (n.state != NodeState::Active || n.weight == 0) {
            let why = match n.state {
                NodeState::Active => "has weight 0".to_string(),
                s => format!("is {}", format!("{s:?}").to_lowercase()),
            };
            return Err(ConfigError::new("node", format!("node {node:?} {why}: pin to an active CVM")));
        }
        if !self.entries.contains_key(&client) && self.entries.len() >= self.cfg.max_entries as usize {
            let oldest = self.entries.iter().filter(|(_, e)| !e.pinned).min_by_key(|(c, e)| (e.last_seen_ms, **c));
            let Some((&oldest, _)) = oldest else {
                return Err(ConfigError::new(
                    "client",
                    format!("the table is full of pins ({} entries)", self.cfg.max_entries),
                ));
            };
            self.entries.remove(&oldest);
            self.learned.remove(oldest);
            self.counters.evicted += 1;
        }
        if self.entries.get(&client).is_some_and(|e| !e.pinned) {
            self.learned.remove(client);
        }
        let node = intern(&mut self.names, node);
        let e = self.entries.entry(client).or_insert_with(|| Entry {
            node: node.clone(),
            pinned: true,
            created_ms: now_ms,
            last_seen_ms: now_ms,
            packets: 0,
            bytes: 0,
            window_bytes: 0,
            window_packets: 0,
            moves: 0,
        });
        e.node = node;
        e.pinned = true;
        self.counters.pinned += 1;
        self.dirty = true;
        Ok(())
    }

    /// Turns a pin back into a learned entry (it ages from now).
    pub fn unpin(&mut self, client: ClientId, now_ms: u64) -> Result<(), ConfigError> {
        match self.entries.get_mut(&client) {
            Some(e) if e.pinned => {
                e.pinned = false;
                // Counted in its prefix again (an unpin may take a prefix past its cap: the cap limits
                // learning, not the operator).
                self.learned.add(client);
                e.last_seen_ms = now_ms;
                self.counters.unpinned += 1;
                self.dirty = true;
                Ok(())
            }
            Some(_) => Err(ConfigError::new("client", "not pinned")),
            None => Err(ConfigError::new("client", "no affinity for this client")),
        }
    }

    /// Forgets learned entries (of `node`, or all); pins stay. Returns how many.
    pub fn flush(&mut self, node: Option<&str>) -> usize {
        let before = self.entries.len();
        let learned = &mut self.learned;
        self.entries.retain(|c, e| {
            let keep = e.pinned || node.is_some_and(|n| *n != *e.node);
            if !keep {
                learned.remove(*c);
            }
            keep
        });
        let n = before - self.entries.len();
        self.counters.flushed += n as u64;
        self.dirty |= n > 0;
        n
    }

    /// The entries workers honour under `topo`: (client, node index) for every entry whose CVM is active,
    /// in no particular order.
    pub fn honoured(&self, topo: &Topology) -> Vec<(ClientId, u16)> {
        // Active nodes by the address of their shared name: an entry's node resolves without reading
        // its name.
        let addr = |n: &Arc<str>| Arc::as_ptr(n) as *const u8 as usize;
        let mut by_addr: Vec<(usize, u16)> = (0..topo.nodes.len())
            .filter(|&i| active(topo, &topo.nodes[i].name).is_some())
            .filter_map(|i| self.names.get(topo.nodes[i].name.as_str()).map(|n| (addr(n), i as u16)))
            .collect();
        by_addr.sort_unstable();
        let mut v = Vec::with_capacity(self.entries.len());
        v.extend(self.entries.iter().filter_map(|(c, e)| {
            let i = by_addr.binary_search_by_key(&addr(&e.node), |x| x.0).ok()?;
            Some((*c, by_addr[i].1))
        }));
        v
    }

    /// Entries matching `filter`, heaviest first.
    pub fn show(&self, filter: &Filter) -> Result<Vec<(ClientId, &Entry)>, ConfigError> {
        let client = filter.client.as_deref().map(|s| ClientId::parse(self.cfg.client_id, s)).transpose()?;
        let mut v: Vec<(ClientId, &Entry)> = self
            .entries
            .iter()
            .filter(|(c, e)| {
                client.is_none_or(|x| x == **c)
                    && filter.node.as_deref().is_none_or(|n| *n == *e.node)
                    && (!filter.pinned_only || e.pinned)
            })
            .map(|(c, e)| (*c, e))
            .collect();
        v.sort_by(|a, b| b.1.bytes.cmp(&a.1.bytes).then(a.0.cmp(&b.0)));
        if filter.limit > 0 {
            v.truncate(filter.limit);
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests;
