//! The control loop's part in controller-VM affinity: it takes the workers' reports into the table, ages
//! and rebalances it every 100 ms, and asks for a publication when the table changed and the publish
//! interval has passed. Building the workers' map is [`affinity_map`].

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use sluice_control::affinity::{AffinityTable, Move};
use sluice_control::{Config, Topology};

use super::remember;
use crate::affinity::AffinityMap;
use crate::app::channels::Channels;
use crate::pipeline::Context;

pub(super) struct AffinityPart {
    /// The controller-VM affinity table (when enabled).
    pub table: Option<AffinityTable>,
    /// Recent moves, newest last.
    pub moves: VecDeque<(SystemTime, Move)>,
    pub last_publish: Instant,
    last_aging: Instant,
}

/// What one tick asks of the loop.
pub(super) struct Tick {
    /// Publish the table now.
    pub publish: bool,
}

impl AffinityPart {
    pub fn new(cfg: &Config) -> AffinityPart {
        AffinityPart {
            table: cfg.affinity.enabled.then(|| AffinityTable::new(&cfg.affinity, 0)),
            moves: VecDeque::with_capacity(super::RECENT),
            last_publish: Instant::now(),
            last_aging: Instant::now(),
        }
    }

    /// Takes the reports the workers queued (those about another topology are stale), ages and rebalances
    /// every 100 ms, and says whether to publish.
    pub fn tick(&mut self, ctx: &Context, cfg: &Config, ch: &Channels, now_ms: u64) -> Tick {
        let Some(a) = &mut self.table else { return Tick { publish: false } };
        while let Some(r) = ch.affinity_reports.pop() {
            if r.topology != ctx.topology_id {
                a.counters.reports_stale += 1;
                continue;
            }
            match ctx.topology.nodes.get(r.node as usize) {
                Some(n) => a.observe(r.client, &n.name, r.packets as u64, r.bytes, now_ms),
                None => a.counters.reports_stale += 1,
            }
        }
        let mut moves = Vec::new();
        if self.last_aging.elapsed() >= Duration::from_millis(100) {
            self.last_aging = Instant::now();
            a.age(now_ms);
            moves = a.rebalance(&ctx.topology, now_ms);
        }
        let due = self.last_publish.elapsed() >= Duration::from_millis(cfg.affinity.publish_interval_ms);
        let dirty = a.is_dirty();
        self.note_moves(moves);
        Tick { publish: dirty && due }
    }

    /// Logs and remembers moves.
    pub fn note_moves(&mut self, moves: Vec<Move>) {
        let Some(a) = &self.table else { return };
        let kind = a.kind();
        for m in moves {
            let client = m.client.display(kind);
            tracing::info!(
                %client,
                from = %m.from,
                to = %m.to,
                reason = ?m.reason,
                "affinity: client {client} moved {} -> {} ({:?})",
                m.from,
                m.to,
                m.reason
            );
            remember(&mut self.moves, m);
        }
    }

    /// The workers' map of what the table honours under `topo`, counted as a publication (with the
    /// entries it had no slot for); None when affinity is off.
    pub fn map(&mut self, topo: &Topology) -> Option<Arc<AffinityMap>> {
        let a = self.table.as_mut()?;
        self.last_publish = Instant::now();
        Some(affinity_map(a, topo))
    }
}

/// The workers' map of the entries `a` honours under `topo`, counted as a publication (with the entries
/// it had no slot for).
fn affinity_map(a: &mut AffinityTable, topo: &Topology) -> Arc<AffinityMap> {
    let map = AffinityMap::build(&a.honoured(topo));
    a.counters.unplaced += map.unplaced() as u64;
    a.counters.publishes += 1;
    a.take_dirty();
    Arc::new(map)
}
