//! The immutable client → node map the workers read, built by the control core and published inside the
//! context.

use super::EMPTY;
use sluice_control::affinity::ClientId;

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

    pub(super) fn build_in(entries: &[(ClientId, u16)], cap: usize) -> AffinityMap {
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
