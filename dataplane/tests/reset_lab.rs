//! End to end through real Linux TCP stacks (scripts/lab.sh: a client namespace and node namespaces
//! around sluice on net_af_packet): connections carry data both ways; then membership changes while the
//! client keeps sending, and every connection whose flow moved is reset at once on the client and cleared
//! on the node that held it, while no other connection is disturbed. Needs root (namespaces, EAL).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_control::Config;
use support::lab::{self, Appliance, Lab, Layout};

static ONE_LAB: Mutex<()> = Mutex::new(());

const CONNS: u16 = 24;
const SPORT: u16 = 41000;

/// The appliances of a layout, in the order they start.
fn appliances(layout: Layout) -> &'static [&'static str] {
    match layout {
        Layout::Single => &["single"],
        Layout::Tiered => &["spine", "chassis-a", "chassis-b"],
    }
}

/// Appliance `who`'s configuration: `nodes` nodes, those in `drain` draining, `workers` workers, and the
/// extra lab knobs `env`.
fn config(lab: &Lab, who: &str, nodes: usize, drain: &str, workers: usize, env: &[(&str, &str)]) -> PathBuf {
    let workers = workers.to_string();
    let mut e = vec![("LAB_DRAIN", drain), ("LAB_WORKERS", workers.as_str())];
    e.extend_from_slice(env);
    lab.write_config(who, nodes, &e)
}

/// Established connections to the VIP per node namespace, among the `CONNS` from source port `base`.
fn holders_from(nodes: usize, base: u16) -> BTreeMap<String, BTreeSet<u16>> {
    lab::holders(nodes, base..base + CONNS)
}

/// Which node each of the `CONNS` connections from source port `base` hashes to under `cfg`.
fn predicted_from(cfg: &Path, base: u16) -> BTreeMap<u16, String> {
    lab::predicted(&Config::load(cfg).unwrap(), base..base + CONNS)
}

/// The client namespace's lab_tcp.py client: `CONNS` connections from `base` for `secs` seconds.
fn client(lab: &mut Lab, base: u16, secs: u32) -> usize {
    lab.spawn(
        lab::lab_tcp(
            "sl-cli",
            &["client", "10.10.0.1", "2049", &CONNS.to_string(), &secs.to_string(), &base.to_string()],
        )
        .stdout(Stdio::piped()),
    )
}

/// Stops an appliance with SIGTERM: it must exit cleanly with its counters balanced and every mbuf back.
/// Returns its stderr and stats.
fn stop_clean(lab: &mut Lab, a: &Appliance) -> (String, serde_json::Value) {
    let (ok, err, s) = lab.stop_appliance(a);
    assert!(ok, "{}: {err}", a.who);
    assert_eq!(s["counters_balance"], true, "{}", a.who);
    assert_eq!(s["mempool_in_use_at_exit"], 0, "{}", a.who);
    (err, s)
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
    let mut lab = Lab::up(nodes_in_lab, layout);
    let mut running = Vec::new();
    for who in appliances(layout) {
        let cfg = config(&lab, who, before.0, before.1, workers, &[]);
        running.push(lab.start_appliance(who, &cfg, who));
    }
    let cfg = running[0].cfg.clone();
    phase("appliances started");
    // Wait until the VIP answers (EAL start, ARP).
    lab::wait_for_vip();
    phase("the VIP answers");
    let client = client(&mut lab, SPORT, 6);
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
    let held = holders_from(nodes_in_lab, SPORT);
    let before_pred = predicted_from(&cfg, SPORT);
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
    for a in &running {
        config(&lab, &a.who, after.0, after.1, workers, &[]);
    }
    let after_pred = predicted_from(&cfg, SPORT);
    let moved: BTreeSet<u16> = holder_of.iter().filter(|(p, n)| after_pred[*p] != **n).map(|(p, _)| *p).collect();
    assert!(!moved.is_empty(), "the change moves at least one live connection");
    let pids: Vec<String> = running.iter().map(|a| lab.children[a.child].id().to_string()).collect();
    phase("changing membership");
    let changed = Instant::now();
    for pid in &pids {
        lab::sh(&["kill", "-HUP", pid], &[]);
    }

    // Within a second: every moved connection is reset on the client and gone from its old node.
    std::thread::sleep(Duration::from_millis(1000));
    let held_after = holders_from(nodes_in_lab, SPORT);
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
    for a in &running {
        let listed = lab::console(&a.cfg, "{\"cmd\":\"resets\"}");
        for e in listed.as_array().unwrap().iter().filter(|e| e["started_by"] == "node RST") {
            clients.insert(e["client"].as_str().unwrap().to_string());
        }
        eprintln!("{}: {} fan-outs listed", a.who, listed.as_array().unwrap().len());
    }
    for p in &moved {
        assert!(clients.contains(&format!("192.0.2.100:{p}")), "fan-out for {p} listed: {clients:?}");
    }
    // New connections to the VIP succeed.
    for _ in 0..3 {
        assert!(lab::connect(), "a new connection after the change failed");
    }
    phase("new connections succeed");
    let mut totals: BTreeMap<String, u64> = BTreeMap::new();
    for a in &running {
        let (err, s) = stop_clean(&mut lab, a);
        let who = &a.who;
        phase(&format!("{who} stopped"));
        assert!(err.contains("reloaded"), "{who}: {err}");
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
        // Each of the spine's fan-outs reaches both chassis. (A chassis that took the change before the
        // spine starts the fan-outs the spine cannot see the need for.)
        let spine = totals["spine.fanouts_started"];
        assert_eq!(totals["spine.frames_tier1"], 2 * spine, "each fan-out reaches both chassis: {totals:?}");
        assert_eq!(totals["spine.frames_tier2"], 0, "the spine never probes nodes itself");
        assert_eq!(totals["spine.completions"], 0);
    }
}

#[test]
fn single_adding_a_node_resets_exactly_the_connections_that_move_to_it() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Single, 1, 5, (4, ""), (5, ""));
}

#[test]
fn single_draining_a_node_resets_its_connections_and_clears_them_on_it() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Single, 1, 4, (4, ""), (4, "n2"));
}

#[test]
fn tiered_adding_a_node_resets_through_spine_and_chassis() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Tiered, 1, 5, (4, ""), (5, ""));
}

#[test]
fn tiered_draining_a_node_resets_through_spine_and_chassis() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Tiered, 1, 4, (4, ""), (4, "n2"));
}

#[test]
fn two_workers_single_adding_a_node_resets_exactly_the_connections_that_move_to_it() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Single, 2, 5, (4, ""), (5, ""));
}

#[test]
fn two_workers_single_draining_a_node_resets_its_connections_and_clears_them_on_it() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Single, 2, 4, (4, ""), (4, "n2"));
}

#[test]
fn two_workers_tiered_adding_a_node_resets_through_spine_and_chassis() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Tiered, 2, 5, (4, ""), (5, ""));
}

#[test]
fn two_workers_tiered_draining_a_node_resets_through_spine_and_chassis() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    membership_change(Layout::Tiered, 2, 4, (4, ""), (4, "n2"));
}

/// Runs `CONNS` connections from source ports `base..` for `secs` seconds from the client namespace; after `look` seconds returns
/// which node holds each, then waits for the client: every connection must have echoed throughout.
fn run_client(lab: &mut Lab, base: u16, secs: u32, look: u64) -> BTreeMap<u16, String> {
    let client = client(lab, base, secs);
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
    if support::skip_unless_root("network namespaces") {
        return;
    }
    health_checks(1);
}

#[test]
fn two_workers_single_health_checks_take_a_dead_server_out_and_bring_it_back() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    health_checks(2);
}

fn health_checks(workers: usize) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single);
    let cfg = config(&lab, "single", 4, "", workers, &[("LAB_HEALTH", "tcp")]);
    let appliance = lab.start_appliance("single", &cfg, "single");
    lab::wait_for_vip();
    let health_of = |node: &str| -> serde_json::Value {
        let h = lab::console(&cfg, "{\"cmd\":\"health\"}");
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
    let nodes = lab::console(&cfg, "{\"cmd\":\"nodes\"}");
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
    lab.spawn(lab::lab_tcp("sl-n2", &["server", "2049"]).stdout(Stdio::null()).stderr(Stdio::null()));
    let took = wait_health("n2", "up");
    eprintln!("n2 up {took:?} after its server restarted");
    assert_eq!(health_of("n2")["came_up"], 1);
    let again = run_client(&mut lab, b3, 1, 600);
    assert_eq!(again, pred(b3), "n2 takes its own flows again");

    let (err, s) = stop_clean(&mut lab, &appliance);
    assert!(err.contains("health: node n2 is down after 2 consecutive failures (RST: nothing listens)"), "{err}");
    assert!(err.contains("health: node n2 is up after 2 consecutive successes (SYN-ACK)"), "{err}");
    assert!(s["keys"]["health_probes_sent"].as_u64().unwrap() > 20, "{}", s["keys"]);
    assert!(s["drops"]["health_answer"].as_u64().unwrap() > 0);
}

/// Controller-VM affinity through real TCP: the client VM's connections all sit on the CVM it was
/// learned on; pinning it to another CVM moves them, the new CVM answers each with a RST, and the reset
/// path resets every one on the client and clears it on the old CVM within a second.
#[test]
fn single_affinity_move_resets_the_client_vms_connections_through_the_reset_path() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    affinity_move(1);
}

#[test]
fn two_workers_single_affinity_move_resets_the_client_vms_connections_through_the_reset_path() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    affinity_move(2);
}

fn affinity_move(workers: usize) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single);
    let cfg = config(&lab, "single", 4, "", workers, &[("LAB_AFFINITY", "1")]);
    let appliance = lab.start_appliance("single", &cfg, "single");
    lab::wait_for_vip();
    std::thread::sleep(Duration::from_millis(200));
    let aff = lab::console(&cfg, "{\"cmd\":\"affinity\"}");
    assert_eq!(aff["total"], 1, "the client VM is learned from its first connection: {aff}");
    let cvm = aff["entries"][0]["node"].as_str().unwrap().to_string();
    let base = 44000;
    let client = client(&mut lab, base, 4);
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
    lab::console(&cfg, &format!("{{\"cmd\":\"affinity_pin\",\"client\":\"192.0.2.100\",\"node\":\"{to}\"}}"));
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
    let (_, s) = stop_clean(&mut lab, &appliance);
    assert!(s["resets"]["completions"].as_u64().unwrap() >= CONNS as u64, "{}", s["resets"]);
}
