//! Balance and disruption of sluice's selection tables (the tier-1 Maglev table a `single` appliance
//! uses), for chosen node counts and table sizes. Flow hashes pick slots uniformly, so the shares are
//! computed exactly over the table's slots rather than estimated from sampled keys:
//!
//! * balance: the busiest node's share of slots over the mean share (1.0 is perfect);
//! * disruption: the share of all slots (so of flows) that change node when one of N nodes is removed
//!   (ideal 1/N: only its own) or one is added (ideal 1/(N+1): only those it takes), as a multiple of
//!   the ideal;
//! * the time to build the table, which every membership change pays on the control core.

use std::time::Instant;

use serde::Serialize;
use sluice_control::config::{ForwardMode, MacAddr, NodeState};
use sluice_control::topology::{Node, Topology};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: Vec<u32>,
    pub table_sizes: Vec<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub nodes: u32,
    pub table_size: u32,
    /// Busiest node's slots over the mean.
    pub max_over_mean: f64,
    /// Share of slots moved when a node is removed, over the ideal 1/N (mean over the nodes removed).
    pub remove_vs_ideal: f64,
    /// Share of slots moved when a node is added, over the ideal 1/(N+1).
    pub add_vs_ideal: f64,
    pub build_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rows: Vec<Row>,
}

/// Refuses what cannot be measured, before any work.
pub fn preflight(p: &Plan) -> Result<(), String> {
    if p.nodes.is_empty() || p.nodes.iter().any(|&n| n < 2) {
        return Err("--nodes: every count must be at least 2 (a removal must leave a node)".into());
    }
    if let Some(n) = p.nodes.iter().find(|&&n| n >= u16::MAX as u32 - 1) {
        return Err(format!("--nodes: {n} is more than a table can index"));
    }
    if p.table_sizes.is_empty() {
        return Err("--table-sizes: give at least one size".into());
    }
    for &m in &p.table_sizes {
        if !is_prime(m) {
            return Err(format!("--table-sizes: {m} is not prime (Maglev needs a prime table size)"));
        }
        if let Some(&n) = p.nodes.iter().find(|&&n| m < n) {
            return Err(format!("--table-sizes: {m} slots cannot hold {n} nodes"));
        }
    }
    Ok(())
}

fn is_prime(n: u32) -> bool {
    n >= 2 && (2..).take_while(|d: &u32| (*d as u64) * (*d as u64) <= n as u64).all(|d| !n.is_multiple_of(d))
}

fn node(i: u32) -> Node {
    Node {
        name: format!("n{i:05}"),
        chassis: 0,
        mac: MacAddr([2, 0, 0, 0, (i >> 8) as u8, i as u8]),
        ip: std::net::IpAddr::from([10, 1, (i >> 8) as u8, i as u8]),
        weight: 100,
        state: NodeState::Active,
        forward: ForwardMode::Mac,
        port: 1,
    }
}

fn topology(nodes: Vec<Node>, size: u32) -> Topology {
    Topology::from_parts(vec!["chassis-0".into()], nodes, size, 251)
}

/// Share of slots whose node (by name) differs between two tables of the same size.
fn moved(a: &Topology, b: &Topology) -> f64 {
    // Map b's indices to a's by name once, so the per-slot comparison is an integer compare.
    let to_a: Vec<Option<u16>> = b.nodes.iter().map(|n| a.node_index(&n.name).map(|i| i as u16)).collect();
    let n = a.node_table.iter().zip(&b.node_table).filter(|(x, y)| to_a[**y as usize] != Some(**x)).count();
    n as f64 / a.node_table.len() as f64
}

fn row(n: u32, size: u32) -> Row {
    let t0 = Instant::now();
    let base = topology((0..n).map(node).collect(), size);
    let build_ms = t0.elapsed().as_secs_f64() * 1e3;
    let mut counts = vec![0u64; n as usize];
    for &x in &base.node_table {
        counts[x as usize] += 1;
    }
    let mean = size as f64 / n as f64;
    let max_over_mean = *counts.iter().max().expect("nodes") as f64 / mean;
    // Remove the first, a middle and the last node in turn.
    let gone: Vec<u32> = {
        let mut g = vec![0, n / 2, n - 1];
        g.dedup();
        g
    };
    let mut remove = 0.0;
    for &g in &gone {
        let t = base.without(&node(g).name).expect("present");
        remove += moved(&base, &t) * n as f64;
    }
    let grown = topology((0..=n).map(node).collect(), size);
    let add = moved(&base, &grown) * (n + 1) as f64;
    Row {
        nodes: n,
        table_size: size,
        max_over_mean,
        remove_vs_ideal: remove / gone.len() as f64,
        add_vs_ideal: add,
        build_ms,
    }
}

pub fn run(p: &Plan, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p)?;
    let mut rows = Vec::new();
    for &size in &p.table_sizes {
        for &n in &p.nodes {
            progress(&format!("{n} nodes, table of {size}"));
            rows.push(row(n, size));
        }
    }
    Ok(Report { rows })
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::from(
        "Tier-1 Maglev table, equal weights, computed over every slot. Disruption is the share of slots (so \
         of flows) that changed node, over the ideal (1/N for a removal, 1/(N+1) for an addition).\n\n\
         | nodes | table size | max / mean | removal vs ideal | addition vs ideal | build |\n\
         |---|---|---|---|---|---|\n",
    );
    for x in &r.rows {
        s += &format!(
            "| {} | {} | {:.3} | {:.3}× | {:.3}× | {:.1} ms |\n",
            x.nodes, x.table_size, x.max_over_mean, x.remove_vs_ideal, x.add_vs_ideal, x.build_ms
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_plans_are_refused() {
        let ok = Plan { nodes: vec![4], table_sizes: vec![65537] };
        assert!(preflight(&ok).is_ok());
        let bad = [
            (Plan { nodes: vec![1], ..ok.clone() }, "--nodes"),
            (Plan { nodes: vec![], ..ok.clone() }, "--nodes"),
            (Plan { table_sizes: vec![65536], ..ok.clone() }, "not prime"),
            (Plan { nodes: vec![20], table_sizes: vec![17] }, "cannot hold"),
        ];
        for (p, want) in bad {
            let e = preflight(&p).unwrap_err();
            assert!(e.contains(want), "{p:?}: {e}");
        }
    }

    #[test]
    fn a_big_table_is_balanced_and_minimally_disruptive() {
        let r = row(10, 65537);
        assert!(r.max_over_mean < 1.001, "Maglev fills slots evenly: {r:?}");
        assert!(r.remove_vs_ideal >= 1.0 && r.remove_vs_ideal < 1.05, "{r:?}");
        assert!(r.add_vs_ideal >= 0.99 && r.add_vs_ideal < 1.05, "{r:?}");
        // A table barely larger than the node count cannot be both: the measure must show it.
        let small = row(10, 13);
        assert!(small.max_over_mean > 1.1 && small.remove_vs_ideal > r.remove_vs_ideal, "{small:?}");
    }
}
