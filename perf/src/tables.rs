//! Balance and disruption of sluice's selection tables (the tier-1 table a `single` appliance uses), for
//! each table algorithm (Maglev, rendezvous, bounded rendezvous), node count and table size. Flow hashes pick slots uniformly, so the shares are
//! computed exactly over the table's slots rather than estimated from sampled keys:
//!
//! * balance: the busiest node's share of slots over the mean share (1.0 is perfect);
//! * disruption: the share of all slots (so of flows) that change node when one of N nodes is removed
//!   (ideal 1/N: only its own) or one is added (ideal 1/(N+1): only those it takes), as a multiple of
//!   the ideal;
//! * the time to build the table, which every membership change pays on the control core.

use std::time::Instant;

use serde::Serialize;
use sluice_control::config::{ForwardMode, MacAddr, NodeState, TableAlgorithm};
use sluice_control::topology::{Node, Topology};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: Vec<u32>,
    pub table_sizes: Vec<u32>,
    pub algorithms: Vec<TableAlgorithm>,
    /// Bounded rendezvous's cap per node, as a multiple of its share.
    pub load_bound: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub algorithm: TableAlgorithm,
    /// Bounded rendezvous's cap per node (None for the other algorithms).
    pub load_bound: Option<f64>,
    pub nodes: u32,
    pub table_size: u32,
    /// Busiest node's slots over the mean.
    pub max_over_mean: f64,
    /// Share of slots moved when a node is removed, over the ideal 1/N (mean over the nodes removed).
    pub remove_vs_ideal: f64,
    /// Share of slots moved when a node is added, over the ideal 1/(N+1).
    pub add_vs_ideal: f64,
    /// Slots moved between nodes that are there before and after (which no change requires), over the
    /// ideal; the mean of the removals' and the addition's. 0 for rendezvous by construction.
    pub collateral_vs_ideal: f64,
    pub build_ms: f64,
    /// Rebuilding after one removal, from the tables before it (median of the removals).
    pub rebuild_ms: f64,
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
    if p.algorithms.is_empty() {
        return Err("--algorithms: give at least one of maglev, rendezvous, bounded-rendezvous".into());
    }
    if !(1.0..=2.0).contains(&p.load_bound) {
        return Err(format!("--load-bound: {} is outside 1.0..=2.0", p.load_bound));
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

fn topology(nodes: Vec<Node>, size: u32, (algorithm, bound): (TableAlgorithm, f64)) -> Topology {
    Topology::from_parts_bounded(vec!["chassis-0".into()], nodes, (size, 251), algorithm, bound)
}

/// Share of slots whose node (by name) differs between two tables of the same size, and the part of it
/// that is collateral: slots moved from one node that is in both tables to another.
fn moved(a: &Topology, b: &Topology) -> (f64, f64) {
    // Map b's indices to a's by name once, so the per-slot comparison is an integer compare.
    let to_a: Vec<Option<u16>> = b.nodes.iter().map(|n| a.node_index(&n.name).map(|i| i as u16)).collect();
    let in_b: Vec<bool> = a.nodes.iter().map(|n| b.node_index(&n.name).is_some()).collect();
    let (mut all, mut collateral) = (0usize, 0usize);
    for (x, y) in a.node_table.iter().zip(&b.node_table) {
        let y_in_a = to_a[*y as usize];
        if y_in_a != Some(*x) {
            all += 1;
            if in_b[*x as usize] && y_in_a.is_some() {
                collateral += 1;
            }
        }
    }
    let m = a.node_table.len() as f64;
    (all as f64 / m, collateral as f64 / m)
}

fn row((algorithm, bound): (TableAlgorithm, f64), n: u32, size: u32) -> Row {
    let algorithm_and_bound = (algorithm, bound);
    let t0 = Instant::now();
    let base = topology((0..n).map(node).collect(), size, algorithm_and_bound);
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
    let (mut remove, mut collateral, mut rebuilds) = (0.0, 0.0, Vec::new());
    for &g in &gone {
        let t0 = Instant::now();
        let t = base.without(&node(g).name).expect("present");
        rebuilds.push(t0.elapsed().as_secs_f64() * 1e3);
        let (all, between_survivors) = moved(&base, &t);
        remove += all * n as f64;
        collateral += between_survivors * n as f64;
    }
    let grown = topology((0..=n).map(node).collect(), size, algorithm_and_bound);
    let (add, add_collateral) = moved(&base, &grown);
    Row {
        algorithm,
        load_bound: (algorithm == TableAlgorithm::BoundedRendezvous).then_some(bound),
        nodes: n,
        table_size: size,
        max_over_mean,
        remove_vs_ideal: remove / gone.len() as f64,
        add_vs_ideal: add * (n + 1) as f64,
        collateral_vs_ideal: (collateral / gone.len() as f64 + add_collateral * (n + 1) as f64) / 2.0,
        build_ms,
        rebuild_ms: {
            rebuilds.sort_by(f64::total_cmp);
            rebuilds[rebuilds.len() / 2]
        },
    }
}

pub fn run(p: &Plan, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p)?;
    let mut rows = Vec::new();
    for &algorithm in &p.algorithms {
        for &size in &p.table_sizes {
            for &n in &p.nodes {
                progress(&format!("{algorithm:?}: {n} nodes, table of {size}"));
                rows.push(row((algorithm, p.load_bound), n, size));
            }
        }
    }
    Ok(Report { rows })
}

/// `maglev`, `rendezvous` or `bounded-rendezvous`, as the configuration spells them.
pub fn parse_algorithm(s: &str) -> Result<TableAlgorithm, String> {
    let all = [TableAlgorithm::Maglev, TableAlgorithm::Rendezvous, TableAlgorithm::BoundedRendezvous];
    all.into_iter()
        .find(|a| a.name() == s.trim())
        .ok_or_else(|| format!("{s:?} is not a table algorithm ({})", all.map(|a| a.name()).join(", ")))
}

pub fn markdown(r: &Report) -> String {
    let mut s = String::from(
        "Tier-1 table, equal weights, computed over every slot. Disruption is the share of slots (so \
         of flows) that changed node, over the ideal (1/N for a removal, 1/(N+1) for an addition); \
         collateral is the part of it moved between nodes present before and after, which no change \
         requires. Build is a fresh build; rebuild is the rebuild after one removal, from the tables \
         before it.\n\n\
         | algorithm | nodes | table size | max / mean | removal vs ideal | addition vs ideal | collateral | build | rebuild |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for x in &r.rows {
        s += &format!(
            "| {} | {} | {} | {:.3} | {:.3}× | {:.3}× | {:.3}× | {:.1} ms | {:.1} ms |\n",
            match x.load_bound {
                Some(b) => format!("{} ({b})", x.algorithm.name()),
                None => x.algorithm.name().to_string(),
            },
            x.nodes,
            x.table_size,
            x.max_over_mean,
            x.remove_vs_ideal,
            x.add_vs_ideal,
            x.collateral_vs_ideal,
            x.build_ms,
            x.rebuild_ms
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn impossible_plans_are_refused() {
        let ok = Plan {
            nodes: vec![4],
            table_sizes: vec![65537],
            algorithms: vec![TableAlgorithm::Maglev],
            load_bound: 1.02,
        };
        assert!(preflight(&ok).is_ok());
        let bad = [
            (Plan { nodes: vec![1], ..ok.clone() }, "--nodes"),
            (Plan { nodes: vec![], ..ok.clone() }, "--nodes"),
            (Plan { table_sizes: vec![65536], ..ok.clone() }, "not prime"),
            (Plan { nodes: vec![20], table_sizes: vec![17], ..ok.clone() }, "cannot hold"),
            (Plan { algorithms: vec![], ..ok.clone() }, "--algorithms"),
            (Plan { load_bound: 0.99, ..ok.clone() }, "--load-bound"),
        ];
        for (p, want) in bad {
            let e = preflight(&p).unwrap_err();
            assert!(e.contains(want), "{p:?}: {e}");
        }
    }

    #[test]
    fn a_big_table_is_balanced_and_minimally_disruptive() {
        let r = row((TableAlgorithm::Maglev, 1.0), 10, 65537);
        assert!(r.max_over_mean < 1.001, "Maglev fills slots evenly: {r:?}");
        assert!(r.remove_vs_ideal >= 1.0 && r.remove_vs_ideal < 1.05, "{r:?}");
        assert!(r.add_vs_ideal >= 0.99 && r.add_vs_ideal < 1.05, "{r:?}");
        // A table barely larger than the node count cannot be both: the measure must show it.
        let small = row((TableAlgorithm::Maglev, 1.0), 10, 13);
        assert!(small.max_over_mean > 1.1 && small.remove_vs_ideal > r.remove_vs_ideal, "{small:?}");
    }

    #[test]
    fn rendezvous_is_exactly_minimally_disruptive_where_maglev_is_not() {
        let m = row((TableAlgorithm::Maglev, 1.0), 64, 65537);
        let r = row((TableAlgorithm::Rendezvous, 1.0), 64, 65537);
        // Rendezvous moves only the removed node's slots: a removal costs its share, about 1/N.
        assert!((r.remove_vs_ideal - 1.0).abs() < 0.1 && (r.add_vs_ideal - 1.0).abs() < 0.1, "{r:?}");
        assert_eq!(r.collateral_vs_ideal, 0.0, "{r:?}");
        assert!(m.remove_vs_ideal > 1.2 && m.collateral_vs_ideal > 0.2, "{m:?}");
        // ... and pays in balance: sampling noise instead of Maglev's near-exact shares.
        assert!(r.max_over_mean > m.max_over_mean && r.max_over_mean < 1.2, "{r:?} {m:?}");
    }
}
