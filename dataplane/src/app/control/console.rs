//! The control loop's answers to console requests, which the endpoints' threads read and write (see
//! [`crate::app::endpoints`]): one handler per request, each returning its answer type from
//! `sluice_control::console` (a refusal is the error's text), and [`Control::handle`] dispatching.

use std::net::SocketAddr;

use serde::Serialize;
use sluice_control::affinity::{ClientId, Filter};
use sluice_control::config::{HealthScope, NodeState};
use sluice_control::console::{
    self, AdoptionSummary, AffinityAnswer, AffinityEntry, AffinityMove, AffinitySummary, AffinityTableSummary,
    AppliedAnswer, Health, HealthAnswer, HealthChange, HealthChecks, HealthNode, NodeRow, NodesAnswer, Request,
    ResetRow, ResetsAnswer, Response, StatsAnswer, StatusAnswer,
};

use super::standing::Standing;
use super::Control;
use crate::report;

/// Console requests the control loop answers per turn, at most.
const CONSOLE_PER_TURN: usize = 16;

const AFFINITY_OFF: &str = "affinity is off in this appliance's configuration ([affinity] enabled = false)";

pub(super) fn unix_secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// A handler's answer, or its refusal.
fn answer<T: Serialize>(r: Result<T, String>) -> Response {
    match r {
        Ok(a) => Response::ok(a),
        Err(e) => Response::err(e),
    }
}

impl Control {
    /// Answers the console requests the endpoint's threads have read (a few per turn of the loop).
    pub(super) fn answer_console(&mut self) {
        for _ in 0..CONSOLE_PER_TURN {
            let Ok(p) = self.endpoints.requests.try_recv() else { return };
            let resp = self.handle(p.request);
            let _ = p.reply.try_send(resp);
        }
    }

    /// The answer to one request.
    pub(super) fn handle(&mut self, req: Request) -> Response {
        match req {
            Request::Status => Response::ok(self.status()),
            Request::Stats => Response::ok(self.stats()),
            Request::Nodes => Response::ok(self.node_rows()),
            Request::Resets => Response::ok(self.recent_resets()),
            Request::Health => Response::ok(self.health_answer()),
            Request::Portal => Response::ok(self.portal.answer(&self.ctx)),
            Request::Announce { withdrawn } => Response::ok(self.announcement(withdrawn)),
            Request::Affinity { filter } => answer(self.affinity_entries(&filter)),
            Request::AffinityPin { client, node } => answer(self.affinity_pin(&client, &node)),
            Request::AffinityUnpin { client } => answer(self.affinity_unpin(&client)),
            Request::AffinityFlush { node } => answer(self.affinity_flush(node.as_deref())),
            Request::ApplianceDrain => answer(self.appliance_standing(true)),
            Request::ApplianceUndrain => answer(self.appliance_standing(false)),
            Request::NodeHealth { name, up } => answer(self.node_health(&name, up)),
            Request::Reload { diff: true, .. } => answer(self.reload_plan()),
            Request::Reload { discard_runtime, .. } => answer(self.reload_answer(discard_runtime)),
            Request::NodeAdd { .. }
            | Request::NodeRemove { .. }
            | Request::NodeWeight { .. }
            | Request::NodeDrain { .. }
            | Request::NodeUndrain { .. }
            | Request::NodeDown { .. } => answer(self.node_change(&req)),
        }
    }

    /// `status`: the standing, digest, role, generation, uptime, workers, ports, VIPs and nodes.
    fn status(&self) -> StatusAnswer {
        let topo = &self.ctx.topology;
        StatusAnswer {
            role: self.cfg.role,
            generation: self.ctx.generation,
            digest: Some(sluice_control::digest::digest(&self.effective(&self.cfg))),
            appliance: Some(self.standing.standing.name().into()),
            uptime_s: self.start.elapsed().as_secs_f64(),
            workers: self.lcores.clone(),
            ports: self.cfg.ports.iter().map(|p| p.name.clone()).collect(),
            vips: self.cfg.vips.iter().map(|v| v.address).collect(),
            nodes: topo.nodes.len(),
            active_nodes: topo.nodes.iter().filter(|n| n.state == NodeState::Active).count(),
        }
    }

    /// `stats`: the workers' counters summed up so far, and the control core's own figures.
    pub(super) fn stats(&self) -> StatsAnswer {
        let topo = &self.ctx.topology;
        StatsAnswer {
            summary: report::summary(self.start.elapsed().as_secs_f64(), &self.snapshots(), &self.lcores, topo),
            role: self.cfg.role,
            generation: self.ctx.generation,
            affinity: self.affinity_summary(),
            health: self.health_answer(),
            adoption: self.adoption_summary(),
        }
    }

    /// `nodes`: each node's operator state, health, weight, table share, packets and tracked connections.
    pub(super) fn node_rows(&self) -> NodesAnswer {
        let topo = &self.ctx.topology;
        let slots = topo.node_table.len().max(1) as f64;
        let mut counts = vec![0usize; topo.nodes.len()];
        for &n in &topo.node_table {
            if let Some(c) = counts.get_mut(n as usize) {
                *c += 1;
            }
        }
        let s = report::summary(0.0, &self.snapshots(), &self.lcores, topo);
        topo.nodes
            .iter()
            .zip(&s.nodes)
            .zip(&counts)
            .map(|((n, ns), c)| NodeRow {
                name: n.name.clone(),
                chassis: ns.chassis.clone(),
                state: self.operator_state(&n.name),
                weight: n.weight,
                ip: n.ip,
                table_share_pct: 100.0 * *c as f64 / slots,
                selected: ns.selected,
                health: self.health.checker.as_ref().map(|h| Health::of(h.is_up(&n.name))),
                tracked: ns.tracked,
                drain_left_s: self.flows.drain_left(&self.cfg, &n.name),
            })
            .collect()
    }

    /// A node's state as the operator set it (health is reported apart).
    fn operator_state(&self, name: &str) -> NodeState {
        self.cfg.nodes.iter().find(|n| n.name == name).map_or(NodeState::Down, |n| n.state)
    }

    /// `resets`: the latest fan-outs, newest first.
    fn recent_resets(&self) -> ResetsAnswer {
        self.resets
            .recent
            .iter()
            .rev()
            .map(|(t, e)| ResetRow {
                at: unix_secs(*t),
                client: SocketAddr::new(e.conn.client.to_ip(), e.conn.cport),
                vip: SocketAddr::new(e.conn.vip.to_ip(), e.conn.vport),
                worker: e.worker,
                started_by: e.origin.describe().into(),
            })
            .collect()
    }

    /// `health` (also part of `stats` and telemetry): the checks' settings and every node's state.
    pub(super) fn health_answer(&self) -> HealthAnswer {
        let scope = self.cfg.health.scope;
        let Some(h) = &self.health.checker else {
            return HealthAnswer { enabled: false, scope, nodes: Vec::new(), checks: None };
        };
        let nodes = h
            .nodes()
            .map(|(name, n)| HealthNode {
                name: name.clone(),
                health: Health::of(n.up),
                applied: Health::of(self.health_applied(name)),
                successes: n.successes,
                failures: n.failures,
                ok_streak: n.ok_streak,
                fail_streak: n.fail_streak,
                went_down: n.went_down,
                came_up: n.came_up,
                last: n.last.clone(),
            })
            .collect();
        let recent_changes = self
            .health
            .events
            .iter()
            .rev()
            .map(|(t, c)| HealthChange { at: unix_secs(*t), node: c.node.clone(), up: c.up, why: c.why.clone() })
            .collect();
        let c = h.config();
        HealthAnswer {
            enabled: true,
            scope,
            nodes,
            checks: Some(HealthChecks {
                check: c.check,
                port: c.port,
                interval_ms: c.interval_ms,
                timeout_ms: c.timeout_ms,
                rise: c.rise,
                fall: c.fall,
                recent_changes,
                probes_unqueued: self.health.probes_unqueued,
            }),
        }
    }

    /// The affinity table's figures (part of `stats` and telemetry).
    pub(super) fn affinity_summary(&self) -> AffinitySummary {
        let table = self.affinity.table.as_ref().map(|a| AffinityTableSummary {
            entries: a.len(),
            pinned: a.show(&Filter::default()).map_or(0, |l| l.iter().filter(|(_, e)| e.pinned).count()),
            honoured: self.ctx.affinity.len(),
            unplaced: self.ctx.affinity.unplaced(),
            counters: a.counters.clone(),
        });
        AffinitySummary { enabled: table.is_some(), table }
    }

    /// Snapshot adoption so far (part of `stats`).
    fn adoption_summary(&self) -> AdoptionSummary {
        let h = &self.adoption;
        AdoptionSummary {
            publications: h.len(),
            p50_us: h.value_at_quantile(0.5),
            p99_us: h.value_at_quantile(0.99),
            max_us: h.max(),
        }
    }

    /// `affinity`: the entries `filter` selects, the table's counters and its latest moves.
    fn affinity_entries(&self, filter: &Filter) -> Result<AffinityAnswer, String> {
        let a = self.affinity.table.as_ref().ok_or(AFFINITY_OFF)?;
        let now = self.now_ms();
        let kind = a.kind();
        let list = a.show(filter).map_err(|e| format!("refused: {e}"))?;
        let entries = list
            .iter()
            .map(|(c, e)| AffinityEntry {
                client: c.display(kind).to_string(),
                node: e.node.to_string(),
                pinned: e.pinned,
                packets: e.packets,
                bytes: e.bytes,
                moves: e.moves,
                idle_s: now.saturating_sub(e.last_seen_ms) as f64 / 1000.0,
                age_s: now.saturating_sub(e.created_ms) as f64 / 1000.0,
            })
            .collect();
        let recent_moves = self
            .affinity
            .moves
            .iter()
            .rev()
            .map(|(t, m)| AffinityMove {
                at: unix_secs(*t),
                client: m.client.display(kind).to_string(),
                from: m.from.clone(),
                to: m.to.clone(),
                reason: m.reason,
            })
            .collect();
        Ok(AffinityAnswer { entries, total: a.len(), counters: a.counters.clone(), recent_moves })
    }

    /// `affinity_pin`: pins a client VM to an active CVM.
    pub(super) fn affinity_pin(&mut self, client: &str, node: &str) -> Result<AppliedAnswer, String> {
        let now = self.now_ms();
        let topo = self.ctx.topology.clone();
        let a = self.affinity.table.as_mut().ok_or(AFFINITY_OFF)?;
        let r = ClientId::parse(a.kind(), client).and_then(|c| a.pin(c, node, &topo, now));
        let answer = self.affinity_change(r.map(|_| format!("pinned {client} to {node}")))?;
        self.runtime.record(&Request::AffinityPin { client: client.into(), node: node.into() });
        Ok(answer)
    }

    /// `affinity_unpin`: turns a pin back into a learned entry.
    pub(super) fn affinity_unpin(&mut self, client: &str) -> Result<AppliedAnswer, String> {
        let now = self.now_ms();
        let a = self.affinity.table.as_mut().ok_or(AFFINITY_OFF)?;
        let r = ClientId::parse(a.kind(), client).and_then(|c| a.unpin(c, now));
        let answer = self.affinity_change(r.map(|_| format!("unpinned {client}")))?;
        self.runtime.record(&Request::AffinityUnpin { client: client.into() });
        Ok(answer)
    }

    /// `affinity_flush`: forgets learned entries (of one CVM, or all).
    fn affinity_flush(&mut self, node: Option<&str>) -> Result<AppliedAnswer, String> {
        if let Some(n) = node {
            if self.ctx.topology.node_index(n).is_none() {
                return Err(format!("refused, nothing changed: config field `node`: no node {n:?}"));
            }
        }
        let a = self.affinity.table.as_mut().ok_or(AFFINITY_OFF)?;
        let n = a.flush(node);
        self.affinity_change(Ok(format!("flushed {n} learned entries")))
    }

    /// Publishes an operator's affinity change at once, or reports why it was refused.
    fn affinity_change(&mut self, r: Result<String, sluice_control::ConfigError>) -> Result<AppliedAnswer, String> {
        let msg = r.map_err(|e| format!("refused, nothing changed: {e}"))?;
        self.publish_affinity();
        tracing::info!(generation = self.ctx.generation, "affinity: {msg} (generation {})", self.ctx.generation);
        Ok(AppliedAnswer::at(msg, self.ctx.generation))
    }

    /// `appliance_drain` (`drain`) and `appliance_undrain`: leaves or rejoins the fabric.
    fn appliance_standing(&mut self, drain: bool) -> Result<AppliedAnswer, String> {
        let msg = match (self.standing.standing, drain) {
            (Standing::Stopping, _) => return Err("refused: the appliance is stopping".into()),
            (Standing::Draining, true) => "already draining: the VIPs stay withdrawn",
            (Standing::Ready, false) => "already ready",
            (Standing::Ready, true) => "draining: the VIPs are withdrawn, traffic still arriving is forwarded",
            (Standing::Draining, false) => "ready: the VIPs are announced again",
        };
        self.standing.standing = if drain { Standing::Draining } else { Standing::Ready };
        tracing::info!(standing = self.standing.standing.name(), "appliance {msg}");
        Ok(AppliedAnswer {
            applied: msg.into(),
            generation: None,
            appliance: Some(self.standing.standing.name().into()),
        })
    }

    /// `node_health`: the fleet's verdict on a node (with `health.scope = "fleet"`).
    fn node_health(&mut self, name: &str, up: bool) -> Result<AppliedAnswer, String> {
        if self.cfg.health.scope != HealthScope::Fleet {
            return Err(
                "refused, nothing changed: config field `health.scope`: \"appliance\": this appliance acts on its own checks"
                    .into(),
            );
        }
        if self.ctx.topology.node_index(name).is_none() {
            return Err(format!("refused, nothing changed: config field `name`: no node {name:?}"));
        }
        let changed =
            if up { self.health.fleet_down.remove(name) } else { self.health.fleet_down.insert(name.to_string()) };
        let state = Health::of(up).name();
        if !changed {
            let msg = format!("node {name} already {state} by the fleet's verdict");
            return Ok(AppliedAnswer::at(msg, self.ctx.generation));
        }
        let cfg = self.cfg.clone();
        let took = self.rebuild(&cfg);
        let msg = format!(
            "node {name} is {state} by the fleet's verdict: generation {}, adopted by all {} workers in {} us",
            self.ctx.generation,
            self.channels.workers(),
            took.as_micros()
        );
        tracing::info!(node = name, generation = self.ctx.generation, "health: {msg}");
        Ok(AppliedAnswer::at(msg, self.ctx.generation))
    }

    /// `reload`: re-reads the configuration file (as SIGHUP does).
    fn reload_answer(&mut self, discard: bool) -> Result<AppliedAnswer, String> {
        let msg = self.reload_with(discard).map_err(|e| format!("reload refused, nothing changed: {e}"))?;
        tracing::info!(generation = self.ctx.generation, "{msg}");
        Ok(AppliedAnswer { applied: msg, generation: None, appliance: None })
    }

    /// A node change (`node_add`, `node_remove`, `node_weight`, `node_drain`, `node_undrain`,
    /// `node_down`), validated whole and applied, or refused with nothing changed.
    fn node_change(&mut self, req: &Request) -> Result<AppliedAnswer, String> {
        let refused = |e: &dyn std::fmt::Display| format!("refused, nothing changed: {e}");
        let new = console::apply(&self.cfg, req).map_err(|e| refused(&e))?.ok_or("nothing to change")?;
        let msg = self.apply(new, "console").map_err(|e| refused(&e))?;
        self.runtime.record(req);
        tracing::info!(generation = self.ctx.generation, request = ?req, "{msg} ({req:?})");
        Ok(AppliedAnswer::at(msg, self.ctx.generation))
    }
}
