//! End to end through real Linux TCP stacks (scripts/lab.sh: a client namespace and node namespaces
//! around sluice on net_af_packet): connections carry data both ways; then membership changes while the
//! client keeps sending, and every connection whose flow moved is reset at once on the client and cleared
//! on the node that held it, while no other connection is disturbed. Needs root (namespaces, EAL).

mod support;

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
    /// Worker lcores per appliance (LAB_WORKERS).
    workers: usize,
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
    fn up(nodes: usize, layout: Layout, workers: usize) -> Lab {
        let lab = root().join("scripts/lab.sh");
        let l = if layout == Layout::Tiered { "tiered" } else { "single" };
        sh(&["bash", lab.to_str().unwrap(), "up", &nodes.to_string(), l], &[]);
        let mut l = Lab { children: Vec::new(), dir: tempfile::tempdir().unwrap(), workers };
        for i in 1..=nodes {
            l.start_server(i);
        }
        l
    }

    fn write_config(&self, who: &str, nodes: usize, drain: &str) -> PathBuf {
        self.write_config_with(who, nodes, drain, &[])
    }

    fn write_config_with(&self, who: &str, nodes: usize, drain: &str, env: &[(&str, &str)]) -> PathBuf {
        let p = self.dir.path().join(format!("{who}.toml"));
        let prefix = format!("sluice-lab-{}", std::process::id());
        let mut e = vec![
            ("LAB_NODES", nodes.to_string()),
            ("LAB_DRAIN", drain.to_string()),
            ("LAB_PREFIX", prefix),
            ("LAB_WORKERS", self.workers.to_string()),
        ];
        e.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sh(&["bash", root().join("scripts/lab.sh").to_str().unwrap(), "config", p.to_str().unwrap(), who], &e);
        p
    }

    /// (Re)starts node `i`'s echo server.
    fn start_server(&mut self, i: usize) -> usize {
        self.spawn(
            Command::new("ip")
                .args(["netns", "exec", &format!("sl-n{i}"), "python3"])
                .arg(root().join("scripts/lab_tcp.py"))
                .args(["server", "2049"])
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
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
            support::stop(c);
        }
        let _ = Command::new("bash").arg(root().join("scripts/lab.sh")).arg("down").status();
    }
}

/// Established connections to the VIP per node namespace: node name → client source ports.
fn holders(nodes: usize) -> BTreeMap<String, BTreeSet<u16>> {
    holders_from(nodes, SPORT)
}

/// The same for the connections from source ports `base..base + CONNS`.
fn holders_from(nodes: usize, base: u16) -> BTreeMap<String, BTreeSet<u16>> {
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
                .filter(|p| (base..base + CONNS).contains(p))
                .collect();
            (format!("n{i}"), ports)
        })
        .collect()
}

/// Which node each connection's flow hashes to under `cfg`.
fn predicted(cfg: &Path) -> BTreeMap<u16, String> {
    predicted_from(cfg, SPORT)
}

/// The same for the connections from source ports `base..base + CONNS`.
fn predicted_from(cfg: &Path, base: u16) -> BTreeMap<u16, String> {
    let cfg = Config::load(cfg).unwrap();
    let topo = Topology::build(&cfg);
    let t = Toeplitz::new(&cfg.dataplane.hash_key.bytes);
    (base..base + CONNS)
        .map(|p| {
            let n = topo.lookup(t.hash_v4(CLIENT, VIP, Some((p, 2049)))).unwrap();
            (p, topo.nodes[n as usize].name.clone())
        })
        .collect()
}

/// One connection to the VIP from the client namespace: true if it echoed.
fn connect() -> bool {
    Command::new("ip")
        .args(["netns", "exec", "sl-cli", "python3"])
        .arg(root().join("scripts/lab_tcp.py"))
        .args(["connect", "10.10.0.1", "2049"])
        .status()
        .unwrap()
        .success()
}

fn wait_for_vip() {
    let t0 = Instant::now();
    while !connect() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the VIP never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One console request (JSON) to the appliance whose configuration is `cfg`; returns the data.
fn console(cfg: &Path, req: &str) -> serde_json::Value {
    let socket = Config::load(cfg).unwrap().console_socket();
    let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    std::io::Write::write_all(&mut &s, format!("{req}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["ok"], true, "{req}: {v}");
    v["data"].clone()
}

#[derive(Debug)]
enum Event {
    Reset(u16, Instant),
    Error(u16, String),
    Done(u16, u64),
}

/// Runs one membership change: `before` nodes configured, then the configuration `after` is loaded with
/// SIGHUP while the client keeps sending.
fn membership_change(layout: Layout, workers: usize, nodes_in_lab: usize, before: (usize, &str), after: (usize, &str)) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let began = Instant::now();
    let phase = |what: &str| eprintln!("[{:7.2}s] {what}", began.elapsed().as_secs_f64());
    let mut lab = Lab::up(nodes_in_lab, layout, workers);
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
    wait_for_vip();
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
    // The appliances list the fan-outs they started on their consoles. Usually the first (single, or the
    // spine) starts them all; a chassis appliance that took the change before its spine starts its own.
    let mut clients = BTreeSet::new();
    for (who, cfg, _, _) in &appliances {
        let listed = console(cfg, "{\"cmd\":\"resets\"}");
        for e in listed.as_array().unwrap().iter().filter(|e| e["started_by"] == "node RST") {
            clients.insert(e["client"].as_str().unwrap().to_string());
        }
        eprintln!("{who}: {} fan-outs listed", listed.as_array().unwrap().len());
    }
    for p in &moved {
        assert!(clients.contains(&format!("192.0.2.100:{p}")), "fan-out for {p} listed: {clients:?}");
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
    assert!(totals["fanouts_started"] >= moved, "{totals:?}");
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
    membership_change(Layout::Single, 1, 5, (4, ""), (5, ""));
}

#[test]
fn single_draining_a_node_resets_its_connections_and_clears_them_on_it() {
    membership_change(Layout::Single, 1, 4, (4, ""), (4, "n2"));
}

#[test]
fn tiered_adding_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 1, 5, (4, ""), (5, ""));
}

#[test]
fn tiered_draining_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 1, 4, (4, ""), (4, "n2"));
}

#[test]
fn two_workers_single_adding_a_node_resets_exactly_the_connections_that_move_to_it() {
    membership_change(Layout::Single, 2, 5, (4, ""), (5, ""));
}

#[test]
fn two_workers_single_draining_a_node_resets_its_connections_and_clears_them_on_it() {
    membership_change(Layout::Single, 2, 4, (4, ""), (4, "n2"));
}

#[test]
fn two_workers_tiered_adding_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 2, 5, (4, ""), (5, ""));
}

#[test]
fn two_workers_tiered_draining_a_node_resets_through_spine_and_chassis() {
    membership_change(Layout::Tiered, 2, 4, (4, ""), (4, "n2"));
}

/// Runs `CONNS` connections from source ports `base..` for `secs` seconds from the client namespace; after `look` seconds returns
/// which node holds each, then waits for the client: every connection must have echoed throughout.
fn run_client(lab: &mut Lab, base: u16, secs: u32, look: u64) -> BTreeMap<u16, String> {
    let client = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", "sl-cli", "python3"])
            .arg(root().join("scripts/lab_tcp.py"))
            .args(["client", "10.10.0.1", "2049", &CONNS.to_string(), &secs.to_string(), &base.to_string()])
            .stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(look));
    let mut holder = BTreeMap::new();
    for (node, ports) in holders_from(4, base) {
        for p in ports {
            holder.insert(p, node.clone());
        }
    }
    let out = lab.children[client].wait_with_output_ref();
    let done = out.lines().filter(|l| l.contains("\"done\"")).count();
    assert_eq!(done, CONNS as usize, "every connection ran to the end: {out}");
    holder
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> String;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let mut s = String::new();
        std::io::Read::read_to_string(self.stdout.as_mut().unwrap(), &mut s).unwrap();
        let _ = self.wait();
        s
    }
}

/// Health checks against real TCP servers: kill node n2's server and the appliance takes n2 down after
/// `fall` refused probes; every new connection then lands on the other nodes (those n2 would have had
/// among them, and nothing else moves). Restart it: n2 comes back after `rise` successes and takes its
/// own flows again.
#[test]
fn single_health_checks_take_a_dead_server_out_and_bring_it_back() {
    health_checks(1);
}

#[test]
fn two_workers_single_health_checks_take_a_dead_server_out_and_bring_it_back() {
    health_checks(2);
}

fn health_checks(workers: usize) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single, workers);
    let cfg = lab.write_config_with("single", 4, "", &[("LAB_HEALTH", "tcp")]);
    let json = lab.dir.path().join("single.json");
    let appliance = lab.start_appliance(&cfg, &json);
    wait_for_vip();
    let health_of = |node: &str| -> serde_json::Value {
        let h = console(&cfg, "{\"cmd\":\"health\"}");
        h["nodes"].as_array().unwrap().iter().find(|n| n["name"] == node).unwrap().clone()
    };
    let wait_health = |node: &str, want: &str| -> Duration {
        let t0 = Instant::now();
        loop {
            let h = health_of(node);
            if h["health"] == want {
                return t0.elapsed();
            }
            assert!(t0.elapsed() < Duration::from_secs(5), "{node} never went {want}: {h}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    std::thread::sleep(Duration::from_millis(600));
    for n in ["n1", "n2", "n3", "n4"] {
        let h = health_of(n);
        assert!(h["health"] == "up" && h["successes"].as_u64().unwrap() >= 2 && h["last"] == "SYN-ACK", "{h}");
    }
    // Three runs from three source-port ranges (closed connections linger in TIME_WAIT).
    let [b1, b2, b3] = [43000, 43100, 43200];
    let pred = |base| predicted_from(&cfg, base);
    for b in [b1, b2, b3] {
        assert!(pred(b).values().any(|n| n == "n2"), "some test flows hash to n2: {:?}", pred(b));
    }
    let all_up = run_client(&mut lab, b1, 1, 600);
    assert_eq!(all_up, pred(b1), "all up: every connection where its flow hashes");

    // Kill n2's server (child 1): its probes are refused, and it goes down.
    lab.children[1].kill().unwrap();
    lab.children[1].wait().unwrap();
    let took = wait_health("n2", "down");
    eprintln!("n2 down {took:?} after its server died");
    let h = health_of("n2");
    assert_eq!(h["last"], "RST: nothing listens", "{h}");
    let nodes = console(&cfg, "{\"cmd\":\"nodes\"}");
    let n2 = nodes.as_array().unwrap().iter().find(|n| n["name"] == "n2").unwrap();
    assert_eq!((n2["state"].as_str(), n2["health"].as_str()), (Some("active"), Some("down")), "{n2}");
    let without = run_client(&mut lab, b2, 1, 600);
    assert_eq!(without.len(), CONNS as usize);
    let p2 = pred(b2);
    for (p, n) in &without {
        assert_ne!(n, "n2", "nothing lands on the dead node");
        if p2[p] != "n2" {
            assert_eq!(n, &p2[p], "connection {p} of a healthy node stays where it hashes");
        }
    }

    // Restart it: back after `rise` successes, and its flows return to it.
    lab.start_server(2);
    let took = wait_health("n2", "up");
    eprintln!("n2 up {took:?} after its server restarted");
    assert_eq!(health_of("n2")["came_up"], 1);
    let again = run_client(&mut lab, b3, 1, 600);
    assert_eq!(again, pred(b3), "n2 takes its own flows again");

    sh(&["kill", "-TERM", &lab.children[appliance].id().to_string()], &[]);
    let status = lab.children[appliance].wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(lab.children[appliance].stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    assert!(err.contains("health: node n2 is down after 2 consecutive failures (RST: nothing listens)"), "{err}");
    assert!(err.contains("health: node n2 is up after 2 consecutive successes (SYN-ACK)"), "{err}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["counters_balance"], true);
    assert_eq!(s["mempool_in_use_at_exit"], 0);
    assert!(s["keys"]["health_probes_sent"].as_u64().unwrap() > 20, "{}", s["keys"]);
    assert!(s["drops"]["health_answer"].as_u64().unwrap() > 0);
}

/// Controller-VM affinity through real TCP: the client VM's connections all sit on the CVM it was
/// learned on; pinning it to another CVM moves them, the new CVM answers each with a RST, and the reset
/// path resets every one on the client and clears it on the old CVM within a second.
#[test]
fn single_affinity_move_resets_the_client_vms_connections_through_the_reset_path() {
    affinity_move(1);
}

#[test]
fn two_workers_single_affinity_move_resets_the_client_vms_connections_through_the_reset_path() {
    affinity_move(2);
}

fn affinity_move(workers: usize) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single, workers);
    let cfg = lab.write_config_with("single", 4, "", &[("LAB_AFFINITY", "1")]);
    let json = lab.dir.path().join("single.json");
    let appliance = lab.start_appliance(&cfg, &json);
    wait_for_vip();
    std::thread::sleep(Duration::from_millis(200));
    let aff = console(&cfg, "{\"cmd\":\"affinity\"}");
    assert_eq!(aff["total"], 1, "the client VM is learned from its first connection: {aff}");
    let cvm = aff["entries"][0]["node"].as_str().unwrap().to_string();
    let base = 44000;
    let client = lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", "sl-cli", "python3"])
            .arg(root().join("scripts/lab_tcp.py"))
            .args(["client", "10.10.0.1", "2049", &CONNS.to_string(), "4", &base.to_string()])
            .stdout(Stdio::piped()),
    );
    // Resets are timed here, as the client reports them (its own clock starts later than ours).
    let out = lab.children[client].stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .map(|l| (Instant::now(), l))
            .collect::<Vec<(Instant, String)>>()
    });
    std::thread::sleep(Duration::from_millis(1500));
    let held = holders_from(4, base);
    assert_eq!(held[&cvm].len(), CONNS as usize, "every connection of the client VM is on its CVM: {held:?}");
    assert!(predicted_from(&cfg, base).values().any(|n| *n != cvm), "without affinity they would spread");
    let to = ["n1", "n2", "n3", "n4"].into_iter().find(|n| *n != cvm).unwrap();
    let pinned_at = Instant::now();
    console(&cfg, &format!("{{\"cmd\":\"affinity_pin\",\"client\":\"192.0.2.100\",\"node\":\"{to}\"}}"));
    std::thread::sleep(Duration::from_millis(1000));
    let after = holders_from(4, base);
    assert!(after[&cvm].is_empty(), "the old CVM was cleared: {after:?}");
    let _ = lab.children[client].wait();
    let lines = reader.join().unwrap();
    let resets: Vec<Duration> = lines
        .iter()
        .filter(|(_, l)| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v["ev"] == "reset"))
        .map(|(at, _)| at.checked_duration_since(pinned_at).expect("no connection is reset before the pin"))
        .collect();
    assert_eq!(resets.len(), CONNS as usize, "every moved connection is reset: {lines:?}");
    for took in &resets {
        assert!(*took < Duration::from_secs(1), "a connection was reset {took:?} after the pin");
    }
    // New connections go to the pinned CVM.
    let again = run_client(&mut lab, base + 100, 1, 600);
    assert!(again.values().all(|n| n == to), "{again:?}");
    sh(&["kill", "-TERM", &lab.children[appliance].id().to_string()], &[]);
    let status = lab.children[appliance].wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(lab.children[appliance].stderr.as_mut().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{err}");
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(s["counters_balance"], true);
    assert_eq!(s["mempool_in_use_at_exit"], 0);
    assert!(s["resets"]["completions"].as_u64().unwrap() >= CONNS as u64, "{}", s["resets"]);
}
