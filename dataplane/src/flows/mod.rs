//! The flow table: which node each TCP connection went to, per worker, so that an established connection
//! stays on its node while that node is active or draining, whatever the tables say since.
//!
//! A worker owns its table outright (no locks, no atomics): RSS sends every packet of a connection's
//! client → VIP direction to one worker, and that is the only direction the table is consulted and filled
//! from. Return traffic (node → client) needs no table: it goes to the client whatever node sent it.
//!
//! Layout: buckets of four 16-byte entries, one cache line each; a connection may sit in either of two
//! buckets its hash picks (two choices keep a bucket from overflowing long before the table is full). An
//! entry holds a keyed hash of the connection (client and VIP address and port) as its tag (64 bits: two
//! connections that share one are one in 2^64, and the key is random per process, so nobody can aim for
//! it), the node's stable id, the time of the client's last packet and the connection's state. Nothing is
//! allocated after start; the table sits on memory advised for transparent huge pages, so random lookups
//! do not each cost a TLB miss.
//!
//! What goes in, and what it evicts:
//! - a segment of a connection without an entry follows the tables and is recorded as `new` (a SYN's, or
//!   one seen first mid-stream: after a restart or an eviction, or released by its node); the client's
//!   next segment makes it `established`;
//! - a new entry takes a free or expired place, or the oldest `new` or `closing` one (`evicted`), never
//!   an established one: no flood of SYNs or forged segments pushes out a live connection. When all
//!   eight places hold established connections, the newcomer goes untracked (`full`);
//! - above `new_per_sec` new entries a second (a token bucket), nothing new goes in (counted as `flood`),
//!   and those flows follow the tables as they would with the table off.
//!
//! What comes out: a client FIN or RST marks an entry `closing`; a SYN renews a `new` or `closing` entry
//! (ports reused: it follows the tables), while one on an established connection goes to its node, so a
//! forged SYN or RST cannot unpin a live connection. `new` and `closing` entries expire after
//! `closing_timeout_s`, established ones after `idle_timeout_s` without a packet from the client. A sweep
//! between bursts walks a few buckets at a time, removing expired entries and those whose node no longer
//! keeps its connections (down, removed, or draining for longer than `drain_timeout_s`), so the per-node
//! counts the console shows are current.

mod ids;

pub use ids::{FlowIds, NO_SLOT, SLOTS};

use dpdk_sys::HugeBuf;
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
    Full => "full": "new connections not tracked because both their buckets held only established connections",
    Evicted => "evicted": "new or closing entries pushed out by a newer connection (established ones never are)",
    Expired => "expired": "entries forgotten after their idle or closing timeout",
    Closed => "closed": "tracked connections whose client sent a FIN or RST (their entries go after the closing timeout)",
    Renewed => "renewed": "SYNs on ports whose tracked connection was closing or never established: a new connection, which follows the tables",
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
    buckets: HugeBuf<Bucket>,
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
            buckets: HugeBuf::new(0),
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
            buckets: HugeBuf::new(buckets),
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

    /// The two buckets a connection may sit in (two choices keep buckets from overflowing long before
    /// the table is full).
    #[inline(always)]
    fn buckets_of(&self, tag: u64) -> [usize; 2] {
        let first = (tag >> 32) as usize & self.mask;
        let second = (tag as u32 >> 1) as usize & self.mask;
        [first, if second == first { first ^ 1 } else { second }]
    }

    #[inline(always)]
    fn find(&self, tag: u64) -> Option<(usize, usize)> {
        self.buckets_of(tag)
            .into_iter()
            .find_map(|b| self.buckets[b].0.iter().position(|e| e.tag == tag).map(|w| (b, w)))
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
        let Some((b, w)) = self.find(tag) else {
            return Lookup::Decide(tag);
        };
        let e = self.buckets[b].0[w];
        let syn = flags & (SYN | ACK) == SYN;
        // A SYN on ports whose connection is not established (closing, or never completed) starts a new
        // connection: it follows the tables. One on an established connection goes where that is (its
        // node answers with a challenge ACK, RFC 5961): a forged SYN cannot unpin a live connection.
        let node = if syn && e.state != ESTABLISHED { None } else { ctx.flow_node(e.node, now) };
        let Some(n) = node else {
            let why = if syn && e.state != ESTABLISHED { FlowCounter::Renewed } else { FlowCounter::Released };
            self.counters[why as usize] += 1;
            self.remove(b, w);
            return Lookup::Decide(tag);
        };
        self.counters[FlowCounter::Hits] += 1;
        let ms = self.ms(now);
        let e = &mut self.buckets[b].0[w];
        e.seen = ms;
        if flags & (FIN | RST) != 0 {
            // The connection is ending (or a forged RST its node will ignore claims so): its entry goes
            // after the closing timeout, and its segments keep their node until then.
            if e.state != CLOSING {
                e.state = CLOSING;
                self.counters[FlowCounter::Closed] += 1;
            }
        } else if e.state == NEW && !syn {
            e.state = ESTABLISHED;
        }
        Lookup::Node(n)
    }

    /// The node a tracked connection's entry sends it to, without touching the entry (for ICMP errors
    /// about it).
    pub fn peek(&self, ctx: &Context, (client, vip, cport, vport): (&Addr, &Addr, u16, u16), now: u64) -> Option<u16> {
        if !self.is_on() {
            return None;
        }
        let (b, w) = self.find(self.tag(client, vip, cport, vport))?;
        ctx.flow_node(self.buckets[b].0[w].node, now)
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
            self.counters[FlowCounter::Flood] += 1;
            return;
        }
        // Every new entry is `new` (or `closing` after a FIN) until its client's next segment: a SYN's,
        // and a connection's seen first mid-stream (after a restart or an eviction, or released by its
        // node), which the new node may refuse, its client then never following up.
        let state = if flags & FIN != 0 { CLOSING } else { NEW };
        let Some((b, w)) = self.slot_for(tag, ms) else {
            self.counters[FlowCounter::Full] += 1;
            return;
        };
        self.tokens -= 1000;
        let id = ctx.nodes[node as usize].flow_id;
        self.buckets[b].0[w] = Entry { tag, seen: ms, node: id, state, _pad: 0 };
        self.per_slot[id as usize % SLOTS] += 1;
        self.counters[FlowCounter::Inserted] += 1;
        self.counters[FlowCounter::Entries] += 1;
    }

    /// A place for a new entry in either of its buckets: a free or expired one, else the oldest `new` or
    /// `closing` one (emptied). Never an established one: nothing new, forged or not, pushes out a live
    /// connection. None: all eight hold established connections.
    fn slot_for(&mut self, tag: u64, ms: u32) -> Option<(usize, usize)> {
        let mut two = self.buckets_of(tag);
        // The emptier bucket first (the power of two choices).
        let free = |b: usize| self.buckets[b].0.iter().filter(|e| e.tag == 0).count();
        if free(two[1]) > free(two[0]) {
            two.swap(0, 1);
        }
        let ways = || two.into_iter().flat_map(|b| (0..WAYS).map(move |w| (b, w)));
        if let Some(at) = ways().find(|&(b, w)| self.buckets[b].0[w].tag == 0) {
            return Some(at);
        }
        if let Some((b, w)) = ways().find(|&(b, w)| self.expired(&self.buckets[b].0[w], ms)) {
            self.counters[FlowCounter::Expired] += 1;
            self.remove(b, w);
            return Some((b, w));
        }
        let (b, w) = ways()
            .filter(|&(b, w)| self.buckets[b].0[w].state != ESTABLISHED)
            .max_by_key(|&(b, w)| ms.wrapping_sub(self.buckets[b].0[w].seen))?;
        self.counters[FlowCounter::Evicted] += 1;
        self.remove(b, w);
        Some((b, w))
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
            self.counters[FlowCounter::Entries] -= 1;
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
                    self.counters[FlowCounter::Expired] += 1;
                    self.remove(b, w);
                } else if ctx.flow_node(e.node, now).is_none() {
                    self.counters[FlowCounter::Released] += 1;
                    self.remove(b, w);
                }
            }
        }
    }
}

use crate::wire::tcp::flags::{ACK, FIN, RST, SYN};

#[cfg(test)]
mod tests;
