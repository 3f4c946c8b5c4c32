//! Active health checks, the control core's side: when each node is probed, which answer belongs to
//! which probe, and the rise/fall state machine. The dataplane builds and sends the probes and hands the
//! answers back; time is passed in as milliseconds so the logic is testable without clocks.
//!
//! Every node starts up. A probe is answered (success), refused (a TCP RST: failure at once) or not
//! answered within `timeout_ms` (failure). `fall` consecutive failures take an up node down; `rise`
//! consecutive successes bring a down node back. Only the node's own state changes: what the operator
//! set (active, draining, down) is kept apart, and operator-down nodes are not probed.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::HealthConfig;

/// One node's health.
#[derive(Debug, Clone, Serialize)]
pub struct NodeHealth {
    pub up: bool,
    /// Consecutive successes / failures so far.
    pub ok_streak: u32,
    pub fail_streak: u32,
    pub successes: u64,
    pub failures: u64,
    pub went_down: u64,
    pub came_up: u64,
    /// The latest result, in words.
    pub last: String,
    #[serde(skip)]
    outstanding: Option<(u32, u64)>,
    #[serde(skip)]
    next_ms: u64,
}

/// A node changed state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub node: String,
    pub up: bool,
    pub why: String,
}

/// The checker: per node state, keyed by name.
#[derive(Debug, Clone)]
pub struct HealthChecker {
    cfg: HealthConfig,
    nodes: BTreeMap<String, NodeHealth>,
    token: u32,
}

impl HealthChecker {
    /// Checks `names`, first probes spread over one interval from `now_ms`.
    pub fn new(cfg: &HealthConfig, names: &[&str], now_ms: u64) -> HealthChecker {
        let mut h = HealthChecker { cfg: cfg.clone(), nodes: BTreeMap::new(), token: 0 };
        h.sync(names, now_ms);
        h
    }

    pub fn config(&self) -> &HealthConfig {
        &self.cfg
    }

    /// Follows a membership change: new nodes start up, removed ones are forgotten.
    pub fn sync(&mut self, names: &[&str], now_ms: u64) {
        self.nodes.retain(|n, _| names.contains(&n.as_str()));
        let n = names.len().max(1) as u64;
        for (i, name) in names.iter().enumerate() {
            self.nodes.entry(name.to_string()).or_insert_with(|| NodeHealth {
                up: true,
                ok_streak: 0,
                fail_streak: 0,
                successes: 0,
                failures: 0,
                went_down: 0,
                came_up: 0,
                last: "not checked yet".into(),
                outstanding: None,
                next_ms: now_ms + self.cfg.interval_ms * i as u64 / n,
            });
        }
    }

    pub fn is_up(&self, name: &str) -> bool {
        self.nodes.get(name).is_none_or(|h| h.up)
    }

    pub fn nodes(&self) -> impl Iterator<Item = (&String, &NodeHealth)> {
        self.nodes.iter()
    }

    /// Advances time: probes past their timeout fail, and nodes whose turn it is (and that `probe` says
    /// to check) get a new token to send. Returns the probes to send and the state changes.
    pub fn tick(&mut self, now_ms: u64, probe: impl Fn(&str) -> bool) -> (Vec<(String, u32)>, Vec<Change>) {
        let mut send = Vec::new();
        let mut changes = Vec::new();
        let names: Vec<String> = self.nodes.keys().cloned().collect();
        for name in names {
            let timeout = self.cfg.timeout_ms;
            let h = self.nodes.get_mut(&name).expect("listed");
            if let Some((_, sent)) = h.outstanding {
                if now_ms.saturating_sub(sent) >= timeout {
                    h.outstanding = None;
                    let why = format!("no answer within {timeout} ms");
                    changes.extend(self.record(&name, false, why));
                }
            }
            let h = self.nodes.get_mut(&name).expect("listed");
            if h.outstanding.is_none() && now_ms >= h.next_ms && probe(&name) {
                // Tokens stay within 16 bits, so an ICMP echo's sequence number carries one whole.
                self.token = self.token % 0xffff + 1;
                h.outstanding = Some((self.token, now_ms));
                h.next_ms = now_ms + self.cfg.interval_ms;
                send.push((name, self.token));
            }
        }
        (send, changes)
    }

    /// An answer from `node` to probe `token` (None: the check cannot carry one, as ARP): `ok` or a
    /// failure, `what` in words. Answers to probes no longer outstanding are ignored (returns None too).
    pub fn answer(&mut self, node: &str, token: Option<u32>, ok: bool, what: String) -> Option<Change> {
        let h = self.nodes.get_mut(node)?;
        match (h.outstanding, token) {
            (Some((t, _)), Some(got)) if t == got => {}
            (Some(_), None) => {}
            _ => return None,
        }
        h.outstanding = None;
        self.record(node, ok, what)
    }

    fn record(&mut self, node: &str, ok: bool, what: String) -> Option<Change> {
        let (rise, fall) = (self.cfg.rise, self.cfg.fall);
        let h = self.nodes.get_mut(node)?;
        h.last = what.clone();
        if ok {
            h.successes += 1;
            h.ok_streak += 1;
            h.fail_streak = 0;
            if !h.up && h.ok_streak >= rise {
                h.up = true;
                h.came_up += 1;
                return Some(Change {
                    node: node.into(),
                    up: true,
                    why: format!("{rise} consecutive successes ({what})"),
                });
            }
        } else {
            h.failures += 1;
            h.fail_streak += 1;
            h.ok_streak = 0;
            if h.up && h.fail_streak >= fall {
                h.up = false;
                h.went_down += 1;
                return Some(Change {
                    node: node.into(),
                    up: false,
                    why: format!("{fall} consecutive failures ({what})"),
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checker() -> HealthChecker {
        let cfg =
            HealthConfig { enabled: true, interval_ms: 100, timeout_ms: 50, rise: 2, fall: 3, ..Default::default() };
        HealthChecker::new(&cfg, &["a", "b"], 0)
    }

    #[test]
    fn probes_are_spread_scheduled_and_matched_by_token() {
        let mut h = checker();
        let (send, _) = h.tick(0, |_| true);
        assert_eq!(send, vec![("a".to_string(), 1)], "b's first turn is half an interval later");
        assert_eq!(h.tick(49, |_| true).0, vec![]);
        assert_eq!(h.answer("a", Some(7), true, "x".into()), None, "a stale token is ignored");
        assert_eq!(h.nodes["a"].successes, 0);
        h.answer("a", Some(1), true, "SYN-ACK".into());
        assert_eq!(h.tick(50, |_| true).0, vec![("b".to_string(), 2)]);
        assert_eq!((h.nodes["a"].successes, h.nodes["a"].last.as_str()), (1, "SYN-ACK"));
        assert_eq!(h.answer("a", Some(1), true, "again".into()), None, "answered once");
        assert_eq!(h.nodes["a"].successes, 1);
        // Not probed when the caller says so (operator-down nodes).
        assert_eq!(h.tick(100, |n| n != "a").0, vec![]);
    }

    #[test]
    fn fall_then_rise() {
        let mut h = checker();
        let mut t = 0;
        let mut changes = Vec::new();
        // a never answers: a failure per interval (timeout), down after the third.
        for _ in 0..8 {
            let (send, c) = h.tick(t, |_| true);
            changes.extend(c);
            for (n, tok) in send {
                if n == "b" {
                    changes.extend(h.answer(&n, Some(tok), true, "ok".into()));
                }
            }
            t += 50;
        }
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!((changes[0].node.as_str(), changes[0].up), ("a", false));
        assert!(changes[0].why.contains("3 consecutive failures (no answer within 50 ms)"));
        assert!(!h.is_up("a") && h.is_up("b"));
        // One success is not enough; a failure restarts the count; two in a row bring it back.
        let run = |ok: bool, h: &mut HealthChecker, t: &mut u64| {
            *t += 100;
            let (send, _) = h.tick(*t, |n| n == "a");
            let tok = send.iter().find(|(n, _)| n == "a").map(|x| x.1).unwrap();
            h.answer("a", Some(tok), ok, if ok { "SYN-ACK" } else { "RST" }.into())
        };
        assert_eq!(run(true, &mut h, &mut t), None);
        assert_eq!(run(false, &mut h, &mut t), None);
        assert_eq!(run(true, &mut h, &mut t), None);
        let c = run(true, &mut h, &mut t).unwrap();
        assert!(c.up && c.why.starts_with("2 consecutive successes"));
        assert_eq!((h.nodes["a"].went_down, h.nodes["a"].came_up), (1, 1));
        // A refusal counts at once, without waiting for the timeout.
        for _ in 0..2 {
            assert_eq!(run(false, &mut h, &mut t), None);
        }
        assert!(!run(false, &mut h, &mut t).unwrap().up);
    }

    #[test]
    fn membership_follows_the_topology() {
        let mut h = checker();
        h.sync(&["b", "c"], 0);
        assert_eq!(h.nodes().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), vec!["b", "c"]);
        assert!(h.is_up("c"));
    }
}
