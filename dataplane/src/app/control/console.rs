//! The control loop's answers to console requests, which the endpoints' threads read and write (see
//! [`crate::app::endpoints`]).

use sluice_control::affinity::ClientId;
use sluice_control::config::{HealthScope, NodeState};
use sluice_control::console::{self, Request, Response};

use super::standing::Standing;
use super::Control;
use crate::report::Summary;

/// Console requests the control loop answers per turn, at most.
const CONSOLE_PER_TURN: usize = 16;

const AFFINITY_OFF: &str = "affinity is off in this appliance's configuration ([affinity] enabled = false)";

pub(super) fn unix_secs(t: std::time::SystemTime) -> f64 {
    t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
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

    /// Publishes an operator's affinity change at once, or reports why it was refused.
    fn affinity_change(&mut self, r: Result<String, sluice_control::ConfigError>) -> Response {
        match r {
            Ok(msg) => {
                self.publish_affinity();
                eprintln!("sluice: affinity: {msg} (generation {})", self.ctx.generation);
                Response::ok(serde_json::json!({ "applied": msg, "generation": self.ctx.generation }))
            }
            Err(e) => Response::err(format!("refused, nothing changed: {e}")),
        }
    }

    /// A node's state as the operator set it (health is reported apart).
    fn operator_state(&self, name: &str) -> String {
        let s = self.cfg.nodes.iter().find(|n| n.name == name).map_or(NodeState::Down, |n| n.state);
        format!("{s:?}").to_lowercase()
    }

    pub(super) fn affinity_summary(&self) -> serde_json::Value {
        match &self.affinity.table {
            None => serde_json::json!({ "enabled": false }),
            Some(a) => serde_json::json!({
                "enabled": true,
                "entries": a.len(),
                "pinned": a.show(&Default::default()).map_or(0, |l| l.iter().filter(|(_, e)| e.pinned).count()),
                "honoured": self.ctx.affinity.len(),
                "unplaced": self.ctx.affinity.unplaced(),
                "counters": a.counters,
            }),
        }
    }

    pub(super) fn health_summary(&self) -> serde_json::Value {
        let scope = format!("{:?}", self.cfg.health.scope).to_lowercase();
        let Some(h) = &self.health.checker else {
            return serde_json::json!({ "enabled": false, "scope": scope, "nodes": [] });
        };
        let nodes: Vec<_> = h
            .nodes()
            .map(|(name, n)| {
                serde_json::json!({
                    "name": name, "health": if n.up { "up" } else { "down" },
                    "applied": if self.health_applied(name) { "up" } else { "down" }, "successes": n.successes,
                    "failures": n.failures, "ok_streak": n.ok_streak, "fail_streak": n.fail_streak,
                    "went_down": n.went_down, "came_up": n.came_up, "last": n.last,
                })
            })
            .collect();
        let events: Vec<_> = self
            .health
            .events
            .iter()
            .rev()
            .map(|(t, c)| serde_json::json!({ "at": unix_secs(*t), "node": c.node, "up": c.up, "why": c.why }))
            .collect();
        let c = h.config();
        serde_json::json!({
            "enabled": true, "scope": scope,
            "check": format!("{:?}", c.check).to_lowercase(), "port": c.port, "interval_ms": c.interval_ms,
            "timeout_ms": c.timeout_ms, "rise": c.rise, "fall": c.fall,
            "nodes": nodes, "recent_changes": events, "probes_unqueued": self.health.probes_unqueued,
        })
    }

    fn adoption_summary(&self) -> serde_json::Value {
        let h = &self.adoption;
        serde_json::json!({
            "publications": h.len(),
            "p50_us": h.value_at_quantile(0.5), "p99_us": h.value_at_quantile(0.99), "max_us": h.max(),
        })
    }

    pub(super) fn handle(&mut self, req: Request) -> Response {
        let topo = &self.ctx.topology;
        match req {
            Request::Status => Response::ok(serde_json::json!({
                "role": format!("{:?}", self.cfg.role).to_lowercase(),
                "generation": self.ctx.generation,
                "digest": sluice_control::digest::digest(&self.effective(&self.cfg)),
                "appliance": self.standing.standing.name(),
                "uptime_s": self.start.elapsed().as_secs_f64(),
                "workers": self.lcores,
                "ports": self.cfg.ports.iter().map(|p| &p.name).collect::<Vec<_>>(),
                "vips": self.cfg.vips.iter().map(|v| v.address.to_string()).collect::<Vec<_>>(),
                "nodes": topo.nodes.len(),
                "active_nodes": topo.nodes.iter().filter(|n| n.state == sluice_control::config::NodeState::Active).count(),
            })),
            Request::Stats => {
                let s = Summary::new(self.start.elapsed().as_secs_f64(), &self.snapshots(), &self.lcores, topo);
                let mut v = serde_json::to_value(&s).expect("summary serialises");
                v["role"] = format!("{:?}", self.cfg.role).to_lowercase().into();
                v["generation"] = self.ctx.generation.into();
                v["affinity"] = self.affinity_summary();
                v["health"] = self.health_summary();
                v["adoption"] = self.adoption_summary();
                Response::ok(v)
            }
            Request::Health => Response::ok(self.health_summary()),
            Request::Announce { withdrawn } => Response::ok(self.announcement(withdrawn)),
            Request::ApplianceDrain | Request::ApplianceUndrain => {
                let drain = matches!(req, Request::ApplianceDrain);
                let msg = match (self.standing.standing, drain) {
                    (Standing::Stopping, _) => return Response::err("refused: the appliance is stopping"),
                    (Standing::Draining, true) => "already draining: the VIPs stay withdrawn",
                    (Standing::Ready, false) => "already ready",
                    (Standing::Ready, true) => "draining: the VIPs are withdrawn, traffic still arriving is forwarded",
                    (Standing::Draining, false) => "ready: the VIPs are announced again",
                };
                self.standing.standing = if drain { Standing::Draining } else { Standing::Ready };
                eprintln!("sluice: appliance {msg}");
                Response::ok(serde_json::json!({ "applied": msg, "appliance": self.standing.standing.name() }))
            }
            Request::NodeHealth { name, up } => {
                if self.cfg.health.scope != HealthScope::Fleet {
                    return Response::err(
                        "refused, nothing changed: config field `health.scope`: \"appliance\": this appliance acts on its own checks",
                    );
                }
                if topo.node_index(&name).is_none() {
                    return Response::err(format!("refused, nothing changed: config field `name`: no node {name:?}"));
                }
                let changed =
                    if up { self.health.fleet_down.remove(&name) } else { self.health.fleet_down.insert(name.clone()) };
                let state = if up { "up" } else { "down" };
                if !changed {
                    return Response::ok(serde_json::json!({
                        "applied": format!("node {name} already {state} by the fleet's verdict"),
                        "generation": self.ctx.generation,
                    }));
                }
                let cfg = self.cfg.clone();
                let took = self.rebuild(&cfg);
                let msg = format!(
                    "node {name} is {state} by the fleet's verdict: generation {}, adopted by all {} workers in {} us",
                    self.ctx.generation,
                    self.channels.workers(),
                    took.as_micros()
                );
                eprintln!("sluice: health: {msg}");
                Response::ok(serde_json::json!({ "applied": msg, "generation": self.ctx.generation }))
            }
            Request::Affinity { filter } => {
                let Some(a) = &self.affinity.table else { return Response::err(AFFINITY_OFF) };
                let now = self.now_ms();
                let kind = a.kind();
                match a.show(&filter) {
                    Ok(list) => {
                        let entries: Vec<_> = list
                            .iter()
                            .map(|(c, e)| {
                                serde_json::json!({
                                    "client": c.display(kind).to_string(), "node": &*e.node, "pinned": e.pinned,
                                    "packets": e.packets, "bytes": e.bytes, "moves": e.moves,
                                    "idle_s": now.saturating_sub(e.last_seen_ms) as f64 / 1000.0,
                                    "age_s": now.saturating_sub(e.created_ms) as f64 / 1000.0,
                                })
                            })
                            .collect();
                        let moves: Vec<_> = self
                            .affinity
                            .moves
                            .iter()
                            .rev()
                            .map(|(t, m)| {
                                serde_json::json!({
                                    "at": unix_secs(*t), "client": m.client.display(kind).to_string(),
                                    "from": m.from, "to": m.to, "reason": m.reason,
                                })
                            })
                            .collect();
                        Response::ok(serde_json::json!({
                            "entries": entries, "total": a.len(), "counters": a.counters, "recent_moves": moves,
                        }))
                    }
                    Err(e) => Response::err(format!("refused: {e}")),
                }
            }
            Request::AffinityPin { client, node } => {
                let now = self.now_ms();
                let topo = self.ctx.topology.clone();
                let Some(a) = &mut self.affinity.table else { return Response::err(AFFINITY_OFF) };
                let r = ClientId::parse(a.kind(), &client).and_then(|c| a.pin(c, &node, &topo, now));
                self.affinity_change(r.map(|_| format!("pinned {client} to {node}")))
            }
            Request::AffinityUnpin { client } => {
                let now = self.now_ms();
                let Some(a) = &mut self.affinity.table else { return Response::err(AFFINITY_OFF) };
                let r = ClientId::parse(a.kind(), &client).and_then(|c| a.unpin(c, now));
                self.affinity_change(r.map(|_| format!("unpinned {client}")))
            }
            Request::AffinityFlush { node } => {
                if let Some(n) = &node {
                    if topo.node_index(n).is_none() {
                        return Response::err(format!("refused, nothing changed: config field `node`: no node {n:?}"));
                    }
                }
                let Some(a) = &mut self.affinity.table else { return Response::err(AFFINITY_OFF) };
                let n = a.flush(node.as_deref());
                self.affinity_change(Ok(format!("flushed {n} learned entries")))
            }
            Request::Nodes => {
                let slots = topo.node_table.len().max(1) as f64;
                let mut counts = vec![0usize; topo.nodes.len()];
                for &n in &topo.node_table {
                    if let Some(c) = counts.get_mut(n as usize) {
                        *c += 1;
                    }
                }
                let s = Summary::new(0.0, &self.snapshots(), &self.lcores, topo);
                let nodes: Vec<_> = topo
                    .nodes
                    .iter()
                    .zip(&s.nodes)
                    .zip(&counts)
                    .map(|((n, ns), c)| {
                        serde_json::json!({
                            "name": n.name, "chassis": ns.chassis, "state": self.operator_state(&n.name), "weight": n.weight,
                            "ip": n.ip.to_string(), "table_share_pct": 100.0 * *c as f64 / slots,
                            "selected": ns.selected,
                            "health": self.health.checker.as_ref().map_or("-", |h| if h.is_up(&n.name) { "up" } else { "down" }),
                            "tracked": ns.tracked,
                            "drain_left_s": self.flows.drain_left(&self.cfg, &n.name),
                        })
                    })
                    .collect();
                Response::ok(serde_json::json!(nodes))
            }
            Request::Resets => {
                let list: Vec<_> = self
                    .resets
                    .recent
                    .iter()
                    .rev()
                    .map(|(t, e)| {
                        let at = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
                        serde_json::json!({
                            "at": at,
                            "client": std::net::SocketAddr::new(e.conn.client.to_ip(), e.conn.cport).to_string(),
                            "vip": std::net::SocketAddr::new(e.conn.vip.to_ip(), e.conn.vport).to_string(),
                            "worker": e.worker,
                            "started_by": e.origin.describe(),
                        })
                    })
                    .collect();
                Response::ok(serde_json::json!(list))
            }
            Request::Reload => match self.reload() {
                Ok(msg) => Response::ok(serde_json::json!({ "applied": msg })),
                Err(e) => Response::err(format!("reload refused, nothing changed: {e}")),
            },
            req => match console::apply(&self.cfg, &req) {
                Ok(Some(new)) => match self.apply(new, "console") {
                    Ok(msg) => {
                        eprintln!("sluice: {msg} ({req:?})");
                        Response::ok(serde_json::json!({ "applied": msg, "generation": self.ctx.generation }))
                    }
                    Err(e) => Response::err(format!("refused, nothing changed: {e}")),
                },
                Ok(None) => Response::err("nothing to change"),
                Err(e) => Response::err(format!("refused, nothing changed: {e}")),
            },
        }
    }
}
