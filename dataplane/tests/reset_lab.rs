//! End to end through real Linux TCP stacks (scripts/lab.sh: a client namespace and node namespaces
//! around sluice on net_af_packet): connections carry data both ways; then membership changes while the
//! client keeps sending, and every connection whose flow moved is reset at once on the client and cleared
//! on the node that held it, while no other connection is disturbed. Needs root (namespaces, EAL).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_control::{Config, Topology};
use sluice_dataplane::hash::Toeplitz;

static ONE_LAB: Mutex<()> = Mutex::new(());

const CONNS: u16 = 24;
const SPORT: u16 = 41000;
const CLIENT: [u8; 4] = [192, 0, 2, 100];
const VIP: [u8; 4] = [10, 10, 0, 1];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn sh(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).envs(env.iter().copied()).output().expect(args[0]);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Tears the lab down and stops every process it started, whatever happens.
struct Lab {
    children: Vec<Child>,
    dir: tempfile::TempDir,
}

/// One appliance (single role), or a spine and two chassis appliances.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Single,
    Tiered,
}

impl Layout {
    fn appliances(self) -> &'static [&'static str] {
        match self {
            Layout::Single => &["single"],
            Layout::Tiered => &["spine", "chassis-a", "chassis-b"],
        }
    }
}

impl Lab {
    fn up(nodes: usize, layout: Layout) -> Lab {
        let lab = root().join("scripts/lab.sh");
        let l = if layout == Layout::Tiered { "tiered" } else { "single" };
        sh(&["bash", lab.to_str().unwrap(), "up", &nodes.to_string(), l], &[]);
        let mut l = Lab { children: Vec::new(), dir: tempfile::tempdir().unwrap() };
        for i in 1..=nodes {
            let c = Command::new("ip")
                .args(["netns", "exec", &format!("sl-n{i}"), "python3"])
                .arg(root().join("scripts/lab_tcp.py"))
                .args(["server", "2049"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            l.children.push(c);
        }
        l
    }

    fn write_config(&self, who: &str, nodes: usize, drain: &str) -> PathBuf {
        let p = self.dir.path().join(format!("{who}.toml"));
        let prefix = format!("sluice-lab-{}", std::process::id());
        sh(
            &["bash", root().join("scripts/lab.sh").to_str().unwrap(), "config", p.to_str().unwrap(), who],
            &[("LAB_NODES", &nodes.to_string()), ("LAB_DRAIN", drain), ("LAB_PREFIX", &prefix)],
        );
        p
    }

    /// Starts one appliance. DPDK 22.11's af_packet PMD names its PACKET_FANOUT group after
    /// (pid ^ ifindex); on the rare collision with another appliance's group it cannot start, and a new
    /// process (a new pid) is the remedy.
    fn start_appliance(&mut self, cfg: &Path, json: &Path) -> usize {
        for _ in 0..5 {
            let i = self.spawn(
                Command::new(env!("CARGO_BIN_EXE_sluice"))
                    .args([
                        "--config",
                        cfg.to_str().unwrap(),
                        "--stats-interval-ms",
                        "0",
                        "--stats-json",
                        json.to_str().unwrap(),
                    ])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped()),
            );
            std::thread::sleep(Duration::from_millis(1500));
            match self.children[i].try_wait().unwrap() {
                None => return i,
                Some(_) => {
                    let mut err = String::new();
                    std::io::Read::read_to_string(self.children[i].stderr.as_mut().unwrap(), &mut err).unwrap();
                    assert!(err.contains("PACKET_FANOUT"), "sluice {} failed to start: {err}", cfg.display());
                }
            }
        }
        panic!("sluice {} could not start", cfg.display());
    }

    fn spawn(&mut self, cmd: &mut Command) -> usize {
        self.children.push(cmd.spawn().unwrap());
        self.children.len() - 1
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = Command::new("bash").arg(root().join("scripts/lab.sh")).arg("down").status();
    }
}

/// Established connections to the VIP per node namespace: node name → client source ports.
fn holders(nodes: usize) -> BTreeMap<String, BTreeSet<u16>> {
    (1..=nodes)
        .map(|i| {
            let out = sh(
                &[
                    "ip",
                    "netns",
                    "exec",
                    &format!("sl-n{i}"),
                    "ss",
                    "-tnH",
                    "state",
                    "established",
                    "( sport = :2049 )",
                ],
                &[],
            );
            let ports = out
                .lines()
                .filter_map(|l| l.split_whitespace().nth(3)?.rsplit(':').next()?.parse().ok())
                .filter(|p| (SPORT..SPORT + CONNS).contains(p))
                .collect();
            (format!("n{i}"), ports)
        })
        .collect()
}

/// Which node each connection's flow hashes to under `cfg`.
fn predicted(cfg: &Path) -> BTreeMap<u16, String> {
    let cfg = Config::load(cfg).unwrap();
    let topo = Topology::build(&cfg);
    let t = Toeplitz::new(&cfg.dataplane.hash_key.bytes);
    (SPORT..SPORT + CONNS)
        .map(|p| {
            let n = topo.lookup(t.hash_v4(CLIENT, VIP, Some((p, 2049)))).unwrap();
            (p, topo.nodes[n as usize].name.clone())
        })
        .collect()
}

#[derive(Debug)]
enum Event {
    Reset(u16, Instant),
    Error(u16, String),
    Done(u16, u64),
}

/// Runs one membership change: `before` nodes configured, then the configuration `after` is loaded with
/// SIGHUP while the client keeps sending.
fn membership_change(layout: Layout, nodes_in_lab: usize, before: (usize, &str), after: (usize, &str)) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let began = Instant::now();
    let phase = |what: &str| eprintln!("[{:7.2}s] {what}", began.elapsed().as_secs_f64());
    let mut lab = Lab::up(nodes_in_lab, layout);
    let mut appliances = Vec::new();
    for who in layout.appliances() {
        let cfg = lab.write_config(who, before.0, before.1);
        let json = lab.dir.path().join(format!("{who}.json"));
        let i = lab.start_appliance(&cfg, &json);
        appliances.push((*who, cfg, json, i));
    }
    let cfg = appliances[0].1.clone();
    phase("appliances started");
    // Wait until the VIP answers (EAL start, ARP).
    let t0 = Instant::now();
    let connect = || {
        Command::new("ip")
            .args(["netns", "exec", "sl-cli", "python3"])
            .arg(root().join("scripts/lab_tcp.py"))
            .args(["connect", "10.10.0.1", "2049"])
            .status()
            .unwrap()
            .success()
    };
    while !connect() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the VIP never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    phase("the VIP answers");
    let client = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", "sl-cli", "python3"])
            .arg(root().join("scripts/lab_tcp.py"))
            .args(["client", "10.10.0.1", "2049", &CONNS.to_string(), "6", &SPORT.to_string()])
            .stdout(Stdio::piped()),
    );
    let (tx, rx) = mpsc::channel();
    let out = lab.children[client].stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            let conn = SPORT + v["conn"].as_u64().unwrap() as u16;
            let ev = match v["ev"].as_str().unwrap() {
                "up" => continue,
                "reset" => Event::Reset(conn, Instant::now()),
                "done" => Event::Done(conn, v["echoes"].as_u64().unwrap()),
                _ => Event::Error(conn, line.clone()),
            };
            let _ = tx.send(ev);
        }
    });
    std::thread::sleep(Duration::from_millis(2000));

    // Data flows both ways on every connection, each on the node its flow hashes to.
    let held = holders(nodes_in_lab);
    let before_pred = predicted(&cfg);
    let mut holder_of = BTreeMap::new();
    for (node, ports) in &held {
        for p in ports {
            holder_of.insert(*p, node.clone());
        }
    }
    assert_eq!(holder_of.len(), CONNS as usize, "every connection is established: {held:?}");
    for (p, n) in &holder_of {
        assert_eq!(&before_pred[p], n, "connection from port {p} sits where its flow hashes");
    }
    for (who, _, _, _) in &appliances {
        lab.write_config(who, after.0, after.1);
    }
    let after_pred = predicted(&cfg);
    let moved: BTreeSet<u16> = holder_of.iter().filter(|(p, n)| after_pred[*p] != **n).map(|(p, _)| *p).collect();
    assert!(!moved.is_empty(), "the change moves at least one live connection");
    let pids: Vec<String> = appliances.iter().map(|a| lab.children[a.3].id().to_string()).collect();
    phase("changing membership");
    let changed = Instant::now();
    for pid in &pids {
        sh(&["kill", "-HUP", pid], &[]);
    }

    // Within a second: every moved connection is reset on the client and gone from its old node.
    std::thread::sleep(Duration::from_millis(1000));
    let held_after = holders(nodes_in_lab);
    for p in &moved {
        let old = &holder_of[p];
        assert!(
            !held_after[old].contains(p),
            "connection {p} still on {old} a second after the change: {held_after:?}"
        );
    }
    let mut resets = BTreeMap::new();
    let mut done = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while resets.len() + done.len() < CONNS as usize {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(Event::Reset(p, at)) => {
                resets.insert(p, at.duration_since(changed));
            }
            Ok(Event::Done(p, echoes)) => {
                done.insert(p, echoes);
            }
            Ok(Event::Error(p, e)) => panic!("connection {p} failed otherwise than by a reset: {e}"),
            Err(_) => panic!("client events incomplete: resets {resets:?}, done {done:?}"),
        }
    }
    assert_eq!(resets.keys().copied().collect::<BTreeSet<_>>(), moved, "exactly the moved connections are reset");
    for (p, took) in &resets {
        assert!(*took < Duration::from_secs(1), "connection {p} reset {took:?} after the change");
    }
    for (p, echoes) in &done {
        assert!(*echoes >= 60, "connection {p} was disturbed: only {echoes} echoes in 6 s");
    }
    phase("client events complete");
    // The first appliance (single, or the spine) lists the fan-outs on its console.
    let socket = Config::load(&appliances[0].1).unwrap().console_socket();
    let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    std::io::Write::write_all(&mut &s, b"{\"cmd\":\"resets\"}\n").unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let listed: serde_json::Value = serde_json::from_str(&line).unwrap();
    let clients: BTreeSet<String> =
        listed["data"].as_array().unwrap().iter().map(|e| e["client"].as_str().unwrap().to_string()).collect();
    for p in &moved {
        assert!(clients.contains(&format!("192.0.2.100:{p}")), "fan-out for {p} listed: {listed}");
    }
    // New connections to the VIP succeed.
    for _ in 0..3 {
        assert!(connect(), "a new connection after the change failed");
    }
    phase("new connections succeed");
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for (who, _, json, i) in &appliances {
        sh(&["kill", "-TERM", &lab.children[*i].id().to_string()], &[]);
        let status = lab.children[*i].wait().unwrap();
        phase(&format!("{who} stopped"));
        let mut err = String::new();
        std::io::Read::read_to_string(lab.children[*i].stderr.as_mut().unwrap(), &mut err).unwrap();
        assert!(status.success(), "{who}: {err}");
        assert!(err.contains("reloaded"), "{who}: {err}");
        let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap();
        assert_eq!(s["counters_balance"], true, "{who}");
        assert_eq!(s["mempool_in_use_at_exit"], 0, "{who}");
        for (k, v) in s["resets"].as_object().unwrap() {
            *totals.entry(format!("{who}.{k}")).or_default() += v.as_u64().unwrap();
            *totals.entry(k.clone()).or_default() += v.as_u64().unwrap();
        }
    }
    phase("appliances stopped");
    let moved = moved.len() as u64;
    let first = layout.appliances()[0];
    assert!(totals[&format!("{first}.fanouts_started")] >= moved, "{totals:?}");
    assert!(totals["completions"] >= moved, "every old holder was cleared by an exact RST: {totals:?}");
    assert!(totals["frames_tier2"] >= moved, "{totals:?}");
    if layout == Layout::Tiered {
        assert!(totals["spine.frames_tier1"] >= 2 * moved, "each fan-out reaches both chassis: {totals:?}");
        assert_eq!(totals["spine.frames_tier2"], 0, "the spine never probes nodes itself");
        assert_eq!(totals["spine.completions"], 0);
    }
}

#[test]
fn single_adding_a_node_resets_exactly_the_connections_that_move_to_it() {
    membership_change(Layout::Single, 5, (4, ""), (5, ""));
}

#[test]
fn single_draining_a_node_resets_its_connections_and_clears_them_on_it() {
    membership_change(Layout::Single, 4, (4, ""), (4, "n2"));
}

#[test]
fn tiered_adding_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 5, (4, ""), (5, ""));
}

#[test]
fn tiered_draining_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 4, (4, ""), (4, "n2"));
}
