//! The workers' side of controller-VM affinity: the immutable map they read (client → node index, built
//! by the control core and published inside the context) and the per-worker learner that sums what each
//! client sent where and hands it to the control core in reports over a bounded lock-free queue.
//! Neither allocates after construction.
//!
//! Client addresses come from the network, so both tables hash them under a random key (ahash, a fresh
//! key per map and per learner: the key travels inside the map) and never walk more than a fixed number of
//! slots: chosen addresses cannot pile up in one place, and no lookup or insert costs more than the bound
//! whatever the addresses.

use sluice_control::affinity::ClientId;

/// An empty slot's node.
const EMPTY: u16 = u16::MAX;

/// Most slots a map lookup or insert examines. An entry that finds no slot within them is left out of
/// the map (its client is balanced by its key) and counted ([`AffinityMap::unplaced`]).
pub const MAP_PROBES: usize = 8;

/// Most builds of one map, each under a fresh key (see [`AffinityMap::build`]).
pub const BUILD_ATTEMPTS: usize = 3;

/// Client → node index: open addressing with linear probing and Robin Hood insertion under a random
/// key, at most a quarter full, probes bounded by [`MAP_PROBES`].
#[derive(Debug, Clone)]
pub struct AffinityMap {
    keys: Box<[u128]>,
    nodes: Box<[u16]>,
    /// Which node indices some client is bound to (a bit per node).
    bound: Box<[u64]>,
    /// This map's hash key (random per build).
    hasher: ahash::RandomState,
    shift: u32,
    len: usize,
    /// Entries given to the build that found no slot within the bound.
    unplaced: usize,
}

impl Default for AffinityMap {
    fn default() -> Self {
        AffinityMap::build(&[])
    }
}

impl AffinityMap {
    /// A map of `entries` (node indices must be < `u16::MAX`; a client listed twice keeps its last entry),
    /// at most a quarter full. At that load an entry finds no slot within [`MAP_PROBES`] of its home in
    /// about one build of 65,536 entries in a thousand, whatever the addresses (the key is random); then
    /// the map is built again under a fresh key, up to [`BUILD_ATTEMPTS`] builds in all. The map that left
    /// out fewest is kept, and what it left out is counted ([`AffinityMap::unplaced`]).
    pub fn build(entries: &[(ClientId, u16)]) -> AffinityMap {
        let cap = (entries.len() * 4).next_power_of_two().max(16);
        let mut m = AffinityMap::build_in(entries, cap);
        for _ in 1..BUILD_ATTEMPTS {
            if m.unplaced == 0 {
                break;
            }
            let again = AffinityMap::build_in(entries, cap);
            if again.unplaced < m.unplaced {
                m = again;
            }
        }
        m
    }

    fn build_in(entries: &[(ClientId, u16)], cap: usize) -> AffinityMap {
        let mut m = AffinityMap {
            keys: vec![0; cap].into_boxed_slice(),
            nodes: vec![EMPTY; cap].into_boxed_slice(),
            bound: Box::new([]),
            hasher: ahash::RandomState::new(),
            shift: 64 - cap.trailing_zeros(),
            len: 0,
            unplaced: 0,
        };
        // Each occupied slot's distance from its client's home slot (only while building).
        let mut dist = vec![0u8; cap];
        let mask = cap - 1;
        'entries: for &(c, n) in entries {
            let (mut key, mut node) = (c.0, n);
            let mut i = m.home(key);
            let mut d = 0;
            while d < MAP_PROBES {
                if m.nodes[i] == EMPTY {
                    (m.keys[i], m.nodes[i], dist[i]) = (key, node, d as u8);
                    m.len += 1;
                    continue 'entries;
                }
                if m.keys[i] == key {
                    m.nodes[i] = node;
                    continue 'entries;
                }
                // Robin Hood: the entry nearer its home gives way, keeping every probe sequence short.
                if (dist[i] as usize) < d {
                    std::mem::swap(&mut key, &mut m.keys[i]);
                    std::mem::swap(&mut node, &mut m.nodes[i]);
                    let was = std::mem::replace(&mut dist[i], d as u8);
                    d = was as usize;
                }
                i = (i + 1) & mask;
                d += 1;
            }
            // The entry in hand (this one, or one it displaced) has no slot within the bound.
            m.unplaced += 1;
        }
        let most = m.nodes.iter().filter(|&&n| n != EMPTY).map(|&n| n as usize + 1).max().unwrap_or(0);
        let mut bound = vec![0u64; most.div_ceil(64)];
        for &n in m.nodes.iter().filter(|&&n| n != EMPTY) {
            bound[n as usize / 64] |= 1 << (n % 64);
        }
        m.bound = bound.into_boxed_slice();
        m
    }

    #[inline(always)]
    fn home(&self, client: u128) -> usize {
        (self.hasher.hash_one(client) >> self.shift) as usize
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots in the map (a power of two, at least four times its entries).
    pub fn slots(&self) -> usize {
        self.keys.len()
    }

    /// Entries the build was given that are not in the map: no slot within [`MAP_PROBES`] of their home.
    pub fn unplaced(&self) -> usize {
        self.unplaced
    }

    /// Some client is bound to node `n`.
    pub fn binds(&self, n: u16) -> bool {
        self.bound.get(n as usize / 64).is_some_and(|w| w >> (n % 64) & 1 == 1)
    }

    /// Both maps bind the same clients to the same nodes.
    pub fn same_entries(&self, other: &AffinityMap) -> bool {
        self.len == other.len
            && self.keys.iter().zip(self.nodes.iter()).all(|(k, n)| *n == EMPTY || other.get(*k) == Some(*n))
    }

    /// The node `client` is bound to.
    #[inline]
    pub fn get(&self, client: u128) -> Option<u16> {
        self.find(client).0
    }

    /// How many slots a lookup of `client` examines (at most [`MAP_PROBES`]), found or not.
    pub fn probe_len(&self, client: u128) -> usize {
        self.find(client).1
    }

    /// The most slots a lookup of any client in the map examines.
    pub fn max_probe(&self) -> usize {
        self.keys
            .iter()
            .zip(self.nodes.iter())
            .filter(|(_, n)| **n != EMPTY)
            .map(|(k, _)| self.probe_len(*k))
            .max()
            .unwrap_or(0)
    }

    #[inline(always)]
    fn find(&self, client: u128) -> (Option<u16>, usize) {
        if self.len == 0 {
            return (None, 0);
        }
        let mask = self.keys.len() - 1;
        let mut i = self.home(client);
        for probes in 1..=MAP_PROBES {
            let n = self.nodes[i];
            if n == EMPTY {
                return (None, probes);
            }
            if self.keys[i] == client {
                return (Some(n), probes);
            }
            i = (i + 1) & mask;
        }
        (None, MAP_PROBES)
    }
}

/// What a worker saw one client send to one node since its last report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffinityReport {
    pub client: ClientId,
    /// Index into the nodes of the topology `topology` names.
    pub node: u16,
    pub topology: u64,
    pub packets: u32,
    pub bytes: u64,
}

#[derive(Clone, Copy)]
struct Slot {
    client: u128,
    node: u16,
    packets: u32,
    bytes: u64,
}

/// Slots in a worker's learner: distinct (client, node) pairs it can sum between two reports.
pub const LEARNER_SLOTS: usize = 8192;
const PROBES: usize = 8;

/// A worker's sums per (client, node) since its last flush.
pub struct Learner {
    slots: Box<[Slot]>,
    /// This learner's hash key (random).
    hasher: ahash::RandomState,
    used: Box<[u16]>,
    n_used: usize,
}

impl Default for Learner {
    fn default() -> Self {
        Learner {
            slots: vec![Slot { client: 0, node: EMPTY, packets: 0, bytes: 0 }; LEARNER_SLOTS].into_boxed_slice(),
            hasher: ahash::RandomState::new(),
            used: vec![0; LEARNER_SLOTS].into_boxed_slice(),
            n_used: 0,
        }
    }
}

impl Learner {
    /// Adds a packet of `bytes` from `client` to `node`. False if no slot was free near its place (the
    /// caller counts it as a dropped report).
    #[inline]
    pub fn record(&mut self, client: u128, node: u16, bytes: usize) -> bool {
        let mask = LEARNER_SLOTS - 1;
        let mut i = (self.hasher.hash_one((client, node)) >> (64 - LEARNER_SLOTS.trailing_zeros())) as usize;
        for _ in 0..PROBES {
            let s = &mut self.slots[i];
            if s.node == EMPTY {
                *s = Slot { client, node, packets: 1, bytes: bytes as u64 };
                self.used[self.n_used] = i as u16;
                self.n_used += 1;
                return true;
            }
            if s.client == client && s.node == node {
                s.packets = s.packets.saturating_add(1);
                s.bytes += bytes as u64;
                return true;
            }
            i = (i + 1) & mask;
        }
        false
    }

    pub fn is_empty(&self) -> bool {
        self.n_used == 0
    }

    /// Past half its slots probes get long and records start to fail: time to flush early.
    #[inline]
    pub fn is_half_full(&self) -> bool {
        self.n_used >= LEARNER_SLOTS / 2
    }

    /// Hands every sum to `send` (which returns false when the queue is full) and empties the learner.
    /// Returns how many reports `send` refused.
    pub fn flush(&mut self, topology: u64, mut send: impl FnMut(AffinityReport) -> bool) -> u64 {
        let mut refused = 0;
        for &i in &self.used[..self.n_used] {
            let s = &mut self.slots[i as usize];
            let r = AffinityReport {
                client: ClientId(s.client),
                node: s.node,
                topology,
                packets: s.packets,
                bytes: s.bytes,
            };
            if !send(r) {
                refused += 1;
            }
            s.node = EMPTY;
        }
        self.n_used = 0;
        refused
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_control::affinity::AffinityTable;
    use sluice_control::config::{AffinityConfig, Config};
    use sluice_control::Topology;

    /// Clients the table has and does not have: every one is found (or not) within the probe bound.
    fn assert_bounded(m: &AffinityMap, entries: &[(ClientId, u16)], absent: impl Iterator<Item = u128>) {
        assert!(m.max_probe() <= MAP_PROBES, "max probe {}", m.max_probe());
        for &(c, n) in entries {
            assert_eq!(m.get(c.0), Some(n));
            assert!(m.probe_len(c.0) <= MAP_PROBES);
        }
        for c in absent {
            assert_eq!(m.get(c), None);
            assert!(m.probe_len(c) <= MAP_PROBES);
        }
    }

    /// 65,536 addresses of one IPv6 /64 that all share one home slot under an unkeyed multiplicative
    /// hash (`(lo ^ rotl(hi, 17)) × φ`: lo = j × φ⁻¹ ^ rotl(hi, 17) hashes to j, whose top bits are 0).
    fn colliding_slash_64() -> Vec<u128> {
        const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut inv: u64 = 1;
        for _ in 0..6 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(PHI.wrapping_mul(inv)));
        }
        assert_eq!(PHI.wrapping_mul(inv), 1);
        let hi = 0x2001_0db8_0000_0001u64;
        (0..65_536u64).map(|j| (hi as u128) << 64 | (j.wrapping_mul(inv) ^ hi.rotate_left(17)) as u128).collect()
    }

    fn spread(n: usize, mut x: u64) -> Vec<u128> {
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                0x2001_0db8u128 << 96 | (x as u128) << 16 | (x >> 48) as u128
            })
            .collect()
    }

    #[test]
    fn map_bounds_probes_whatever_the_addresses() {
        let v4 = |i: u32| 0xffff_0000_0000u128 | 0x0a00_0000 | i as u128;
        let sets: [(&str, Vec<u128>); 4] = [
            ("one /64, chosen to collide", colliding_slash_64()),
            ("one /64, sequential", (0..65_536u128).map(|i| 0x2001_0db8_0000_0001u128 << 64 | i).collect()),
            ("IPv4, sequential", (0..65_536u32).map(v4).collect()),
            ("spread", spread(65_536, 0x1234_5678_9abc_def1)),
        ];
        for (what, clients) in sets {
            let entries: Vec<(ClientId, u16)> =
                clients.iter().enumerate().map(|(i, &c)| (ClientId(c), (i % 4) as u16)).collect();
            let m = AffinityMap::build(&entries);
            assert_eq!((m.len(), m.unplaced()), (65_536, 0), "{what}: every entry has a slot");
            let absent = spread(10_000, 0x0bad_cafe_f00d_0001).into_iter().chain((65_536..75_536).map(v4));
            assert_bounded(&m, &entries, absent);
            assert!((0..4).all(|n| m.binds(n)) && !m.binds(4));
        }
    }

    #[test]
    fn a_map_too_small_leaves_entries_out_and_counts_them() {
        let entries: Vec<(ClientId, u16)> = (0..100u32).map(|i| (ClientId(i as u128), (i % 3) as u16)).collect();
        let m = AffinityMap::build_in(&entries, 16);
        assert_eq!((m.len(), m.unplaced()), (16, 84));
        let found = entries.iter().filter(|(c, n)| m.get(c.0) == Some(*n)).count();
        assert_eq!(found, 16, "what is placed is found, what is not is absent");
        assert!(entries.iter().all(|(c, _)| m.probe_len(c.0) <= MAP_PROBES));
        // A full-size build places them all.
        assert_eq!(AffinityMap::build(&entries).unplaced(), 0);
    }

    fn topo() -> Topology {
        let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
        Topology::build(&Config::from_toml(&t).unwrap())
    }

    /// The control core learns 65,536 clients the way an attacker would pick them, and the map it publishes
    /// stays within the probe bound.
    #[test]
    fn a_flood_of_chosen_clients_is_capped_and_the_published_map_stays_bounded() {
        let t = topo();
        let cfg = AffinityConfig { enabled: true, ..Default::default() };
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        let learn = |clients: &[u128]| {
            let mut a = AffinityTable::new(&cfg, 0);
            for (i, &c) in clients.iter().enumerate() {
                a.observe(ClientId(c), names[i % names.len()], 1, 100, 0);
            }
            a
        };
        // One /64: its prefix learns 256 and counts the rest.
        let a = learn(&colliding_slash_64());
        assert_eq!((a.len(), a.counters.learned, a.counters.prefix_full), (256, 256, 65_536 - 256));
        let honoured = a.honoured(&t);
        let m = AffinityMap::build(&honoured);
        assert_eq!((m.len(), m.unplaced()), (256, 0));
        assert_bounded(&m, &honoured, colliding_slash_64().into_iter().skip(256));
        // 65,536 sequential IPv4 addresses: 256 /24s of 256, all learned, all honoured, bounded probes.
        let v4: Vec<u128> = (0..65_536u32).map(|i| 0xffff_0000_0000u128 | 0x0a00_0000 | i as u128).collect();
        let a = learn(&v4);
        assert_eq!((a.len(), a.counters.prefix_full, a.counters.table_full), (65_536, 0, 0));
        assert_eq!(a.prefixes(), (256, 256));
        let honoured = a.honoured(&t);
        assert_eq!(honoured.len(), 65_536);
        let m = AffinityMap::build(&honoured);
        assert_eq!((m.len(), m.unplaced()), (65_536, 0));
        assert_bounded(&m, &honoured, std::iter::empty());
        // Honest clients spread over many /64s: every one learned and honoured.
        let honest = spread(60_000, 0x5eed);
        let a = learn(&honest);
        assert_eq!((a.len(), a.counters.prefix_full), (60_000, 0));
        let m = AffinityMap::build(&a.honoured(&t));
        assert_eq!((m.len(), m.unplaced()), (60_000, 0));
        assert!(m.max_probe() <= MAP_PROBES);
    }

    #[test]
    fn map_finds_every_entry_and_nothing_else() {
        let entries: Vec<(ClientId, u16)> =
            (0..5000u32).map(|i| (ClientId(0xffff_0a00_0000 | i as u128), (i % 7) as u16)).collect();
        let m = AffinityMap::build(&entries);
        assert_eq!(m.len(), 5000);
        for (c, n) in &entries {
            assert_eq!(m.get(c.0), Some(*n));
        }
        for i in 5000..20000u32 {
            assert_eq!(m.get(0xffff_0a00_0000 | i as u128), None);
        }
        assert_eq!(AffinityMap::default().get(0), None);
    }

    #[test]
    fn learner_sums_per_client_and_node_and_reports_refusals() {
        let mut l = Learner::default();
        for _ in 0..3 {
            assert!(l.record(7, 1, 100));
        }
        assert!(l.record(7, 2, 60));
        assert!(l.record(8, 1, 10));
        let mut got = Vec::new();
        assert_eq!(
            l.flush(9, |r| {
                got.push(r);
                true
            }),
            0
        );
        got.sort_by_key(|r| (r.client, r.node));
        assert_eq!(got.len(), 3);
        assert_eq!((got[0].packets, got[0].bytes, got[0].topology), (3, 300, 9));
        assert!(l.is_empty());
        // A refused report is counted; the learner is empty either way.
        for c in 0..100u128 {
            l.record(c, 0, 1);
        }
        assert_eq!(l.flush(1, |_| false), 100);
        assert!(l.is_empty());
        // Filling it: some records find no slot and say so.
        let refused = (0..(LEARNER_SLOTS as u128 * 2)).filter(|&c| !l.record(c, 0, 1)).count();
        assert!(refused >= LEARNER_SLOTS);
    }
}
