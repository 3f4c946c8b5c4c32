//! The iSCSI portal end to end (scripts/lab.sh, single layout, three nodes): `tgtd` is the target in each
//! node namespace, on the node's own address, exporting the same targets (each LUN's serial names the
//! node), and libiscsi's tools are the initiator in the client namespace. Discovery and login go through
//! the VIP; the portal sends each login to its CVM, which is checked in that node's own `tgtadm` session
//! list and in the serial the LUN reports; reads run over the session, and blocks written by a second,
//! independent initiator (`lab_tcp.py iscsi-write`) land in that node's image alone. Pins, drains and failed health
//! checks steer new logins; malformed PDUs, oversized ones, silent clients and a SYN flood are refused,
//! counted and bounded while the dataplane keeps forwarding. Needs root (namespaces, EAL).

mod support;

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sluice_control::config::NodeState;
use sluice_control::{Config, Topology};
use sluice_dataplane::pipeline::Context;
use sluice_dataplane::portal::place::{place, Placement};
use support::lab::{self, Appliance, Lab, Layout};

static ONE_LAB: Mutex<()> = Mutex::new(());

const NODES: usize = 3;
const VIP: &str = "10.10.0.1";
const CLIENT: &str = "192.0.2.100";
/// The targets every node exports, with their groups (`vol3` and `vol4` are placed together).
const TARGETS: [(&str, Option<&str>); 4] = [
    ("iqn.2026-12.org.example:vol1", None),
    ("iqn.2026-12.org.example:vol2", None),
    ("iqn.2026-12.org.example:vol3", Some("db")),
    ("iqn.2026-12.org.example:vol4", Some("db")),
];

fn node_ip(k: usize) -> String {
    format!("198.51.100.{}", 10 + k)
}

/// tgtd's management port in node `k`'s namespace (its socket is a file, shared by every namespace).
fn tgt_port(k: usize) -> String {
    format!("{}", 31000 + k)
}

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn tgtadm(k: usize, args: &[&str]) -> String {
    let (ok, out) = run(Command::new("tgtadm").args(["-C", &tgt_port(k), "--lld", "iscsi"]).args(args));
    assert!(ok, "tgtadm {args:?} on n{k}: {out}");
    out
}

/// A libiscsi tool in the client namespace, with a time limit.
fn initiator(tool: &str, args: &[&str]) -> (bool, String) {
    run(Command::new("ip").args(["netns", "exec", "sl-cli", "timeout", "20", tool]).args(args))
}

fn lun_url(target: &str) -> String {
    format!("iscsi://{VIP}/{target}/1")
}

/// The lab, a tgtd per node and the appliance with its portal.
struct PortalLab {
    lab: Lab,
    cfg: PathBuf,
    app: Option<Appliance>,
}

impl PortalLab {
    fn up(env: &[(&str, &str)]) -> PortalLab {
        let mut lab = Lab::up(NODES, Layout::Single);
        // The client reaches the CVMs' own portals through the appliance.
        lab::sh(&["ip", "-n", "sl-cli", "route", "add", "198.51.100.0/24", "via", "192.0.2.1"], &[]);
        for k in 1..=NODES {
            let log = std::fs::File::create(lab.dir.path().join(format!("tgtd-n{k}.log"))).unwrap();
            let portal = format!("portal={}:3260", node_ip(k));
            lab.spawn(
                Command::new("ip")
                    .args(["netns", "exec", &format!("sl-n{k}"), "tgtd", "-f", "--iscsi", &portal, "-C", &tgt_port(k)])
                    .stdout(Stdio::null())
                    .stderr(log),
            );
        }
        for k in 1..=NODES {
            let t0 = Instant::now();
            while !run(Command::new("tgtadm").args(["-C", &tgt_port(k), "--op", "show", "--mode", "sys"])).0 {
                assert!(t0.elapsed() < Duration::from_secs(10), "tgtd on n{k} never answered");
                std::thread::sleep(Duration::from_millis(100));
            }
            for (i, (name, _)) in TARGETS.iter().enumerate() {
                let tid = (i + 1).to_string();
                let img = lab.dir.path().join(format!("n{k}-{i}.img"));
                std::fs::File::create(&img).unwrap().set_len(8 << 20).unwrap();
                tgtadm(k, &["--op", "new", "--mode", "target", "--tid", &tid, "-T", name]);
                tgtadm(
                    k,
                    &["--op", "new", "--mode", "logicalunit", "--tid", &tid, "--lun", "1", "-b", img.to_str().unwrap()],
                );
                let sn = format!("scsi_sn=n{k}-{}", i + 1);
                tgtadm(k, &["--op", "update", "--mode", "logicalunit", "--tid", &tid, "--lun", "1", "--params", &sn]);
                tgtadm(k, &["--op", "bind", "--mode", "target", "--tid", &tid, "-I", "ALL"]);
            }
        }
        let targets: Vec<String> =
            TARGETS.iter().map(|(n, g)| g.map_or(n.to_string(), |g| format!("{n}@{g}"))).collect();
        let targets = targets.join(" ");
        let mut e: Vec<(&str, &str)> = vec![("LAB_PORTAL", &targets)];
        e.extend_from_slice(env);
        let cfg = lab.write_config("single", NODES, &e);
        let app = lab.start_appliance("single", &cfg, "single");
        lab::wait_for_vip();
        let pl = PortalLab { lab, cfg, app: Some(app) };
        if env.iter().any(|(k, _)| *k == "LAB_HEALTH") {
            // Placement is by the active CVMs: wait until every node has passed its checks.
            let t0 = Instant::now();
            while pl.sluicectl("health", &[]).lines().filter(|l| l.starts_with('n') && l.contains(" up ")).count()
                < NODES
            {
                assert!(t0.elapsed() < Duration::from_secs(10), "the nodes never all came up");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        pl
    }

    /// Where the portal should send a login to `target` now: the pure function over the configuration
    /// with `states` applied (and no affinity entry).
    fn expected(&self, target: &str, states: &[(&str, NodeState)]) -> String {
        let mut cfg = Config::load(&self.cfg).unwrap();
        for (name, s) in states {
            cfg.nodes.iter_mut().find(|n| n.name == *name).unwrap().state = *s;
        }
        let macs = vec![[2, 0, 0, 0, 0, 1]; cfg.ports.len()];
        let ctx = Context::new(&cfg, Topology::build(&cfg), &macs, 1);
        let group = TARGETS.iter().find(|(n, _)| *n == target).unwrap().1;
        let client: IpAddr = CLIENT.parse().unwrap();
        match place(&ctx, &client.into(), target, group).expect("an active CVM") {
            Placement::Target(n) => ctx.topology.nodes[n as usize].name.clone(),
            p => panic!("{target}: placed by {p:?}, not by its hash"),
        }
    }

    /// `sluicectl CMD --config CFG ARGS`.
    fn sluicectl(&self, cmd: &str, args: &[&str]) -> String {
        let (ok, out) = run(Command::new(lab::sluicectl()).arg(cmd).arg("--config").arg(&self.cfg).args(args));
        assert!(ok, "sluicectl {cmd} {args:?}: {out}");
        out
    }

    fn portal(&self) -> serde_json::Value {
        // The portal reports every 100 ms.
        std::thread::sleep(Duration::from_millis(250));
        lab::console(&self.cfg, "{\"cmd\":\"portal\"}")
    }

    /// Stops the appliance and checks that it stopped clean with every mbuf back and the counters
    /// balanced; returns its summary.
    fn stop(&mut self) -> serde_json::Value {
        let app = self.app.take().expect("running");
        let (clean, err, s) = self.lab.stop_appliance(&app);
        assert!(clean, "{err}");
        assert_eq!(s["counters_balance"], true, "{s}");
        assert_eq!(s["mempool_in_use_at_exit"], 0);
        s
    }
}

/// The node (n1..) whose LUN answered: the serial tgtd was given there.
fn serving_node(target: &str) -> String {
    let (ok, out) = initiator("iscsi-inq", &["-e", "1", "-c", "128", &lun_url(target)]);
    assert!(ok, "iscsi-inq {target}: {out}");
    let sn = out.split('[').nth(1).and_then(|s| s.split(']').next()).unwrap_or_default().trim().to_string();
    sn.split('-').next().unwrap_or_default().to_string()
}

/// Nodes whose tgtd lists a session (I_T nexus) from the client on `target`.
fn sessions_on(target: &str) -> Vec<String> {
    let tid = TARGETS.iter().position(|(n, _)| *n == target).unwrap() + 1;
    (1..=NODES)
        .filter(|k| {
            let out = tgtadm(*k, &["--op", "show", "--mode", "target"]);
            let this = out.split(&format!("Target {tid}: ")).nth(1).unwrap_or("");
            let nexus = this.split("I_T nexus information:").nth(1).unwrap_or("");
            let nexus = nexus.split("LUN information:").next().unwrap_or("");
            nexus.contains(CLIENT)
        })
        .map(|k| format!("n{k}"))
        .collect()
}

/// A read load on `target` through a live session for as long as the child runs.
fn read_load(lab: &mut Lab, target: &str) -> usize {
    lab.spawn(
        Command::new("ip")
            .args(["netns", "exec", "sl-cli", "iscsi-perf", "-m", "4", "-b", "8"])
            .arg(lun_url(target))
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    )
}

/// Waits until `target`'s live session shows in some node's session list; returns those nodes.
fn wait_for_session(target: &str) -> Vec<String> {
    let t0 = Instant::now();
    loop {
        let s = sessions_on(target);
        if !s.is_empty() || t0.elapsed() > Duration::from_secs(10) {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn discovery_and_login_through_the_vip_land_each_session_on_its_cvm_and_io_runs_there() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    // Two workers: the portal takes segments from either, and worker 0 sends its answers.
    let mut pl = PortalLab::up(&[("LAB_WORKERS", "2")]);

    // Discovery lists every target at the VIP; `-s` logs in to each (following the redirect) and lists
    // its LUNs.
    let (ok, out) = initiator("iscsi-ls", &["-s", &format!("iscsi://{VIP}")]);
    assert!(ok, "iscsi-ls: {out}");
    for (t, _) in TARGETS {
        assert!(out.contains(&format!("Target:{t} Portal:{VIP}:3260,1")), "{t} listed at the VIP: {out}");
    }
    assert_eq!(out.matches("Type:DIRECT_ACCESS").count(), TARGETS.len(), "a disk per target: {out}");

    let mut placed = std::collections::BTreeMap::<String, u64>::new();
    for (t, _) in TARGETS {
        let want = pl.expected(t, &[]);
        // A live session: on the expected node's session list, and on no other.
        let perf = read_load(&mut pl.lab, t);
        let holders = wait_for_session(t);
        support::stop(&mut pl.lab.children[perf]);
        assert_eq!(holders, vec![want.clone()], "{t}: the session is on {want} alone");
        assert_eq!(serving_node(t), want, "{t}: the LUN that answers is {want}'s");
        let (ok, cap) = initiator("iscsi-readcapacity16", &[&lun_url(t)]);
        assert!(ok && cap.contains("Total size:8388608"), "{t}: {cap}");
        // Writes, by a second initiator (lab_tcp.py's own): the blocks land in the placed node's image.
        let i = TARGETS.iter().position(|(n, _)| *n == t).unwrap();
        let lba = 100 + 64 * i as u64;
        let out = lab::lab_tcp("sl-cli", &["iscsi-write", VIP, "3260", t, &lba.to_string(), "8"]).output().unwrap();
        let w: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        assert_eq!((&w["wrote"], &w["matched"]), (&true.into(), &true.into()), "{t}: {w}");
        let pattern: Vec<u8> = (0..4096u64).map(|k| ((lba + k) % 251) as u8).collect();
        for k in 1..=NODES {
            let img = std::fs::read(pl.lab.dir.path().join(format!("n{k}-{i}.img"))).unwrap();
            let at = lba as usize * 512;
            let here = img[at..at + 4096] == pattern[..];
            assert_eq!(here, format!("n{k}") == want, "{t}: the written blocks are on {want} alone (n{k}: {here})");
        }
        // iscsi-ls -s, the load, iscsi-inq, readcapacity and the writer: five logins each.
        *placed.entry(want).or_default() += 5;
    }
    let groups: Vec<String> =
        ["iqn.2026-12.org.example:vol3", "iqn.2026-12.org.example:vol4"].iter().map(|t| pl.expected(t, &[])).collect();
    assert_eq!(groups[0], groups[1], "one group, one CVM");

    // I/O through the redirected session: reads run for a second and a half.
    let (_, perf) = run(Command::new("ip").args([
        "netns",
        "exec",
        "sl-cli",
        "timeout",
        "-s",
        "INT",
        "1.5",
        "iscsi-perf",
        "-m",
        "8",
        "-b",
        "8",
        &lun_url(TARGETS[0].0),
    ]));
    let iops = perf.split("iops average ").nth(1).and_then(|s| s.split_whitespace().next()).unwrap_or("0");
    assert!(iops.parse::<u64>().unwrap_or(0) > 0, "reads ran: {perf}");
    *placed.entry(pl.expected(TARGETS[0].0, &[])).or_default() += 1;

    let p = pl.portal();
    eprintln!("portal: {p}");
    assert_eq!(p["discoveries"], 1);
    assert_eq!(p["send_targets"], 1);
    let by_node: std::collections::BTreeMap<String, u64> = p["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert_eq!(r["by_affinity"], 0, "no affinity here: {r}");
            (r["node"].as_str().unwrap().to_string(), r["by_target"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(by_node, placed, "every login counted on the CVM it went to");
    assert_eq!(p["refused"].as_object().map_or(0, |m| m.len()), 0, "nothing refused: {p}");
    let shown = pl.sluicectl("portal", &[]);
    assert!(shown.contains("discoveries 1"), "{shown}");

    let s = pl.stop();
    assert!(s["drops"]["portal_in"].as_u64().unwrap() > 0, "{s}");
    assert_eq!(s["drops"]["portal_queue_full"], 0);
}

#[test]
fn pins_drains_and_failed_health_checks_steer_new_logins() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut pl = PortalLab::up(&[("LAB_AFFINITY", "1"), ("LAB_HEALTH", "tcp")]);
    let t = TARGETS[0].0;
    let home = pl.expected(t, &[]);
    // The VIP's echo traffic that showed it up taught the client a CVM already: forget it.
    pl.sluicectl("affinity", &["flush"]);

    // The first login goes by the target's hash; the connection to the CVM's portal teaches affinity,
    // and the initiator's next login to another target follows it.
    assert_eq!(serving_node(t), home);
    let other = TARGETS.iter().map(|(n, _)| *n).find(|n| pl.expected(n, &[]) != home).expect("a target elsewhere");
    let t0 = Instant::now();
    let learned = loop {
        let a = lab::console(&pl.cfg, "{\"cmd\":\"affinity\"}");
        let entry = a["entries"].as_array().and_then(|e| e.iter().find(|x| x["client"] == CLIENT).cloned());
        if let Some(e) = entry {
            break e["node"].as_str().unwrap().to_string();
        }
        assert!(t0.elapsed() < Duration::from_secs(5), "the client's CVM was never learned: {a}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(learned, home, "the connection to {home}'s portal taught the client's CVM");
    assert_eq!(serving_node(other), home, "{other}: the initiator's CVM wins over the target's hash");

    // A pin sends it elsewhere.
    let pinned = (1..=NODES).map(|k| format!("n{k}")).find(|n| *n != home).unwrap();
    pl.sluicectl("affinity", &["pin", CLIENT, &pinned]);
    assert_eq!(serving_node(t), pinned, "{t}: the pin wins");
    pl.sluicectl("affinity", &["unpin", CLIENT]);
    pl.sluicectl("affinity", &["flush"]);

    // A drained CVM gets no new login: the re-login goes where the hash over the others says.
    let drained = home.clone();
    pl.sluicectl("nodes", &["drain", &drained]);
    pl.sluicectl("affinity", &["flush"]);
    let after = pl.expected(t, &[(&drained, NodeState::Draining)]);
    assert_ne!(after, drained);
    assert_eq!(serving_node(t), after, "{t}: not to the draining {drained}");
    pl.sluicectl("nodes", &["undrain", &drained]);
    pl.sluicectl("affinity", &["flush"]);

    // A CVM that fails its health check (its service port refuses) gets none either.
    let k = drained[1..].parse::<usize>().unwrap();
    let ns = format!("sl-n{k}");
    lab::sh(&["ip", "netns", "exec", &ns, "nft", "add", "table", "inet", "sick"], &[]);
    lab::sh(
        &[
            "ip",
            "netns",
            "exec",
            &ns,
            "nft",
            "add",
            "chain",
            "inet",
            "sick",
            "in",
            "{ type filter hook input priority 0; }",
        ],
        &[],
    );
    lab::sh(
        &[
            "ip", "netns", "exec", &ns, "nft", "add", "rule", "inet", "sick", "in", "tcp", "dport", "2049", "reject",
            "with", "tcp", "reset",
        ],
        &[],
    );
    let t0 = Instant::now();
    while !pl.sluicectl("health", &[]).lines().any(|l| l.starts_with(&drained) && l.contains(" down ")) {
        assert!(t0.elapsed() < Duration::from_secs(10), "{drained} never failed its health check");
        std::thread::sleep(Duration::from_millis(100));
    }
    pl.sluicectl("affinity", &["flush"]);
    let after = pl.expected(t, &[(&drained, NodeState::Down)]);
    assert_eq!(serving_node(t), after, "{t}: not to the failed {drained}");

    let p = pl.portal();
    eprintln!("portal: {p}");
    let affinity: u64 = p["placements"].as_array().unwrap().iter().map(|r| r["by_affinity"].as_u64().unwrap()).sum();
    assert!(affinity >= 2, "the learned entry and the pin placed logins: {p}");
    pl.stop();
}

/// One hostile client (`lab_tcp.py iscsi-abuse`): what it saw.
fn abuse(case: &str, arg: &str) -> serde_json::Value {
    let out = lab::lab_tcp("sl-cli", &["iscsi-abuse", VIP, "3260", case, arg]).output().unwrap();
    assert!(out.status.success(), "iscsi-abuse {case}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn malformed_oversized_silent_and_flooding_clients_are_refused_counted_and_bounded() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let opts = "connections = 16;connections_per_client = 4;idle_timeout_ms = 1000;session_timeout_ms = 3000;\
                max_pdu_bytes = 4096";
    let mut pl = PortalLab::up(&[("LAB_PORTAL_OPTS", opts)]);

    let g = abuse("garbage", "");
    assert_eq!(g["answer_opcode"], 0x3f, "a SCSI command before login is rejected: {g}");
    assert!(g["closed"].as_f64().is_some_and(|s| s < 3.5), "and the connection closed: {g}");
    let b = abuse("bad-text", "");
    assert_eq!(b["status"], 2, "a login whose text is not key=value gets an initiator error: {b}");
    assert!(b["closed"].is_number(), "{b}");
    let o = abuse("oversized", "");
    assert_eq!(o["answered"], 0, "a PDU above max_pdu_bytes is not answered: {o}");
    assert!(o["closed"].is_number() || o["sent"].as_u64() < Some(64 * 16384), "and its sender is cut off: {o}");
    let s = abuse("silent", "5");
    assert!(s["closed"].as_f64().is_some_and(|t| (0.8..3.0).contains(&t)), "a silent client is cut at 1 s: {s}");
    let t = abuse("trickle", "8");
    assert!(t["closed"].as_f64().is_some_and(|t| (2.5..5.0).contains(&t)), "a trickling one at 3 s: {t}");
    // Earlier connections linger up to 2 s after their last word; then a crowd from one address.
    std::thread::sleep(Duration::from_millis(2500));
    let c = abuse("crowd", "10");
    assert_eq!(c["held"], 4, "one client holds 4 of the 16 sockets at most: {c}");
    std::thread::sleep(Duration::from_millis(1200));

    // A SYN flood from spoofed sources that never answer: the portal's 16 sockets fill, every SYN beyond
    // them is answered with a RST and counted, and the dataplane and the console carry on.
    let flood = pl.lab.spawn(lab::lab_tcp("sl-cli", &["syn-flood", VIP, "3260", "3000"]).stdout(Stdio::null()));
    let t0 = Instant::now();
    let mut console_ms = Vec::new();
    while t0.elapsed() < Duration::from_secs(2) {
        assert!(lab::connect(), "the VIP's other traffic is forwarded during the flood");
        let c0 = Instant::now();
        lab::console(&pl.cfg, "{\"cmd\":\"status\"}");
        console_ms.push(c0.elapsed().as_millis());
    }
    let _ = pl.lab.children[flood].wait();
    assert!(console_ms.iter().all(|ms| *ms < 500), "the console answered throughout: {console_ms:?} ms");
    // The half-open connections time out, and a real initiator gets in again.
    std::thread::sleep(Duration::from_millis(1500));
    let (ok, out) = initiator("iscsi-ls", &["-s", &format!("iscsi://{VIP}")]);
    assert!(ok, "after the flood: {out}");

    let p = pl.portal();
    eprintln!("portal: {p}");
    let r = &p["refused"];
    for (why, at_least) in
        [("not_portal_work", 1), ("bad_pdu", 1), ("pdu_too_big", 1), ("idle_timeout", 1), ("client_limit", 1)]
    {
        assert!(r[why].as_u64().unwrap_or(0) >= at_least, "{why} counted: {p}");
    }
    assert!(r["session_timeout"].as_u64().unwrap_or(0) >= 1, "the trickle counted: {p}");
    assert!(r["syn_refused"].as_u64().unwrap_or(0) > 1000, "the flood beyond 16 sockets was refused: {p}");
    assert_eq!(p["connections_max"], 16);
    let s = pl.stop();
    eprintln!("drops: {}", s["drops"]);
}

/// The median of `runs` timings of `iscsi-inq` on `url` (a login and an INQUIRY), in milliseconds.
fn median_inq_ms(url: &str, runs: usize) -> f64 {
    let mut ms: Vec<f64> = (0..runs)
        .map(|_| {
            let t0 = Instant::now();
            let (ok, out) = initiator("iscsi-inq", &[url]);
            assert!(ok, "iscsi-inq {url}: {out}");
            t0.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[runs / 2]
}

/// Many clients logging in at once, up to 32 in parallel: every login is answered and placed on the
/// target's CVM, nothing is refused or dropped. It also prints the figures BENCHMARKS.md quotes (logins a
/// second, and the time to first I/O through the portal against straight to the CVM) without asserting
/// anything about time; `PORTAL_BENCH_SECS` (default 1) sets how long each level runs:
/// `PORTAL_BENCH_SECS=5 cargo test --release -p sluice-dataplane --test portal_lab -- --nocapture concurrent`
#[test]
fn concurrent_logins_are_all_answered_and_placed() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut pl = PortalLab::up(&[("LAB_PORTAL_OPTS", "connections = 256;connections_per_client = 64")]);
    let t = TARGETS[0].0;
    let secs = std::env::var("PORTAL_BENCH_SECS").unwrap_or_else(|_| "1".into());
    let mut logins = 0;
    for parallel in ["1", "8", "32"] {
        let out = lab::lab_tcp("sl-cli", &["iscsi-logins", VIP, "3260", t, &secs, parallel]).output().unwrap();
        let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        eprintln!("portal logins, {parallel} clients: {r}");
        assert_eq!(r["errors"], 0, "{parallel} clients: every login answered with a redirect: {r}");
        assert!(r["redirects"].as_u64().unwrap_or(0) > 0, "{r}");
        logins += r["redirects"].as_u64().unwrap();
    }
    let home = pl.expected(t, &[]);
    let k: usize = home[1..].parse().unwrap();
    let via_portal = median_inq_ms(&lun_url(t), 21);
    let direct = median_inq_ms(&format!("iscsi://{}/{t}/1", node_ip(k)), 21);
    eprintln!(
        "time to first I/O (iscsi-inq, median of 21): through the portal {via_portal:.2} ms, straight to {home}'s portal \
         {direct:.2} ms, added {:.2} ms",
        via_portal - direct
    );
    let p = pl.portal();
    eprintln!("portal: {p}");
    let placed: Vec<(String, u64)> = p["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["node"].as_str().unwrap().to_string(), r["by_target"].as_u64().unwrap()))
        .collect();
    // The logins, and the 21 of iscsi-inq through the portal.
    assert_eq!(placed, vec![(home, logins + 21)], "every login to the target's CVM: {p}");
    assert_eq!(p["refused"].as_object().map_or(0, |m| m.len()), 0, "nothing refused: {p}");
    assert_eq!(p["queue_drops"], 0);
    let s = pl.stop();
    assert_eq!(s["drops"]["portal_queue_full"], 0);
}
