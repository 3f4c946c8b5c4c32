//! What the appliance prints: a line per interval (Mpps per worker, share per chassis and node, drops by
//! reason) and a final summary, also written as JSON for tests and tooling. The summary's types are
//! `sluice_control::report`'s (the console's `stats` answer carries the same); this builds one from the
//! workers' counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;

pub use sluice_control::report::{NodeSummary, PortSummary, Summary, WorkerCounters, WorkerSummary};
use sluice_control::Topology;

use crate::pipeline::DropReason;

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        100.0 * part as f64 / whole as f64
    }
}

/// One progress line covering `secs` seconds of `delta` (per worker and summed).
pub fn interval_line(
    elapsed: f64,
    secs: f64,
    per_worker: &[WorkerCounters],
    lcores: &[u32],
    topo: &Topology,
) -> String {
    let mut total = WorkerCounters::default();
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

/// The run's totals, from each worker's counters (`seconds` is how long they ran).
pub fn summary(seconds: f64, per_worker: &[WorkerCounters], lcores: &[u32], topo: &Topology) -> Summary {
    let mut t = WorkerCounters::default();
    for w in per_worker {
        t.add(w);
    }
    let nodes = topo
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let selected = t.per_node.get(i).copied().unwrap_or(0);
            NodeSummary {
                name: n.name.clone(),
                chassis: topo.chassis[n.chassis as usize].name.clone(),
                state: n.state,
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
        drops: named(DropReason::ALL.iter().map(|r| r.as_str()), &t.drops),
        generated: t.generated,
        resets: named(crate::reset::ResetCounter::ALL.iter().map(|r| r.as_str()), &t.resets),
        keys: named(crate::pipeline::KeyCounter::ALL.iter().map(|k| k.as_str()), &t.keys),
        flows: named(crate::flows::FlowCounter::ALL.iter().map(|k| k.as_str()), &t.flows),
        counters_balance: t.rx + t.generated == t.tx + t.dropped(),
        workers: per_worker
            .iter()
            .zip(lcores)
            .map(|(w, l)| WorkerSummary { lcore: *l, mpps: w.rx as f64 / seconds.max(1e-9) / 1e6, counters: w.clone() })
            .collect(),
        nodes,
        ports: Vec::new(),
        mempool_in_use_at_exit: 0,
        mempool_size: 0,
    }
}

/// A counter array by its counters' names (a counter the array lacks is 0).
fn named<'a>(names: impl Iterator<Item = &'a str>, values: &[u64]) -> BTreeMap<String, u64> {
    names.zip(values.iter().chain(std::iter::repeat(&0))).map(|(k, n)| (k.to_string(), *n)).collect()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_counter_and_flattens_each_workers() {
        let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
        let topo = Topology::build(&sluice_control::Config::from_toml(&t).unwrap());
        let worker = |rx: u64| WorkerCounters {
            rx,
            tx: rx - 1,
            drops: vec![1; DropReason::COUNT],
            resets: vec![0; crate::reset::ResetCounter::COUNT],
            per_node: vec![rx / 4; topo.nodes.len()],
            ..Default::default()
        };
        let s = summary(2.0, &[worker(100), worker(200)], &[1, 2], &topo);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            (v["rx"].as_u64(), v["workers"][1]["rx"].as_u64(), v["workers"][1]["lcore"].as_u64()),
            (Some(300), Some(200), Some(2))
        );
        assert_eq!(v["drops"].as_object().unwrap().len(), DropReason::COUNT);
        assert_eq!(v["drops"][DropReason::ALL[0].as_str()], 2);
        assert_eq!(v["keys"].as_object().unwrap().len(), crate::pipeline::KeyCounter::COUNT, "absent counters are 0");
        assert_eq!((v["nodes"][0]["state"].as_str(), v["nodes"][0]["selected"].as_u64()), (Some("active"), Some(75)));
        assert_eq!(v["counters_balance"], false);
        // The control side reads back what the appliance writes.
        assert_eq!(serde_json::from_value::<Summary>(v).unwrap(), s);
    }
}
