//! The flow table: which node each TCP connection went to, per worker, so that an established connection
//! stays on its node while that node is active or draining, whatever the tables say since.
//!
//! A worker owns its table outright (no locks, no atomics): RSS sends every packet of a connection's
//! client → VIP direction to one worker, and that is the only direction the table is consulted and filled
//! from. Return traffic (node → client) needs no table: it goes to the client whatever node sent it.
//!
//! Layout: buckets of four 16-byte entries, one cache line each, indexed by a keyed hash of the
//! connection (client and VIP address and port). An entry holds the hash itself as its tag (64 bits: two
//! connections that share one are one in 2^64, and the key is random per process, so nobody can aim for
//! it), the node's stable id, the time of the client's last packet and the connection's state. Nothing
//! is allocated after start.
//!
//! What goes in, and what it evicts:
//! - a SYN (without ACK) always follows the tables, and is recorded as `new`;
//! - any other segment of a connection without an entry follows the tables and is recorded as `new` too
//!   (connections from before a restart, evicted ones, or ones whose node let them go); the client's
//!   next segment makes any `new` entry `established`;
//! - a SYN's entry takes a free or expired slot, or the oldest `new`/`closing` one, never an established
//!   one: a SYN flood cannot push established connections out. Any other segment's entry takes the
//!   oldest of any state when the bucket is full (counted);
//! - above `new_per_sec` new entries a second (a token bucket), nothing new goes in (counted as `flood`),
//!   and those flows follow the tables as they would with the table off.
//!
//! What comes out: a client RST removes its entry at once; a client FIN marks it `closing`; `new` and
//! `closing` entries expire after `closing_timeout_s`, established ones after `idle_timeout_s` without a
//! packet from the client. A sweep between bursts walks a few buckets at a time, removing expired entries
//! and those whose node no longer keeps its connections (down, removed, or draining for longer than
//! `drain_timeout_s`), so the per-node counts the console shows are current.

mod ids;

pub use ids::{FlowIds, NO_SLOT, SLOTS};

use sluice_control::config::FlowsConfig;

use crate::counters::named_counters;
use crate::pipeline::Context;
use crate::wire::parse::Addr;

named_counters! {
    /// A flow-table counter.
    FlowCounter {
    Hits => "hits": "segments sent to the node their connection's entry records",
    Inserted => "inserted": "connections that got an entry",
    Released => "released": "entries whose node no longer keeps connections (down, removed, drain timed out): the flow follows the tables",
    Flood => "flood": "new connections not tracked because the worker's new-flow rate was spent",
    Full => "full": "new connections not tracked because their bucket held only established connections",
    Evicted => "evicted": "established entries evicted to make room for another established connection",
    Expired => "expired": "entries forgotten after their idle or closing timeout",
    Closed => "closed": "entries removed by the client's RST",
    Renewed => "renewed": "SYNs that replaced an entry (the client reused the ports): they follow the tables",
    Entries => "entries": "entries in use, a gauge summed over workers",
}
}

/// A worker's flow counters, indexed by [`FlowCounter`].
pub type FlowCounters = [u64; FlowCounter::COUNT];

/// Entries per bucket (one cache line).
const WAYS: usize = 4;

const NEW: u8 = 0;
const ESTABLISHED: u8 = 1;
const CLOSING: u8 = 2;

/// One tracked connection (16 bytes).
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Entry {
    /// The connection's hash (never 0); 0 marks a free entry.
    tag: u64,
    /// The client's last packet, in milliseconds of the worker's clock (wrapping).
    seen: u32,
    /// The node's stable id (see [`FlowIds`]).
    node: u16,
    state: u8,
    _pad: u8,
}

#[derive(Clone, Copy, Default)]
#[repr(C, align(64))]
struct Bucket([Entry; WAYS]);

/// What a client segment's entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// Send it to this node (index in the current context).
    Node(u16),
    /// No entry, or one whose node no longer keeps it: the tables decide, and [`FlowTable::record`] the
    /// result with this tag.
    Decide(u64),
    /// The table is off.
    Off,
}

/// A worker's flow table.
pub struct FlowTable {
    buckets: Box<[Bucket]>,
    mask: usize,
    hasher: ahash::RandomState,
    /// Worker clock ticks per millisecond.
    tick_ms: u64,
    idle_ms: u32,
    closing_ms: u32,
    /// Token bucket for new entries: tokens (scaled by 1000 per token), refill per ms, depth, last refill.
    tokens: u64,
    refill_per_ms: u64,
    depth: u64,
    refilled_ms: u32,
    /// Live entries per node slot.
    per_slot: Box<[u32]>,
    cursor: usize,
    pub counters: FlowCounters,
}

impl FlowTable {
    /// A table that tracks nothing (and allocates nothing).
    pub fn off() -> FlowTable {
        FlowTable {
            buckets: Box::new([]),
            mask: 0,
            hasher: ahash::RandomState::new(),
            tick_ms: 1,
            idle_ms: 0,
            closing_ms: 0,
            tokens: 0,
            refill_per_ms: 0,
            depth: 0,
            refilled_ms: 0,
            per_slot: Box::new([]),
            cursor: 0,
            counters: [0; FlowCounter::COUNT],
        }
    }

    /// The table `cfg` describes, on a clock of `ticks_per_sec`; [`FlowTable::off`] when disabled.
    pub fn new(cfg: &FlowsConfig, ticks_per_sec: u64) -> FlowTable {
        if !cfg.enabled {
            return FlowTable::off();
        }
        let buckets = (cfg.entries_per_worker as usize).next_power_of_two().max(WAYS) / WAYS;
        // Tokens are kept in thousandths, so rates below 1000 a second still refill every millisecond.
        let per_ms = cfg.new_per_sec as u64;
        let depth = (per_ms * 1000 / 10).max(64 * 1000);
        FlowTable {
            buckets: vec![Bucket::default(); buckets].into_boxed_slice(),
            mask: buckets - 1,
            tick_ms: (ticks_per_sec / 1000).max(1),
            idle_ms: cfg.idle_timeout_s.saturating_mul(1000),
            closing_ms: cfg.closing_timeout_s.saturating_mul(1000),
            tokens: depth,
            refill_per_ms: per_ms,
            depth,
            per_slot: vec![0; SLOTS].into_boxed_slice(),
            ..FlowTable::off()
        }
    }

    #[inline]
    pub fn is_on(&self) -> bool {
        !self.buckets.is_empty()
    }

    /// Entries the table can hold.
    pub fn capacity(&self) -> usize {
        self.buckets.len() * WAYS
    }

    /// Live entries whose node has stable id slot `slot`.
    pub fn tracked(&self, slot: usize) -> u32 {
        self.per_slot.get(slot).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn ms(&self, now: u64) -> u32 {
        (now / self.tick_ms) as u32
    }

    #[inline(always)]
    fn tag(&self, client: &Addr, vip: &Addr, cport: u16, vport: u16) -> u64 {
        let mut key = [0u8; 36];
        key[..16].copy_from_slice(&client.bytes);
        key[16..32].copy_from_slice(&vip.bytes);
        key[32..34].copy_from_slice(&cport.to_be_bytes());
        key[34..].copy_from_slice(&vport.to_be_bytes());
        self.hasher.hash_one(key) | 1
    }

    #[inline(always)]
    fn bucket(&self, tag: u64) -> usize {
        (tag >> 32) as usize & self.mask
    }

    /// The client segment of connection (`client`:`cport` → `vip`:`vport`) with TCP flags `flags`, at
    /// `now`: where its entry sends it, or what to record once the tables have decided.
    #[inline]
    pub fn lookup(
        &mut self,
        ctx: &Context,
        (client, vip, cport, vport): (&Addr, &Addr, u16, u16),
        flags: u8,
        now: u64,
    ) -> Lookup {
        if !self.is_on() {
            return Lookup::Off;
        }
        let tag = self.tag(client, vip, cport, vport);
        let b = self.bucket(tag);
        let Some(w) = self.buckets[b].0.iter().position(|e| e.tag == tag) else {
            return Lookup::Decide(tag);
        };
        let e = self.buckets[b].0[w];
        let syn = flags & (SYN | ACK) == SYN;
        let node = if syn { None } else { ctx.flow_node(e.node, now) };
        let Some(n) = node else {
            // A new connection on old ports, or one whose node no longer keeps it: the tables decide.
            let why = if syn { FlowCounter::Renewed } else { FlowCounter::Released };
            self.counters[why as usize] += 1;
            self.remove(b, w);
            return Lookup::Decide(tag);
        };
        self.counters[FlowCounter::Hits as usize] += 1;
        if flags & RST != 0 {
            self.counters[FlowCounter::Closed as usize] += 1;
            self.remove(b, w);
            return Lookup::Node(n);
        }
        let ms = self.ms(now);
        let e = &mut self.buckets[b].0[w];
        e.seen = ms;
        if flags & FIN != 0 {
            e.state = CLOSING;
        } else if e.state == NEW {
            e.state = ESTABLISHED;
        }
        Lookup::Node(n)
    }

    /// Records that the tables sent the connection with `tag` (from [`Lookup::Decide`]) to node index
    /// `node` of `ctx`; `flags` are its segment's.
    #[inline]
    pub fn record(&mut self, ctx: &Context, tag: u64, node: u16, flags: u8, now: u64) {
        if flags & RST != 0 {
            return;
        }
        let ms = self.ms(now);
        // Refill the token bucket, then spend a token.
        let elapsed = ms.wrapping_sub(self.refilled_ms) as u64;
        if elapsed > 0 {
            self.tokens = (self.tokens + elapsed * self.refill_per_ms).min(self.depth);
            self.refilled_ms = ms;
        }
        if self.tokens < 1000 {
            self.counters[FlowCounter::Flood as usize] += 1;
            return;
        }
        // A connection seen first mid-stream is `new` until its client's next segment: one that the node
        // refuses (a RST the client takes) is never followed up, and goes after the closing timeout. It may
        // still take an established connection's place: it is evidence of one.
        let syn = flags & (SYN | ACK) == SYN;
        let state = if flags & FIN != 0 { CLOSING } else { NEW };
        let b = self.bucket(tag);
        let Some(w) = self.slot_for(b, !syn, ms) else {
            self.counters[FlowCounter::Full as usize] += 1;
            return;
        };
        self.tokens -= 1000;
        let id = ctx.nodes[node as usize].flow_id;
        self.buckets[b].0[w] = Entry { tag, seen: ms, node: id, state, _pad: 0 };
        self.per_slot[id as usize % SLOTS] += 1;
        self.counters[FlowCounter::Inserted as usize] += 1;
        self.counters[FlowCounter::Entries as usize] += 1;
    }

    /// A way of bucket `b` for a new entry: a free or expired one, else the oldest that the new entry may
    /// evict (emptied): a `new` or `closing` one, or with `evict_established` (not a SYN) any. None:
    /// every way holds an established connection and the new one is a SYN.
    fn slot_for(&mut self, b: usize, evict_established: bool, ms: u32) -> Option<usize> {
        let ways = self.buckets[b].0;
        if let Some(w) = ways.iter().position(|e| e.tag == 0) {
            return Some(w);
        }
        if let Some(w) = (0..WAYS).find(|&w| self.expired(&ways[w], ms)) {
            self.counters[FlowCounter::Expired as usize] += 1;
            self.remove(b, w);
            return Some(w);
        }
        let age = |w: &usize| ms.wrapping_sub(ways[*w].seen);
        let transient = (0..WAYS).filter(|&w| ways[w].state != ESTABLISHED).max_by_key(age);
        let w = match (transient, evict_established) {
            (Some(w), _) => w,
            (None, true) => {
                self.counters[FlowCounter::Evicted as usize] += 1;
                (0..WAYS).max_by_key(age).expect("a full bucket")
            }
            (None, _) => return None,
        };
        self.remove(b, w);
        Some(w)
    }

    #[inline]
    fn expired(&self, e: &Entry, ms: u32) -> bool {
        let limit = if e.state == ESTABLISHED { self.idle_ms } else { self.closing_ms };
        ms.wrapping_sub(e.seen) >= limit
    }

    fn remove(&mut self, b: usize, w: usize) {
        let e = &mut self.buckets[b].0[w];
        if e.tag != 0 {
            let slot = e.node as usize % SLOTS;
            self.per_slot[slot] = self.per_slot[slot].saturating_sub(1);
            self.counters[FlowCounter::Entries as usize] -= 1;
            *e = Entry::default();
        }
    }

    /// Looks at the next `buckets` buckets: entries past their timeout, or whose node no longer keeps
    /// connections, go.
    pub fn sweep(&mut self, ctx: &Context, now: u64, buckets: usize) {
        if !self.is_on() {
            return;
        }
        let ms = self.ms(now);
        for _ in 0..buckets.min(self.buckets.len()) {
            let b = self.cursor;
            self.cursor = (self.cursor + 1) & self.mask;
            for w in 0..WAYS {
                let e = self.buckets[b].0[w];
                if e.tag == 0 {
                    continue;
                }
                if self.expired(&e, ms) {
                    self.counters[FlowCounter::Expired as usize] += 1;
                    self.remove(b, w);
                } else if ctx.flow_node(e.node, now).is_none() {
                    self.counters[FlowCounter::Released as usize] += 1;
                    self.remove(b, w);
                }
            }
        }
    }
}

use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};

#[cfg(test)]
mod tests;
