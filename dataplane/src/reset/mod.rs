//! Connection reset through a stateless balancer.
//!
//! When a membership or affinity change sends a live connection's packets to a node that does not know
//! it, that node answers with a TCP RST. sluice forwards the RST to the client (its socket fails at once
//! instead of timing out) and, when the connection really moved (see [`moved`]), starts a *fan-out* to
//! clear it wherever it is still held:
//!
//! 1. Every node that may hold it (all but `down` ones, and not its current owner) gets a probe: a
//!    SYN|ACK from the client's address and port to the VIP, acknowledging the connection's cookie (a
//!    keyed hash of the connection, see [`ProbeCookie`]). A node that holds the connection established
//!    must answer a SYN with a challenge ACK carrying its `rcv_nxt` (RFC 5961 4.2, which Linux follows);
//!    a node that does not hold it refuses with a RST whose sequence number is the cookie, and no
//!    half-open connection is ever created.
//! 2. The challenge ACK (or any other segment from a node other than the owner for that connection while
//!    the fan-out is live) is not forwarded to the client: sluice turns it, in place, into a RST with
//!    sequence number exactly its acknowledgement number (the node's `rcv_nxt`) and sends it back to the
//!    node that sent it. Linux accepts a RST only at exactly `rcv_nxt`, so this one clears the stale
//!    connection.
//! 3. Refusals (RSTs at the cookie) are kept from the client. Every other node RST reaches it: the
//!    owner's RST at a sequence number not yet forwarded goes out at once, and only an identical
//!    retransmission is collapsed.
//! 4. `reprobe_ms` later the worker that probed sends the same probes again while the entry lives: a lost
//!    probe or challenge ACK, or an answer that reached a peer appliance before it had the entry, still
//!    clears its holder.
//!
//! The soft state is per worker, bounded in entries (`table_entries`, oldest evicted) and in lifetime
//! (`window_ms`). A worker that starts a fan-out hands the entry to every other worker over bounded
//! queues, so whichever worker a node's answer reaches knows it. Fan-outs are rate-limited per worker
//! and per client prefix ([`limit`]). Forwarding decisions stay stateless: the table only decides what a
//! node's answer to a probe becomes. RSTs from clients never start a fan-out.

pub mod frames;
pub(crate) mod hook;
pub mod limit;
pub mod moved;
pub(crate) mod worker;

use serde::Serialize;

use crate::counters::named_counters;
use crate::wire::parse::Addr;
use sluice_control::config::ResetConfig;

pub use frames::{
    write_fanout_frame, write_peer_frame, write_probe, write_segment, FANOUT_ETHERTYPE, FANOUT_MAGIC, PEER_MAGIC,
};
pub use hook::probe_to;
use limit::{Limits, Refused};
pub use moved::{Judgement, Prior};

named_counters! {
    /// A reset counter.
    ResetCounter {
    NodeRsts => "node_rsts": "RSTs from a VIP seen on the node side",
    RstsForwarded => "rsts_forwarded": "node RSTs forwarded to the client",
    Fanouts => "fanouts_started": "fan-outs started here (by a node RST, or a spine's frame); peers' are peer_entries",
    NotOwner => "not_owner": "node RSTs from a node the connection's flow does not reach now (forwarded, no fan-out)",
    NotMoved => "not_moved": "node RSTs for connections no recent change moved (forwarded, no fan-out)",
    FramesTier1 => "frames_tier1": "fan-out frames sent to chassis appliances",
    FramesTier2 => "frames_tier2": "fan-out probes sent to nodes",
    Refusals => "refusals": "nodes' RSTs refusing a probe, kept from the client",
    SuppressedDuplicate => "suppressed_duplicate": "identical retransmissions of an already forwarded RST, collapsed",
    SuppressedRate => "suppressed_rate": "fan-outs not started because the worker's rate limit was spent",
    SuppressedPrefix => "suppressed_prefix": "fan-outs not started because the client prefix's rate limit was spent",
    DuplicateFrames => "duplicate_frames": "a spine's or peer's fan-out frames for a connection whose fan-out is already live here",
    FramesPeers => "frames_peers": "fan-out frames sent to peer appliances",
    Deferred => "deferred": "node RSTs from a node the connection does not reach here yet, and peers' frames naming an owner not picked here yet, judged again at the next snapshots",
    Rejudged => "rejudged_moved": "deferred RSTs and peers' frames a later snapshot explained (fan-out started or entry taken)",
    PeerEntries => "peer_entries": "fan-outs a peer appliance started, known here so its probes' answers complete",
    Completions => "completions": "exact RSTs sent to a node after its challenge ACK",
    Swallowed => "swallowed": "segments from a node for a connection being reset, beyond the completion limit",
    Entries => "softstate_entries": "soft-state entries in use, a gauge summed over workers (each worker holds every live fan-out)",
    Evictions => "softstate_evictions": "live entries evicted because the table was full",
    Shared => "entries_shared": "entries taken from other workers' fan-outs",
    ShareDropped => "share_dropped": "entries another worker's queue had no room for",
    ProbeAllocFailed => "probe_alloc_failed": "probes not sent for want of an mbuf",
    EventsDropped => "events_dropped": "fan-out reports the control lcore's queue had no room for",
    Reprobes => "reprobes": "fan-outs probed a second time, reprobe_ms after the first, their soft state still live",
    ReprobesSkipped => "reprobes_skipped": "second rounds not scheduled: the worker's queue of them was full",
}
}

/// A worker's reset counters, indexed by [`ResetCounter`].
pub type ResetCounters = [u64; ResetCounter::COUNT];

/// A connection in the client → VIP direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Conn {
    #[serde(skip)]
    pub client: Addr,
    #[serde(skip)]
    pub vip: Addr,
    pub cport: u16,
    pub vport: u16,
}

impl Conn {
    fn key(&self) -> [u8; 36] {
        let mut key = [0u8; 36];
        key[..16].copy_from_slice(&self.client.bytes);
        key[16..32].copy_from_slice(&self.vip.bytes);
        key[32..34].copy_from_slice(&self.cport.to_be_bytes());
        key[34..36].copy_from_slice(&self.vport.to_be_bytes());
        key
    }
}

/// The number a fan-out's probes acknowledge, so that a node's refusal (a RST at exactly that sequence
/// number) is told from every other RST without any state: a keyed hash of the connection under a key
/// derived from the configuration's hash key, so every worker (and every appliance of a fleet running
/// the same build) agrees, and nobody who does not know the key can predict it.
#[derive(Clone)]
pub struct ProbeCookie {
    state: ahash::RandomState,
}

impl ProbeCookie {
    pub fn new(secret: &[u8]) -> ProbeCookie {
        let mut seeds = [0x5c1e_c00c_1e5e_ed00u64, 0x0070_726f_6265, 0x636f_6f6b_6965, 0x736c_7569_6365];
        for (i, chunk) in secret.chunks(8).enumerate() {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            seeds[i % 4] = seeds[i % 4].rotate_left(23) ^ u64::from_le_bytes(b).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
        ProbeCookie { state: ahash::RandomState::with_seeds(seeds[0], seeds[1], seeds[2], seeds[3]) }
    }

    /// The cookie of `conn` (never 0).
    #[inline]
    pub fn of(&self, conn: &Conn) -> u32 {
        let h = self.state.hash_one(conn.key());
        ((h ^ (h >> 32)) as u32).max(1)
    }
}

/// What started a fan-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A node's RST for a connection that moved: this appliance probes, and tells its peers.
    NodeRst,
    /// A spine's fan-out frame (at a chassis appliance): this appliance probes its own nodes.
    Spine,
    /// A peer appliance's fan-out frame: the peer probes; this appliance only knows the entry, so that
    /// the nodes' answers that reach it become exact RSTs too.
    Peer,
}

impl Origin {
    pub fn describe(self) -> &'static str {
        match self {
            Origin::NodeRst => "node RST",
            Origin::Spine => "spine fan-out frame",
            Origin::Peer => "peer appliance's fan-out frame",
        }
    }
}

/// What a worker reports to the control lcore when it starts a fan-out.
#[derive(Debug, Clone, Copy)]
pub struct FanoutEvent {
    pub conn: Conn,
    pub worker: u16,
    pub origin: Origin,
}

/// A fan-out to send: probes for `conn` to every node that may hold it except its current owner.
#[derive(Debug, Clone, Copy)]
pub struct Fanout {
    pub conn: Conn,
    /// The connection's current owner, by address (node indices change with the topology).
    pub owner: Option<Addr>,
    pub origin: Origin,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    conn: Conn,
    expires: u64,
    completions: u16,
    live: bool,
    /// The connection's current owner (by address): its segments are not answers to probes.
    owner: Option<Addr>,
    /// The sequence number of the last RST forwarded for the connection.
    last_rst: Option<u32>,
}

/// Most completions answered per fan-out (one per node that answers; retransmissions beyond are swallowed).
const MAX_COMPLETIONS: u16 = 64;
/// Slots probed per lookup.
const PROBE: usize = 8;
/// Fan-outs a worker queues between two flushes.
pub const PENDING_MAX: usize = 32;
/// Second probe rounds a worker keeps waiting: more than the default rate (1000 a second) and burst
/// start within the default `reprobe_ms`.
const REPROBE_MAX: usize = 1024;

/// What a node RST is, before any judgement of the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RstKind {
    /// A refusal of one of sluice's probes: kept from the client.
    Refusal,
    /// An identical retransmission of a RST already forwarded during a live fan-out: collapsed.
    Duplicate,
    /// A new RST for a connection under a live fan-out: forwarded, nothing more.
    UnderFanout,
    /// A RST for a connection with no live fan-out: forward it, and judge whether it moved.
    Fresh,
}

/// Something this appliance's snapshot cannot explain yet, kept until a later snapshot does or it expires:
/// a node RST judged [`Judgement::NotOwner`] (`seq`: its sequence number), or a peer's fan-out frame
/// naming an owner this appliance does not pick yet (`seq` None). `sender` is the node's address: the
/// RST's sender, or the owner the peer named.
#[derive(Clone, Copy)]
struct Deferred {
    conn: Conn,
    seq: Option<u32>,
    sender: Addr,
    expires: u64,
}

/// Node RSTs kept for judging again, per worker (the oldest is overwritten).
const DEFERRED_MAX: usize = 64;
/// How long a deferred RST waits for a snapshot, in milliseconds: the time appliances of a fleet take to
/// apply one change between them.
const DEFERRED_MS: u64 = 1000;

/// One worker's reset soft state.
pub struct Resets {
    /// Not-owner RSTs from nodes, judged again when the worker adopts a new snapshot: an appliance of a
    /// fleet that applies a change a few milliseconds after its peers receives the new owner's RST for a
    /// connection that its own tables still send to the old one.
    deferred: Vec<Deferred>,
    deferred_ttl: u64,
    /// Where the next deferred RST goes when the ring is full (the oldest).
    deferred_next: usize,
    /// Defer at all: only an appliance with peers can see a change arrive after the RST it explains.
    defer: bool,
    /// Peers' fan-outs spend this budget (4× a worker's own), not the worker's or its prefixes'.
    peer_limits: Limits,
    entries: Vec<Entry>,
    mask: usize,
    window: u64,
    moved_window: u64,
    limits: Limits,
    sweep: usize,
    pending: Vec<Fanout>,
    /// The fan-outs this worker probed, oldest first, each with when its second round is due.
    reprobes: std::collections::VecDeque<(u64, Fanout)>,
    /// Ticks from the first round to the second; 0: none.
    reprobe_after: u64,
    /// Places entries in the table: keyed per worker, so nobody can aim connections at a victim's slots.
    hasher: ahash::RandomState,
    pub counters: ResetCounters,
}

impl Resets {
    /// Soft state for `cfg`, with time measured in ticks of `ticks_per_sec` (the TSC on a worker).
    pub fn new(cfg: &ResetConfig, ticks_per_sec: u64) -> Resets {
        let n = cfg.table_entries.next_power_of_two() as usize;
        Resets {
            deferred: Vec::with_capacity(DEFERRED_MAX),
            deferred_ttl: ticks_per_sec / 1000 * DEFERRED_MS,
            deferred_next: 0,
            defer: false,
            peer_limits: Limits::new(
                cfg.rate_per_sec.saturating_mul(4),
                cfg.burst.saturating_mul(4),
                cfg.prefix_rate_per_sec.saturating_mul(4),
                cfg.prefix_burst.saturating_mul(4),
                ticks_per_sec,
            ),
            entries: vec![Entry::default(); n],
            mask: n - 1,
            window: ticks_per_sec / 1000 * cfg.window_ms,
            moved_window: ticks_per_sec / 1000 * cfg.moved_window_ms,
            limits: Limits::new(cfg.rate_per_sec, cfg.burst, cfg.prefix_rate_per_sec, cfg.prefix_burst, ticks_per_sec),
            sweep: 0,
            pending: Vec::with_capacity(PENDING_MAX),
            reprobes: std::collections::VecDeque::with_capacity(REPROBE_MAX),
            reprobe_after: ticks_per_sec / 1000 * cfg.reprobe_ms,
            hasher: ahash::RandomState::new(),
            counters: [0; ResetCounter::COUNT],
        }
    }

    #[inline]
    fn count(&mut self, c: ResetCounter) {
        self.counters[c as usize] += 1;
    }

    /// How far back (ticks) a snapshot's pick still counts as where a connection was.
    pub fn moved_window(&self) -> u64 {
        self.moved_window
    }

    fn home(&self, c: &Conn) -> usize {
        self.hasher.hash_one(c.key()) as usize
    }

    fn find(&self, c: &Conn, now: u64) -> Option<usize> {
        let h = self.home(c);
        (0..PROBE).map(|i| (h + i) & self.mask).find(|&s| {
            let e = &self.entries[s];
            e.live && e.expires > now && e.conn == *c
        })
    }

    fn insert(&mut self, e: Entry, now: u64) {
        let (h, mask) = (self.home(&e.conn), self.mask);
        let slots = (0..PROBE).map(move |i| (h + i) & mask);
        let slot = match slots.clone().find(|&s| {
            let x = &self.entries[s];
            !x.live || x.expires <= now || x.conn == e.conn
        }) {
            Some(s) => s,
            None => {
                self.count(ResetCounter::Evictions);
                slots.min_by_key(|&s| self.entries[s].expires).expect("PROBE > 0")
            }
        };
        if !self.entries[slot].live {
            self.counters[ResetCounter::Entries] += 1;
        }
        self.entries[slot] = Entry { expires: now + self.window, live: true, ..e };
    }

    /// Classifies a RST from a node for `conn` at sequence number `seq`; `cookie` is the connection's
    /// probe cookie. Counts it, and remembers the sequence number of a RST forwarded under a fan-out.
    pub fn on_node_rst(&mut self, conn: Conn, seq: u32, cookie: u32, now: u64) -> RstKind {
        self.count(ResetCounter::NodeRsts);
        if seq == cookie {
            self.count(ResetCounter::Refusals);
            return RstKind::Refusal;
        }
        let Some(i) = self.find(&conn, now) else {
            self.count(ResetCounter::RstsForwarded);
            return RstKind::Fresh;
        };
        if self.entries[i].last_rst == Some(seq) {
            self.count(ResetCounter::SuppressedDuplicate);
            return RstKind::Duplicate;
        }
        self.entries[i].last_rst = Some(seq);
        self.count(ResetCounter::RstsForwarded);
        RstKind::UnderFanout
    }

    /// A fresh RST's judgement (see [`moved::judge`]): a fan-out starts for a moved connection within
    /// the rate limits. `owner` is the connection's current owner's address: the sender, for a node.
    pub fn judged(&mut self, conn: Conn, seq: u32, j: Judgement, owner: Option<Addr>, now: u64) {
        match j {
            Judgement::NotOwner => {
                self.count(ResetCounter::NotOwner);
                if let (Some(sender), true) = (owner, self.defer) {
                    self.hold(Deferred { conn, seq: Some(seq), sender, expires: now + self.deferred_ttl });
                }
            }
            Judgement::Stayed => self.count(ResetCounter::NotMoved),
            Judgement::Moved => {
                let e = Entry { conn, owner, last_rst: Some(seq), ..Entry::default() };
                self.start(e, Origin::NodeRst, now);
            }
        }
    }

    fn hold(&mut self, d: Deferred) {
        if self.deferred.len() < DEFERRED_MAX {
            self.deferred.push(d);
        } else {
            self.deferred[self.deferred_next] = d;
            self.deferred_next = (self.deferred_next + 1) % DEFERRED_MAX;
        }
        self.count(ResetCounter::Deferred);
    }

    /// A peer's (authenticated) fan-out frame naming `owner`, a node this appliance's snapshots do not
    /// pick for `conn` yet: the peer applied a change before this appliance. Kept until the change comes.
    pub fn defer_peer_frame(&mut self, conn: Conn, owner: Addr, now: u64) {
        self.hold(Deferred { conn, seq: None, sender: owner, expires: now + self.deferred_ttl });
    }

    /// Starts a fan-out (queues it for the worker to send and share) within the rate limits. A peer's is
    /// already within the peer's limits, and only known here: it spends none of this appliance's.
    fn start(&mut self, e: Entry, origin: Origin, now: u64) {
        if self.pending.len() == PENDING_MAX {
            self.count(ResetCounter::SuppressedRate);
            return;
        }
        let allowed = match origin {
            Origin::Peer => self.peer_limits.take(&e.conn.client, now),
            _ => self.limits.take(&e.conn.client, now),
        };
        match allowed {
            Err(Refused::Worker) => self.count(ResetCounter::SuppressedRate),
            Err(Refused::Prefix) => self.count(ResetCounter::SuppressedPrefix),
            Ok(()) => {
                self.insert(e, now);
                self.count(if origin == Origin::Peer { ResetCounter::PeerEntries } else { ResetCounter::Fanouts });
                self.pending.push(Fanout { conn: e.conn, owner: e.owner, origin });
            }
        }
    }

    /// The worker adopted `ctx`: judges the deferred node RSTs again against it (and the snapshots it
    /// replaced); those for connections it shows moved, to the node that sent them, start fan-outs.
    /// RSTs that are still not the owner's stay until they expire: the snapshot that explains them may come
    /// after another (an affinity republication, say).
    pub fn rejudge(&mut self, ctx: &crate::pipeline::Context, now: u64) {
        if self.deferred.is_empty() {
            return;
        }
        let mut deferred = std::mem::take(&mut self.deferred);
        deferred.retain(|d| {
            if d.expires <= now || self.find(&d.conn, now).is_some() {
                return false;
            }
            let Some(node) = ctx.node_by_ip(&d.sender) else { return false };
            let Some(seq) = d.seq else {
                // A peer's frame: taken once this appliance picks the owner it named.
                if !moved::picked_recently(ctx, &d.conn, &d.sender, now, self.moved_window) {
                    return true;
                }
                self.count(ResetCounter::Rejudged);
                self.start(Entry { conn: d.conn, owner: Some(d.sender), ..Entry::default() }, Origin::Peer, now);
                return false;
            };
            match moved::judge(ctx, &d.conn, moved::From::Node(node), now, self.moved_window) {
                Judgement::NotOwner => true,
                Judgement::Stayed => false,
                Judgement::Moved => {
                    self.count(ResetCounter::Rejudged);
                    let e = Entry { conn: d.conn, owner: Some(d.sender), last_rst: Some(seq), ..Entry::default() };
                    self.start(e, Origin::NodeRst, now);
                    false
                }
            }
        });
        self.deferred = deferred;
        self.deferred_next = 0;
    }

    /// Whether not-owner node RSTs are kept for judging again (an appliance with peers).
    pub fn defer_not_owners(&mut self, on: bool) {
        self.defer = on;
        if !on {
            self.deferred.clear();
        }
    }

    /// A fan-out frame from the spine for `conn`, whose owner in this chassis is `owner`: probe this
    /// chassis's other nodes (once per window, within the rate limits).
    pub fn on_fanout_frame(&mut self, conn: Conn, owner: Option<Addr>, now: u64) {
        if self.find(&conn, now).is_some() {
            self.count(ResetCounter::DuplicateFrames);
        } else {
            self.start(Entry { conn, owner, ..Entry::default() }, Origin::Spine, now);
        }
    }

    /// A peer appliance's fan-out frame for `conn`, whose owner is `owner`: know the entry (once per
    /// window, within the rate limits), share it with the other workers, probe nothing.
    pub fn on_peer_frame(&mut self, conn: Conn, owner: Option<Addr>, now: u64) {
        if self.find(&conn, now).is_some() {
            self.count(ResetCounter::DuplicateFrames);
        } else {
            self.start(Entry { conn, owner, ..Entry::default() }, Origin::Peer, now);
        }
    }

    /// Counts a fan-out frame to a peer appliance, sent or not (no mbuf).
    pub fn count_peer_frame(&mut self, sent: bool) {
        self.count(if sent { ResetCounter::FramesPeers } else { ResetCounter::ProbeAllocFailed });
    }

    /// Another worker started a fan-out: know its entry too, so that whichever worker a node's answer
    /// reaches turns it into the exact RST.
    pub fn adopt(&mut self, f: &Fanout, now: u64) {
        self.count(ResetCounter::Shared);
        let e = Entry { conn: f.conn, owner: f.owner, ..Entry::default() };
        self.insert(e, now);
    }

    /// No fan-out is live: return segments need no look-up.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.counters[ResetCounter::Entries] == 0
    }

    /// Any other segment from a VIP for `conn`, from the node at address `sender`: None when no fan-out
    /// is live for it or it comes from the connection's owner (forward it as usual); Some(true) to answer
    /// it with the exact RST; Some(false) to keep it from the client.
    pub fn on_node_segment(&mut self, conn: Conn, sender: Addr, now: u64) -> Option<bool> {
        // The common case on the return path: no fan-out is live, nothing to look up.
        if self.is_idle() {
            return None;
        }
        let i = self.find(&conn, now)?;
        let e = &mut self.entries[i];
        if e.owner == Some(sender) {
            return None;
        }
        if e.completions < MAX_COMPLETIONS {
            e.completions += 1;
            self.count(ResetCounter::Completions);
            Some(true)
        } else {
            self.count(ResetCounter::Swallowed);
            Some(false)
        }
    }

    /// This worker probed for `f` at `now`: probe again `reprobe_ms` later (a bounded queue; when it is
    /// full the second round is skipped and counted).
    pub fn schedule_reprobe(&mut self, f: &Fanout, now: u64) {
        if self.reprobe_after == 0 {
            return;
        }
        if self.reprobes.len() == REPROBE_MAX {
            self.count(ResetCounter::ReprobesSkipped);
            return;
        }
        self.reprobes.push_back((now + self.reprobe_after, *f));
    }

    /// Whether a second round is due (the worker loop's cheap check).
    #[inline]
    pub fn reprobe_due(&self, now: u64) -> bool {
        self.reprobes.front().is_some_and(|&(due, _)| due <= now)
    }

    /// The next fan-out whose second round is due at `now` and whose soft state still lives (one that
    /// expired or was evicted is let go: its answers would find nothing). Counted as sent.
    pub fn next_reprobe(&mut self, now: u64) -> Option<Fanout> {
        while let Some(&(due, f)) = self.reprobes.front() {
            if due > now {
                return None;
            }
            self.reprobes.pop_front();
            if self.find(&f.conn, now).is_some() {
                self.count(ResetCounter::Reprobes);
                return Some(f);
            }
        }
        None
    }

    /// Takes the fan-outs queued since the last call.
    pub fn take_pending(&mut self, out: &mut Vec<Fanout>) {
        out.clear();
        out.append(&mut self.pending);
    }

    /// Retires a few expired entries (call now and then; keeps the entry gauge honest).
    pub fn sweep(&mut self, now: u64) {
        for _ in 0..64 {
            let s = self.sweep;
            self.sweep = (s + 1) & self.mask;
            let e = &mut self.entries[s];
            if e.live && e.expires <= now {
                e.live = false;
                self.counters[ResetCounter::Entries] -= 1;
            }
        }
    }

    pub fn count_probe(&mut self, sent: bool) {
        self.count(if sent { ResetCounter::FramesTier2 } else { ResetCounter::ProbeAllocFailed });
    }

    pub fn count_event_dropped(&mut self) {
        self.count(ResetCounter::EventsDropped);
    }

    pub fn count_share_dropped(&mut self) {
        self.count(ResetCounter::ShareDropped);
    }

    pub fn count_fanout_frame(&mut self, sent: bool) {
        self.count(if sent { ResetCounter::FramesTier1 } else { ResetCounter::ProbeAllocFailed });
    }
}

#[cfg(test)]
mod tests;
