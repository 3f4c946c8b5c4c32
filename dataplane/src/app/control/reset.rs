//! The control loop's part in the reset path: the fan-outs the workers report (for the console), and the
//! history of recent snapshots that decided differently from the current one, which the workers judge
//! moves by (see [`crate::reset::moved`]).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use super::remember;
use crate::app::channels::Channels;
use crate::pipeline::Context;
use crate::reset::moved::{AFFINITY_PRIORS_MAX, TABLE_PRIORS_MAX};
use crate::reset::{FanoutEvent, Prior};

#[derive(Default)]
pub(super) struct ResetPart {
    /// The latest fan-outs with when the control lcore saw them (newest last).
    pub recent: VecDeque<(SystemTime, FanoutEvent)>,
    /// Snapshots retired by table changes (operator, health), and by affinity-only republications, each
    /// bounded and none older than the moved window.
    tables: VecDeque<Prior>,
    affinity: VecDeque<Prior>,
    /// Fan-outs not yet counted in a log line, and when the last line went out.
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl ResetPart {
    /// Takes the fan-out events the workers queued.
    pub fn take_events(&mut self, ch: &Channels) {
        while let Some(e) = ch.fanout_events.pop() {
            let c = &e.conn;
            tracing::debug!(
                client = %c.client.to_ip(),
                client_port = c.cport,
                vip = %c.vip.to_ip(),
                vip_port = c.vport,
                worker = e.worker,
                origin = ?e.origin,
                "reset: fan-out started"
            );
            self.unlogged += 1;
            remember(&mut self.recent, e);
        }
        // At most a line a second at info, however many connections a change resets.
        let now = Instant::now();
        if self.unlogged > 0 && self.logged_at.is_none_or(|t| now - t >= Duration::from_secs(1)) {
            tracing::info!(fanouts = self.unlogged, "reset: {} fan-outs started", self.unlogged);
            (self.unlogged, self.logged_at) = (0, Some(now));
        }
    }

    /// Notes that `new` replaces `old` at TSC `now`, forgets what is older than `window` ticks, and returns
    /// the history `new` carries.
    pub fn retire(&mut self, old: &Context, new: &Context, now: u64, window: u64) -> Arc<[Prior]> {
        let tables_changed = *old.topology != *new.topology;
        if tables_changed || !old.affinity.same_entries(&new.affinity) {
            let prior = Prior { topology: old.topology.clone(), affinity: old.affinity.clone(), retired: now };
            // Table changes are kept apart from affinity-only republications, which come far more often
            // (a learned or aged client): the latter must never push a drain's tables out of the window.
            let (kept, cap) = match tables_changed {
                true => (&mut self.tables, TABLE_PRIORS_MAX),
                false => (&mut self.affinity, AFFINITY_PRIORS_MAX),
            };
            kept.push_back(prior);
            if kept.len() > cap {
                kept.pop_front();
            }
        }
        for kept in [&mut self.tables, &mut self.affinity] {
            while kept.front().is_some_and(|p| now.saturating_sub(p.retired) >= window) {
                kept.pop_front();
            }
        }
        self.tables.iter().chain(&self.affinity).cloned().collect::<Vec<_>>().into()
    }
}
