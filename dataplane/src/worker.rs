//! The poll-mode worker: rx burst → pipeline → per-port tx bursts, until told to stop. Between bursts it
//! adopts new context snapshots and sends the reset probes the burst asked for. No locks, allocations or
//! syscalls inside the loop.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use crossbeam::channel::Receiver;
use dpdk_sys::{lcore, Burst, Mbuf, Mempool, PortId, BURST_MAX};
use sluice_control::config::{FlowsConfig, ResetConfig};

use crate::affinity::{self, AffinityReport};
use crate::health::{self, Answer, Probe};
use crate::pipeline::{self, Context, DropReason, FrameBuf, KeyCounter, Verdict, WorkerState};
use crate::reset::{self, Fanout, FanoutEvent, PENDING_MAX};
use crate::stats::{Local, Shared};

/// What one worker polls and where it transmits.
#[derive(Debug, Clone)]
pub struct Plan {
    /// (port index in the configuration, rx queue) pairs this worker polls.
    pub rx: Vec<(u16, u16)>,
    /// Its own tx queue on every port.
    pub tx_queue: u16,
    /// DPDK port ids, by configuration index.
    pub ports: Vec<PortId>,
    pub burst: usize,
    pub resets: ResetConfig,
    pub flows: FlowsConfig,
    /// ICMP "too big" answers per second.
    pub too_big_per_sec: u32,
    /// Sleep this long after 64 empty polls in a row (None: never).
    pub idle_sleep: Option<std::time::Duration>,
}

/// What a worker shares with the control lcore.
pub struct Links<'a> {
    pub shared: &'a Shared,
    pub stop: &'a AtomicBool,
    /// New context snapshots, adopted between bursts.
    pub updates: &'a Receiver<Arc<Context>>,
    /// Where reset probes come from.
    pub pool: &'a Mempool,
    /// Fan-outs started, for the console (bounded; a full queue drops the report and counts it).
    pub events: &'a crossbeam::queue::ArrayQueue<FanoutEvent>,
    /// Affinity observations for the control core (bounded; a full queue drops the report and counts it).
    pub reports: &'a crossbeam::queue::ArrayQueue<AffinityReport>,
    /// Health probes the control core asks to send (worker 0 sends them).
    pub probes: &'a crossbeam::queue::ArrayQueue<Probe>,
    /// Answers to health probes, for the control core.
    pub answers: &'a crossbeam::queue::ArrayQueue<Answer>,
    /// Every worker's inbox of fan-outs other workers started (indexed by worker; bounded, a full one
    /// drops the entry and counts it).
    pub shares: &'a [crossbeam::queue::ArrayQueue<Fanout>],
    /// Segments for the iSCSI portal, and the portal's packets (worker 0 sends them).
    pub portal_in: &'a crossbeam::queue::ArrayQueue<crate::portal::PortalPacket>,
    pub portal_out: &'a crossbeam::queue::ArrayQueue<crate::portal::PortalPacket>,
    /// This worker's index.
    pub index: u16,
}

/// The worker's tx bursts, one per port, on its own tx queue.
pub(crate) struct Tx<'a> {
    bursts: Vec<Burst>,
    plan: &'a Plan,
}

impl Tx<'_> {
    #[inline]
    pub(crate) fn push(&mut self, port: u16, m: Mbuf, local: &mut Local) {
        let q = &mut self.bursts[port as usize];
        if q.is_full() {
            flush(q, self.plan.ports[port as usize], self.plan.tx_queue, local);
        }
        // Cannot fail: the burst was just emptied if it was full.
        let _ = q.push(m);
    }

    pub(crate) fn flush_all(&mut self, local: &mut Local) {
        for (i, q) in self.bursts.iter_mut().enumerate() {
            flush(q, self.plan.ports[i], self.plan.tx_queue, local);
        }
    }
}

/// Runs the poll loop until `links.stop` is set; every mbuf it took or made is transmitted or freed
/// before it returns.
pub fn run(plan: &Plan, mut ctx: Arc<Context>, links: Links<'_>) {
    let mut local = Local::new(ctx.nodes.len());
    let mut st = WorkerState::new(&plan.resets, lcore::tsc_hz());
    st.flows = crate::flows::FlowTable::new(&plan.flows, lcore::tsc_hz());
    st.too_big = pipeline::TooBigBudget::new(plan.too_big_per_sec, lcore::tsc_hz());
    let mut fanouts: Vec<Fanout> = Vec::with_capacity(PENDING_MAX);
    let mut rx = Burst::new(plan.burst);
    let mut tx = Tx { bursts: plan.ports.iter().map(|_| Burst::new(BURST_MAX)).collect(), plan };
    let publish_every = (lcore::tsc_hz() / 1000).max(1);
    let mut last_publish = lcore::rdtsc();
    // Affinity reports go out every 50 ms, or sooner when the learner is half full.
    let report_every = (lcore::tsc_hz() / 20).max(1);
    let mut last_report = last_publish;
    links.shared.adopted.store(ctx.generation, Relaxed);
    st.resets.defer_not_owners(!ctx.peers.is_empty());
    let mut empty_polls = 0u32;
    while !links.stop.load(Relaxed) {
        if let Ok(next) = links.updates.try_recv() {
            if next.topology_id != ctx.topology_id {
                // Node indices change with the topology: report what was learned under the old one first.
                affinity::worker::flush_reports(&mut st, &ctx, &links);
                local.nodes = next.nodes.len();
                local.per_node.iter_mut().for_each(|c| *c = 0);
            }
            ctx = next;
            // Node RSTs this worker could not judge yet: the new snapshot may show their connections moved.
            st.resets.defer_not_owners(!ctx.peers.is_empty());
            st.resets.rejudge(&ctx, lcore::rdtsc());
            links.shared.publish(&local, &st, &ctx.nodes);
            links.shared.adopted.store(ctx.generation, Relaxed);
        }
        let now = lcore::rdtsc();
        empty_polls += 1;
        for &(in_port, queue) in &plan.rx {
            // Fan-outs other workers started, before this worker looks at any answer to their probes.
            let inbox = &links.shares[links.index as usize];
            while let Some(f) = inbox.pop() {
                st.resets.adopt(&f, now);
            }
            if rx.rx(plan.ports[in_port as usize], queue) == 0 {
                continue;
            }
            empty_polls = 0;
            let mut pkts = rx.drain();
            while let Some(mut m) = pkts.next() {
                pkts.prefetch_ahead(1);
                local.rx += 1;
                if m.segments() != 1 {
                    local.drop(DropReason::MultiSegment, 1);
                    continue;
                }
                let (verdict, start, len) = {
                    let (buf, off, len) = m.buffer_mut();
                    let mut f = FrameBuf::new(buf, off, len);
                    let v = pipeline::process(&ctx, in_port, &mut f, &mut st, now);
                    (v, f.start(), f.len())
                };
                let out = match verdict {
                    Verdict::Drop(r) => {
                        local.drop(r, 1);
                        continue;
                    }
                    Verdict::Portal => {
                        let (buf, _, _) = m.buffer_mut();
                        crate::portal::worker::hand_over(links.portal_in, &buf[start..start + len], &mut local);
                        continue;
                    }
                    Verdict::Node { node, port } => {
                        local.per_node[node as usize] += 1;
                        local.to_nodes += 1;
                        port
                    }
                    Verdict::Client { port } => {
                        local.to_clients += 1;
                        port
                    }
                    Verdict::Reply { port } => {
                        local.replies += 1;
                        port
                    }
                };
                m.set_data_range(start, len);
                tx.push(out, m, &mut local);
            }
            drop(pkts);
            st.resets.take_pending(&mut fanouts);
            reset::worker::start(&ctx, &links, &fanouts, &mut st.resets, &mut tx, &mut local, now);
            for a in st.health.drain() {
                if links.answers.push(a).is_err() {
                    st.keys[KeyCounter::HealthAnswersLost] += 1;
                }
            }
            tx.flush_all(&mut local);
        }
        if st.resets.reprobe_due(now) {
            reset::worker::reprobe(&ctx, links.pool, &mut st.resets, &mut tx, &mut local, now);
            tx.flush_all(&mut local);
        }
        if links.index == 0 && !links.probes.is_empty() {
            health::worker::send_queued(&links, &mut st.keys, &mut tx, &mut local);
        }
        if links.index == 0 && !links.portal_out.is_empty() {
            crate::portal::worker::send_queued(&ctx, links.portal_out, links.pool, &mut st.keys, &mut tx, &mut local);
        }
        if now.wrapping_sub(last_report) >= report_every || st.learn.is_half_full() {
            st.keys[KeyCounter::HealthAnswersLost] += std::mem::take(&mut st.health.lost);
            affinity::worker::flush_reports(&mut st, &ctx, &links);
            last_report = now;
        }
        if now.wrapping_sub(last_publish) >= publish_every {
            st.resets.sweep(now);
            // 64 buckets a millisecond: a table of 2^18 entries is walked every second.
            st.flows.sweep(&ctx, now, 64);
            links.shared.publish(&local, &st, &ctx.nodes);
            last_publish = now;
        }
        if let Some(d) = plan.idle_sleep {
            if empty_polls >= 64 {
                std::thread::sleep(d);
            }
        }
    }
    affinity::worker::flush_reports(&mut st, &ctx, &links);
    links.shared.publish(&local, &st, &ctx.nodes);
}

#[inline]
fn flush(q: &mut Burst, port: PortId, queue: u16, local: &mut Local) {
    if q.is_empty() {
        return;
    }
    let o = q.tx(port, queue);
    local.tx += o.sent as u64;
    local.drop(DropReason::TxFull, o.dropped as u64);
}
