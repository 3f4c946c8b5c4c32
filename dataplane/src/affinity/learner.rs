//! A worker's learner: what each client sent to each node since the last report, summed in a bounded
//! table under a random key.

use super::EMPTY;
use sluice_control::affinity::ClientId;

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
