//! The operator console against a running sluice on virtual devices, driven by the real `sluicectl`:
//! drain a node and see its traffic stop while the others carry on, refused changes and reloads that
//! change nothing, and protocol errors.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapWriter};
use serde_json::Value;
use support::*;

/// `sluicectl` lives in the control package; build it next to `sluice` if a narrower build left it out.
fn sluicectl() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_sluice")).with_file_name("sluicectl");
    if !p.exists() {
        let ok = Command::new(env!("CARGO"))
            .args(["build", "-q", "-p", "sluice-control", "--bin", "sluicectl"])
            .status()
            .unwrap();
        assert!(ok.success());
    }
    p
}

fn ctl(socket: &Path, args: &[&str]) -> Output {
    Command::new(sluicectl()).args(args).arg("--socket").arg(socket).output().unwrap()
}

fn ctl_json(socket: &Path, args: &[&str]) -> Value {
    let mut a = args.to_vec();
    a.push("--json");
    let out = ctl(socket, &a);
    assert!(out.status.success(), "sluicectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Kills the appliance when the test ends, however it ends.
struct Appliance(std::process::Child);

impl Drop for Appliance {
    fn drop(&mut self) {
        support::stop(&mut self.0);
    }
}

/// Writes the configuration, starts sluice on it (summary to `d/s.json`) and waits for its console.
fn start(d: &Path, cfg: &Path, text: &str, socket: &Path) -> Appliance {
    std::fs::write(cfg, text).unwrap();
    let a = Appliance(
        Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["--config", cfg.to_str().unwrap(), "--stats-interval-ms", "0", "--stats-json"])
            .arg(d.join("s.json"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let t0 = Instant::now();
    while UnixStream::connect(socket).is_err() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no console socket");
        std::thread::sleep(Duration::from_millis(100));
    }
    a
}

fn selected(nodes: &Value, name: &str) -> u64 {
    nodes.as_array().unwrap().iter().find(|n| n["name"] == name).unwrap()["selected"].as_u64().unwrap()
}

#[test]
fn console_drains_a_node_and_refuses_bad_changes_without_changing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames: Vec<Vec<u8>> =
        (0..2000u16).map(|i| tcp4([172, 16, (i >> 8) as u8, i as u8], 10_000 + i, VIP4, 2049, b"data")).collect();
    let mut w = PcapWriter::new(std::fs::File::create(d.join("c.pcap")).unwrap()).unwrap();
    for f in &frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f)).unwrap();
    }
    drop(w);
    let socket = d.join("console.sock");
    let metrics_port = 20_000 + (std::process::id() % 20_000) as u16;
    let cfg_text = example_toml(&format!("{}/c.pcap", d.display()), &format!("{}/c.pcap", d.display()))
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"sluice-console-{}\"", std::process::id()))
        .replace("mbufs = 65535", "mbufs = 16383\nidle_sleep_us = 0")
        .replacen(
            "[[ports]]",
            &format!(
                // The stateless balancer: every change applies to every flow at once (the replayed flows
                // would otherwise stay on their nodes, see tests/flows_lab.rs).
                "[console]\nsocket = \"{}\"\n\n[metrics]\nprometheus = true\nlisten = \"127.0.0.1:{metrics_port}\"\n\n[flows]\nenabled = false\n\n[[ports]]",
                socket.display()
            ),
            1,
        );
    let cfg = d.join("sluice.toml");
    let mut appliance = start(d, &cfg, &cfg_text, &socket);
    let child = &mut appliance.0;
    assert_eq!(std::fs::metadata(&socket).unwrap().permissions().mode() & 0o777, 0o600);

    let status = ctl_json(&socket, &["status"]);
    assert_eq!((status["role"].as_str(), status["generation"].as_u64()), (Some("single"), Some(1)));
    std::thread::sleep(Duration::from_millis(500));
    let nodes = ctl_json(&socket, &["nodes"]);
    for n in ["a1", "a2", "b1", "b2"] {
        assert!(selected(&nodes, n) > 0, "{n} takes traffic: {nodes}");
    }
    // Drain a1: generation 2, and from then on it gets nothing while the others carry on.
    let r = ctl_json(&socket, &["nodes", "drain", "a1"]);
    assert_eq!(r["generation"], 2);
    std::thread::sleep(Duration::from_millis(500));
    let nodes = ctl_json(&socket, &["nodes"]);
    assert_eq!(selected(&nodes, "a1"), 0, "{nodes}");
    assert!(["a2", "b1", "b2"].iter().all(|n| selected(&nodes, n) > 0), "{nodes}");
    assert_eq!(nodes.as_array().unwrap().iter().find(|n| n["name"] == "a1").unwrap()["state"], "draining");
    // Refused changes: unknown node, a weight that leaves nothing active, a duplicate add. Nothing changes.
    let out = ctl(&socket, &["nodes", "remove", "zz"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no node \"zz\""));
    for n in ["a2", "b1"] {
        ctl_json(&socket, &["nodes", "weight", n, "0"]);
    }
    let out = ctl(&socket, &["nodes", "weight", "b2", "0"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no node is active"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = ctl(
        &socket,
        &["nodes", "add", "b2", "--chassis", "chassis-b", "--mac", "02:00:00:00:0b:09", "--ip", "198.51.100.99"],
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(ctl_json(&socket, &["status"])["generation"], 4);
    // A reload of a file that removes every node is refused whole.
    let no_nodes = cfg_text.split("[[nodes]]").next().unwrap().to_string();
    std::fs::write(&cfg, no_nodes).unwrap();
    let out = ctl(&socket, &["reload"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reload refused, nothing changed"));
    assert_eq!(ctl_json(&socket, &["status"])["generation"], 4);
    // Add a node through the console; it takes traffic.
    let r = ctl_json(
        &socket,
        &["nodes", "add", "b3", "--chassis", "chassis-b", "--mac", "02:00:00:00:0b:03", "--ip", "198.51.100.23"],
    );
    assert_eq!(r["generation"], 5);
    std::thread::sleep(Duration::from_millis(500));
    assert!(selected(&ctl_json(&socket, &["nodes"]), "b3") > 0);
    // Malformed requests get an answer naming the problem.
    for bad in ["hello", "{\"cmd\":\"explode\"}", "{\"cmd\":\"node_weight\",\"name\":\"a1\"}"] {
        let s = UnixStream::connect(&socket).unwrap();
        writeln!(&s, "{bad}").unwrap();
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["ok"], false);
        assert!(v["error"].as_str().unwrap().starts_with("malformed request"), "{v}");
    }
    let stats = ctl_json(&socket, &["stats"]);
    assert!(stats["rx"].as_u64().unwrap() > 0 && stats["counters_balance"] == true);
    // The same counters on the Prometheus endpoint (loopback, opt-in).
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut body = String::new();
        std::io::Read::read_to_string(&mut s, &mut body).unwrap();
        body
    };
    let m = get("/metrics");
    assert!(m.starts_with("HTTP/1.1 200 OK"), "{m}");
    assert!(m.contains("sluice_generation 5"), "{m}");
    assert!(m.contains("# TYPE sluice_rx_packets counter"), "{m}");
    assert!(m.contains("sluice_rx_packets_total{worker=\"0\",lcore=\"1\"} "), "{m}");
    // A node's state is a value, not a label: draining a1 did not start a new series.
    assert!(m.contains("sluice_node_selected_packets{node=\"a1\",chassis=\"chassis-a\"} 0"), "{m}");
    assert!(m.contains("sluice_node_active{node=\"a1\"} 0") && m.contains("sluice_node_active{node=\"b1\"} 1"), "{m}");
    assert!(m.contains("sluice_drops_total{reason=\"malformed_l2\"} 0"), "{m}");
    assert!(m.contains("sluice_reset_events_total{counter=\"fanouts_started\"} 0"), "{m}");
    assert!(m.contains("# TYPE sluice_reset_softstate_entries gauge"), "{m}");
    assert!(m.contains("sluice_build_info{version=") && m.contains("sluice_adoption_seconds_sum"), "{m}");
    assert!(get("/other").starts_with("HTTP/1.1 404"));
    // DPDK's own telemetry client lists sluice's commands and shows the same counters.
    std::thread::sleep(Duration::from_millis(300));
    let answers = telemetry(
        &format!("sluice-console-{}", std::process::id()),
        &["/", "/sluice/stats", "/sluice/nodes", "/sluice/workers"],
    );
    let listed = answers[0]["/"].as_array().unwrap();
    for c in
        ["/sluice/stats", "/sluice/nodes", "/sluice/workers", "/sluice/affinity", "/sluice/health", "/ethdev/stats"]
    {
        assert!(listed.iter().any(|x| x == c), "{c} listed");
    }
    let st = &answers[1]["/sluice/stats"];
    assert!(st["rx"].as_u64().unwrap() > 0 && st["counters_balance"] == 1 && st["generation"] == 5, "{st}");
    assert!(st["drops"]["malformed_l2"].is_u64() && st["resets"]["fanouts_started"].is_u64(), "{st}");
    assert_eq!(answers[2]["/sluice/nodes"]["a1"]["state"], "draining");
    assert!(answers[3]["/sluice/workers"]["worker0"]["rx"].as_u64().unwrap() > 0);
    // Clean stop; the socket goes away.
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(!socket.exists());
    let s: Value = serde_json::from_str(&std::fs::read_to_string(d.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["mempool_in_use_at_exit"], 0);
}

/// Per-node packets selected over `ms` milliseconds (counters restart when the topology changes; measure
/// after the change).
fn selection_over(socket: &Path, ms: u64) -> std::collections::BTreeMap<String, u64> {
    let a = ctl_json(socket, &["nodes"]);
    std::thread::sleep(Duration::from_millis(ms));
    let b = ctl_json(socket, &["nodes"]);
    b.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let name = n["name"].as_str().unwrap().to_string();
            let before = selected(&a, &name);
            (name.clone(), selected(&b, &name).saturating_sub(before))
        })
        .filter(|(_, d)| *d > 0)
        .collect()
}

fn entry_node(aff: &Value, client: &str) -> String {
    let e = aff["entries"].as_array().unwrap().iter().find(|e| e["client"] == client);
    e.unwrap_or_else(|| panic!("no entry for {client}: {aff}"))["node"].as_str().unwrap().to_string()
}

#[test]
fn console_affinity_is_learned_honoured_pinned_and_moved() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Two client VMs with 200 flows each: without affinity their flows would cover every node. The flow
    // table is off: affinity decides every packet (with it on, flows seen before an entry was learned
    // would stay where they began).
    let mut w = PcapWriter::new(std::fs::File::create(d.join("c.pcap")).unwrap()).unwrap();
    for i in 0..400u16 {
        let f = tcp4([172, 16, 9, 1 + (i % 2) as u8], 10_000 + i, VIP4, 2049, b"data");
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, &f)).unwrap();
    }
    drop(w);
    let socket = d.join("console.sock");
    let metrics_port = 20_000 + ((std::process::id() + 7) % 20_000) as u16;
    let cfg_text = example_toml(&format!("{}/c.pcap", d.display()), &format!("{}/c.pcap", d.display()))
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"sluice-aff-{}\"", std::process::id()))
        .replace("mbufs = 65535", "mbufs = 16383")
        .replacen(
            "[[ports]]",
            &format!(
                "[console]\nsocket = \"{}\"\n\n[metrics]\nprometheus = true\nlisten = \"127.0.0.1:{metrics_port}\"\n\n[affinity]\nenabled = true\npublish_interval_ms = 20\n\n[flows]\nenabled = false\n\n[[ports]]",
                socket.display()
            ),
            1,
        )
        .replacen("[[vips]]\naddress = \"10.10.0.1\"", "[[vips]]\naffinity = true\naddress = \"10.10.0.1\"", 1);
    let cfg = d.join("sluice.toml");
    let mut appliance = start(d, &cfg, &cfg_text, &socket);
    std::thread::sleep(Duration::from_millis(500));
    // Learned: one entry per client VM, and each client's traffic goes to its CVM alone.
    let aff = ctl_json(&socket, &["affinity"]);
    assert_eq!(aff["total"], 2, "{aff}");
    assert_eq!(aff["counters"]["learned"], 2);
    let (c1, c2) = (entry_node(&aff, "172.16.9.1"), entry_node(&aff, "172.16.9.2"));
    let used = selection_over(&socket, 400);
    let expect: std::collections::BTreeSet<&str> = [c1.as_str(), c2.as_str()].into();
    assert_eq!(used.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(), expect, "{used:?}");
    // Pin client 1 to a CVM neither client uses: honoured at once.
    let all = ["a1", "a2", "b1", "b2"];
    let x = *all.iter().find(|n| **n != c1 && **n != c2).unwrap();
    let r = ctl_json(&socket, &["affinity", "pin", "172.16.9.1", x]);
    assert!(r["applied"].as_str().unwrap().contains("pinned"), "{r}");
    std::thread::sleep(Duration::from_millis(200));
    let used = selection_over(&socket, 400);
    let expect: std::collections::BTreeSet<&str> = [x, c2.as_str()].into();
    assert_eq!(used.keys().map(String::as_str).collect::<std::collections::BTreeSet<_>>(), expect, "{used:?}");
    // Drain client 2's CVM: its affinity moves elsewhere (counted), its traffic follows.
    ctl_json(&socket, &["nodes", "drain", &c2]);
    let aff = ctl_json(&socket, &["affinity"]);
    let moved_to = entry_node(&aff, "172.16.9.2");
    assert_ne!(moved_to, c2);
    assert_eq!(aff["counters"]["moved_unavailable"], 1, "{aff}");
    assert_eq!(aff["recent_moves"][0]["reason"], "cvm_unavailable");
    std::thread::sleep(Duration::from_millis(200));
    let used = selection_over(&socket, 400);
    assert!(!used.contains_key(&c2) && used.contains_key(&moved_to) && used.contains_key(x), "{used:?}");
    // Refused: pinning to the draining CVM, to an unknown one, a client that is not an address.
    for (args, says) in [
        (vec!["affinity", "pin", "172.16.9.1", c2.as_str()], "is draining"),
        (vec!["affinity", "pin", "172.16.9.1", "zz"], "no node \"zz\""),
        (vec!["affinity", "pin", "not-an-ip", "a1"], "config field `client`"),
        (vec!["affinity", "unpin", "172.16.9.2"], "not pinned"),
        (vec!["affinity", "flush", "--node", "zz"], "no node"),
    ] {
        let out = ctl(&socket, &args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(err.contains(says) && err.contains("nothing changed"), "{args:?}: {err}");
    }
    assert_eq!(entry_node(&ctl_json(&socket, &["affinity"]), "172.16.9.1"), x, "refusals changed nothing");
    let pinned = ctl_json(&socket, &["affinity", "show", "--pinned"]);
    assert_eq!(pinned["entries"].as_array().unwrap().len(), 1);
    // Unpin, then flush the learned entries: the clients are learned again from their traffic.
    ctl_json(&socket, &["affinity", "unpin", "172.16.9.1"]);
    let r = ctl_json(&socket, &["affinity", "flush"]);
    assert_eq!(r["applied"], "flushed 2 learned entries");
    std::thread::sleep(Duration::from_millis(300));
    let aff = ctl_json(&socket, &["affinity"]);
    assert_eq!((aff["total"].as_u64(), aff["counters"]["learned"].as_u64()), (Some(2), Some(4)), "{aff}");
    // Human output, top, stats and metrics carry it too.
    let out = ctl(&socket, &["affinity"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("172.16.9.1"));
    let out = ctl(&socket, &["top", "--count", "2", "--interval", "0.3"]);
    let top = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(top.contains("Mpps") && top.contains("affinity: 2 entries") && top.contains("b2"), "{top}");
    assert_eq!(top.matches("per worker Mpps").count(), 2, "{top}");
    let stats = ctl_json(&socket, &["stats"]);
    assert!(stats["adoption"]["publications"].as_u64().unwrap() >= 4, "{}", stats["adoption"]);
    assert!(stats["keys"]["affinity_hit"].as_u64().unwrap() > 0);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    let mut m = String::new();
    std::io::Read::read_to_string(&mut s, &mut m).unwrap();
    assert!(m.contains("sluice_affinity_entries 2") && m.contains("sluice_adoption_seconds_count"), "{m}");
    let child = &mut appliance.0;
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("affinity: client 172.16.9.2 moved"), "{err}");
    let s: Value = serde_json::from_str(&std::fs::read_to_string(d.join("s.json")).unwrap()).unwrap();
    assert_eq!(s["mempool_in_use_at_exit"], 0);
    assert_eq!(s["counters_balance"], true);
}
