//! Snapshot publication: the control lcore builds an immutable context (tables with health applied,
//! the affinity map) and hands it to every worker, then waits (bounded) until all run on it and records
//! how long that took.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_control::affinity::{AffinityTable, Move};
use sluice_control::config::{HealthScope, NodeState};
use sluice_control::{Config, Topology};

use super::{remember, Control};
use crate::affinity::AffinityMap;
use crate::pipeline::Context;
use crate::reset::moved::{AFFINITY_PRIORS_MAX, TABLE_PRIORS_MAX};
use crate::reset::Prior;

/// The workers' map of the entries `a` honours under `topo`, counted as a publication (with the entries
/// it had no slot for).
fn affinity_map(a: &mut AffinityTable, topo: &Topology) -> Arc<AffinityMap> {
    let map = AffinityMap::build(&a.honoured(topo));
    a.counters.unplaced += map.unplaced() as u64;
    a.counters.publishes += 1;
    a.take_dirty();
    Arc::new(map)
}

impl Control {
    /// The configuration the tables are built from: the operator's, with nodes that failed their health
    /// checks marked down.
    pub(super) fn effective(&self, cfg: &Config) -> Config {
        let mut c = cfg.clone();
        for n in c.nodes.iter_mut() {
            if !self.health_applied(&n.name) {
                n.state = NodeState::Down;
            }
        }
        c
    }

    /// Whether the tables count node `name` as healthy: by this appliance's own checks, or, with
    /// `health.scope = "fleet"`, by the fleet's verdict.
    pub(super) fn health_applied(&self, name: &str) -> bool {
        match self.cfg.health.scope {
            HealthScope::Fleet => !self.fleet_down.contains(name),
            HealthScope::Appliance => self.health.as_ref().is_none_or(|h| h.is_up(name)),
        }
    }

    /// Hands `ctx` to every worker and waits (bounded) until all run on it; records how long that took.
    /// When it decides differently from the context it replaces, that one joins the history of recent
    /// snapshots the reset path judges moves by (see [`crate::reset::moved`]).
    pub(super) fn publish(&mut self, mut ctx: Context) -> Duration {
        let generation = ctx.generation;
        let now = dpdk_sys::lcore::rdtsc();
        let old = &self.ctx;
        let tables_changed = *old.topology != *ctx.topology;
        if tables_changed || !old.affinity.same_entries(&ctx.affinity) {
            let prior = Prior { topology: old.topology.clone(), affinity: old.affinity.clone(), retired: now };
            // Table changes (operator, health) are kept apart from affinity-only republications, which
            // come far more often (a learned or aged client): the latter must never push a drain's tables
            // out of the window.
            let (kept, cap) = if tables_changed {
                (&mut self.history.0, TABLE_PRIORS_MAX)
            } else {
                (&mut self.history.1, AFFINITY_PRIORS_MAX)
            };
            kept.push_back(prior);
            if kept.len() > cap {
                kept.pop_front();
            }
        }
        let window = dpdk_sys::lcore::tsc_hz() / 1000 * self.cfg.resets.moved_window_ms;
        for kept in [&mut self.history.0, &mut self.history.1] {
            while kept.front().is_some_and(|p| now.saturating_sub(p.retired) >= window) {
                kept.pop_front();
            }
        }
        ctx.history = self.history.0.iter().chain(&self.history.1).cloned().collect::<Vec<_>>().into();
        let ctx = Arc::new(ctx);
        let t0 = Instant::now();
        for (tx, rx) in &self.senders {
            // A worker that has not taken the previous snapshot yet gets this one instead.
            while rx.try_recv().is_ok() {}
            let _ = tx.try_send(ctx.clone());
        }
        let deadline = t0 + Duration::from_secs(2);
        while self.links.iter().any(|l| l.shared.adopted.load(Relaxed) < generation) && Instant::now() < deadline {
            std::thread::yield_now();
        }
        let took = t0.elapsed();
        let _ = self.adoption.record((took.as_micros() as u64).max(1));
        self.ctx = ctx;
        took
    }

    /// Builds and publishes the context of `cfg` (with health applied), its tables worked out from the
    /// current ones where the algorithm allows: affinities of CVMs that are no longer active move first, so
    /// workers never see a map pointing at them.
    pub(super) fn rebuild(&mut self, cfg: &Config) -> Duration {
        let generation = self.ctx.generation + 1;
        let eff = self.effective(cfg);
        let topology = Topology::build_after(&eff, Some(&self.ctx.topology));
        let mut ctx = self.flows.apply(cfg, Context::new(cfg, topology, &self.macs, generation));
        if let Some(h) = &mut self.health {
            let names: Vec<&str> = ctx.topology.nodes.iter().map(|n| n.name.as_str()).collect();
            h.sync(&names, self.start.elapsed().as_millis() as u64);
        }
        if let Some(a) = &mut self.affinity {
            let moves = a.evacuate(&ctx.topology);
            ctx.affinity = affinity_map(a, &ctx.topology);
            self.note_moves(moves);
            self.last_affinity_publish = Instant::now();
        }
        self.publish(ctx)
    }

    pub(super) fn note_moves(&mut self, moves: Vec<Move>) {
        let Some(a) = &self.affinity else { return };
        let kind = a.kind();
        for m in moves {
            eprintln!(
                "sluice: affinity: client {} moved {} -> {} ({:?})",
                m.client.display(kind),
                m.from,
                m.to,
                m.reason
            );
            remember(&mut self.moves, m);
        }
    }

    /// Publishes the affinity table as it is now (same topology, next generation).
    pub(super) fn publish_affinity(&mut self) {
        let Some(a) = &mut self.affinity else { return };
        let mut ctx = (*self.ctx).clone();
        ctx.generation += 1;
        ctx.affinity = affinity_map(a, &ctx.topology);
        self.last_affinity_publish = Instant::now();
        self.publish(ctx);
    }
}
