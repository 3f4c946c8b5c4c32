//! Configuration changes while running: SIGHUP, `sluicectl reload` and the console's node commands. Only
//! VIPs, chassis, nodes, `flows.drain_timeout_s` and `portal.targets` may change; anything else is refused
//! whole and nothing changes.

use sluice_control::Config;

use super::Control;

impl Control {
    /// Re-reads the configuration file and applies it with the runtime changes kept over it (see
    /// [`Control::reload_with`]).
    pub(super) fn reload(&mut self) -> Result<String, String> {
        self.reload_with(false)
    }

    /// The section of `new` that cannot change while running, if it differs from the running one.
    pub(super) fn unchangeable(&self, new: &Config) -> Option<String> {
        for (what, same) in [
            ("eal", new.eal == self.cfg.eal),
            ("dataplane", new.dataplane == self.cfg.dataplane),
            ("ports", new.ports == self.cfg.ports),
            ("resets", new.resets == self.cfg.resets),
            ("console", new.console == self.cfg.console),
            ("metrics", new.metrics == self.cfg.metrics),
            ("affinity", new.affinity == self.cfg.affinity),
            ("health", new.health == self.cfg.health),
            ("announce", new.announce == self.cfg.announce),
            // The workers size and run their flow tables at start; only the drain timeout applies live.
            (
                "flows",
                sluice_control::config::FlowsConfig {
                    drain_timeout_s: self.cfg.flows.drain_timeout_s,
                    ..new.flows.clone()
                } == self.cfg.flows,
            ),
            ("peers", new.peers == self.cfg.peers),
            // The portal thread sizes its sockets at start: only its targets (and the portal VIPs'
            // addresses) apply live, and a portal cannot come or go.
            (
                "portal",
                sluice_control::config::PortalConfig { targets: self.cfg.portal.targets.clone(), ..new.portal.clone() }
                    == self.cfg.portal
                    && has_portal(new) == has_portal(&self.cfg),
            ),
            ("role", new.role == self.cfg.role && new.this_chassis == self.cfg.this_chassis),
        ] {
            if !same {
                return Some(format!("[{what}] cannot change while running (restart)"));
            }
        }
        None
    }

    /// Publishes a validated configuration that changes only VIPs, chassis, nodes and the drain timeout:
    /// every worker gets the new context. Anything else is refused and nothing changes.
    pub(super) fn apply(&mut self, new: Config, source: &str) -> Result<String, String> {
        if let Some(why) = self.unchangeable(&new) {
            return Err(why);
        }
        let took = self.rebuild(&new);
        let generation = self.ctx.generation;
        let n = &new.nodes;
        let msg = format!(
            "applied {source}: generation {generation}, {} nodes ({} active), adopted by all {} workers in {} us",
            n.len(),
            n.iter().filter(|x| x.state == sluice_control::config::NodeState::Active).count(),
            self.channels.workers(),
            took.as_micros()
        );
        self.cfg = new;
        Ok(msg)
    }
}

/// Some VIP of `cfg` has an iSCSI portal.
fn has_portal(cfg: &Config) -> bool {
    cfg.vips.iter().any(|v| v.portal == sluice_control::config::PortalKind::Iscsi)
}
