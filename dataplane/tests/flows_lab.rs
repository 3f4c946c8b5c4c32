//! The flow table end to end through real Linux TCP stacks (scripts/lab.sh, single layout): 160
//! connections each write 2 KB every 30 ms and check every echoed byte while membership changes. A
//! drain keeps the drained node's established connections until `drain_timeout_s`, then resets them
//! within a second and clears them on the node; adding a node and changing a weight reset nothing; a
//! spoofed SYN flood fills the table only to its bound and moves no established connection. Needs root
//! (namespaces, EAL).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde_json::Value;
use sluice_control::console::{apply, Request};
use sluice_control::Config;
use support::lab::{self, seconds, Events, Lab, Layout};

static ONE_LAB: Mutex<()> = Mutex::new(());

const CONNS: u16 = 160;
const SIZE: &str = "2048";
const INTERVAL_MS: &str = "30";

fn wall() -> f64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// The bulk client: `CONNS` connections from `ports.start`, for `secs` seconds; waits until all are up.
fn bulk(lab: &mut Lab, ports: &Range<u16>, secs: u32) -> (Events, f64) {
    let args = [
        "bulk",
        "10.10.0.1",
        "2049",
        &CONNS.to_string(),
        &secs.to_string(),
        &ports.start.to_string(),
        SIZE,
        INTERVAL_MS,
    ];
    let mut ev = lab::tcp_events(&mut lab.children, "sl-cli", &args);
    let start = ev.wait_for("start", Duration::from_secs(10)).expect("the bulk client starts");
    let ready = ev.wait_for("ready", Duration::from_secs(20)).expect("the bulk client connects");
    assert_eq!(ready["up"], CONNS, "every connection comes up");
    (ev, seconds(&start["wall"]))
}

/// Keeps collecting the client's events for `d`.
fn collect(ev: &mut Events, d: Duration) {
    let _ = ev.wait_for("no such event", d);
}

/// Resets and errors the client reported so far: source port → (event, wall time).
fn failures(ev: &Events, ports: &Range<u16>, wall0: f64) -> BTreeMap<u16, (String, f64)> {
    ev.all
        .iter()
        .filter(|v| matches!(v["ev"].as_str(), Some("reset" | "error")))
        .filter_map(|v| {
            Some((ports.start + v["conn"].as_u64()? as u16, (v["ev"].to_string(), wall0 + seconds(&v["t"]))))
        })
        .collect()
}

/// Which node holds each of `ports` (from the nodes' own socket tables).
fn holder_of(nodes: usize, ports: &Range<u16>) -> BTreeMap<u16, String> {
    let mut m = BTreeMap::new();
    for (node, ps) in lab::holders(nodes, ports.clone()) {
        for p in ps {
            m.insert(p, node.clone());
        }
    }
    m
}

/// One sample of the drain timeline: seconds since the drain, then per node (n1..n4) the connections it
/// holds (its socket table) and the flow table's entries for it.
type Sample = (f64, Vec<usize>, Vec<u64>);

/// Collects the client's events until `until` (wall clock), sampling the timeline every half second.
fn sample_until(ev: &mut Events, cfg: &Path, t_drain: f64, until: f64, timeline: &mut Vec<Sample>) {
    loop {
        let held = lab::holders(4, 1..u16::MAX);
        let nodes = lab::console(cfg, "{\"cmd\":\"nodes\"}");
        let tracked = nodes.as_array().unwrap().iter().map(|n| n["tracked"].as_u64().unwrap_or(0)).collect();
        timeline.push((wall() - t_drain, held.values().map(|s| s.len()).collect(), tracked));
        let left = until - wall();
        if left <= 0.0 {
            return;
        }
        collect(ev, Duration::from_secs_f64(left.min(0.5)));
    }
}

/// The timeline as CSV (`FLOWS_TIMELINE` names a file to write it to) and as lines on stderr.
fn report_timeline(timeline: &[Sample]) {
    let mut csv = String::from("t_s,held_n1,held_n2,held_n3,held_n4,tracked_n1,tracked_n2,tracked_n3,tracked_n4\n");
    for (t, held, tracked) in timeline {
        let cols: Vec<String> =
            held.iter().map(|h| h.to_string()).chain(tracked.iter().map(|t| t.to_string())).collect();
        csv += &format!("{t:.2},{}\n", cols.join(","));
        eprintln!("timeline {t:6.2} s: held {held:?} tracked {tracked:?}");
    }
    if let Ok(path) = std::env::var("FLOWS_TIMELINE") {
        std::fs::write(path, csv).unwrap();
    }
}

fn node_row(cfg: &Path, name: &str) -> Value {
    let nodes = lab::console(cfg, "{\"cmd\":\"nodes\"}");
    nodes.as_array().unwrap().iter().find(|n| n["name"] == name).cloned().unwrap_or(Value::Null)
}

fn flow_counter(cfg: &Path, name: &str) -> u64 {
    lab::console(cfg, "{\"cmd\":\"stats\"}")["flows"][name].as_u64().unwrap_or(0)
}

/// Stops the client and the appliance; the appliance must exit cleanly with its counters balanced.
fn finish(lab: &mut Lab, app: &lab::Appliance, ev: &mut Events) {
    let client = lab.children.len() - 1;
    let _ = std::process::Command::new("kill").args(["-TERM", &lab.children[client].id().to_string()]).status();
    ev.drain(Duration::from_secs(10));
    let (ok, err, json) = lab.stop_appliance(app);
    assert!(ok, "sluice exits cleanly: {err}");
    assert_eq!(json["counters_balance"], true, "{json}");
    assert_eq!(json["mempool_in_use_at_exit"], 0, "{json}");
}

#[test]
fn a_drain_keeps_established_connections_until_its_timeout_then_resets_them_within_a_second() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    const TIMEOUT: f64 = 8.0;
    let mut lab = Lab::up(4, Layout::Single);
    let cfg = lab.write_config("single", 4, &[("LAB_WORKERS", "2"), ("LAB_FLOWS", "drain_timeout_s = 8")]);
    let app = lab.start_appliance("single", &cfg, "drain");
    lab::wait_for_vip();
    let ports = 46000..46000 + CONNS;
    let (mut ev, wall0) = bulk(&mut lab, &ports, 60);
    std::thread::sleep(Duration::from_millis(500));
    let before = holder_of(4, &ports);
    assert_eq!(before.len(), CONNS as usize, "every connection is established on a node");
    let on_n2: BTreeSet<u16> = before.iter().filter(|(_, n)| *n == "n2").map(|(p, _)| *p).collect();
    assert!(on_n2.len() >= 20, "n2 holds a share of the connections: {}", on_n2.len());

    let mut timeline = Vec::new();
    let t_drain = wall() + 1.0;
    sample_until(&mut ev, &cfg, t_drain, t_drain, &mut timeline);
    lab::sluicectl_nodes(&cfg, &["drain", "n2"]);
    // 40 new connections while n2 drains: none may land on it.
    let fresh = 47000..47040;
    let mut fresh_ev =
        lab::tcp_events(&mut lab.children, "sl-cli", &["client", "10.10.0.1", "2049", "40", "3", "47000"]);
    collect(&mut ev, Duration::from_millis(1500));
    let fresh_at = holder_of(4, &fresh);
    sample_until(&mut ev, &cfg, t_drain, t_drain + 4.0, &mut timeline);
    let row = node_row(&cfg, "n2");
    let still = holder_of(4, &ports);
    let failed = failures(&ev, &ports, wall0);
    // n2's connections kept echoing: every tick of the client since the drain saw all of them live.
    let stale: Vec<&Value> = ev
        .all
        .iter()
        .filter(|v| v["ev"] == "tick" && wall0 + seconds(&v["t"]) > t_drain + 0.5 && v["stale"] != 0)
        .collect();
    fresh_ev.drain(Duration::from_secs(10));
    let fresh_ok = fresh_ev.all.iter().filter(|v| v["ev"] == "done" && v["echoes"].as_u64() > Some(0)).count();
    eprintln!(
        "drain: n2 held {}; 4 s later {} connections reset, n2 tracked {} (drain left {} s); new connections {:?}",
        on_n2.len(),
        failed.len(),
        row["tracked"],
        row["drain_left_s"],
        fresh_at.values().fold(BTreeMap::<&str, usize>::new(), |mut m, n| {
            *m.entry(n.as_str()).or_default() += 1;
            m
        })
    );
    assert!(failed.is_empty(), "no connection is reset while n2 drains: {failed:?}");
    assert!(stale.is_empty(), "every connection kept echoing through the drain: {stale:?}");
    assert_eq!(still, before, "every connection is still on its node 4 s into the drain");
    assert!(row["tracked"].as_u64().unwrap_or(0) >= on_n2.len() as u64, "n2's tracked connections: {row}");
    let left = row["drain_left_s"].as_f64().unwrap_or(-1.0);
    assert!((0.0..TIMEOUT - 3.0).contains(&left), "drain time left after 4 s: {row}");
    assert_eq!(fresh_at.len(), 40, "the 40 new connections came up: {fresh_at:?}");
    assert!(fresh_at.values().all(|n| n != "n2"), "no new connection lands on a draining node: {fresh_at:?}");
    assert_eq!(fresh_ok, 40, "the new connections echoed");

    // The timeout: n2's connections are reset within a second, and only those.
    sample_until(&mut ev, &cfg, t_drain, t_drain + TIMEOUT + 2.0, &mut timeline);
    report_timeline(&timeline);
    let failed = failures(&ev, &ports, wall0);
    let after = holder_of(4, &ports);
    let row = node_row(&cfg, "n2");
    let reset: BTreeSet<u16> = failed.iter().filter(|(_, (e, _))| e == "\"reset\"").map(|(p, _)| *p).collect();
    let late: Vec<(u16, f64)> = failed
        .iter()
        .map(|(p, (_, t))| (*p, t - (t_drain + TIMEOUT)))
        .filter(|(_, dt)| !(-0.5..=1.0).contains(dt))
        .collect();
    eprintln!(
        "drain timeout: {} reset (n2 held {}), n2 now holds {:?}, tracked {}",
        reset.len(),
        on_n2.len(),
        after.values().filter(|n| *n == "n2").count(),
        row["tracked"]
    );
    assert_eq!(reset, on_n2, "exactly n2's connections are reset when the drain times out: {failed:?}");
    assert!(late.is_empty(), "resets more than 1 s after the timeout (s after it): {late:?}");
    assert!(after.values().all(|n| n != "n2"), "n2 holds none of the connections: {after:?}");
    assert_eq!(row["tracked"], 0, "n2 tracks none: {row}");
    finish(&mut lab, &app, &mut ev);
}

#[test]
fn adding_a_node_and_changing_a_weight_reset_no_established_connection() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(5, Layout::Single);
    let cfg = lab.write_config("single", 4, &[("LAB_FLOWS", "")]);
    let app = lab.start_appliance("single", &cfg, "grow");
    lab::wait_for_vip();
    let ports = 48000..48000 + CONNS;
    // What a stateless balancer would move: the tables before and after both changes.
    let c0 = Config::load(&cfg).unwrap();
    // n5 as `sluicectl nodes add` below makes it: like n4 (chassis-b), with its own MAC and address.
    let mut n5 = c0.nodes[3].clone();
    (n5.name, n5.mac, n5.ip) = ("n5".into(), "02:00:00:00:0a:05".parse().unwrap(), "198.51.100.15".parse().unwrap());
    let c1 = apply(&c0, &Request::NodeAdd { node: n5 }).unwrap().unwrap();
    let c2 = apply(&c1, &Request::NodeWeight { name: "n1".into(), weight: 300 }).unwrap().unwrap();
    let (p0, p2) = (lab::predicted(&c0, ports.clone()), lab::predicted(&c2, ports.clone()));
    let would_move = ports.clone().filter(|p| p0[p] != p2[p]).count();
    assert!(would_move >= 30, "the changes move connections in the tables: {would_move}");

    let (mut ev, wall0) = bulk(&mut lab, &ports, 60);
    std::thread::sleep(Duration::from_millis(500));
    let before = holder_of(5, &ports);
    assert_eq!(before.len(), CONNS as usize);
    lab::sluicectl_nodes(
        &cfg,
        &["add", "n5", "--chassis", "chassis-b", "--mac", "02:00:00:00:0a:05", "--ip", "198.51.100.15"],
    );
    collect(&mut ev, Duration::from_secs(2));
    lab::sluicectl_nodes(&cfg, &["weight", "n1", "300"]);
    collect(&mut ev, Duration::from_secs(4));
    let failed = failures(&ev, &ports, wall0);
    let after = holder_of(5, &ports);
    eprintln!("add n5 and weight n1 300: the tables move {would_move} of {CONNS}; {} reset", failed.len());
    assert!(failed.is_empty(), "no established connection is reset: {failed:?}");
    assert_eq!(after, before, "every connection stays on its node");
    // New connections follow the new tables, n5 included.
    let fresh = 49000..49040;
    let mut fresh_ev =
        lab::tcp_events(&mut lab.children, "sl-cli", &["client", "10.10.0.1", "2049", "40", "2", "49000"]);
    std::thread::sleep(Duration::from_millis(1200));
    let fresh_at = holder_of(5, &fresh);
    fresh_ev.drain(Duration::from_secs(10));
    let want = lab::predicted(&c2, fresh.clone());
    assert_eq!(fresh_at.len(), 40, "{fresh_at:?}");
    assert!(
        fresh_at.iter().all(|(p, n)| want[p] == *n),
        "new connections land where the new tables say: {fresh_at:?} {want:?}"
    );
    finish(&mut lab, &app, &mut ev);
}

#[test]
fn a_spoofed_syn_flood_fills_the_table_only_to_its_bound_and_moves_no_established_connection() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single);
    let flows = "entries_per_worker = 4096;new_per_sec = 10000";
    let cfg = lab.write_config("single", 4, &[("LAB_FLOWS", flows)]);
    let app = lab.start_appliance("single", &cfg, "flood");
    lab::wait_for_vip();
    let ports = 50000..50000 + CONNS;
    let (mut ev, wall0) = bulk(&mut lab, &ports, 60);
    std::thread::sleep(Duration::from_millis(500));
    let before = holder_of(4, &ports);
    assert_eq!(before.len(), CONNS as usize);
    let c0 = Config::load(&cfg).unwrap();
    let c1 = apply(&c0, &Request::NodeWeight { name: "n3".into(), weight: 400 }).unwrap().unwrap();
    let would_move = ports
        .clone()
        .filter(|p| lab::predicted(&c0, ports.clone())[p] != lab::predicted(&c1, ports.clone())[p])
        .count();
    assert!(would_move > 0);

    let t0 = Instant::now();
    let mut flood = lab::tcp_events(&mut lab.children, "sl-cli", &["syn-flood", "10.10.0.1", "2049", "100000"]);
    // The tables change in the middle of the flood.
    std::thread::sleep(Duration::from_millis(300));
    lab::sluicectl_nodes(&cfg, &["weight", "n3", "400"]);
    let done = flood.wait_for("flooded", Duration::from_secs(60)).expect("the flood ends");
    collect(&mut ev, Duration::from_secs(2));
    let stats = lab::console(&cfg, "{\"cmd\":\"stats\"}");
    let f = &stats["flows"];
    let failed = failures(&ev, &ports, wall0);
    let after = holder_of(4, &ports);
    eprintln!(
        "SYN flood: {} SYNs in {} s ({:.1} s with the checks); flows {f}; the weight change moves {would_move} in the tables; {} reset",
        done["sent"],
        done["secs"],
        t0.elapsed().as_secs_f64(),
        failed.len()
    );
    let entries = f["entries"].as_u64().unwrap();
    assert!(entries <= 4096, "the table holds no more than its bound: {f}");
    assert!(entries >= 3000, "the flood filled the table toward its bound: {f}");
    assert!(f["flood"].as_u64().unwrap() > 0, "the flood counter rose: {f}");
    // Half-open entries pushed each other out; established ones never are (they all stayed put through
    // the weight change, below).
    assert!(f["evicted"].as_u64().unwrap() > 0, "the flood recycled its own entries: {f}");
    assert!(failed.is_empty(), "no established connection is reset: {failed:?}");
    assert_eq!(after, before, "every established connection stays on its node");
    assert!(flow_counter(&cfg, "hits") > 0);
    finish(&mut lab, &app, &mut ev);
}
