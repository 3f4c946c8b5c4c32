//! Several appliances behind a router (scripts/ecmp_lab.sh), end to end: FRR spreads the VIP over the
//! appliances with BGP multipath (L4 hash), each appliance's BIRD announces it while `sluicectl speaker`
//! sees that appliance ready, and the nodes route back through the appliances over BGP. Real Linux TCP
//! throughout. The tests check that flows land where the router's own FIB predicts, that a graceful drain
//! and a `kill -9` of an appliance reset no connection, that a re-announced appliance takes its share back
//! with no reset, that a fleet-wide node drain resets exactly the moved connections and clears their stale
//! holders whichever appliance the nodes' answers reach, that a node drained on one appliance only resets
//! exactly the connections the router sends there (and `sluicectl fleet` flags the divergence), that one
//! appliance's health checks cannot split the fleet's view, and that every appliance's iSCSI portal sends
//! a login to the same CVM, before and after a fleet-wide drain. Needs root (namespaces, EAL).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_control::console::{apply, Request};
use sluice_control::{Config, Topology};
use sluice_dataplane::hash::Toeplitz;
use support::ecmp::{Fleet, CLIENT};
use support::lab::{self, seconds, sh, Events};

static ONE_LAB: Mutex<()> = Mutex::new(());

const NODES: usize = 4;

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_LAB.lock().unwrap_or_else(|e| e.into_inner())
}

/// The lab with `n` appliances, all started and announced (router and nodes route through every one).
fn fleet_up(n: usize, env: &[(&str, &str)]) -> Fleet {
    let mut f = Fleet::up(n, NODES, env);
    for k in 1..=n {
        f.start(k);
    }
    let all: Vec<usize> = (1..=n).collect();
    let t = f.wait_routes(&all, Duration::from_secs(20));
    let script = lab::root().join("scripts/ecmp_lab.sh");
    assert!(
        t.is_some(),
        "routes never led through every appliance: {}",
        sh(&["bash", script.to_str().unwrap(), "routes"], &[])
    );
    f.resolve_next_hops();
    f
}

/// The bulk client: `conns` connections from `ports.start`, each writing `size` bytes every `interval_ms`
/// for `secs` seconds after all are up. Waits until they are.
fn bulk(f: &mut Fleet, ports: &Range<u16>, secs: u32, size: usize, interval_ms: u64) -> Events {
    let conns = (ports.end - ports.start).to_string();
    let args = [
        "bulk",
        "10.10.0.1",
        "2049",
        &conns,
        &secs.to_string(),
        &ports.start.to_string(),
        &size.to_string(),
        &interval_ms.to_string(),
    ];
    let mut ev = lab::tcp_events(&mut f.children, "sl-cli", &args);
    ev.wait_for("start", Duration::from_secs(10)).expect("the bulk client starts");
    let ready = ev.wait_for("ready", Duration::from_secs(20)).expect("the bulk client connects");
    assert_eq!(ready["up"], ports.end - ports.start, "every connection came up");
    ev
}

/// What the client reported once it finished: reset ports (with seconds since its start), ports that
/// failed otherwise, and each finished connection's longest silence.
struct Outcome {
    resets: BTreeMap<u16, f64>,
    errors: Vec<String>,
    done: BTreeMap<u16, (u64, f64)>,
}

fn outcome(ev: &mut Events, ports: &Range<u16>, limit: Duration) -> Outcome {
    ev.wait_for("summary", limit).expect("the bulk client finishes");
    let port = |v: &Value| ports.start + v["conn"].as_u64().unwrap() as u16;
    let mut o = Outcome { resets: BTreeMap::new(), errors: Vec::new(), done: BTreeMap::new() };
    for v in &ev.all {
        match v["ev"].as_str() {
            Some("reset") => {
                o.resets.insert(port(v), seconds(&v["t"]));
            }
            Some("error") => o.errors.push(v.to_string()),
            Some("done") => {
                o.done.insert(port(v), (v["echoes"].as_u64().unwrap_or(0), seconds(&v["max_gap"])));
            }
            _ => {}
        }
    }
    o
}

/// The client's TCP retransmissions so far (nstat, absolute).
fn retransmissions(ns: &str) -> u64 {
    let out = sh(&["ip", "netns", "exec", ns, "nstat", "-az", "TcpRetransSegs"], &[]);
    out.lines().find_map(|l| l.strip_prefix("TcpRetransSegs")?.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

/// Waits until appliance `k` receives nothing for 500 ms; returns when its last packet arrived, counted from
/// `since` (None if it kept receiving for `limit`).
fn quiet_after(f: &Fleet, k: usize, since: Instant, limit: Duration) -> Option<Duration> {
    let mut last = (f.rx(k)?, Instant::now());
    while since.elapsed() < limit {
        std::thread::sleep(Duration::from_millis(50));
        let rx = f.rx(k)?;
        if rx != last.0 {
            last = (rx, Instant::now());
        } else if last.1.elapsed() >= Duration::from_millis(500) {
            return Some(last.1.saturating_duration_since(since));
        }
    }
    None
}

/// Which node each flow from the client's `ports` to the VIP reaches under `cfg`.
fn nodes_of(cfg: &Config, ports: Range<u16>) -> BTreeMap<u16, String> {
    let topo = Topology::build(cfg);
    let t = Toeplitz::new(&cfg.dataplane.hash_key.bytes);
    ports
        .map(|p| {
            let n = topo.lookup(t.hash_v4(CLIENT, lab::VIP, Some((p, lab::VIP_PORT)))).unwrap();
            (p, topo.nodes[n as usize].name.clone())
        })
        .collect()
}

#[test]
fn ecmp_flows_land_on_the_appliances_the_routers_own_hash_predicts() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let mut f = fleet_up(3, &[]);
    let mut caps = Vec::new();
    for k in 1..=3 {
        let path = f.dir.path().join(format!("syn-a{k}.txt"));
        let i = f.spawn(
            Command::new("ip")
                .args(["netns", "exec", &format!("sl-a{k}"), "tcpdump", "-i", "c0", "-nn", "-l"])
                .arg("tcp[tcpflags] & tcp-syn != 0 and dst port 2049")
                .stdout(std::fs::File::create(&path).unwrap())
                .stderr(Stdio::null()),
        );
        caps.push((i, path));
    }
    std::thread::sleep(Duration::from_millis(1500));
    f.wait_route_settled(Duration::from_secs(1), Duration::from_secs(10));
    let ports = 41000..41150;
    let predicted = f.predict(ports.start, ports.end - ports.start);
    let mut ev = bulk(&mut f, &ports, 2, 512, 100);
    let o = outcome(&mut ev, &ports, Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    let mut seen: BTreeMap<u16, BTreeSet<usize>> = BTreeMap::new();
    for (k, (i, path)) in caps.iter().enumerate() {
        support::stop(&mut f.children[*i]);
        for l in std::fs::read_to_string(path).unwrap().lines() {
            let Some(src) = l.split_whitespace().nth(2) else { continue };
            if let Some(p) = src.rsplit('.').next().and_then(|p| p.parse::<u16>().ok()) {
                if ports.contains(&p) {
                    seen.entry(p).or_default().insert(k + 1);
                }
            }
        }
    }
    assert_eq!(predicted, f.predict(ports.start, ports.end - ports.start), "the router's choices changed meanwhile");
    let wrong: Vec<_> = ports
        .clone()
        .filter(|p| seen.get(p).map(|s| s.iter().copied().collect::<Vec<_>>()) != Some(vec![predicted[p]]))
        .map(|p| (p, predicted[&p], seen.get(&p).cloned()))
        .collect();
    let share: Vec<usize> = (1..=3).map(|k| predicted.values().filter(|&&a| a == k).count()).collect();
    eprintln!("the router's prediction over {} flows: {share:?} per appliance", ports.len());
    assert!(wrong.is_empty(), "flows that did not land where the router predicts (port, predicted, seen): {wrong:?}");
    assert!(share.iter().all(|&s| s >= ports.len() / 10), "every appliance carries a share: {share:?}");
    assert!(o.resets.is_empty() && o.errors.is_empty(), "resets {:?} errors {:?}", o.resets, o.errors);
    assert_eq!(o.done.len(), ports.len());
    let status = f.fleet(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && text.contains("digests agree"), "fleet status: {text}");
}

#[test]
fn a_graceful_appliance_drain_resets_nothing_and_its_rx_falls_to_zero() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let mut f = fleet_up(3, &[]);
    let ports = 42000..42120;
    let rt0 = retransmissions("sl-cli");
    let mut ev = bulk(&mut f, &ports, 10, 1024, 50);
    std::thread::sleep(Duration::from_secs(2));
    let rx_before = f.rx(2).unwrap();
    let t = Instant::now();
    f.ctl(2, &["appliance", "drain"]);
    let cmd_ms = t.elapsed().as_secs_f64() * 1000.0;
    let conv = f.wait_routes(&[1, 3], Duration::from_secs(5)).expect("a2's routes withdrawn");
    let quiet = quiet_after(&f, 2, t, Duration::from_secs(6)).expect("a2 stops receiving");
    eprintln!(
        "graceful drain: command {cmd_ms:.0} ms; router and nodes converged {:.0} ms after it; a2's last packet {:.0} ms after it (rx {} before)",
        conv.as_secs_f64() * 1000.0,
        quiet.as_secs_f64() * 1000.0,
        rx_before
    );
    assert!(quiet <= Duration::from_secs(3), "a2's rx fell to 0 only after {quiet:?}");
    // Drained: it can be stopped without losing a packet.
    let (ok, err, _) = f.stop(2, Duration::from_secs(10));
    assert!(ok, "a2 stopped cleanly: {err}");
    // A ready appliance stopped without a drain withdraws first: it keeps forwarding until its speaker has
    // confirmed the withdrawal and settle_ms (1 s) has passed, so its routes are gone when it exits.
    std::thread::sleep(Duration::from_secs(1));
    let t3 = Instant::now();
    let (ok, err, _) = f.stop(3, Duration::from_secs(10));
    let took = t3.elapsed();
    eprintln!("SIGTERM to a ready appliance: stopped after {:.0} ms", took.as_secs_f64() * 1000.0);
    assert!(ok && err.contains("the speaker withdrew the VIPs"), "a3 withdrew, then stopped: {err}");
    assert!(took >= Duration::from_secs(1), "a3 waited for the withdrawal ({took:?})");
    assert!(
        !f.nexthops().contains(&3) && (1..=NODES).all(|i| !f.node_nexthops(i).contains(&3)),
        "a3's routes are gone"
    );
    let o = outcome(&mut ev, &ports, Duration::from_secs(30));
    let rt = retransmissions("sl-cli") - rt0;
    let gaps: Vec<f64> = o.done.values().map(|d| d.1).collect();
    let worst = gaps.iter().cloned().fold(0.0, f64::max);
    eprintln!("graceful drain: client retransmissions {rt}, longest silence of any connection {worst:.2} s");
    assert!(o.resets.is_empty() && o.errors.is_empty(), "resets {:?} errors {:?}", o.resets, o.errors);
    assert_eq!(o.done.len(), ports.len(), "every connection echoed to the end");
    assert!(o.done.values().all(|d| d.0 > 0));
    assert!(worst < 1.0, "no connection stalled (longest silence {worst:.2} s)");
}

#[test]
fn kill_9_of_an_appliance_stalls_its_connections_only_until_the_withdrawal_and_it_takes_its_share_back() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let mut f = fleet_up(3, &[]);
    let ports = 43000..43120;
    let rt0 = retransmissions("sl-cli");
    let mut ev = bulk(&mut f, &ports, 20, 1024, 50);
    let t = Instant::now();
    // Twice, a different appliance each time.
    for victim in [2, 3] {
        std::thread::sleep(Duration::from_secs(2));
        f.kill9(victim);
        let rest: Vec<usize> = (1..=3).filter(|&k| k != victim).collect();
        let conv = f.wait_routes(&rest, Duration::from_secs(5)).expect("the routes withdrawn after kill -9");
        eprintln!("kill -9 of a{victim}: router and nodes converged {:.0} ms after it", conv.as_secs_f64() * 1000.0);
        assert!(conv <= Duration::from_secs(3), "withdrawal took {conv:?}");
        std::thread::sleep(Duration::from_secs(2));
        // Back: the speaker sees it ready and announces again.
        f.start(victim);
        let back = f.wait_routes(&[1, 2, 3], Duration::from_secs(10)).expect("announced again");
        let rx0 = f.rx(victim).unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let rx1 = f.rx(victim).unwrap();
        eprintln!(
            "a{victim} re-announced {:.0} ms after its console answered; it then received {} packets in 2 s",
            back.as_secs_f64() * 1000.0,
            rx1 - rx0
        );
        assert!(rx1 - rx0 > 100, "a{victim} takes its share back ({} packets in 2 s)", rx1 - rx0);
    }
    let o = outcome(&mut ev, &ports, Duration::from_secs(40));
    let rt = retransmissions("sl-cli") - rt0;
    let mut gaps: Vec<f64> = o.done.values().map(|d| d.1).collect();
    gaps.sort_by(f64::total_cmp);
    let stalled = gaps.iter().filter(|&&g| g > 0.25).count();
    eprintln!(
        "kill -9 twice: {stalled} connections stalled over 0.25 s; silences p50 {:.2} s, max {:.2} s; client retransmissions {rt} (t = {:.1} s)",
        gaps[gaps.len() / 2],
        gaps.last().copied().unwrap_or(0.0),
        t.elapsed().as_secs_f64()
    );
    assert!(o.resets.is_empty() && o.errors.is_empty(), "resets {:?} errors {:?}", o.resets, o.errors);
    assert_eq!(o.done.len(), ports.len(), "every connection echoed to the end");
    assert!(gaps.last().copied().unwrap_or(0.0) <= 3.0, "a connection stalled longer than the withdrawal bound");
}

#[test]
fn a_fleet_wide_node_drain_resets_exactly_the_moved_connections_and_clears_their_stale_holders() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    fleet_wide_drain(3, 44000..44150);
}

#[test]
fn a_fleet_wide_node_drain_with_two_appliances_resets_exactly_the_moved_connections() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    fleet_wide_drain(2, 44200..44350);
}

/// Drops every SYN|ACK (the fan-out's probes; a node is never a client) arriving at node namespace `ns`,
/// with an nftables rule there, until `off` (or drop) takes it away.
struct ProbeLoss(&'static str);

impl ProbeLoss {
    fn on(ns: &'static str) -> ProbeLoss {
        let nft = |args: &[&str]| sh(&[&["ip", "netns", "exec", ns, "nft"][..], args].concat(), &[]);
        nft(&["add", "table", "inet", "sluice_loss"]);
        nft(&["add", "chain", "inet", "sluice_loss", "input", "{ type filter hook input priority -300; }"]);
        nft(&["add", "rule", "inet", "sluice_loss", "input", "tcp", "flags", "==", "0x12", "counter", "drop"]);
        ProbeLoss(ns)
    }

    /// Takes the rule away; how many segments it dropped.
    fn off(self) -> u64 {
        let out = sh(&["ip", "netns", "exec", self.0, "nft", "list", "chain", "inet", "sluice_loss", "input"], &[]);
        // "tcp flags == 0x12 counter packets 17 bytes 1020 drop"
        let dropped = out
            .split("counter packets ")
            .nth(1)
            .and_then(|r| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        drop(self);
        dropped
    }
}

impl Drop for ProbeLoss {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "exec", self.0, "nft", "delete", "table", "inet", "sluice_loss"])
            .status();
    }
}

fn fleet_wide_drain(n: usize, ports: Range<u16>) {
    let _g = lock();
    let mut f = fleet_up(n, &[]);
    let mut ev = bulk(&mut f, &ports, 8, 1024, 50);
    let start_wall = ev.all.iter().find(|v| v["ev"] == "start").map(|v| seconds(&v["wall"])).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let held = lab::holders(NODES, ports.clone());
    let moved: BTreeSet<u16> = held["n2"].clone();
    assert!(!moved.is_empty(), "n2 holds some of the connections");
    // The stale holder loses the first round of probes: every SYN|ACK reaching n2 in the first 450 ms is
    // dropped, so only the second round (resets.reprobe_ms, 600 ms) can draw its challenge ACKs.
    let loss = ProbeLoss::on("sl-n2");
    let t = Instant::now();
    let t_wall = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    let out = f.fleet(&["node", "drain", "n2"]);
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("sluicectl fleet node drain n2: {:.0} ms\n{text}", took.as_secs_f64() * 1000.0);
    assert!(out.status.success(), "fleet node drain: {text} {}", String::from_utf8_lossy(&out.stderr));
    std::thread::sleep(Duration::from_millis(450).saturating_sub(t.elapsed()));
    let lost = loss.off();
    eprintln!("first-round probes lost at n2: {lost}");
    assert!(lost > 0, "the first round reached n2 after the loss window");
    std::thread::sleep(Duration::from_secs(3));
    let stale: BTreeSet<u16> = lab::holders(NODES, ports.clone())["n2"].clone();
    let o = outcome(&mut ev, &ports, Duration::from_secs(30));
    let reset: BTreeSet<u16> = o.resets.keys().copied().collect();
    let late: Vec<_> = o.resets.iter().filter(|(_, &at)| start_wall + at - t_wall > 1.0).collect();
    let mut counters = BTreeMap::new();
    for k in 1..=n {
        let s = f.ask(k, r#"{"cmd":"stats"}"#).unwrap();
        for c in [
            "fanouts_started",
            "peer_entries",
            "frames_peers",
            "completions",
            "not_owner",
            "not_moved",
            "suppressed_rate",
            "suppressed_prefix",
            "refusals",
            "swallowed",
            "deferred",
            "rejudged_moved",
            "duplicate_frames",
            "entries_shared",
            "reprobes",
        ] {
            *counters.entry(c).or_insert(0) += s["resets"][c].as_u64().unwrap_or(0);
        }
    }
    eprintln!("{n} appliances: {} connections moved; fleet's reset counters {counters:?}", moved.len());
    assert_eq!(reset, moved, "exactly the connections n2 held were reset");
    assert!(late.is_empty(), "resets later than 1 s after the drain: {late:?}");
    assert!(o.errors.is_empty(), "{:?}", o.errors);
    assert!(stale.is_empty(), "n2 still holds {stale:?} 3 s after the drain");
    assert!(
        counters["frames_peers"] > 0 && counters["peer_entries"] > 0 && counters["completions"] >= moved.len() as u64,
        "every stale copy cleared by an exact RST, with peers' help: {counters:?}"
    );
    assert!(counters["reprobes"] >= moved.len() as u64, "every fan-out probed a second time: {counters:?}");
    assert!(f.fleet(&["status"]).status.success(), "the fleet agrees after a fleet-wide change");
}

#[test]
fn a_node_drained_on_one_appliance_only_resets_exactly_the_connections_routed_there_and_is_flagged() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let mut f = fleet_up(3, &[]);
    let ports = 45000..45150;
    let mut ev = bulk(&mut f, &ports, 7, 512, 50);
    std::thread::sleep(Duration::from_secs(2));
    let cfg = Config::load(&f.slots[0].cfg).unwrap();
    let after = apply(&cfg, &Request::NodeDrain { name: "n2".into() }).unwrap().unwrap();
    let (before, after) = (nodes_of(&cfg, ports.clone()), nodes_of(&after, ports.clone()));
    let via = f.predict(ports.start, ports.end - ports.start);
    let expected: BTreeSet<u16> = ports.clone().filter(|p| via[p] == 1 && before[p] != after[p]).collect();
    assert!(!expected.is_empty());
    f.ctl(1, &["nodes", "drain", "n2"]);
    let status = f.fleet(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(!status.status.success() && text.contains("DIVERGED"), "fleet status flags the divergence: {text}");
    let o = outcome(&mut ev, &ports, Duration::from_secs(30));
    let reset: BTreeSet<u16> = o.resets.keys().copied().collect();
    eprintln!("drained on a1 only: {} connections predicted to reset, {} reset", expected.len(), reset.len());
    assert_eq!(reset, expected, "exactly the connections the router sends to a1 whose node a1 changed");
    assert!(o.errors.is_empty(), "{:?}", o.errors);
}

#[test]
fn one_appliances_health_checks_cannot_split_the_fleet_and_a_majority_takes_a_node_out_everywhere() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let mut f = fleet_up(2, &[("LAB_HEALTH", "tcp"), ("LAB_HEALTH_SCOPE", "fleet")]);
    let digest = |f: &Fleet, k: usize| f.ask(k, r#"{"cmd":"status"}"#).unwrap()["digest"].as_str().unwrap().to_string();
    let local = |f: &Fleet, k: usize, n: &str| {
        let h = f.ask(k, r#"{"cmd":"health"}"#).unwrap();
        let node = h["nodes"].as_array().unwrap().iter().find(|x| x["name"] == n).cloned().unwrap();
        (node["health"].as_str().unwrap().to_string(), node["applied"].as_str().unwrap().to_string())
    };
    let wait = |f: &Fleet, k: usize, n: &str, want: &str| {
        let t0 = Instant::now();
        while local(f, k, n).0 != want {
            assert!(t0.elapsed() < Duration::from_secs(5), "a{k} never saw {n} {want}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    for k in 1..=2 {
        wait(&f, k, "n2", "up");
    }
    let d0 = digest(&f, 1);
    // a1 alone loses n2: its answers to a1's probes go nowhere.
    sh(&["ip", "-n", "sl-n2", "route", "add", "blackhole", "198.51.100.1/32"], &[]);
    wait(&f, 1, "n2", "down");
    let out = f.fleet(&["health", "--apply"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("one appliance's checks fail:\n{text}");
    assert_eq!(local(&f, 1, "n2"), ("down".into(), "up".into()), "a1 reports n2 down but its tables keep it");
    assert_eq!((digest(&f, 1), digest(&f, 2)), (d0.clone(), d0.clone()), "no split: both decide as before");
    assert!(f.fleet(&["status"]).status.success());
    // n2 really fails: both see it, a majority: out everywhere.
    support::stop(&mut f.children[1]);
    wait(&f, 2, "n2", "down");
    let t = Instant::now();
    let out = f.fleet(&["health", "--apply"]);
    let took = t.elapsed();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("both appliances' checks fail ({:.0} ms):\n{text}", took.as_secs_f64() * 1000.0);
    for k in 1..=2 {
        assert_eq!(local(&f, k, "n2").1, "down", "a{k} took n2 out by the fleet's verdict");
    }
    let d1 = digest(&f, 1);
    assert!(d1 != d0 && d1 == digest(&f, 2), "one new view: {d0} -> {d1} / {}", digest(&f, 2));
    assert!(f.fleet(&["status"]).status.success());
}

/// Where the portal sends a login to `target` (of group `group`) under `cfg`: the CVM's portal address.
fn portal_cvm(cfg: &Config, target: &str, group: Option<&str>) -> String {
    let macs = vec![[2, 0, 0, 0, 0, 1]; cfg.ports.len()];
    let ctx = sluice_dataplane::pipeline::Context::new(cfg, Topology::build(cfg), &macs, 1);
    let client: std::net::IpAddr = std::net::Ipv4Addr::from(CLIENT).into();
    let p = sluice_dataplane::portal::place::place(&ctx, &client.into(), target, group).expect("an active CVM");
    format!("{}:3260,1", ctx.topology.nodes[p.node() as usize].ip)
}

/// `count` logins to `target` at the VIP's portal from source ports `sport..`: TargetAddress → logins.
fn placed(target: &str, count: u16, sport: u16) -> BTreeMap<String, u64> {
    let out =
        lab::lab_tcp("sl-cli", &["iscsi-place", "10.10.0.1", "3260", target, &count.to_string(), &sport.to_string()])
            .output()
            .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["addresses"]
        .as_object()
        .map_or_else(BTreeMap::new, |m| m.iter().map(|(k, n)| (k.clone(), n.as_u64().unwrap())).collect())
}

#[test]
fn every_appliance_of_the_fleet_sends_a_login_to_the_same_cvm_before_and_after_a_fleet_wide_drain() {
    if support::skip_unless_root("network namespaces, FRR and BIRD") {
        return;
    }
    let _g = lock();
    let targets = [("iqn.2026-12.org.example:vol1", None), ("iqn.2026-12.org.example:vol2", Some("db"))];
    let f = fleet_up(3, &[("LAB_PORTAL", "iqn.2026-12.org.example:vol1 iqn.2026-12.org.example:vol2@db")]);
    f.wait_route_settled(Duration::from_secs(1), Duration::from_secs(10));
    let mut cfg = Config::load(&f.slots[0].cfg).unwrap();
    let mut sport = 43000;
    let mut logins = 0;
    for round in 0..2 {
        for (t, g) in targets {
            let want = portal_cvm(&cfg, t, g);
            let got = placed(t, 30, sport);
            sport += 30;
            logins += 30;
            assert_eq!(got, BTreeMap::from([(want.clone(), 30)]), "round {round}, {t}: every login to {want}");
        }
        if round == 0 {
            // Drain the CVM vol1 went to, on every appliance at once.
            let n = cfg
                .nodes
                .iter()
                .position(|n| want_is(&portal_cvm(&cfg, targets[0].0, None), &n.ip.to_string()))
                .unwrap();
            let name = cfg.nodes[n].name.clone();
            let out = f.fleet(&["node", "drain", &name]);
            assert!(out.status.success(), "fleet node drain {name}: {}", String::from_utf8_lossy(&out.stderr));
            cfg.nodes[n].state = sluice_control::config::NodeState::Draining;
        }
    }
    // The logins were answered by more than one appliance, and every one counted its own (the portals
    // report their counters every 100 ms).
    std::thread::sleep(Duration::from_millis(300));
    let per: Vec<u64> = (1..=3)
        .map(|k| {
            let p = f.ask(k, r#"{"cmd":"portal"}"#).unwrap();
            p["placements"].as_array().unwrap().iter().map(|r| r["by_target"].as_u64().unwrap()).sum()
        })
        .collect();
    eprintln!("logins answered per appliance: {per:?}");
    assert_eq!(per.iter().sum::<u64>(), logins);
    assert!(per.iter().filter(|&&n| n > 0).count() >= 2, "the router spread the logins: {per:?}");
    let status = f.fleet(&["status"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success() && text.contains("digests agree"), "fleet status: {text}");
}

/// `addr` (`ip:port,tpgt`) is node address `ip`'s portal.
fn want_is(addr: &str, ip: &str) -> bool {
    addr.split(':').next() == Some(ip)
}
