//! The appliance's standing in the fabric (ready, drained by an operator, stopping), and what its BGP
//! speaker is told to announce. A stop with `[announce]` waits until the speaker has withdrawn the VIPs and
//! the routers had `settle_ms` to settle, or `stop_wait_ms` at most.

use std::time::{Duration, Instant};

use sluice_control::config::{AnnounceConfig, NodeState};
use sluice_control::console::{Announcement, VipAnnouncement};

use super::Control;

/// The appliance's standing in the fabric: what its BGP speaker is told to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Standing {
    /// Announce the VIPs it can serve.
    #[default]
    Ready,
    /// An operator took it out (`sluicectl appliance drain`): announce nothing, keep forwarding.
    Draining,
    /// Stopping: announce nothing, forward until the speaker has withdrawn and the routers settled.
    Stopping,
}

impl Standing {
    pub fn name(self) -> &'static str {
        match self {
            Standing::Ready => "ready",
            Standing::Draining => "draining",
            Standing::Stopping => "stopping",
        }
    }
}

#[derive(Default)]
pub(super) struct StandingPart {
    pub standing: Standing,
    /// When the speaker first confirmed that BIRD withdrew everything while nothing was to be announced.
    pub withdrawn_told: Option<Instant>,
}

impl StandingPart {
    /// Whether a stop asked for at `asked` may go ahead at `now`: the speaker withdrew the VIPs `settle_ms`
    /// ago, or `stop_wait_ms` passed without it.
    pub fn may_stop(&self, a: &AnnounceConfig, now: Instant, asked: Instant) -> bool {
        let settled = self.withdrawn_told.is_some_and(|t| now - t >= Duration::from_millis(a.settle_ms));
        if settled {
            tracing::info!(settle_ms = a.settle_ms, "the speaker withdrew the VIPs {} ms ago: stopping", a.settle_ms);
        } else if now - asked >= Duration::from_millis(a.stop_wait_ms) {
            tracing::warn!(
                stop_wait_ms = a.stop_wait_ms,
                "no speaker withdrew the VIPs within {} ms: stopping",
                a.stop_wait_ms
            );
        } else {
            return false;
        }
        true
    }
}

impl Control {
    /// What the speaker should announce: every VIP while the appliance is ready, its ports are up and it
    /// has an active node to send the VIP's traffic to; nothing otherwise. The speaker's confirmation
    /// that BIRD withdrew everything (`withdrawn`), while nothing is to be announced, starts the clock a
    /// stop waits on.
    pub(super) fn announcement(&mut self, withdrawn: bool) -> Announcement {
        let down: Vec<String> = self
            .cfg
            .ports
            .iter()
            .zip(&self.ports)
            .filter(|(_, id)| !id.link_up().unwrap_or(false))
            .map(|(p, _)| p.name.clone())
            .collect();
        let topo = &self.ctx.topology;
        let serving = |n: &sluice_control::topology::Node| {
            n.state == NodeState::Active && n.weight > 0 && self.ctx.this_chassis.is_none_or(|c| c == n.chassis)
        };
        let active = topo.nodes.iter().filter(|n| serving(n)).count();
        let why = match (self.standing.standing, down.is_empty(), active) {
            (Standing::Stopping, _, _) => "stopping".to_string(),
            (Standing::Draining, _, _) => "the appliance is drained".to_string(),
            (_, false, _) => format!("link down on {}", down.join(", ")),
            (_, _, 0) => "no active node".to_string(),
            _ => format!("ports up, {active} active nodes"),
        };
        let announce = self.standing.standing == Standing::Ready && down.is_empty() && active > 0;
        match (announce, withdrawn) {
            (true, _) => self.standing.withdrawn_told = None,
            (false, true) => {
                self.standing.withdrawn_told.get_or_insert_with(Instant::now);
            }
            (false, false) => {}
        }
        Announcement {
            state: self.standing.standing.name().into(),
            announce,
            vips: self
                .cfg
                .vips
                .iter()
                .map(|v| VipAnnouncement { address: v.address, announce, why: why.clone() })
                .collect(),
            digest: sluice_control::digest::digest(&self.effective(&self.cfg)),
            generation: self.ctx.generation,
        }
    }
}
