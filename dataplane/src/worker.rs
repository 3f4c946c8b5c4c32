//! The poll-mode worker: rx burst → pipeline → per-port tx bursts, until told to stop.
//! No locks, allocations or syscalls inside the loop.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;

use dpdk_sys::{lcore, Burst, PortId, BURST_MAX};

use crate::pipeline::{self, Context, DropReason, Frame, Verdict};
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
}

/// Runs the poll loop until `stop` is set; every mbuf it took is transmitted or freed before it returns.
pub fn run(plan: &Plan, ctx: Arc<Context>, shared: &Shared, stop: &AtomicBool) {
    let mut local = Local::new(ctx.nodes.len());
    let mut rx = Burst::new(plan.burst);
    let mut tx: Vec<Burst> = plan.ports.iter().map(|_| Burst::new(BURST_MAX)).collect();
    let publish_every = (lcore::tsc_hz() / 1000).max(1);
    let mut last_publish = lcore::rdtsc();
    while !stop.load(Relaxed) {
        for &(in_port, queue) in &plan.rx {
            if rx.rx(plan.ports[in_port as usize], queue) == 0 {
                continue;
            }
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
                    let mut f = Frame::new(buf, off, len);
                    let v = pipeline::process(&ctx, in_port, &mut f);
                    (v, f.start(), f.len())
                };
                let out = match verdict {
                    Verdict::Drop(r) => {
                        local.drop(r, 1);
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
                let q = &mut tx[out as usize];
                if q.is_full() {
                    flush(q, plan.ports[out as usize], plan.tx_queue, &mut local);
                }
                // Cannot fail: the burst was just emptied if it was full.
                let _ = q.push(m);
            }
            drop(pkts);
            for (i, q) in tx.iter_mut().enumerate() {
                flush(q, plan.ports[i], plan.tx_queue, &mut local);
            }
        }
        let now = lcore::rdtsc();
        if now.wrapping_sub(last_publish) >= publish_every {
            shared.publish(&local);
            last_publish = now;
        }
    }
    shared.publish(&local);
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
