//! The console's answer types against the JSON the appliance sends: each sample below is an answer as it
//! goes over the wire (every key, nesting and value type that scripts, tests and `sluicectl --json` users
//! read). Each must read as its type and be written back unchanged, key for key.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use sluice_control::config::{HealthCheck, HealthScope, NodeState, Role};
use sluice_control::console::*;
use sluice_control::report::{counter, Summary};

/// Reads `sample` as a `T` through a response line and checks that writing it gives `sample` back.
fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug>(sample: Value) -> T {
    let line = serde_json::to_string(&Response::ok(&sample)).unwrap();
    let resp: Response = serde_json::from_str(&line).unwrap();
    let typed: T = resp.data_as().unwrap_or_else(|e| panic!("{e}: {sample}"));
    let again = serde_json::to_value(Response::ok(&typed)).unwrap();
    assert_eq!(again["data"], sample, "{typed:?}");
    typed
}

fn status() -> Value {
    json!({
        "role": "single", "generation": 4, "digest": "0123456789abcdef", "appliance": "ready",
        "uptime_s": 12.5, "workers": [1, 2], "ports": ["client", "node"], "vips": ["10.10.0.1", "2001:db8::1"],
        "nodes": 4, "active_nodes": 3,
    })
}

fn health_on() -> Value {
    json!({
        "enabled": true, "scope": "fleet",
        "check": "tcp", "port": 2049, "interval_ms": 1000, "timeout_ms": 500, "rise": 2, "fall": 3,
        "nodes": [
            { "name": "a1", "health": "up", "applied": "up", "successes": 12, "failures": 0, "ok_streak": 12,
              "fail_streak": 0, "went_down": 0, "came_up": 0, "last": "SYN-ACK" },
            { "name": "a2", "health": "down", "applied": "up", "successes": 3, "failures": 9, "ok_streak": 0,
              "fail_streak": 9, "went_down": 1, "came_up": 0, "last": "RST: nothing listens" },
        ],
        "recent_changes": [{ "at": 1714564800.25, "node": "a2", "up": false, "why": "3 failures in a row" }],
        "probes_unqueued": 0,
    })
}

fn health_off() -> Value {
    json!({ "enabled": false, "scope": "appliance", "nodes": [] })
}

fn affinity_summary_on() -> Value {
    json!({
        "enabled": true, "entries": 2, "pinned": 1, "honoured": 2, "unplaced": 0,
        "counters": affinity_counters(),
    })
}

fn affinity_counters() -> Value {
    json!({
        "learned": 4, "aged": 0, "moved_unavailable": 1, "moved_overload": 0, "pinned": 1, "unpinned": 1,
        "flushed": 2, "table_full": 0, "prefix_full": 0, "evicted": 0, "reports": 40, "reports_stale": 0,
        "publishes": 9, "unplaced": 0,
    })
}

/// A worker's counters as the summary flattens them into the worker's object.
fn worker(lcore: u32, rx: u64) -> Value {
    json!({
        "lcore": lcore, "mpps": 0.25, "rx": rx, "tx": rx - 1, "generated": 1,
        "resets": [0, 3, 3], "keys": [5, 0], "to_nodes": rx - 10, "to_clients": 8, "replies": 1,
        "drops": [2, 0], "per_node": [10, 20, 30, 40], "flows": [7, 1], "tracked": [1, 2, 0, 0],
    })
}

/// The summary's keys, as `--stats-json` writes them and `stats` answers them.
fn summary() -> Value {
    json!({
        "seconds": 3.5, "rx": 2000, "tx": 1996, "to_nodes": 1980, "to_clients": 16, "replies": 2, "dropped": 4,
        "drops": { "malformed_l2": 4, "no_vip": 0 },
        "generated": 0,
        "resets": { "fanouts_started": 0, "node_rsts": 6, "softstate_entries": 0 },
        "keys": { "nfs3": 10, "affinity_hit": 0 },
        "flows": { "entries": 14, "evicted": 2 },
        "counters_balance": true,
        "workers": [worker(1, 1000), worker(2, 1000)],
        "nodes": [
            { "name": "a1", "chassis": "chassis-a", "state": "draining", "selected": 0, "share_pct": 0.0,
              "tracked": 3 },
            { "name": "b1", "chassis": "chassis-b", "state": "active", "selected": 1980, "share_pct": 100.0,
              "tracked": 0 },
        ],
        "ports": [{ "name": "client", "ipackets": 2000, "opackets": 16, "imissed": 0, "ierrors": 0,
                    "oerrors": 0, "rx_nombuf": 0 }],
        "mempool_in_use_at_exit": 0, "mempool_size": 16383,
    })
}

fn stats(affinity: Value, health: Value) -> Value {
    let mut v = summary();
    let m = v.as_object_mut().unwrap();
    m.insert("role".into(), json!("single"));
    m.insert("generation".into(), json!(5));
    m.insert("affinity".into(), affinity);
    m.insert("health".into(), health);
    m.insert("adoption".into(), json!({ "publications": 6, "p50_us": 40, "p99_us": 300, "max_us": 310 }));
    v
}

#[test]
fn status_answers_round_trip() {
    let s: StatusAnswer = round_trip(status());
    assert_eq!((s.role, s.generation, s.active_nodes), (Role::Single, 4, 3));
    assert_eq!((s.digest.as_deref(), s.appliance.as_deref()), (Some("0123456789abcdef"), Some("ready")));
    assert_eq!(s.vips[1], "2001:db8::1".parse::<std::net::IpAddr>().unwrap());
    // An appliance that reports less: no standing, no digest.
    let old = json!({ "role": "chassis", "generation": 1, "nodes": 2, "active_nodes": 2 });
    let s = Response::ok(&old).data_as::<StatusAnswer>().unwrap();
    assert_eq!((s.role, s.digest, s.appliance, s.workers.len()), (Role::Chassis, None, None, 0));
    assert!(Response::ok(json!({ "role": "single", "nodes": 2 })).data_as::<StatusAnswer>().is_err());
}

#[test]
fn stats_answers_round_trip() {
    let s: StatsAnswer = round_trip(stats(affinity_summary_on(), health_on()));
    assert_eq!((s.role, s.generation, s.adoption.publications), (Role::Single, 5, 6));
    assert_eq!((s.summary.rx, s.summary.workers[1].lcore, s.summary.workers[1].counters.rx), (2000, 2, 1000));
    assert_eq!(s.summary.workers[0].counters.per_node, [10, 20, 30, 40]);
    assert_eq!(s.summary.nodes[0].state, NodeState::Draining);
    assert_eq!(counter(&s.summary.resets, "node_rsts"), 6);
    assert_eq!(counter(&s.summary.resets, "not_reported"), 0);
    let t = s.affinity.table.as_ref().unwrap();
    assert_eq!((t.entries, t.counters.learned, t.counters.moved_unavailable), (2, 4, 1));
    assert_eq!(s.health.checks.as_ref().unwrap().check, HealthCheck::Tcp);
    // Affinity and health checks off.
    let s: StatsAnswer = round_trip(stats(json!({ "enabled": false }), health_off()));
    assert!(!s.affinity.enabled && s.affinity.table.is_none());
    assert!(!s.health.enabled && s.health.checks.is_none());
    // The summary alone is what --stats-json writes.
    let sum: Summary = round_trip(summary());
    assert!(sum.counters_balance && sum.ports[0].ipackets == 2000);
    assert!(sum.render().contains("rx 2000 + generated 0 = tx 1996 + dropped 4  [balanced]"));
}

#[test]
fn node_and_reset_lists_round_trip() {
    let nodes: NodesAnswer = round_trip(json!([
        { "name": "a1", "chassis": "chassis-a", "state": "draining", "weight": 100, "ip": "198.51.100.11",
          "table_share_pct": 0.0, "selected": 0, "health": "-", "tracked": 3, "drain_left_s": 12.5 },
        { "name": "b1", "chassis": "chassis-b", "state": "active", "weight": 300, "ip": "2001:db8::b1",
          "table_share_pct": 75.0, "selected": 99, "health": "down", "tracked": 0, "drain_left_s": null },
    ]));
    assert_eq!((nodes[0].health, nodes[0].drain_left_s), (None, Some(12.5)));
    assert_eq!((nodes[1].health, nodes[1].drain_left_s), (Some(Health::Down), None));
    let resets: ResetsAnswer = round_trip(json!([
        { "at": 1714564800.5, "client": "172.16.0.9:10001", "vip": "10.10.0.1:2049", "worker": 1,
          "started_by": "node RST" },
        { "at": 1714564800.25, "client": "[2001:db8::9]:10002", "vip": "[2001:db8::1]:2049", "worker": 0,
          "started_by": "peer" },
    ]));
    assert_eq!(resets[1].client.port(), 10002);
}

#[test]
fn affinity_health_and_announce_answers_round_trip() {
    let a: AffinityAnswer = round_trip(json!({
        "entries": [{ "client": "172.16.9.1", "node": "a1", "pinned": true, "packets": 200, "bytes": 16000,
                      "moves": 1, "idle_s": 0.25, "age_s": 3.5 }],
        "total": 2,
        "counters": affinity_counters(),
        "recent_moves": [{ "at": 1714564800.5, "client": "172.16.9.2", "from": "b2", "to": "a2",
                           "reason": "cvm_unavailable" }],
    }));
    assert_eq!(a.recent_moves[0].reason, sluice_control::affinity::MoveReason::CvmUnavailable);
    let h: HealthAnswer = round_trip(health_on());
    assert_eq!((h.scope, h.nodes[1].health, h.nodes[1].applied), (HealthScope::Fleet, Health::Down, Health::Up));
    assert_eq!(h.checks.unwrap().recent_changes[0].why, "3 failures in a row");
    let h: HealthAnswer = round_trip(health_off());
    assert!(h.checks.is_none());
    let a: Announcement = round_trip(json!({
        "state": "draining", "announce": false, "digest": "0123456789abcdef", "generation": 3,
        "vips": [{ "address": "10.10.0.1", "announce": false, "why": "the appliance is drained" }],
    }));
    assert!(!a.vips[0].announce);
}

#[test]
fn applied_answers_round_trip() {
    let a: AppliedAnswer = round_trip(json!({ "applied": "drained a1", "generation": 2 }));
    assert_eq!(a, AppliedAnswer::at("drained a1", 2));
    let a: AppliedAnswer = round_trip(json!({ "applied": "draining", "appliance": "draining" }));
    assert_eq!((a.generation, a.appliance.as_deref()), (None, Some("draining")));
    let _: AppliedAnswer = round_trip(json!({ "applied": "reloaded: nothing changed" }));
    let p: ReloadPlan = round_trip(json!({
        "changes": ["node a1: Active -> Draining"], "refused": "[ports] cannot change while running (restart)",
        "kept": ["weight b2 300"], "dropped": ["drain zz: no longer applies"]
    }));
    assert_eq!(p.kept, ["weight b2 300"]);
    let p: ReloadPlan = round_trip(json!({ "changes": [], "kept": [], "dropped": [] }));
    assert_eq!(p.refused, None);
}

#[test]
fn a_bare_reload_request_is_still_a_reload() {
    let r: Request = serde_json::from_str(r#"{"cmd":"reload"}"#).unwrap();
    assert_eq!(r, Request::Reload { diff: false, discard_runtime: false });
}

#[test]
fn refusals_and_unreadable_answers_are_told_apart() {
    let r: Response =
        serde_json::from_str(r#"{"ok":false,"error":"refused, nothing changed: no node \"zz\""}"#).unwrap();
    assert_eq!(
        r.data_as::<AppliedAnswer>(),
        Err(AnswerError::Refused("refused, nothing changed: no node \"zz\"".into()))
    );
    let e = Response::ok(json!({ "generation": 2 })).data_as::<AppliedAnswer>().unwrap_err();
    assert!(matches!(&e, AnswerError::Unreadable(m) if m.contains("applied")), "{e}");
    assert!(e.to_string().starts_with("unreadable answer: "));
    // The fields a decision rests on are required: a health answer without `enabled`, an announcement
    // without its VIPs.
    assert!(Response::ok(json!({ "nodes": [] })).data_as::<HealthAnswer>().is_err());
    assert!(Response::ok(json!({ "announce": true })).data_as::<Announcement>().is_err());
    // What the wire carries does not change: `data` and `error` only when there is one.
    assert_eq!(serde_json::to_string(&Response::err("busy")).unwrap(), r#"{"ok":false,"error":"busy"}"#);
    let ok = serde_json::to_string(&Response::ok(AppliedAnswer::at("x", 1))).unwrap();
    assert_eq!(ok, r#"{"ok":true,"data":{"applied":"x","generation":1}}"#);
}
