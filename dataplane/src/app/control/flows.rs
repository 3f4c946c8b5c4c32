//! The control lcore's side of the flow table: stable node ids for flow entries, and when each drain
//! began, from which every context's per-node deadlines (`keep_until`) are worked out. The workers
//! compare those deadlines with their clock, so a drain timing out needs no publication.

use std::collections::HashMap;
use std::time::Instant;

use sluice_control::config::{Config, NodeState};

use crate::flows::FlowIds;
use crate::pipeline::Context;

#[derive(Default)]
pub(in crate::app) struct FlowState {
    ids: FlowIds,
    /// Nodes the operator drains, and when the drain began (wall clock, and TSC).
    drains: HashMap<String, (Instant, u64)>,
}

impl FlowState {
    /// Gives `ctx` (built from `cfg`, with health applied to its topology) its nodes' flow ids and
    /// deadlines: an active node keeps its connections, a down one none, a draining one until
    /// `flows.drain_timeout_s` after its drain began.
    pub(in crate::app) fn apply(&mut self, cfg: &Config, ctx: Context) -> Context {
        let draining: Vec<&str> =
            cfg.nodes.iter().filter(|n| n.state == NodeState::Draining).map(|n| n.name.as_str()).collect();
        self.drains.retain(|n, _| draining.contains(&n.as_str()));
        for n in draining {
            self.drains.entry(n.to_string()).or_insert_with(|| (Instant::now(), dpdk_sys::lcore::rdtsc()));
        }
        let names: Vec<&str> = ctx.topology.nodes.iter().map(|n| n.name.as_str()).collect();
        let ids = self.ids.assign(&names);
        let mut ctx = ctx.with_flow_ids(&ids);
        let timeout = dpdk_sys::lcore::tsc_hz().saturating_mul(cfg.flows.drain_timeout_s as u64);
        let topology = ctx.topology.clone();
        for (n, t) in ctx.nodes.iter_mut().zip(&topology.nodes) {
            n.keep_until = match (t.state, self.drains.get(&t.name)) {
                (NodeState::Down, _) => 0,
                // Without the table no drain keeps (or releases) anything: the reset path must not
                // take a deadline passing for a move.
                (_, Some(_)) if !cfg.flows.enabled => u64::MAX,
                (_, Some((_, tsc))) => tsc.saturating_add(timeout),
                _ => u64::MAX,
            };
        }
        ctx
    }

    /// How long node `name`'s drain has left to keep its connections, in seconds (None: not draining).
    pub(super) fn drain_left(&self, cfg: &Config, name: &str) -> Option<f64> {
        let (since, _) = self.drains.get(name)?;
        Some((cfg.flows.drain_timeout_s as f64 - since.elapsed().as_secs_f64()).max(0.0))
    }
}
