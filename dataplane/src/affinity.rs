//! The workers' side of controller-VM affinity: the immutable map they read (client → node index, built
//! by the control core and published inside the context) and the per-worker learner that sums what each
//! client sent where and hands it to the control core in reports over a bounded lock-free queue.
//! Neither allocates after construction.

use sluice_control::affinity::ClientId;

/// An empty slot's node.
const EMPTY: u16 = u16::MAX;

#[inline(always)]
fn mix(id: u128) -> u64 {
    ((id as u64) ^ ((id >> 64) as u64).rotate_left(17)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Client → node index, open addressing with linear probing, at most half full.
#[derive(Debug, Clone)]
pub struct AffinityMap {
    keys: Box<[u128]>,
    nodes: Box<[u16]>,
    /// Which node indices some client is bound to (a bit per node).
    bound: Box<[u64]>,
    shift: u32,
    len: usize,
}

impl Default for AffinityMap {
    fn default() -> Self {
        AffinityMap::build(&[])
    }
}

impl AffinityMap {
    /// A map of `entries` (node indices must be < `u16::MAX`; a client listed twice keeps its last entry).
    pub fn build(entries: &[(ClientId, u16)]) -> AffinityMap {
        let cap = (entries.len() * 2).next_power_of_two().max(16);
        let mut m = AffinityMap {
            keys: vec![0; cap].into_boxed_slice(),
            nodes: vec![EMPTY; cap].into_boxed_slice(),
            bound: vec![0; (entries.iter().map(|e| e.1 as usize + 1).max().unwrap_or(0)).div_ceil(64)]
                .into_boxed_slice(),
            shift: 64 - cap.trailing_zeros(),
            len: 0,
        };
        for &(c, n) in entries {
            m.bound[n as usize / 64] |= 1 << (n % 64);
            let mask = cap - 1;
            let mut i = (mix(c.0) >> m.shift) as usize;
            loop {
                if m.nodes[i] == EMPTY {
                    m.keys[i] = c.0;
                    m.nodes[i] = n;
                    m.len += 1;
                    break;
                }
                if m.keys[i] == c.0 {
                    m.nodes[i] = n;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
        m
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
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
        if self.len == 0 {
            return None;
        }
        let mask = self.keys.len() - 1;
        let mut i = (mix(client) >> self.shift) as usize;
        loop {
            let n = self.nodes[i];
            if n == EMPTY {
                return None;
            }
            if self.keys[i] == client {
                return Some(n);
            }
            i = (i + 1) & mask;
        }
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
    used: Box<[u16]>,
    n_used: usize,
}

impl Default for Learner {
    fn default() -> Self {
        Learner {
            slots: vec![Slot { client: 0, node: EMPTY, packets: 0, bytes: 0 }; LEARNER_SLOTS].into_boxed_slice(),
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
        let mut i = (mix(client ^ node as u128) >> (64 - LEARNER_SLOTS.trailing_zeros())) as usize & mask;
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
