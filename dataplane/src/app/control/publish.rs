//! Snapshot publication: the control lcore builds an immutable context (tables with health applied,
//! the affinity map, flow deadlines, the reset history) and hands it to every worker, then waits (bounded)
//! until all run on it and records how long that took.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sluice_control::{Config, Topology};

use super::Control;
use crate::pipeline::Context;

/// How long a publication waits for every worker to adopt it.
const ADOPTION_WAIT: Duration = Duration::from_secs(2);

impl Control {
    /// Hands `ctx` to every worker and waits (bounded) until all run on it; records how long that took.
    /// When it decides differently from the context it replaces, that one joins the history of recent
    /// snapshots the reset path judges moves by.
    pub(super) fn publish(&mut self, mut ctx: Context) -> Duration {
        let generation = ctx.generation;
        let now = dpdk_sys::lcore::rdtsc();
        let window = dpdk_sys::lcore::tsc_hz() / 1000 * self.cfg.resets.moved_window_ms;
        ctx.history = self.resets.retire(&self.ctx, &ctx, now, window);
        let ctx = Arc::new(ctx);
        let t0 = Instant::now();
        for m in &self.channels.mailboxes {
            // A worker that has not taken the previous snapshot yet gets this one instead.
            while m.rx.try_recv().is_ok() {}
            let _ = m.tx.try_send(ctx.clone());
        }
        super::portal::PortalPart::publish(&self.channels, &ctx);
        let deadline = t0 + ADOPTION_WAIT;
        while self.channels.counters.iter().any(|c| c.adopted.load(Relaxed) < generation) && Instant::now() < deadline {
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
        if let Some(h) = &mut self.health.checker {
            let names: Vec<&str> = ctx.topology.nodes.iter().map(|n| n.name.as_str()).collect();
            h.sync(&names, self.start.elapsed().as_millis() as u64);
        }
        if let Some(a) = &mut self.affinity.table {
            let moves = a.evacuate(&ctx.topology);
            self.affinity.note_moves(moves);
        }
        if let Some(map) = self.affinity.map(&ctx.topology) {
            ctx.affinity = map;
        }
        self.publish(ctx)
    }

    /// Publishes the affinity table as it is now (same topology, next generation).
    pub(super) fn publish_affinity(&mut self) {
        let mut ctx = (*self.ctx).clone();
        let Some(map) = self.affinity.map(&ctx.topology) else { return };
        ctx.generation += 1;
        ctx.affinity = map;
        self.publish(ctx);
    }
}
