//! Connection reset through a stateless balancer.
//!
//! When a membership or affinity change sends a live connection's packets to a node that does not know
//! it, that node answers with a TCP RST. sluice forwards the RST to the client (its socket fails at once
//! instead of timing out) and starts a *fan-out* to clear the connection wherever it is still held:
//!
//! 1. Every node that may hold it (all but `down` ones, and not the node that sent the RST) gets a probe:
//!    a SYN|ACK from the client's address and port to the VIP. A node that holds the connection
//!    established must answer a SYN with a challenge ACK carrying its `rcv_nxt` (RFC 5961 4.2, which
//!    Linux follows); a node that does not hold it answers with a RST (a SYN|ACK to a listener is
//!    refused), so no half-open connection is ever created.
//! 2. The challenge ACK (or any other segment from the VIP for that connection while the fan-out is live)
//!    is not forwarded to the client: sluice turns it, in place, into a RST with sequence number exactly
//!    its acknowledgement number (the node's `rcv_nxt`) and sends it back to the node that sent it. Linux
//!    accepts a RST only at exactly `rcv_nxt`, so this one clears the stale connection.
//! 3. Further RSTs for the connection (the probed nodes' refusals, retransmitted RSTs) are kept from the
//!    client while the fan-out is live.
//!
//! The soft state is per worker (the node side's RSS puts every segment of one connection on one queue),
//! bounded in entries (`table_entries`, oldest evicted) and in lifetime (`window_ms`), and fan-outs are
//! rate-limited by a token bucket. Forwarding decisions stay stateless: the table only decides whether a
//! node's answer to a probe reaches the client. RSTs from clients never start a fan-out.

use serde::Serialize;

use crate::counters::named_counters;
use sluice_control::config::ResetConfig;

use crate::hash::ContentHasher;
use crate::wire::checksum;
use crate::wire::ethernet::{self, ethertype};
use crate::wire::parse::{Addr, PROTO_TCP};
use crate::wire::tcp::flags;
use crate::wire::{ipv4, ipv6};

named_counters! {
    /// A reset counter.
    ResetCounter {
    NodeRsts => "node_rsts": "RSTs from a VIP seen on the node side",
    RstsForwarded => "rsts_forwarded": "node RSTs forwarded to the client",
    Fanouts => "fanouts_started": "fan-outs started",
    FramesTier1 => "frames_tier1": "fan-out frames sent to chassis appliances",
    FramesTier2 => "frames_tier2": "fan-out probes sent to nodes",
    SuppressedDuplicate => "suppressed_duplicate": "RSTs kept from the client while a fan-out for the connection is live",
    SuppressedRate => "suppressed_rate": "fan-outs not started because of the rate limit",
    Completions => "completions": "exact RSTs sent to a node after its challenge ACK",
    Swallowed => "swallowed": "segments from a node for a connection being reset, beyond the completion limit",
    Entries => "softstate_entries": "soft-state entries in use (a gauge)",
    Evictions => "softstate_evictions": "live entries evicted because the table was full",
    ProbeAllocFailed => "probe_alloc_failed": "probes not sent for want of an mbuf",
    EventsDropped => "events_dropped": "fan-out reports the control lcore's queue had no room for",
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

/// What a worker reports to the control lcore when it starts a fan-out.
#[derive(Debug, Clone, Copy)]
pub struct FanoutEvent {
    pub conn: Conn,
    pub worker: u16,
    /// Started by a spine's fan-out frame (at a chassis appliance) rather than a node RST.
    pub from_spine: bool,
}

/// A fan-out to send: probes for `conn` to every node that may hold it except `exclude`.
#[derive(Debug, Clone, Copy)]
pub struct Fanout {
    pub conn: Conn,
    pub exclude: Option<u16>,
    /// Started by a spine's fan-out frame.
    pub from_spine: bool,
}

#[derive(Clone, Copy, Default)]
struct Entry {
    conn: Conn,
    expires: u64,
    completions: u16,
    live: bool,
}

/// The ethertype of fan-out frames between a spine and its chassis appliances (IEEE 802 local
/// experimental): Ethernet header, [`FANOUT_MAGIC`], then the probe's IP packet.
pub const FANOUT_ETHERTYPE: u16 = 0x88b5;
/// Marks a fan-out frame's payload ("SLRF", version 1).
pub const FANOUT_MAGIC: [u8; 4] = [b'S', b'L', b'R', 1];

/// Most completions answered per fan-out (one per node that answers; retransmissions beyond are swallowed).
const MAX_COMPLETIONS: u16 = 64;
/// Slots probed per lookup.
const PROBE: usize = 8;
/// Fan-outs a worker queues between two flushes.
pub const PENDING_MAX: usize = 32;

/// One worker's reset soft state.
pub struct Resets {
    entries: Vec<Entry>,
    mask: usize,
    window: u64,
    tokens: u64,
    max_tokens: u64,
    ticks_per_token: u64,
    last_refill: u64,
    sweep: usize,
    pending: Vec<Fanout>,
    hasher: ContentHasher,
    pub counters: ResetCounters,
}

impl Resets {
    /// Soft state for `cfg`, with time measured in ticks of `ticks_per_sec` (the TSC on a worker).
    pub fn new(cfg: &ResetConfig, ticks_per_sec: u64) -> Resets {
        let n = cfg.table_entries.next_power_of_two() as usize;
        let ticks_per_token = (ticks_per_sec / cfg.rate_per_sec.max(1) as u64).max(1);
        Resets {
            entries: vec![Entry::default(); n],
            mask: n - 1,
            window: ticks_per_sec / 1000 * cfg.window_ms,
            tokens: cfg.burst as u64 * ticks_per_token,
            max_tokens: cfg.burst as u64 * ticks_per_token,
            ticks_per_token,
            last_refill: 0,
            sweep: 0,
            pending: Vec::with_capacity(PENDING_MAX),
            hasher: ContentHasher::default(),
            counters: [0; ResetCounter::COUNT],
        }
    }

    #[inline]
    fn count(&mut self, c: ResetCounter) {
        self.counters[c as usize] += 1;
    }

    fn home(&self, c: &Conn) -> usize {
        let mut key = [0u8; 36];
        key[..16].copy_from_slice(&c.client.bytes);
        key[16..32].copy_from_slice(&c.vip.bytes);
        key[32..34].copy_from_slice(&c.cport.to_be_bytes());
        key[34..36].copy_from_slice(&c.vport.to_be_bytes());
        self.hasher.hash(&key) as usize
    }

    fn find(&self, c: &Conn, now: u64) -> Option<usize> {
        let h = self.home(c);
        (0..PROBE).map(|i| (h + i) & self.mask).find(|&s| {
            let e = &self.entries[s];
            e.live && e.expires > now && e.conn == *c
        })
    }

    fn insert(&mut self, c: Conn, now: u64) {
        let (h, mask) = (self.home(&c), self.mask);
        let slots = (0..PROBE).map(move |i| (h + i) & mask);
        let slot = match slots.clone().find(|&s| !self.entries[s].live || self.entries[s].expires <= now) {
            Some(s) => s,
            None => {
                self.count(ResetCounter::Evictions);
                slots.min_by_key(|&s| self.entries[s].expires).expect("PROBE > 0")
            }
        };
        if !self.entries[slot].live {
            self.counters[ResetCounter::Entries as usize] += 1;
        }
        self.entries[slot] = Entry { conn: c, expires: now + self.window, completions: 0, live: true };
    }

    fn take_token(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last_refill);
        self.last_refill = now;
        self.tokens = (self.tokens + elapsed).min(self.max_tokens);
        if self.tokens >= self.ticks_per_token {
            self.tokens -= self.ticks_per_token;
            true
        } else {
            false
        }
    }

    /// A RST from node `sender` (if known) for `conn`. Returns whether to forward it to the client.
    pub fn on_node_rst(&mut self, conn: Conn, sender: Option<u16>, now: u64) -> bool {
        self.count(ResetCounter::NodeRsts);
        if self.find(&conn, now).is_some() {
            self.count(ResetCounter::SuppressedDuplicate);
            return false;
        }
        if self.pending.len() == PENDING_MAX || !self.take_token(now) {
            self.count(ResetCounter::SuppressedRate);
        } else {
            self.insert(conn, now);
            self.count(ResetCounter::Fanouts);
            self.pending.push(Fanout { conn, exclude: sender, from_spine: false });
        }
        self.count(ResetCounter::RstsForwarded);
        true
    }

    /// A RST from a node at a chassis appliance, which leaves fan-outs to its spine: forwarded unless it
    /// answers one of this appliance's probes.
    pub fn on_node_rst_passive(&mut self, conn: Conn, now: u64) -> bool {
        self.count(ResetCounter::NodeRsts);
        if self.find(&conn, now).is_some() {
            self.count(ResetCounter::SuppressedDuplicate);
            return false;
        }
        self.count(ResetCounter::RstsForwarded);
        true
    }

    /// A fan-out frame from the spine for `conn`: probe this chassis's nodes (once per window, within the
    /// rate limit).
    pub fn on_fanout_frame(&mut self, conn: Conn, now: u64) {
        if self.find(&conn, now).is_some() {
            self.count(ResetCounter::SuppressedDuplicate);
        } else if self.pending.len() == PENDING_MAX || !self.take_token(now) {
            self.count(ResetCounter::SuppressedRate);
        } else {
            self.insert(conn, now);
            self.count(ResetCounter::Fanouts);
            self.pending.push(Fanout { conn, exclude: None, from_spine: true });
        }
    }

    /// No fan-out is live: return segments need no look-up.
    #[inline]
    pub fn is_idle(&self) -> bool {
        self.counters[ResetCounter::Entries as usize] == 0
    }

    /// Any other segment from a VIP for `conn`: None when no fan-out is live for it (forward it as usual);
    /// Some(true) to answer it with the exact RST; Some(false) to keep it from the client.
    pub fn on_node_segment(&mut self, conn: Conn, now: u64) -> Option<bool> {
        // The common case on the return path: no fan-out is live, nothing to look up.
        if self.is_idle() {
            return None;
        }
        let i = self.find(&conn, now)?;
        if self.entries[i].completions < MAX_COMPLETIONS {
            self.entries[i].completions += 1;
            self.count(ResetCounter::Completions);
            Some(true)
        } else {
            self.count(ResetCounter::Swallowed);
            Some(false)
        }
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
                self.counters[ResetCounter::Entries as usize] -= 1;
            }
        }
    }

    pub fn count_probe(&mut self, sent: bool) {
        self.count(if sent { ResetCounter::FramesTier2 } else { ResetCounter::ProbeAllocFailed });
    }

    pub fn count_event_dropped(&mut self) {
        self.count(ResetCounter::EventsDropped);
    }

    pub fn count_fanout_frame(&mut self, sent: bool) {
        self.count(if sent { ResetCounter::FramesTier1 } else { ResetCounter::ProbeAllocFailed });
    }
}

/// Writes an untagged Ethernet frame (MACs zero: the caller's rewrite fills them) carrying a TCP segment
/// with no payload from the client to the VIP of `conn`, checksums correct. Returns its length, or None if
/// `buf` is too short.
pub fn write_segment(buf: &mut [u8], conn: &Conn, seq: u32, ack: u32, tcp_flags: u8) -> Option<usize> {
    const TCP_LEN: usize = 20;
    let ip_len = if conn.client.v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN };
    let len = ethernet::HEADER_LEN + ip_len + TCP_LEN;
    let b = buf.get_mut(..len)?;
    let ty = if conn.client.v6 { ethertype::IPV6 } else { ethertype::IPV4 };
    ethernet::emit(b, [0; 6], [0; 6], ty);
    let (l3, l4) = b[ethernet::HEADER_LEN..].split_at_mut(ip_len);
    if conn.client.v6 {
        ipv6::emit(l3, conn.client.bytes, conn.vip.bytes, PROTO_TCP, TCP_LEN, 64, 0);
    } else {
        ipv4::emit(l3, conn.client.v4_bytes(), conn.vip.v4_bytes(), PROTO_TCP, TCP_LEN, 64, 0);
    }
    let t = &mut l4[..TCP_LEN];
    t[0..2].copy_from_slice(&conn.cport.to_be_bytes());
    t[2..4].copy_from_slice(&conn.vport.to_be_bytes());
    t[4..8].copy_from_slice(&seq.to_be_bytes());
    t[8..12].copy_from_slice(&ack.to_be_bytes());
    t[12] = 5 << 4;
    t[13] = tcp_flags;
    t[14..20].fill(0);
    let ph = checksum::pseudo_header(conn.client.octets(), conn.vip.octets(), PROTO_TCP, TCP_LEN as u32);
    let c = checksum::finish(checksum::sum(ph, t));
    t[16..18].copy_from_slice(&c.to_be_bytes());
    Some(len)
}

/// The probe of step 1.
pub fn write_probe(buf: &mut [u8], conn: &Conn) -> Option<usize> {
    write_segment(buf, conn, 0, 0, flags::SYN | flags::ACK)
}

/// A spine's fan-out frame toward a chassis appliance: Ethernet (`dst`, `src`, [`FANOUT_ETHERTYPE`]),
/// [`FANOUT_MAGIC`], then the probe's IP packet.
pub fn write_fanout_frame(buf: &mut [u8], conn: &Conn, dst: [u8; 6], src: [u8; 6]) -> Option<usize> {
    let len = write_probe(buf.get_mut(FANOUT_MAGIC.len()..)?, conn)? + FANOUT_MAGIC.len();
    ethernet::emit(buf, dst, src, FANOUT_ETHERTYPE);
    buf[ethernet::HEADER_LEN..ethernet::HEADER_LEN + FANOUT_MAGIC.len()].copy_from_slice(&FANOUT_MAGIC);
    Some(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HZ: u64 = 1_000_000; // ticks are microseconds here

    fn conn(p: u16) -> Conn {
        Conn { client: Addr::v4([192, 0, 2, 1]), vip: Addr::v4([10, 10, 0, 1]), cport: p, vport: 2049 }
    }

    fn resets(rate: u32, burst: u32, entries: u32) -> Resets {
        Resets::new(&ResetConfig { window_ms: 1000, rate_per_sec: rate, burst, table_entries: entries }, HZ)
    }

    #[test]
    fn first_rst_fans_out_and_duplicates_are_kept_back() {
        let mut r = resets(1000, 10, 64);
        assert!(r.on_node_rst(conn(1), Some(3), 10));
        let mut p = Vec::new();
        r.take_pending(&mut p);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].exclude, Some(3));
        assert!(!r.on_node_rst(conn(1), Some(1), 20), "a probed node's refusal stays away from the client");
        assert_eq!(r.on_node_segment(conn(1), 30), Some(true), "challenge ACK → exact RST");
        assert_eq!(r.on_node_segment(conn(2), 30), None, "other connections are untouched");
        assert_eq!(r.counters[ResetCounter::SuppressedDuplicate as usize], 1);
        assert_eq!(r.counters[ResetCounter::Completions as usize], 1);
        // After the window the connection is forgotten.
        assert_eq!(r.on_node_segment(conn(1), 10 + HZ + 1), None);
        assert!(r.on_node_rst(conn(1), None, 10 + HZ + 1));
        assert_eq!(r.counters[ResetCounter::Fanouts as usize], 2);
    }

    #[test]
    fn rate_limit_and_bounds() {
        let mut r = resets(10, 5, 64);
        let mut started = 0;
        for p in 0..1000u16 {
            assert!(r.on_node_rst(conn(p), None, 1), "every node RST is still forwarded");
            let mut v = Vec::new();
            r.take_pending(&mut v);
            started += v.len();
        }
        assert_eq!(started, 5, "the bucket holds 5");
        assert_eq!(r.counters[ResetCounter::SuppressedRate as usize], 995);
        // A second later, 10 more tokens.
        for p in 1000..1100u16 {
            r.on_node_rst(conn(p), None, 1 + HZ);
            r.take_pending(&mut Vec::new());
        }
        assert_eq!(r.counters[ResetCounter::Fanouts as usize], 10);
        let mut big = resets(1_000_000, 1_000_000, 64);
        for p in 0..10_000u16 {
            big.on_node_rst(conn(p), None, 5);
            big.take_pending(&mut Vec::new());
        }
        assert!(big.counters[ResetCounter::Entries as usize] <= 64);
        assert!(big.counters[ResetCounter::Evictions as usize] > 9_000);
        for _ in 0..10 {
            big.sweep(5 + 2 * HZ);
        }
        assert_eq!(big.counters[ResetCounter::Entries as usize], 0);
    }

    #[test]
    fn completions_are_bounded_per_fanout() {
        let mut r = resets(1000, 10, 64);
        r.on_node_rst(conn(9), None, 1);
        let answers: Vec<_> = (0..100).map(|_| r.on_node_segment(conn(9), 2)).collect();
        assert_eq!(answers.iter().filter(|a| **a == Some(true)).count(), MAX_COMPLETIONS as usize);
        assert_eq!(r.counters[ResetCounter::Swallowed as usize], 100 - MAX_COMPLETIONS as u64);
    }

    #[test]
    fn segments_verify() {
        for c in [
            conn(7),
            Conn {
                client: Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                vip: Addr::v6([0x20, 1, 0xd, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
                cport: 5,
                vport: 6,
            },
        ] {
            let mut b = [0u8; 128];
            let n = write_probe(&mut b, &c).unwrap();
            let p = match crate::wire::parse::classify(&b[..n]).unwrap() {
                crate::wire::parse::Classified::Parsed(p) => p,
                _ => panic!(),
            };
            assert_eq!(
                (p.src, p.dst, p.src_port, p.dst_port, p.tcp_flags),
                (c.client, c.vip, c.cport, c.vport, flags::SYN | flags::ACK)
            );
            let l4 = &b[p.l4_offset..n];
            let ph = checksum::pseudo_header(c.client.octets(), c.vip.octets(), PROTO_TCP, l4.len() as u32);
            assert_eq!(checksum::finish(checksum::sum(ph, l4)), 0);
            assert!(write_probe(&mut b[..40], &c).is_none());
        }
    }
}
