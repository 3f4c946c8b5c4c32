//! Per-worker counters: plain integers on the worker, published to cache-padded atomics at most every
//! millisecond so the control lcore can read them without ever stalling a worker.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crossbeam::utils::CachePadded;
use sluice_control::report::WorkerCounters;

use crate::flows::FlowCounter;
use crate::pipeline::{DropReason, KeyCounter, NodeCtx, WorkerState};
use crate::reset::ResetCounter;

/// Most nodes a topology may have (the configuration enforces it); per-node counters are sized for it
/// once, so a reload never allocates shared memory.
pub const MAX_NODES: usize = 4096;

/// A worker's own counters (no atomics on the per-packet path).
pub struct Local {
    pub rx: u64,
    pub tx: u64,
    /// Frames the worker made itself (reset probes): rx + generated = tx + drops.
    pub generated: u64,
    pub to_nodes: u64,
    pub to_clients: u64,
    pub replies: u64,
    pub drops: [u64; DropReason::COUNT],
    /// Packets selected for each node (global node index) since the last topology change.
    pub per_node: Vec<u64>,
    /// Nodes in the current topology.
    pub nodes: usize,
}

impl Local {
    pub fn new(nodes: usize) -> Local {
        Local {
            rx: 0,
            tx: 0,
            generated: 0,
            to_nodes: 0,
            to_clients: 0,
            replies: 0,
            drops: [0; DropReason::COUNT],
            per_node: vec![0; MAX_NODES],
            nodes,
        }
    }
    #[inline(always)]
    pub fn drop(&mut self, r: DropReason, n: u64) {
        self.drops[r as usize] += n;
    }
}

/// What the control lcore reads: one per worker, each on its own cache lines. A sequence number makes
/// each copy consistent (a seqlock: odd while the worker writes), so that a reader never sees this
/// publication's drops with the previous one's rx.
pub struct Shared {
    seq: AtomicU64,
    rx: AtomicU64,
    tx: AtomicU64,
    generated: AtomicU64,
    nodes: AtomicUsize,
    /// The context generation the worker runs on.
    pub adopted: AtomicU64,
    resets: [AtomicU64; ResetCounter::COUNT],
    keys: [AtomicU64; KeyCounter::COUNT],
    to_nodes: AtomicU64,
    to_clients: AtomicU64,
    replies: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
    per_node: Box<[AtomicU64]>,
    flows: [AtomicU64; FlowCounter::COUNT],
    /// Connections the flow table tracks per node (a gauge, by node index).
    tracked: Box<[AtomicU64]>,
}

impl Shared {
    pub fn new(nodes: usize) -> CachePadded<Shared> {
        CachePadded::new(Shared {
            seq: AtomicU64::new(0),
            rx: AtomicU64::new(0),
            tx: AtomicU64::new(0),
            generated: AtomicU64::new(0),
            nodes: AtomicUsize::new(nodes),
            adopted: AtomicU64::new(0),
            resets: std::array::from_fn(|_| AtomicU64::new(0)),
            keys: std::array::from_fn(|_| AtomicU64::new(0)),
            to_nodes: AtomicU64::new(0),
            to_clients: AtomicU64::new(0),
            replies: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            per_node: (0..MAX_NODES).map(|_| AtomicU64::new(0)).collect(),
            flows: std::array::from_fn(|_| AtomicU64::new(0)),
            tracked: (0..MAX_NODES).map(|_| AtomicU64::new(0)).collect(),
        })
    }

    /// Copies a worker's counters out (single writer: plain stores); `nodes` are the nodes of the
    /// context it runs on (the flow table counts by stable id, published by index).
    pub fn publish(&self, l: &Local, st: &WorkerState, nodes: &[NodeCtx]) {
        let (resets, keys) = (&st.resets.counters, &st.keys);
        let seq = self.seq.load(Relaxed);
        self.seq.store(seq + 1, Relaxed);
        std::sync::atomic::fence(std::sync::atomic::Ordering::Release);
        for (a, v) in self.keys.iter().zip(keys) {
            a.store(*v, Relaxed);
        }
        self.rx.store(l.rx, Relaxed);
        self.tx.store(l.tx, Relaxed);
        self.generated.store(l.generated, Relaxed);
        self.nodes.store(l.nodes, Relaxed);
        for (a, v) in self.resets.iter().zip(resets) {
            a.store(*v, Relaxed);
        }
        self.to_nodes.store(l.to_nodes, Relaxed);
        self.to_clients.store(l.to_clients, Relaxed);
        self.replies.store(l.replies, Relaxed);
        for (a, v) in self.drops.iter().zip(&l.drops) {
            a.store(*v, Relaxed);
        }
        for (a, v) in self.per_node.iter().zip(&l.per_node[..l.nodes]) {
            a.store(*v, Relaxed);
        }
        for (a, v) in self.flows.iter().zip(&st.flows.counters) {
            a.store(*v, Relaxed);
        }
        for (a, n) in self.tracked.iter().zip(nodes) {
            a.store(st.flows.tracked(n.flow_id as usize % crate::flows::SLOTS) as u64, Relaxed);
        }
        self.seq.store(seq + 2, std::sync::atomic::Ordering::Release);
    }

    /// A consistent copy of the worker's counters (retried while the worker publishes; a worker that
    /// stopped mid-publication cannot exist, it publishes whole).
    pub fn snapshot(&self) -> WorkerCounters {
        loop {
            let before = self.seq.load(std::sync::atomic::Ordering::Acquire);
            if before % 2 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let s = self.read();
            std::sync::atomic::fence(std::sync::atomic::Ordering::Acquire);
            if self.seq.load(Relaxed) == before {
                return s;
            }
        }
    }

    fn read(&self) -> WorkerCounters {
        let nodes = self.nodes.load(Relaxed).min(MAX_NODES);
        WorkerCounters {
            rx: self.rx.load(Relaxed),
            tx: self.tx.load(Relaxed),
            generated: self.generated.load(Relaxed),
            resets: self.resets.iter().map(|a| a.load(Relaxed)).collect(),
            keys: self.keys.iter().map(|a| a.load(Relaxed)).collect(),
            to_nodes: self.to_nodes.load(Relaxed),
            to_clients: self.to_clients.load(Relaxed),
            replies: self.replies.load(Relaxed),
            drops: self.drops.iter().map(|a| a.load(Relaxed)).collect(),
            per_node: self.per_node[..nodes].iter().map(|a| a.load(Relaxed)).collect(),
            flows: self.flows.iter().map(|a| a.load(Relaxed)).collect(),
            tracked: self.tracked[..nodes].iter().map(|a| a.load(Relaxed)).collect(),
        }
    }
}

/// Counter-wise difference `now - earlier` of one worker's counters; `tracked` and the flow table's
/// `entries` are gauges, taken as they are now.
pub fn since(now: &WorkerCounters, earlier: &WorkerCounters) -> WorkerCounters {
    // Per-node counters restart at a topology change: saturate instead of underflowing.
    let sub = |a: &[u64], b: &[u64]| -> Vec<u64> {
        a.iter().enumerate().map(|(i, x)| x.saturating_sub(b.get(i).copied().unwrap_or(0))).collect()
    };
    let mut flows = sub(&now.flows, &earlier.flows);
    let g = crate::flows::FlowCounter::Entries as usize;
    if let (Some(x), Some(n)) = (flows.get_mut(g), now.flows.get(g)) {
        *x = *n;
    }
    WorkerCounters {
        rx: now.rx - earlier.rx,
        tx: now.tx - earlier.tx,
        generated: now.generated - earlier.generated,
        resets: sub(&now.resets, &earlier.resets),
        keys: sub(&now.keys, &earlier.keys),
        to_nodes: now.to_nodes - earlier.to_nodes,
        to_clients: now.to_clients - earlier.to_clients,
        replies: now.replies - earlier.replies,
        drops: sub(&now.drops, &earlier.drops),
        per_node: sub(&now.per_node, &earlier.per_node),
        flows,
        tracked: now.tracked.clone(),
    }
}
