//! The portal thread: a smoltcp interface on the portal VIPs over the queues from and to the workers, a
//! fixed pool of TCP sockets (`portal.connections`), and an iSCSI [`Session`] on each connection.
//!
//! Bounded everywhere: packets wait in fixed queues (a full one drops and counts), a connection holds at
//! most one PDU of `portal.max_pdu_bytes`, a SYN beyond the pool is answered with a RST, and a
//! connection that is idle for `idle_timeout_ms`, or open for `session_timeout_ms`, is aborted. The
//! thread reads the context the control loop publishes from a mailbox and reports its counters through
//! another; it never waits on the control loop, nor the control loop on it.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use crossbeam::queue::ArrayQueue;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};

use super::place::{place, Placement};
use super::session::{Portal, Refusal, Session, Step};
use super::{PortalPacket, PACKET_MAX};
use crate::pipeline::Context;
use crate::wire::parse::Addr;
use sluice_control::console::{PortalAnswer, PortalPlacement};

/// A connection that has said its last word is closed this long after, if its peer has not closed it.
const LINGER: Duration = Duration::from_secs(2);
/// Each socket's send buffer: the largest answer with room to spare.
const SEND_BUFFER: usize = 16 * 1024;
/// A handshake completes within this (or the idle timeout, when shorter).
const HANDSHAKE_LIMIT: Duration = Duration::from_secs(2);
/// How often the counters go to the control loop.
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// The portal's ends of the channels.
pub struct PortalLinks {
    pub stop: Arc<AtomicBool>,
    /// Segments from the workers, IP packets.
    pub from_workers: Arc<ArrayQueue<PortalPacket>>,
    /// The portal's IP packets, for worker 0 to send.
    pub to_workers: Arc<ArrayQueue<PortalPacket>>,
    /// Context snapshots the control loop publishes.
    pub updates: Receiver<Arc<Context>>,
    /// The counters, for the console: the portal takes back a report the control loop has not read.
    pub reports: (Sender<PortalAnswer>, Receiver<PortalAnswer>),
}

/// The smoltcp device: the queues, with the packets taken from the workers for this poll.
struct Queues<'a> {
    rx: &'a mut VecDeque<PortalPacket>,
    tx: &'a ArrayQueue<PortalPacket>,
    sent: &'a mut u64,
    dropped: &'a mut u64,
}

struct Rx(PortalPacket);
struct Tx<'a> {
    q: &'a ArrayQueue<PortalPacket>,
    sent: &'a mut u64,
    dropped: &'a mut u64,
}

impl smoltcp::phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0.bytes())
    }
}

impl smoltcp::phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut p = PortalPacket { len: len.min(PACKET_MAX) as u16, data: [0; PACKET_MAX] };
        let r = f(&mut p.data[..p.len as usize]);
        match self.q.push(p) {
            Ok(()) => *self.sent += 1,
            Err(_) => *self.dropped += 1,
        }
        r
    }
}

impl Device for Queues<'_> {
    type RxToken<'a>
        = Rx
    where
        Self: 'a;
    type TxToken<'a>
        = Tx<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx { q: self.tx, sent: self.sent, dropped: self.dropped }))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<Tx<'_>> {
        Some(Tx { q: self.tx, sent: self.sent, dropped: self.dropped })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = PACKET_MAX;
        c.max_burst_size = Some(32);
        c
    }
}

/// One socket of the pool and the conversation on it.
struct Slot {
    handle: SocketHandle,
    session: Option<Session>,
    opened: Instant,
    last_rx: Instant,
    /// Answers not yet taken by the socket's send buffer.
    pending: Vec<u8>,
    /// The conversation is over: close once `pending` is sent, abort at this time at the latest.
    closing: Option<Instant>,
    /// A handshake in progress must complete by then.
    handshake_by: Option<Instant>,
    /// The client of the session on it, counted in [`Counts::per_client`].
    client: Option<IpAddr>,
}

/// What the portal's stack and sessions have counted.
#[derive(Default)]
struct Counts {
    accepted: u64,
    discoveries: u64,
    send_targets: u64,
    placements: BTreeMap<String, (u64, u64)>,
    refused: BTreeMap<&'static str, u64>,
    packets_in: u64,
    packets_out: u64,
    queue_drops: u64,
    /// The last session handle given.
    tsih: u16,
    /// Open sessions per client address.
    per_client: std::collections::HashMap<IpAddr, u16>,
}

/// The session's view of the portal for one connection.
struct Placer<'a> {
    ctx: &'a Context,
    initiator: Addr,
    local: (IpAddr, u16, u16),
    placed: Option<Placement>,
}

impl Portal for Placer<'_> {
    fn targets(&self) -> &[sluice_control::config::PortalTarget] {
        self.ctx.portal.as_ref().map_or(&[], |p| &p.config.targets)
    }
    fn local(&self) -> (IpAddr, u16, u16) {
        self.local
    }
    fn place(&mut self, target: &str, group: Option<&str>) -> Option<(IpAddr, u16)> {
        let p = place(self.ctx, &self.initiator, target, group)?;
        self.placed = Some(p);
        let node = &self.ctx.topology.nodes[p.node() as usize];
        Some((node.ip, self.local.1))
    }
}

/// The portal VIPs of `ctx` as interface addresses.
fn portal_addresses(ctx: &Context) -> Vec<IpCidr> {
    ctx.vips
        .iter()
        .filter(|v| v.portal)
        .map(|v| {
            let ip: IpAddr = v.addr.to_ip();
            IpCidr::new(IpAddress::from(ip), if ip.is_ipv4() { 32 } else { 128 })
        })
        .collect()
}

fn to_ip(a: IpAddress) -> IpAddr {
    match a {
        IpAddress::Ipv4(v) => IpAddr::V4(v),
        IpAddress::Ipv6(v) => IpAddr::V6(v),
    }
}

/// Runs the portal until `links.stop` is set.
pub fn run(mut ctx: Arc<Context>, links: PortalLinks) {
    let Some(portal) = ctx.portal.clone() else { return };
    let cfg = portal.config.clone();
    let epoch = Instant::now();
    let now_smol = |t: Instant| smoltcp::time::Instant::from_micros((t - epoch).as_micros() as i64);
    let mut rx: VecDeque<PortalPacket> = VecDeque::with_capacity(64);
    let mut counts = Counts::default();
    let (mut sent, mut dropped) = (0u64, 0u64);
    let mut dev = Queues { rx: &mut rx, tx: &links.to_workers, sent: &mut sent, dropped: &mut dropped };
    let mut icfg = IfaceConfig::new(HardwareAddress::Ip);
    icfg.random_seed =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
            ^ std::process::id() as u64;
    let mut iface = Interface::new(icfg, &mut dev, now_smol(Instant::now()));
    let mut addrs = portal_addresses(&ctx);
    let set_addrs = |iface: &mut Interface, addrs: &[IpCidr]| {
        iface.update_ip_addrs(|a| {
            a.clear();
            for c in addrs.iter().take(2) {
                let _ = a.push(*c);
            }
        });
        for c in addrs {
            match c.address() {
                IpAddress::Ipv4(v) => drop(iface.routes_mut().add_default_ipv4_route(v)),
                IpAddress::Ipv6(v) => drop(iface.routes_mut().add_default_ipv6_route(v)),
            }
        }
    };
    set_addrs(&mut iface, &addrs);
    let mut sockets = SocketSet::new(Vec::new());
    let mut slots: Vec<Slot> = (0..cfg.connections)
        .map(|_| {
            let rx_buf = tcp::SocketBuffer::new(vec![0; (cfg.max_pdu_bytes as usize).max(4096)]);
            let tx_buf = tcp::SocketBuffer::new(vec![0; SEND_BUFFER]);
            let mut s = tcp::Socket::new(rx_buf, tx_buf);
            // A backstop behind the portal's own timeouts (which count what they cut): a peer that has
            // gone silent with data unacknowledged.
            s.set_timeout(Some(smoltcp::time::Duration::from_millis(cfg.idle_timeout_ms + 1000)));
            s.set_nagle_enabled(false);
            let _ = s.listen(portal.port);
            let now = Instant::now();
            Slot {
                handle: sockets.add(s),
                session: None,
                opened: now,
                last_rx: now,
                pending: Vec::new(),
                closing: None,
                handshake_by: None,
                client: None,
            }
        })
        .collect();
    let idle = Duration::from_millis(cfg.idle_timeout_ms);
    let whole = Duration::from_millis(cfg.session_timeout_ms);
    let mut last_report = Instant::now();
    let mut scratch = Vec::with_capacity(cfg.max_pdu_bytes as usize);
    let mut out = Vec::with_capacity(SEND_BUFFER);
    while !links.stop.load(Relaxed) {
        if let Ok(next) = links.updates.try_recv() {
            ctx = next;
            let a = portal_addresses(&ctx);
            if a != addrs {
                addrs = a;
                set_addrs(&mut iface, &addrs);
            }
        }
        let now = Instant::now();
        let mut listening = slots.iter().filter(|s| sockets.get::<tcp::Socket>(s.handle).is_listening()).count();
        while dev.rx.len() < 64 {
            let Some(p) = links.from_workers.pop() else { break };
            counts.packets_in += 1;
            if is_syn(p.bytes()) {
                if listening == 0 {
                    *counts.refused.entry("syn_refused").or_default() += 1;
                } else {
                    listening -= 1;
                }
            }
            dev.rx.push_back(p);
        }
        let busy = !dev.rx.is_empty();
        iface.poll(now_smol(now), &mut dev, &mut sockets);
        for slot in &mut slots {
            serve(&ctx, &portal, slot, &mut sockets, now, idle, whole, &mut counts, &mut scratch, &mut out);
        }
        iface.poll(now_smol(now), &mut dev, &mut sockets);
        counts.packets_out = *dev.sent;
        counts.queue_drops = *dev.dropped;
        if now - last_report >= REPORT_EVERY {
            let open = slots.iter().filter(|s| s.session.is_some()).count() as u64;
            while links.reports.1.try_recv().is_ok() {}
            let _ = links.reports.0.try_send(answer(&counts, &addrs, portal.port, open, cfg.connections as u64));
            last_report = now;
        }
        if !busy && links.from_workers.is_empty() {
            let wait = iface.poll_delay(now_smol(now), &sockets).map_or(1000, |d| d.total_micros()).clamp(50, 1000);
            std::thread::sleep(Duration::from_micros(wait));
        }
    }
    // Every connection ends with a RST rather than hanging on an appliance that has gone.
    for slot in &slots {
        sockets.get_mut::<tcp::Socket>(slot.handle).abort();
    }
    iface.poll(now_smol(Instant::now()), &mut dev, &mut sockets);
}

/// An IPv4 or IPv6 TCP segment with SYN and without ACK.
fn is_syn(ip: &[u8]) -> bool {
    let (proto, l4) = match ip.first().map(|b| b >> 4) {
        Some(4) if ip.len() >= 20 => (ip[9], (ip[0] & 0x0f) as usize * 4),
        Some(6) if ip.len() >= 40 => (ip[6], 40),
        _ => return false,
    };
    proto == 6 && ip.get(l4 + 13).is_some_and(|f| f & 0x12 == 0x02)
}

/// Moves one slot's connection on: a new one gets a session, bytes go through it, answers go out,
/// limits are enforced, and a finished socket listens again.
#[allow(clippy::too_many_arguments)]
fn serve(
    ctx: &Context,
    portal: &crate::pipeline::PortalCtx,
    slot: &mut Slot,
    sockets: &mut SocketSet<'_>,
    now: Instant,
    idle: Duration,
    whole: Duration,
    counts: &mut Counts,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) {
    let sock = sockets.get_mut::<tcp::Socket>(slot.handle);
    let state = sock.state();
    let refuse = |counts: &mut Counts, why: &'static str| *counts.refused.entry(why).or_default() += 1;
    match state {
        tcp::State::Listen => {
            // (A RST in SYN-RECEIVED takes a socket back to LISTEN: its handshake is over.)
            slot.handshake_by = None;
            return;
        }
        tcp::State::Closed | tcp::State::TimeWait => {
            if let Some(ip) = slot.client.take() {
                if let std::collections::hash_map::Entry::Occupied(mut e) = counts.per_client.entry(ip) {
                    *e.get_mut() -= 1;
                    if *e.get() == 0 {
                        e.remove();
                    }
                }
            }
            sock.abort();
            let _ = sock.listen(portal.port);
            slot.session = None;
            slot.pending.clear();
            slot.closing = None;
            slot.handshake_by = None;
            return;
        }
        tcp::State::SynReceived => {
            // A handshake that does not complete soon (a spoofed SYN) frees its socket.
            let by = *slot.handshake_by.get_or_insert(now + idle.min(HANDSHAKE_LIMIT));
            if now >= by {
                refuse(counts, "handshake_timeout");
                sock.abort();
            }
            return;
        }
        _ => slot.handshake_by = None,
    }
    if slot.session.is_none() {
        // A new connection: within its client's share of the sockets.
        let Some(remote) = sock.remote_endpoint() else { return };
        let ip = to_ip(remote.addr);
        let open = counts.per_client.entry(ip).or_default();
        if *open >= portal.config.connections_per_client {
            refuse(counts, "client_limit");
            sock.abort();
            return;
        }
        *open += 1;
        slot.client = Some(ip);
    }
    let session = slot.session.get_or_insert_with(|| {
        counts.accepted += 1;
        slot.opened = now;
        slot.last_rx = now;
        counts.tsih = counts.tsih.wrapping_add(1).max(1);
        Session::new(portal.config.max_pdu_bytes as usize, counts.tsih)
    });
    if now - slot.opened >= whole || (slot.closing.is_none() && now - slot.last_rx >= idle) {
        refuse(counts, if now - slot.opened >= whole { "session_timeout" } else { "idle_timeout" });
        sock.abort();
        slot.closing = Some(now);
        return;
    }
    if slot.closing.is_some_and(|t| now >= t) {
        sock.abort();
        return;
    }
    // Read no further than the PDU the session is in, nothing once it is over, and nothing while answers
    // wait to be sent: a client that does not read its answers is held back by TCP's flow control.
    while slot.closing.is_none() && slot.pending.is_empty() && sock.can_recv() {
        let want = session.wants();
        if want == 0 {
            break;
        }
        scratch.clear();
        let got = sock.recv(|b| {
            let n = b.len().min(want);
            scratch.extend_from_slice(&b[..n]);
            (n, n)
        });
        if !matches!(got, Ok(n) if n > 0) {
            break;
        }
        slot.last_rx = now;
        let (local, remote) = match (sock.local_endpoint(), sock.remote_endpoint()) {
            (Some(l), Some(r)) => (l, r),
            _ => break,
        };
        let mut placer = Placer {
            ctx,
            initiator: Addr::from(to_ip(remote.addr)),
            local: (to_ip(local.addr), portal.port, portal.config.portal_group),
            placed: None,
        };
        let (was_discovered, asked) = (session.discovered, session.send_targets);
        out.clear();
        let step = session.input(scratch, &mut placer, out);
        slot.pending.extend_from_slice(out);
        if session.discovered && !was_discovered {
            counts.discoveries += 1;
        }
        counts.send_targets += session.send_targets - asked;
        match step {
            Step::More => {}
            Step::Close => slot.closing = Some(now + LINGER),
            Step::Redirected => {
                if let Some(p) = placer.placed {
                    let name = ctx.topology.nodes[p.node() as usize].name.clone();
                    let e = counts.placements.entry(name).or_default();
                    match p {
                        Placement::Affinity(_) => e.0 += 1,
                        Placement::Target(_) => e.1 += 1,
                    }
                    tracing::debug!(node = %ctx.topology.nodes[p.node() as usize].name, client = %to_ip(remote.addr), "portal: login placed");
                }
                slot.closing = Some(now + LINGER);
            }
            Step::Refused(r) => {
                refuse(counts, r.name());
                slot.closing = Some(now + LINGER);
                if r == Refusal::PduTooBig {
                    // Its data is not read: the answer is a RST.
                    sock.abort();
                    return;
                }
            }
        }
    }
    if !slot.pending.is_empty() {
        if let Ok(n) = sock.send_slice(&slot.pending) {
            slot.pending.drain(..n);
        }
    }
    // The peer closed its side: nothing more will come.
    if state == tcp::State::CloseWait && slot.closing.is_none() && !sock.can_recv() {
        slot.closing = Some(now + LINGER);
    }
    if slot.closing.is_some()
        && slot.pending.is_empty()
        && matches!(state, tcp::State::Established | tcp::State::CloseWait)
    {
        sock.close();
    }
}

/// The console's view of the counters.
fn answer(c: &Counts, addrs: &[IpCidr], port: u16, open: u64, max: u64) -> PortalAnswer {
    PortalAnswer {
        enabled: true,
        portals: addrs
            .iter()
            .map(|a| match to_ip(a.address()) {
                IpAddr::V4(v) => format!("{v}:{port}"),
                IpAddr::V6(v) => format!("[{v}]:{port}"),
            })
            .collect(),
        connections_open: open,
        connections_max: max,
        accepted: c.accepted,
        discoveries: c.discoveries,
        send_targets: c.send_targets,
        placements: c
            .placements
            .iter()
            .map(|(n, (a, t))| PortalPlacement { node: n.clone(), by_affinity: *a, by_target: *t })
            .collect(),
        refused: c.refused.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        packets_in: c.packets_in,
        packets_out: c.packets_out,
        queue_drops: c.queue_drops,
    }
}
