//! The appliance's counters as it reports them: the summary of a run (printed at exit, written by
//! `--stats-json`) and the body of the console's `stats` answer, shared by the appliance (which builds
//! it from its workers' counters) and `sluicectl` (which reads it back). Plain data and its text
//! rendering; no DPDK.
//!
//! The named counter sets (`drops`, `resets`, `keys`, `flows`) are maps from the counter's name to its
//! value: the dataplane's counter enums name them, and a counter added there appears here without a
//! change to this file.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use crate::config::NodeState;

/// One worker's counters (or their sum), as the appliance reads them from the worker. The per-reason
/// arrays are indexed like the dataplane's counter enums (the summary's maps name them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkerCounters {
    pub rx: u64,
    pub tx: u64,
    /// Frames the worker made itself (reset probes, fan-out frames, health probes).
    pub generated: u64,
    /// Indexed like the dataplane's `ResetCounter::ALL`.
    pub resets: Vec<u64>,
    /// Indexed like the dataplane's `KeyCounter::ALL`.
    pub keys: Vec<u64>,
    pub to_nodes: u64,
    pub to_clients: u64,
    pub replies: u64,
    /// Indexed like the dataplane's `DropReason::ALL`.
    pub drops: Vec<u64>,
    /// Packets selected for each node (by node index) since the last topology change.
    pub per_node: Vec<u64>,
    /// Indexed like the dataplane's `FlowCounter::ALL`.
    pub flows: Vec<u64>,
    /// Connections tracked per node now (a gauge, by node index).
    pub tracked: Vec<u64>,
}

impl WorkerCounters {
    /// Frames dropped, all reasons together.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds another worker's counters into these.
    pub fn add(&mut self, o: &WorkerCounters) {
        self.rx += o.rx;
        self.tx += o.tx;
        self.generated += o.generated;
        add_vec(&mut self.resets, &o.resets);
        add_vec(&mut self.keys, &o.keys);
        self.to_nodes += o.to_nodes;
        self.to_clients += o.to_clients;
        self.replies += o.replies;
        add_vec(&mut self.drops, &o.drops);
        add_vec(&mut self.per_node, &o.per_node);
        add_vec(&mut self.flows, &o.flows);
        add_vec(&mut self.tracked, &o.tracked);
    }
}

fn add_vec(a: &mut Vec<u64>, b: &[u64]) {
    if a.len() < b.len() {
        a.resize(b.len(), 0);
    }
    for (x, y) in a.iter_mut().zip(b) {
        *x += y;
    }
}

/// One worker in the summary: its lcore, its rate over the run, and its counters (flattened: a worker's
/// `rx` is `workers[i].rx`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    pub lcore: u32,
    #[serde(default)]
    pub mpps: f64,
    #[serde(flatten)]
    pub counters: WorkerCounters,
}

/// One node in the summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSummary {
    pub name: String,
    #[serde(default)]
    pub chassis: String,
    /// The state the topology gives it (what the operator set).
    pub state: NodeState,
    /// Packets selected for it since the last topology change.
    #[serde(default)]
    pub selected: u64,
    /// Its part of the packets sent to nodes, percent.
    #[serde(default)]
    pub share_pct: f64,
    /// Connections the flow table tracks to it now.
    #[serde(default)]
    pub tracked: u64,
}

/// One port's counters, from its driver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PortSummary {
    pub name: String,
    pub ipackets: u64,
    pub opackets: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// The run's totals; `counters_balance` is rx + generated = tx + every drop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Summary {
    pub seconds: f64,
    pub rx: u64,
    pub tx: u64,
    pub to_nodes: u64,
    pub to_clients: u64,
    pub replies: u64,
    pub dropped: u64,
    /// Drops by reason.
    pub drops: BTreeMap<String, u64>,
    /// Frames made by the appliance (reset probes).
    pub generated: u64,
    /// Reset fan-out counters by name.
    pub resets: BTreeMap<String, u64>,
    /// How content-keyed requests were keyed.
    pub keys: BTreeMap<String, u64>,
    /// The flow table's counters.
    pub flows: BTreeMap<String, u64>,
    /// rx + generated = tx + every drop.
    pub counters_balance: bool,
    pub workers: Vec<WorkerSummary>,
    pub nodes: Vec<NodeSummary>,
    /// Filled in at exit (empty in the console's answers).
    pub ports: Vec<PortSummary>,
    /// Mbufs not back in the pool after every port was closed (0 unless something leaked).
    pub mempool_in_use_at_exit: u32,
    pub mempool_size: u32,
}

/// A named counter's value in one of the summary's counter maps (0 when the appliance does not report
/// it).
pub fn counter(map: &BTreeMap<String, u64>, name: &str) -> u64 {
    map.get(name).copied().unwrap_or(0)
}

impl Summary {
    /// The human-readable summary.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "== sluice summary: {:.1} s ==", self.seconds);
        for w in &self.workers {
            let _ = writeln!(s, "worker on lcore {}: {:.3} Mpps ({} packets)", w.lcore, w.mpps, w.counters.rx);
        }
        let _ = writeln!(
            s,
            "rx {} + generated {} = tx {} + dropped {}  [{}]   (to nodes {}, to clients {}, replies {})",
            self.rx,
            self.generated,
            self.tx,
            self.dropped,
            if self.counters_balance { "balanced" } else { "MISMATCH" },
            self.to_nodes,
            self.to_clients,
            self.replies
        );
        for n in &self.nodes {
            let _ = writeln!(
                s,
                "  node {:<12} {:<12} {:<8} {:>12} packets {:6.2}%",
                n.name,
                n.chassis,
                n.state.name(),
                n.selected,
                n.share_pct
            );
        }
        for (r, n) in &self.drops {
            if *n > 0 {
                let _ = writeln!(s, "  drop {r:<18} {n}");
            }
        }
        for (what, map) in [("resets", &self.resets), ("keys", &self.keys), ("flows", &self.flows)] {
            let set: Vec<String> = map.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
            if !set.is_empty() {
                let _ = writeln!(s, "  {what}: {}", set.join(", "));
            }
        }
        for p in &self.ports {
            let _ = writeln!(
                s,
                "  port {:<10} in {} out {} missed {} errors {}/{}",
                p.name, p.ipackets, p.opackets, p.imissed, p.ierrors, p.oerrors
            );
        }
        // Known once the pool is checked at exit (not in a running appliance's answers).
        if self.mempool_size > 0 {
            let _ =
                writeln!(s, "mempool: {} of {} mbufs in use at exit", self.mempool_in_use_at_exit, self.mempool_size);
        }
        s
    }
}
