//! Jumbo frames end to end through real Linux TCP stacks (scripts/lab.sh with LAB_MTU=9000: every link,
//! the af_packet rings and sluice's ports at MTU 9000). Node n4 is reached by IP-in-IP over a node port
//! whose MTU equals the client's, so a full-size segment toward it no longer fits once encapsulated: the
//! connection must converge through path MTU discovery (sluice's ICMP fragmentation-needed) or MSS
//! clamping instead of stalling. Bulk transfers to MAC-mode nodes and to n4 are checked byte for byte.
//! Needs root (namespaces, EAL).

mod support;

use std::collections::BTreeMap;
use std::ops::Range;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;
use sluice_control::Config;
use support::lab::{self, Lab, Layout};

static ONE_LAB: Mutex<()> = Mutex::new(());

const CONNS: u16 = 16;
/// Each connection writes 64 KB every 20 ms and reads it back (3.2 MB/s each way).
const SIZE: &str = "65536";
const INTERVAL_MS: &str = "20";
const SECS: &str = "8";

/// 16 source ports from `from` on, among which at least 3 go to n4.
fn ports_with_n4(cfg: &Config, from: u16) -> Range<u16> {
    (from..from + 2000)
        .step_by(16)
        .map(|s| s..s + CONNS)
        .find(|r| lab::predicted(cfg, r.clone()).values().filter(|n| *n == "n4").count() >= 3)
        .expect("some range sends 3 connections to n4")
}

/// Runs the bulk transfer once; returns the client's events and the appliance's stats afterwards.
fn transfer(mss_clamp: bool, from: u16) -> (Vec<Value>, Value, BTreeMap<u16, String>) {
    let mtu = [("LAB_MTU", "9000")];
    let mut lab = Lab::up_with(4, Layout::Single, &mtu);
    lab.spawn(lab::lab_tcp("sl-n4", &["ipip-decap", "9000"]).stdout(Stdio::null()));
    let cfg = lab.write_config("single", 4, &[("LAB_MTU", "9000"), ("LAB_IPIP", "n4"), ("LAB_FLOWS", "")]);
    if mss_clamp {
        let text =
            std::fs::read_to_string(&cfg).unwrap().replacen("[dataplane]\n", "[dataplane]\nmss_clamp = true\n", 1);
        std::fs::write(&cfg, text).unwrap();
    }
    let app = lab.start_appliance("single", &cfg, if mss_clamp { "clamp" } else { "pmtu" });
    lab::wait_for_vip();
    let ports = ports_with_n4(&Config::load(&cfg).unwrap(), from);
    let want = lab::predicted(&Config::load(&cfg).unwrap(), ports.clone());
    let args = ["bulk", "10.10.0.1", "2049", &CONNS.to_string(), SECS, &ports.start.to_string(), SIZE, INTERVAL_MS];
    let mut ev = lab::tcp_events(&mut lab.children, "sl-cli", &args);
    ev.wait_for("summary", Duration::from_secs(60)).expect("the transfer ends");
    let stats = lab::console(&cfg, "{\"cmd\":\"stats\"}");
    let (ok, err, json) = lab.stop_appliance(&app);
    assert!(ok, "sluice exits cleanly: {err}");
    assert_eq!(
        (json["counters_balance"].clone(), json["mempool_in_use_at_exit"].clone()),
        (Value::Bool(true), Value::from(0))
    );
    let by_port = want.into_iter().collect();
    (ev.all, stats, by_port)
}

/// Every connection came up, ran to the end without a reset or a wrong byte, and echoed at least half
/// of what it wrote; returns the bytes echoed per node.
fn check_transfer(events: &[Value], nodes: &BTreeMap<u16, String>, from: u16) -> BTreeMap<String, u64> {
    let bad: Vec<&Value> = events.iter().filter(|v| matches!(v["ev"].as_str(), Some("reset" | "error"))).collect();
    assert!(bad.is_empty(), "connections failed: {bad:?}");
    let done: Vec<&Value> = events.iter().filter(|v| v["ev"] == "done").collect();
    assert_eq!(done.len(), CONNS as usize, "every connection ran to the end");
    let expected = 8.0 * 1000.0 / 20.0;
    let mut per_node: BTreeMap<String, u64> = BTreeMap::new();
    for d in done {
        let echoes = d["echoes"].as_u64().unwrap();
        let port = from + d["conn"].as_u64().unwrap() as u16;
        assert!(
            echoes as f64 >= expected / 2.0,
            "connection {port} to {} echoed only {echoes} of ~{expected} 64 KB writes",
            nodes[&port]
        );
        *per_node.entry(nodes[&port].clone()).or_default() += echoes * 65536;
    }
    per_node
}

#[test]
fn jumbo_transfers_are_byte_exact_and_an_ipip_node_at_the_same_mtu_converges_through_path_mtu_discovery() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let (events, stats, nodes) = transfer(false, 53000);
    let from = *nodes.keys().next().unwrap();
    let per_node = check_transfer(&events, &nodes, from);
    eprintln!("MTU 9000, path MTU discovery: bytes echoed per node {per_node:?}; keys {}", stats["keys"]);
    assert!(per_node.get("n4").is_some_and(|b| *b > 0), "the IP-in-IP node carried data: {per_node:?}");
    assert!(stats["keys"]["too_big_sent"].as_u64().unwrap() > 0, "sluice answered too-big segments: {}", stats["keys"]);
    assert_eq!(stats["drops"]["multi_segment"], 0);
}

#[test]
fn with_mss_clamping_the_ipip_node_needs_no_icmp() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _one = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let (events, stats, nodes) = transfer(true, 55000);
    let from = *nodes.keys().next().unwrap();
    let per_node = check_transfer(&events, &nodes, from);
    eprintln!("MTU 9000, MSS clamped: bytes echoed per node {per_node:?}; keys {}", stats["keys"]);
    assert!(per_node.get("n4").is_some_and(|b| *b > 0), "{per_node:?}");
    assert!(stats["keys"]["mss_clamped"].as_u64().unwrap() >= 3, "{}", stats["keys"]);
    assert_eq!(stats["keys"]["too_big_sent"], 0, "{}", stats["keys"]);
}
