//! What the appliance prints: a line per interval (Mpps per worker, share per chassis and node, drops by
//! reason) and a final summary, also written as JSON for tests and tooling.

use std::fmt::Write as _;

use serde::Serialize;
use sluice_control::Topology;

use crate::pipeline::DropReason;
use crate::stats::Snapshot;

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// One progress line covering `secs` seconds of `delta` (per worker and summed).
pub fn interval_line(elapsed: f64, secs: f64, per_worker: &[Snapshot], lcores: &[u32], topo: &Topology) -> String {
    let mut total = Snapshot::default();
    let mut s = format!("[{elapsed:6.1}s]");
    for (w, d) in per_worker.iter().enumerate() {
        total.add(d);
        let _ = write!(s, " w{w}@{}: {:.2} Mpps", lcores[w], d.rx as f64 / secs / 1e6);
    }
    let _ = write!(s, " | tx {:.2} Mpps", total.tx as f64 / secs / 1e6);
    let _ = write!(s, " | chassis");
    for (ci, c) in topo.chassis.iter().enumerate() {
        let n: u64 = c.nodes.iter().map(|&n| total.per_node.get(n as usize).copied().unwrap_or(0)).sum();
        let _ = write!(s, " {} {:.1}%", c.name, pct(n, total.to_nodes));
        let _ = ci;
    }
    let _ = write!(s, " | nodes");
    for (i, n) in topo.nodes.iter().enumerate() {
        let _ = write!(s, " {} {:.1}%", n.name, pct(total.per_node.get(i).copied().unwrap_or(0), total.to_nodes));
    }
    let drops: Vec<String> = DropReason::ALL
        .iter()
        .zip(&total.drops)
        .filter(|(_, &n)| n > 0)
        .map(|(r, n)| format!("{} {:.0}/s", r.as_str(), *n as f64 / secs))
        .collect();
    if !drops.is_empty() {
        let _ = write!(s, " | drops {}", drops.join(", "));
    }
    s
}

#[derive(Debug, Serialize)]
pub struct WorkerSummary {
    pub lcore: u32,
    pub mpps: f64,
    #[serde(flatten)]
    pub counters: Snapshot,
}

#[derive(Debug, Serialize)]
pub struct NodeSummary {
    pub name: String,
    pub chassis: String,
    pub state: String,
    pub selected: u64,
    pub share_pct: f64,
    /// Connections the flow table tracks to it now.
    pub tracked: u64,
}

#[derive(Debug, Serialize)]
pub struct PortSummary {
    pub name: String,
    pub ipackets: u64,
    pub opackets: u64,
    pub imissed: u64,
    pub ierrors: u64,
    pub oerrors: u64,
    pub rx_nombuf: u64,
}

/// The run's totals; `counters_balance` is rx = tx + every drop.
#[derive(Debug, Serialize)]
pub struct Summary {
    pub seconds: f64,
    pub rx: u64,
    pub tx: u64,
    pub to_nodes: u64,
    pub to_clients: u64,
    pub replies: u64,
    pub dropped: u64,
    pub drops: std::collections::BTreeMap<&'static str, u64>,
    /// Frames made by the appliance (reset probes).
    pub generated: u64,
    pub resets: std::collections::BTreeMap<&'static str, u64>,
    /// How content-keyed requests were keyed.
    pub keys: std::collections::BTreeMap<&'static str, u64>,
    /// The flow table's counters.
    pub flows: std::collections::BTreeMap<&'static str, u64>,
    /// rx + generated = tx + every drop.
    pub counters_balance: bool,
    pub workers: Vec<WorkerSummary>,
    pub nodes: Vec<NodeSummary>,
    pub ports: Vec<PortSummary>,
    /// Mbufs not back in the pool after every port was closed (0 unless something leaked).
    pub mempool_in_use_at_exit: u32,
    pub mempool_size: u32,
}

impl Summary {
    pub fn new(seconds: f64, per_worker: &[Snapshot], lcores: &[u32], topo: &Topology) -> Summary {
        let mut t = Snapshot::default();
        for w in per_worker {
            t.add(w);
        }
        let drops = DropReason::ALL
            .iter()
            .zip(t.drops.iter().chain(std::iter::repeat(&0)))
            .map(|(r, n)| (r.as_str(), *n))
            .collect();
        let nodes = topo
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let selected = t.per_node.get(i).copied().unwrap_or(0);
                NodeSummary {
                    name: n.name.clone(),
                    chassis: topo.chassis[n.chassis as usize].name.clone(),
                    state: format!("{:?}", n.state).to_lowercase(),
                    selected,
                    share_pct: pct(selected, t.to_nodes),
                    tracked: t.tracked.get(i).copied().unwrap_or(0),
                }
            })
            .collect();
        Summary {
            seconds,
            rx: t.rx,
            tx: t.tx,
            to_nodes: t.to_nodes,
            to_clients: t.to_clients,
            replies: t.replies,
            dropped: t.dropped(),
            drops,
            generated: t.generated,
            resets: crate::reset::ResetCounter::ALL
                .iter()
                .zip(t.resets.iter().chain(std::iter::repeat(&0)))
                .map(|(r, n)| (r.as_str(), *n))
                .collect(),
            keys: crate::pipeline::KeyCounter::ALL
                .iter()
                .zip(t.keys.iter().chain(std::iter::repeat(&0)))
                .map(|(k, n)| (k.as_str(), *n))
                .collect(),
            flows: crate::flows::FlowCounter::ALL
                .iter()
                .zip(t.flows.iter().chain(std::iter::repeat(&0)))
                .map(|(k, n)| (k.as_str(), *n))
                .collect(),
            counters_balance: t.rx + t.generated == t.tx + t.dropped(),
            workers: per_worker
                .iter()
                .zip(lcores)
                .map(|(w, l)| WorkerSummary {
                    lcore: *l,
                    mpps: w.rx as f64 / seconds.max(1e-9) / 1e6,
                    counters: w.clone(),
                })
                .collect(),
            nodes,
            ports: Vec::new(),
            mempool_in_use_at_exit: 0,
            mempool_size: 0,
        }
    }

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
                n.name, n.chassis, n.state, n.selected, n.share_pct
            );
        }
        for (r, n) in &self.drops {
            if *n > 0 {
                let _ = writeln!(s, "  drop {r:<18} {n}");
            }
        }
        let resets: Vec<String> =
            self.resets.iter().filter(|(_, n)| **n > 0).map(|(r, n)| format!("{r} {n}")).collect();
        if !resets.is_empty() {
            let _ = writeln!(s, "  resets: {}", resets.join(", "));
        }
        let keys: Vec<String> = self.keys.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        if !keys.is_empty() {
            let _ = writeln!(s, "  keys: {}", keys.join(", "));
        }
        let flows: Vec<String> = self.flows.iter().filter(|(_, n)| **n > 0).map(|(k, n)| format!("{k} {n}")).collect();
        if !flows.is_empty() {
            let _ = writeln!(s, "  flows: {}", flows.join(", "));
        }
        for p in &self.ports {
            let _ = writeln!(
                s,
                "  port {:<10} in {} out {} missed {} errors {}/{}",
                p.name, p.ipackets, p.opackets, p.imissed, p.ierrors, p.oerrors
            );
        }
        let _ = writeln!(s, "mempool: {} of {} mbufs in use at exit", self.mempool_in_use_at_exit, self.mempool_size);
        s
    }
}

/// A JSON answer as DPDK telemetry entries: objects become dicts, arrays dicts keyed by each element's
/// `name` (or its index), numbers u64 (others as text), booleans 0/1; nulls are left out.
pub fn telemetry_entries(v: &serde_json::Value) -> Vec<(String, dpdk_sys::telemetry::Value)> {
    use dpdk_sys::telemetry::Value as T;
    fn one(v: &serde_json::Value) -> Option<T> {
        Some(match v {
            serde_json::Value::Null => return None,
            serde_json::Value::Bool(b) => T::U64(*b as u64),
            serde_json::Value::Number(n) => n.as_u64().map_or_else(|| T::Str(n.to_string()), T::U64),
            serde_json::Value::String(s) => T::Str(s.clone()),
            v => T::Dict(telemetry_entries(v)),
        })
    }
    match v {
        serde_json::Value::Object(m) => m.iter().filter_map(|(k, v)| Some((k.clone(), one(v)?))).collect(),
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .filter_map(|(i, v)| {
                let k = v.get("name").and_then(|n| n.as_str()).map_or_else(|| i.to_string(), str::to_string);
                Some((k, one(v)?))
            })
            .collect(),
        v => one(v).map(|x| vec![("value".to_string(), x)]).unwrap_or_default(),
    }
}
