//! The control loop's part in health checks: it takes the workers' answers, times out the rest, writes
//! the probes due (worker 0 sends them), and reports the state changes; the loop rebuilds the tables when
//! this appliance acts on its own checks. With `health.scope = "fleet"` the fleet's verdict
//! (`fleet_down`, set over the console) is what the tables follow.

use std::collections::{BTreeSet, VecDeque};
use std::time::SystemTime;

use sluice_control::config::{HealthCheck, HealthScope, NodeState};
use sluice_control::health::{Change, HealthChecker};
use sluice_control::Config;

use super::{remember, Control};
use crate::app::channels::Channels;
use crate::health::{self, Kind};
use crate::pipeline::Context;

pub(super) struct HealthPart {
    /// The checks' state machine (when enabled).
    pub checker: Option<HealthChecker>,
    /// Recent state changes, newest last.
    pub events: VecDeque<(SystemTime, Change)>,
    /// Probes the workers' queue had no room for.
    pub probes_unqueued: u64,
    /// Nodes the fleet's health verdict (`health.scope = "fleet"`) takes out of the tables.
    pub fleet_down: BTreeSet<String>,
}

impl HealthPart {
    pub fn new(cfg: &Config, nodes: &[&str]) -> HealthPart {
        HealthPart {
            checker: cfg.health.enabled.then(|| HealthChecker::new(&cfg.health, nodes, 0)),
            events: VecDeque::with_capacity(super::RECENT),
            probes_unqueued: 0,
            fleet_down: BTreeSet::new(),
        }
    }

    /// Takes the answers the workers queued, times out the probes they did not answer, queues the probes
    /// due, and returns the state changes (logged and remembered).
    pub fn tick(&mut self, ctx: &Context, cfg: &Config, ch: &Channels, now_ms: u64) -> Vec<Change> {
        let Some(h) = &mut self.checker else { return Vec::new() };
        let mut changes = Vec::new();
        while let Some(ans) = ch.health_answers.pop() {
            let Some(i) = ctx.node_by_ip(&ans.from) else { continue };
            let name = &ctx.topology.nodes[i as usize].name;
            let what = match (ans.kind, ans.ok) {
                (Kind::Tcp, true) => "SYN-ACK",
                (Kind::Tcp, false) => "RST: nothing listens",
                (Kind::Icmp, _) => "echo reply",
                (Kind::Arp, _) => "ARP reply",
            };
            changes.extend(h.answer(name, ans.token, ans.ok, what.to_string()));
        }
        let (send, timeouts) = h.tick(now_ms, |n| cfg.nodes.iter().any(|c| c.name == n && c.state != NodeState::Down));
        changes.extend(timeouts);
        let kind = match h.config().check {
            HealthCheck::Tcp => Kind::Tcp,
            HealthCheck::Icmp => Kind::Icmp,
            HealthCheck::Arp => Kind::Arp,
        };
        let port = h.config().port;
        for (name, token) in send {
            let Some(i) = ctx.topology.node_index(&name) else { continue };
            if let Some(p) = health::write_probe(ctx, i as u16, kind, port, token) {
                if ch.health_probes.push(p).is_err() {
                    self.probes_unqueued += 1;
                }
            }
        }
        let fleet = cfg.health.scope == HealthScope::Fleet;
        for c in &changes {
            let state = if c.up { "up" } else { "down" };
            let (node, reason) = (&c.node, &c.why);
            match (fleet, c.up) {
                (false, true) => tracing::info!(%node, %reason, "health: node {node} is {state} after {reason}"),
                (false, false) => tracing::warn!(%node, %reason, "health: node {node} is {state} after {reason}"),
                (true, _) => tracing::info!(
                    %node,
                    %reason,
                    "health: node {node} checks {state} from here after {reason} (the fleet decides)"
                ),
            }
            remember(&mut self.events, c.clone());
        }
        changes
    }
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
            HealthScope::Fleet => !self.health.fleet_down.contains(name),
            HealthScope::Appliance => self.health.checker.as_ref().is_none_or(|h| h.is_up(name)),
        }
    }
}
