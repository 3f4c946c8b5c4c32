//! The real `sluice` binary on DPDK virtual devices (net_pcap): crafted pcaps in, the frames it wrote
//! out checked with an independent parser, and its accounting checked (rx = tx + drops, no mbuf left in
//! the pool). One sluice at a time: each spins a core.

mod support;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use etherparse::PacketBuilder;
use serde_json::Value;
use support::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The example configuration with these devices and a private file prefix.
fn config(dir: &Path, client_dev: &str, node_dev: &str, extra: &[(&str, &str)]) -> PathBuf {
    let prefix = format!("sluice-test-{}-{}", std::process::id(), dir.file_name().unwrap().to_string_lossy());
    let mut t = example_toml("X", "Y")
        .replace("net_pcap0,rx_pcap=X,infinite_rx=1", client_dev)
        .replace("net_pcap1,rx_pcap=Y,infinite_rx=1", node_dev)
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{prefix}\""))
        .replace("mbufs = 65535", "mbufs = 8191");
    for (a, b) in extra {
        t = t.replace(a, b);
    }
    let p = dir.join("sluice.toml");
    std::fs::write(&p, console_in(t, dir)).unwrap();
    p
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
    summary: Value,
}

fn sluice(cfg: &Path, args: &[&str]) -> Run {
    let json = cfg.with_file_name("summary.json");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("--config")
        .arg(cfg)
        .arg("--stats-json")
        .arg(&json)
        .args(args)
        .output()
        .expect("start sluice");
    let summary =
        std::fs::read_to_string(&json).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
    if out.status.success() {
        assert_no_runtime_dir(cfg);
    }
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary,
    }
}

/// A clean exit leaves nothing under EAL's runtime directory, `/var/run/dpdk/<file prefix>` (DPDK 22.11
/// itself leaves about 12 MB there per prefix).
fn assert_no_runtime_dir(cfg: &Path) {
    let text = std::fs::read_to_string(cfg).unwrap();
    let prefix = text.lines().find_map(|l| l.trim().strip_prefix("file_prefix = ")).expect("file_prefix");
    let dir = Path::new("/var/run/dpdk").join(prefix.trim_matches('"'));
    assert!(!dir.exists(), "{} was left behind", dir.display());
}

fn assert_accounted(r: &Run) {
    assert_eq!(r.code, 0, "sluice failed\nstdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    let s = &r.summary;
    assert_eq!(s["counters_balance"], true, "{}", r.stdout);
    assert_eq!(s["mempool_in_use_at_exit"], 0, "{}", r.stdout);
    let rx = s["rx"].as_u64().unwrap();
    let tx = s["tx"].as_u64().unwrap();
    let dropped: u64 = s["drops"].as_object().unwrap().values().map(|v| v.as_u64().unwrap()).sum();
    let generated = s["generated"].as_u64().unwrap();
    assert_eq!(rx + generated, tx + dropped);
}

type FlowKey = (IpAddr, IpAddr, u8, Option<(u16, u16)>);

/// Client flows: (frames, key) for TCP and UDP over IPv4 and IPv6 to both VIPs and both ports.
fn client_flows(n: usize) -> Vec<(Vec<Vec<u8>>, FlowKey)> {
    (0..n)
        .map(|i| {
            let sport = 10_000 + i as u16;
            let dport = if i % 3 == 0 { 3260 } else { 2049 };
            let c4 = [172, 16, (i / 250) as u8, (i % 250) as u8 + 1];
            let mut c6 = [0x20, 1, 0xd, 0xb8, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            c6[14..16].copy_from_slice(&(i as u16).to_be_bytes());
            let payloads: [&[u8]; 3] = [b"", b"first request", b"second request, a little longer"];
            match i % 4 {
                0 => (
                    payloads.iter().map(|p| tcp4(c4, sport, VIP4, dport, p)).collect(),
                    (v4(c4), v4(VIP4), 6, Some((sport, dport))),
                ),
                1 => (
                    payloads.iter().map(|p| udp4(c4, sport, VIP4, dport, p)).collect(),
                    (v4(c4), v4(VIP4), 17, Some((sport, dport))),
                ),
                2 => (
                    payloads.iter().map(|p| tcp6(c6, sport, vip6(), dport, p)).collect(),
                    (IpAddr::from(c6), IpAddr::from(vip6()), 6, Some((sport, dport))),
                ),
                _ => (
                    payloads.iter().map(|p| udp6(c6, sport, vip6(), dport, p)).collect(),
                    (IpAddr::from(c6), IpAddr::from(vip6()), 17, Some((sport, dport))),
                ),
            }
        })
        .collect()
}

/// Interleaves the flows' frames so packets of one flow are far apart.
fn interleave(flows: &[(Vec<Vec<u8>>, FlowKey)]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for round in 0..3 {
        for (frames, _) in flows {
            out.push(frames[round].clone());
        }
    }
    out
}

/// Which node a frame the appliance sent toward the nodes is for: (destination MAC, outer destination).
fn node_of(seen: &Seen) -> ([u8; 6], Option<IpAddr>) {
    (seen.dst_mac, seen.outer.map(|o| o.1))
}

#[test]
fn forwards_each_flow_to_one_node_answers_and_accounts_for_every_packet() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flows = client_flows(400);
    let mut client = interleave(&flows);
    let valid = client.len();
    // Answers expected from the appliance.
    client.push(arp_request(VIP4, [172, 16, 0, 1]));
    let mut echo = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv4([172, 16, 0, 1], VIP4, 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"are you there")
        .unwrap();
    client.push(echo);
    // Bad input: every truncation of a valid TCP frame, a bad IHL, an unknown ethertype, an IPv6
    // extension-header loop, a jumbo frame larger than an mbuf, and a frame to an address we do not serve.
    let good = tcp4([172, 16, 9, 9], 999, VIP4, 2049, b"xyz");
    let mut expect_drops: BTreeMap<&str, u64> = BTreeMap::new();
    for len in 1..good.len() {
        client.push(good[..len].to_vec());
        let reason = match len {
            0..=13 => "malformed_l2",
            14..=33 => "malformed_ipv4",
            _ => "malformed_ipv4", // total length now exceeds the frame
        };
        *expect_drops.entry(reason).or_default() += 1;
    }
    let mut bad_ihl = good.clone();
    bad_ihl[14] = 0x43;
    client.push(bad_ihl);
    *expect_drops.entry("malformed_ipv4").or_default() += 1;
    let mut other = good.clone();
    other[12..14].copy_from_slice(&[0x88, 0xb6]);
    client.push(other);
    expect_drops.insert("unknown_ethertype", 1);
    let mut ext = Vec::new();
    for _ in 0..12 {
        ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut looped = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], vip6(), 64)
        .write(&mut looped, etherparse::IpNumber(60), &ext)
        .unwrap();
    client.push(looped);
    expect_drops.insert("ipv6_ext_limit", 1);
    client.push(tcp4([172, 16, 9, 9], 999, VIP4, 2049, &vec![0x55; 9000]));
    expect_drops.insert("multi_segment", 1);
    client.push(tcp4([172, 16, 9, 9], 999, [10, 77, 0, 1], 2049, b""));
    expect_drops.insert("not_for_vip", 1);
    client.push(Vec::new()); // a zero-length record
    *expect_drops.entry("malformed_l2").or_default() += 1;

    // Node side: return traffic from the VIP for the first 40 flows, and a node resolving our address.
    let mut node = Vec::new();
    for (_, (c, vip, proto, ports)) in flows.iter().take(40) {
        let (sp, dp) = ports.unwrap();
        let mut f = match (c, vip, proto) {
            (IpAddr::V4(c), IpAddr::V4(v), 6) => tcp4(v.octets(), dp, c.octets(), sp, b"reply"),
            (IpAddr::V4(c), IpAddr::V4(v), _) => udp4(v.octets(), dp, c.octets(), sp, b"reply"),
            (IpAddr::V6(c), IpAddr::V6(v), 6) => tcp6(v.octets(), dp, c.octets(), sp, b"reply"),
            (IpAddr::V6(c), IpAddr::V6(v), _) => udp6(v.octets(), dp, c.octets(), sp, b"reply"),
            _ => unreachable!(),
        };
        f[0..6].copy_from_slice(&NODE_PORT_MAC);
        node.push(f);
    }
    let mut node_arp = arp_request([198, 51, 100, 1], [198, 51, 100, 11]);
    node_arp[6..12].copy_from_slice(&[2, 0, 0, 0, 0x0a, 1]);
    node.push(node_arp);

    write_pcap(&d.join("client-in.pcap"), &client);
    write_pcap(&d.join("node-in.pcap"), &node);
    let cfg = config(
        d,
        &format!("net_pcap0,rx_pcap={0}/client-in.pcap,tx_pcap={0}/client-out.pcap", d.display()),
        &format!("net_pcap1,rx_pcap={0}/node-in.pcap,tx_pcap={0}/node-out.pcap", d.display()),
        &[],
    );
    let r = sluice(&cfg, &["--exit-idle-ms", "700", "--stats-interval-ms", "0"]);
    assert_accounted(&r);
    let s = &r.summary;
    assert_eq!(s["rx"].as_u64().unwrap(), (client.len() + node.len()) as u64, "{}", r.stdout);
    for (reason, n) in &expect_drops {
        assert_eq!(s["drops"][reason].as_u64().unwrap(), *n, "drop reason {reason}\n{}", r.stdout);
    }

    // Toward the nodes: every valid client frame, checksums good, each flow on exactly one node.
    let node_side = read_pcap(&d.join("node-out.pcap"));
    // The node's ARP for the appliance's node-side address was answered on the node side.
    let (arp, to_nodes): (Vec<_>, Vec<_>) = node_side.into_iter().partition(|f| f[12..14] == [0x08, 0x06]);
    assert_eq!(arp.len(), 1);
    assert_eq!(
        (&arp[0][0..6], &arp[0][6..12], &arp[0][28..32]),
        (&[2, 0, 0, 0, 0x0a, 1][..], &NODE_PORT_MAC[..], &[198, 51, 100, 1][..])
    );
    assert_eq!(to_nodes.len(), valid);
    let node_macs: HashSet<[u8; 6]> = example_config().nodes.iter().map(|n| n.mac.0).collect();
    let mut flow_node: HashMap<FlowKey, ([u8; 6], Option<IpAddr>)> = HashMap::new();
    let mut per_node: HashMap<[u8; 6], usize> = HashMap::new();
    for f in &to_nodes {
        let seen = check(f).unwrap_or_else(|e| panic!("bad frame toward a node: {e}"));
        assert_eq!(seen.src_mac, NODE_PORT_MAC);
        assert!(node_macs.contains(&seen.dst_mac));
        if seen.dst_mac == [2, 0, 0, 0, 0x0b, 2] {
            assert_eq!(seen.outer.map(|o| o.1), Some(v4([203, 0, 113, 22])), "b2 is reached by IP-in-IP");
        } else {
            assert_eq!(seen.outer, None);
        }
        let key = (seen.src, seen.dst, seen.protocol, seen.ports);
        let n = node_of(&seen);
        assert_eq!(*flow_node.entry(key).or_insert(n), n, "flow {key:?} reached two nodes");
        *per_node.entry(seen.dst_mac).or_default() += 1;
    }
    assert_eq!(flow_node.len(), flows.len());
    assert_eq!(per_node.len(), 4, "all four nodes used: {per_node:?}");

    // Toward the clients: the return traffic (to the gateway) and the appliance's answers (to the asker).
    let to_clients = read_pcap(&d.join("client-out.pcap"));
    assert_eq!(to_clients.len(), 40 + 2);
    let mut returned = 0;
    let mut arp_replies = 0;
    let mut echo_replies = 0;
    for f in &to_clients {
        if f[12..14] == [0x08, 0x06] {
            assert_eq!(f[0..6], CLIENT_MAC);
            assert_eq!(f[20..22], [0, 2]);
            assert_eq!(f[22..28], CLIENT_PORT_MAC);
            assert_eq!(f[28..32], VIP4);
            arp_replies += 1;
            continue;
        }
        let seen = check(f).unwrap();
        assert_eq!(seen.src_mac, CLIENT_PORT_MAC);
        if seen.protocol == 1 {
            assert_eq!((seen.dst_mac, seen.src), (CLIENT_MAC, v4(VIP4)));
            echo_replies += 1;
        } else {
            assert_eq!(seen.dst_mac, GATEWAY_MAC);
            assert_eq!(seen.payload, b"reply");
            returned += 1;
        }
    }
    assert_eq!((returned, arp_replies, echo_replies), (40, 1, 1));
    assert_eq!(s["replies"].as_u64().unwrap(), 3);
}

#[test]
fn two_workers_on_their_own_queues_pick_the_same_node_per_flow() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let flows = client_flows(300);
    // Each flow's first packet goes to queue 0's file, the others to queue 1's.
    let q0: Vec<Vec<u8>> = flows.iter().map(|(f, _)| f[0].clone()).collect();
    let q1: Vec<Vec<u8>> = flows.iter().flat_map(|(f, _)| f[1..].to_vec()).collect();
    write_pcap(&d.join("q0.pcap"), &q0);
    write_pcap(&d.join("q1.pcap"), &q1);
    write_pcap(&d.join("empty.pcap"), &[]);
    let cfg = config(
        d,
        &format!(
            "net_pcap0,rx_pcap={0}/q0.pcap,rx_pcap={0}/q1.pcap,tx_pcap={0}/c0.pcap,tx_pcap={0}/c1.pcap",
            d.display()
        ),
        &format!(
            "net_pcap1,rx_pcap={0}/empty.pcap,rx_pcap={0}/empty.pcap,tx_pcap={0}/n0.pcap,tx_pcap={0}/n1.pcap",
            d.display()
        ),
        &[("lcores = \"0,1\"", "lcores = \"0-2\"\ncpus = \"0,1,1\"")],
    );
    let r = sluice(&cfg, &["--exit-idle-ms", "700", "--stats-interval-ms", "0"]);
    assert_accounted(&r);
    let workers = r.summary["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 2);
    assert_eq!(workers[0]["rx"].as_u64().unwrap(), q0.len() as u64);
    assert_eq!(workers[1]["rx"].as_u64().unwrap(), q1.len() as u64);
    let mut flow_node: HashMap<FlowKey, ([u8; 6], Option<IpAddr>)> = HashMap::new();
    let mut total = 0;
    for file in ["n0.pcap", "n1.pcap"] {
        for f in read_pcap(&d.join(file)) {
            let seen = check(&f).unwrap();
            let key = (seen.src, seen.dst, seen.protocol, seen.ports);
            let n = node_of(&seen);
            assert_eq!(*flow_node.entry(key).or_insert(n), n, "workers disagree on flow {key:?}");
            total += 1;
        }
    }
    assert_eq!(total, q0.len() + q1.len());
    assert_eq!(flow_node.len(), flows.len());
}

/// A configuration whose ports replay pcaps forever (net_pcap `infinite_rx`): `flows` client flows to the
/// VIP on the client port, one node reply on the node port. Only a signal stops such a run.
fn looping_pcaps(d: &Path, flows: usize) -> PathBuf {
    write_pcap(&d.join("c.pcap"), &interleave(&client_flows(flows)));
    write_pcap(&d.join("n.pcap"), &[tcp4(VIP4, 2049, [172, 16, 0, 1], 10_000, b"r")]);
    config(
        d,
        &format!("net_pcap0,rx_pcap={}/c.pcap,infinite_rx=1", d.display()),
        &format!("net_pcap1,rx_pcap={}/n.pcap,infinite_rx=1", d.display()),
        &[],
    )
}

#[test]
fn sigterm_stops_cleanly_with_every_mbuf_back() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = looping_pcaps(d, 200);
    let json = d.join("summary.json");
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", cfg.to_str().unwrap(), "--stats-json", json.to_str().unwrap(), "--stats-interval-ms", "500"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        summary: serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap(),
    };
    assert!(r.stderr.contains("signal received"), "{}", r.stderr);
    assert_accounted(&r);
    assert_no_runtime_dir(&cfg);
    assert!(r.summary["rx"].as_u64().unwrap() > 100_000, "{}", r.stdout);
    assert!(r.stdout.contains("Mpps"), "stats lines printed: {}", r.stdout);
}

#[test]
fn sigterm_while_starting_is_the_same_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cfg = looping_pcaps(d, 50);
    let json = d.join("summary.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", cfg.to_str().unwrap(), "--stats-json", json.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // EAL's first words: sluice is starting (its handlers are in place before EAL starts).
    let mut err = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    while !seen.contains("EAL:") {
        let mut line = String::new();
        assert!(std::io::BufRead::read_line(&mut err, &mut line).unwrap() > 0, "no EAL output: {seen}");
        seen += &line;
    }
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    std::io::Read::read_to_string(&mut err, &mut seen).unwrap();
    let out = child.wait_with_output().unwrap();
    let r = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: seen,
        summary: serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap(),
    };
    assert!(r.stderr.contains("signal received"), "{}", r.stderr);
    assert_accounted(&r);
    assert_no_runtime_dir(&cfg);
}

#[test]
fn a_bad_config_is_refused_before_eal_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "net_null0", "net_null1", &[("name = \"a2\"", "name = \"a1\"")]);
    let r = sluice(&cfg, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("nodes[1].name") && r.stderr.contains("duplicate node"), "{}", r.stderr);
    assert!(!r.stderr.contains("EAL:"), "EAL must not start: {}", r.stderr);
    let cfg =
        config(dir.path(), "net_null0", "net_null1", &[("mac = \"02:00:00:00:0a:01\"", "mac = \"02:00:00:00:0a:zz\"")]);
    let r = sluice(&cfg, &[]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("malformed MAC address"), "{}", r.stderr);
    let r = Command::new(env!("CARGO_BIN_EXE_sluice")).args(["--config", "/nonexistent.toml"]).output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("cannot read"));
}

#[test]
fn bad_arguments_are_refused_before_eal_starts() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "net_null0", "net_null1", &[]);
    for args in [
        ["--duration", "1e30"],
        ["--duration", "-1"],
        ["--duration", "NaN"],
        ["--duration", "inf"],
        ["--duration", "0"],
        ["--duration", "31536001"],
        ["--duration", "soon"],
        ["--exit-idle-ms", "-1"],
        ["--exit-idle-ms", "0"],
        ["--exit-idle-ms", "1e3"],
        ["--exit-idle-ms", "18446744073709551615"],
        ["--stats-interval-ms", "-5"],
        ["--stats-interval-ms", "86400001"],
        ["--stats-interval-ms", "18446744073709551616"],
    ] {
        let r = sluice(&cfg, &args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(args[0]) && r.stderr.contains("must be"), "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked") && !r.stderr.contains("EAL:"), "{args:?}: {}", r.stderr);
    }
    // The largest values are accepted (--check stops before EAL).
    let r =
        sluice(&cfg, &["--check", "--duration", "31536000", "--exit-idle-ms", "86400000", "--stats-interval-ms", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("configuration OK"), "{}", r.stdout);
}

#[test]
fn a_device_that_does_not_exist_is_named() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "net_null0,no-rx=1", "0000:7f:1f.7", &[]);
    let r = sluice(&cfg, &["--duration", "0.5", "--stats-interval-ms", "0"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("port \"nodes\": finding device \"0000:7f:1f.7\""), "{}", r.stderr);
}

#[test]
fn an_idle_appliance_runs_for_its_duration() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path(), "net_null0,no-rx=1", "net_null1,no-rx=1", &[]);
    let r = sluice(&cfg, &["--duration", "0.5", "--stats-interval-ms", "0"]);
    assert_accounted(&r);
    assert_eq!(r.summary["rx"], 0);
    assert!(r.summary["seconds"].as_f64().unwrap() >= 0.5);
}

#[test]
fn floods_of_node_rsts_with_no_change_start_no_fanout_and_forged_fanouts_are_counted() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let node_mac = [2, 0, 0, 0, 0x0a, 1];
    let tcp_from =
        |src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, rst: bool| {
            let mut v = Vec::new();
            let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).tcp(sport, dport, 7, 100);
            let b = if rst { b.rst() } else { b.ack(99) };
            b.write(&mut v, &[]).unwrap();
            v
        };
    let mut client = Vec::new();
    let mut node = Vec::new();
    for i in 0..3000u16 {
        let c = [172, 16, (i >> 8) as u8, i as u8];
        // Client RSTs (forwarded to nodes like any client segment, never a fan-out).
        client.push(tcp_from(CLIENT_MAC, CLIENT_PORT_MAC, c, 20_000 + i, VIP4, 2049, true));
        // Forged fan-out frames on the client port of a single appliance.
        let mut forged = [0u8; 128];
        let conn = sluice_dataplane::reset::Conn {
            client: sluice_dataplane::wire::parse::Addr::v4(c),
            vip: sluice_dataplane::wire::parse::Addr::v4(VIP4),
            cport: i,
            vport: 2049,
        };
        let n = sluice_dataplane::reset::write_fanout_frame(&mut forged, &conn, CLIENT_PORT_MAC, CLIENT_MAC).unwrap();
        client.push(forged[..n].to_vec());
        // Node RSTs for random connections, and challenge-ACK-looking segments for others.
        node.push(tcp_from(node_mac, NODE_PORT_MAC, VIP4, 2049, c, 30_000 + i, true));
        node.push(tcp_from(node_mac, NODE_PORT_MAC, VIP4, 2049, c, 40_000 + i, false));
    }
    write_pcap(&d.join("c.pcap"), &client);
    write_pcap(&d.join("n.pcap"), &node);
    let cfg = config(
        d,
        &format!("net_pcap0,rx_pcap={0}/c.pcap,tx_pcap={0}/c-out.pcap", d.display()),
        &format!("net_pcap1,rx_pcap={0}/n.pcap,tx_pcap={0}/n-out.pcap", d.display()),
        &[("[dataplane]", "[resets]\nrate_per_sec = 100\nburst = 20\ntable_entries = 64\n\n[dataplane]")],
    );
    let r = sluice(&cfg, &["--exit-idle-ms", "700", "--stats-interval-ms", "0"]);
    assert_accounted(&r);
    let s = &r.summary;
    let resets = &s["resets"];
    // No membership change: no connection moved, so none of the RSTs (answers to spoofed segments, say)
    // starts a fan-out, and not a single probe leaves.
    assert_eq!(resets["fanouts_started"], 0);
    assert_eq!(resets["node_rsts"], 3000);
    assert_eq!(resets["rsts_forwarded"], 3000, "every node RST still reaches its client");
    let judged = resets["not_moved"].as_u64().unwrap() + resets["not_owner"].as_u64().unwrap();
    assert_eq!(judged, 3000, "{resets}");
    assert_eq!(resets["softstate_entries"], 0);
    assert_eq!(resets["frames_tier2"], 0);
    assert_eq!(s["generated"], 0);
    assert_eq!(s["drops"]["fanout_forged"], 3000);
    // Client RSTs went to nodes; challenge-ACK-looking segments for unknown connections went to clients.
    assert_eq!(s["to_nodes"].as_u64().unwrap(), 3000);
    assert_eq!(s["to_clients"].as_u64().unwrap(), 3000 + 3000);
}

/// Forged input on either side, through the real binary: a node RST and an IP-in-IP packet from senders
/// that are no configured node, a fan-out frame at a single appliance, and ARP replies naming a node
/// (from the client side, and from a stranger's MAC on the node side; with no ARP health check, which the
/// pipeline tests also cover). Each is dropped under its own reason; nothing starts a fan-out or is sent
/// anywhere.
#[test]
fn forged_senders_are_dropped_and_counted() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let stranger = [2, 0, 0, 0, 0x66, 0x66];
    let client_ip = [192, 0, 2, 50];
    let arp_reply = |src_mac: [u8; 6], sender_ip: [u8; 4], target_ip: [u8; 4]| {
        let mut f = arp_request(target_ip, sender_ip);
        f[6..12].copy_from_slice(&src_mac);
        f[14 + 7] = 2;
        f[14 + 8..14 + 14].copy_from_slice(&src_mac);
        f
    };
    // Client side: an ARP reply claiming to be a1, and a fan-out frame (a single appliance takes none).
    let mut fanout = [0u8; 128];
    let conn = sluice_dataplane::reset::Conn {
        client: sluice_dataplane::wire::parse::Addr::v4(client_ip),
        vip: sluice_dataplane::wire::parse::Addr::v4(VIP4),
        cport: 4000,
        vport: 2049,
    };
    let n = sluice_dataplane::reset::write_fanout_frame(&mut fanout, &conn, CLIENT_PORT_MAC, CLIENT_MAC).unwrap();
    let client = vec![arp_reply(CLIENT_MAC, [198, 51, 100, 11], [192, 0, 2, 1]), fanout[..n].to_vec()];
    // Node side: a RST from a stranger's MAC, the same RST tunnelled from an address that is no node, and
    // an ARP reply naming a1 from the stranger's MAC.
    let mut rst = Vec::new();
    PacketBuilder::ethernet2(stranger, NODE_PORT_MAC)
        .ipv4(VIP4, client_ip, 64)
        .tcp(2049, 4000, 7, 100)
        .rst()
        .write(&mut rst, &[])
        .unwrap();
    let mut tunnelled = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0x0b, 2], NODE_PORT_MAC)
        .ipv4([203, 0, 113, 99], [198, 51, 100, 1], 64)
        .write(&mut tunnelled, etherparse::IpNumber(4), &rst[14..])
        .unwrap();
    let node = vec![rst, tunnelled, arp_reply(stranger, [198, 51, 100, 11], [198, 51, 100, 1])];
    write_pcap(&d.join("c.pcap"), &client);
    write_pcap(&d.join("n.pcap"), &node);
    let cfg = config(
        d,
        &format!("net_pcap0,rx_pcap={0}/c.pcap,tx_pcap={0}/c-out.pcap", d.display()),
        &format!("net_pcap1,rx_pcap={0}/n.pcap,tx_pcap={0}/n-out.pcap", d.display()),
        &[],
    );
    let r = sluice(&cfg, &["--exit-idle-ms", "500", "--stats-interval-ms", "0"]);
    assert_accounted(&r);
    let s = &r.summary;
    assert_eq!(s["drops"]["unknown_sender"], 2, "{}", s["drops"]);
    assert_eq!(s["drops"]["health_forged"], 2, "{}", s["drops"]);
    assert_eq!(s["drops"]["fanout_forged"], 1, "{}", s["drops"]);
    assert_eq!((s["tx"].as_u64(), s["generated"].as_u64()), (Some(0), Some(0)));
    assert_eq!(s["resets"]["node_rsts"], 0);
    assert_eq!(s["resets"]["fanouts_started"], 0);
    assert!(read_pcap(&d.join("c-out.pcap")).is_empty() && read_pcap(&d.join("n-out.pcap")).is_empty());
}
