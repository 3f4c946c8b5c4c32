//! The reset path under bulk load, end to end through real Linux TCP stacks (scripts/lab.sh, one
//! appliance, four nodes): 160 connections each write 2 KB every 30 ms and read the echo back while the
//! operator changes membership twice (`sluicectl nodes weight n2 300`, then `nodes down n3`). Every
//! connection a change moves must see ECONNRESET within a second of that change, no connection may go a
//! second with neither an echo nor a reset, and the others must echo to the end. Forged bare ACKs for
//! connections that exist nowhere draw RSTs from the nodes: those go to the client, and no fan-out starts.
//! Needs root (namespaces, EAL).

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sluice_control::console::{apply, Request};
use sluice_control::Config;
use support::lab::{self, seconds, Events, Lab, Layout};

static ONE_LAB: Mutex<()> = Mutex::new(());

const NODES: usize = 4;
/// The load: connections, bytes per write, milliseconds between writes. RESET_BULK_CONNS (at most 1000),
/// RESET_BULK_SIZE and RESET_BULK_INTERVAL_MS in the environment change them, to explore by hand.
const CONNS: u16 = 160;
const SIZE: usize = 2048;
const INTERVAL_MS: u64 = 30;
/// The client's source ports: 1000 per repetition from here (no TIME_WAIT carries over).
const SPORT: u16 = 45000;
/// A moved connection must be reset within this of the change that moved it, and no connection may be
/// silent (neither an echo nor a reset) for longer.
const LIMIT: f64 = 1.0;

/// Seconds since the epoch (the clock the client reports its start on).
fn wall() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

/// Busy and total jiffies of each CPU (/proc/stat), to tell how loaded the box was.
fn cpu_jiffies() -> Vec<(u64, u64)> {
    let s = std::fs::read_to_string("/proc/stat").unwrap();
    s.lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .map(|l| {
            let v: Vec<u64> = l.split_whitespace().skip(1).filter_map(|x| x.parse().ok()).collect();
            let idle = v[3] + v.get(4).copied().unwrap_or(0);
            (v.iter().sum::<u64>() - idle, v.iter().sum())
        })
        .collect()
}

/// Each CPU's busy percentage between two [`cpu_jiffies`] readings.
fn busy(a: &[(u64, u64)], b: &[(u64, u64)]) -> String {
    let pcts: Vec<String> = a
        .iter()
        .zip(b)
        .enumerate()
        .map(|(i, ((b0, t0), (b1, t1)))| format!("cpu{i} {:.0}%", 100.0 * (b1 - b0) as f64 / (t1 - t0).max(1) as f64))
        .collect();
    pcts.join(", ")
}

/// The counters of an appliance's stats JSON that say whether it lost frames: non-zero drop reasons,
/// port errors and misses, and each worker's rx.
fn losses(s: &Value) -> String {
    let drops: Vec<String> = s["drops"]
        .as_object()
        .map(|d| d.iter().filter(|(_, v)| v.as_u64() != Some(0)).map(|(k, v)| format!("{k} {v}")).collect())
        .unwrap_or_default();
    let ports: Vec<String> = s["ports"]
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "{} rx {} tx {} missed {} ierr {} oerr {} nombuf {}",
                        p["name"].as_str().unwrap_or("?"),
                        p["ipackets"],
                        p["opackets"],
                        p["imissed"],
                        p["ierrors"],
                        p["oerrors"],
                        p["rx_nombuf"]
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let workers: Vec<String> = s["workers"]
        .as_array()
        .map(|ws| ws.iter().map(|w| format!("lcore {} rx {}", w["lcore"], w["rx"])).collect())
        .unwrap_or_default();
    format!("drops [{}]; ports [{}]; workers [{}]", drops.join(", "), ports.join("; "), workers.join(", "))
}

/// A number from the environment (to explore other loads by hand), or `default`.
fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// One membership change as the operator makes it, and the configuration it leaves.
struct Change {
    args: &'static [&'static str],
    req: Request,
}

/// Runs the bulk scenario once on a fresh appliance (all nodes active, default weights) in a lab that is
/// up; returns what went wrong (empty: nothing) and prints the timings.
fn bulk_once(lab: &mut Lab, workers: usize, rep: usize) -> Vec<String> {
    let began = Instant::now();
    let phase = |what: &str| eprintln!("[rep {rep} {:6.2}s] {what}", began.elapsed().as_secs_f64());
    let mut fail = Vec::new();
    let (conns, size, interval_ms) = (
        knob("RESET_BULK_CONNS", CONNS).min(1000),
        knob("RESET_BULK_SIZE", SIZE),
        knob("RESET_BULK_INTERVAL_MS", INTERVAL_MS),
    );
    let ports: Range<u16> = SPORT + rep as u16 * 1000..SPORT + rep as u16 * 1000 + conns;
    let w = workers.to_string();
    let cfg_path = lab.write_config("single", NODES, &[("LAB_WORKERS", &w)]);
    let app = lab.start_appliance("single", &cfg_path, &format!("single-{rep}"));
    lab::wait_for_vip();
    phase("appliance answers on the VIP");

    // The tables before and after each change, as the appliance builds them.
    let cfg0 = Config::load(&cfg_path).unwrap();
    let changes = [
        Change { args: &["weight", "n2", "300"], req: Request::NodeWeight { name: "n2".into(), weight: 300 } },
        Change { args: &["down", "n3"], req: Request::NodeDown { name: "n3".into() } },
    ];
    let mut cfgs = vec![cfg0];
    for c in &changes {
        let next = apply(cfgs.last().unwrap(), &c.req).unwrap().unwrap();
        cfgs.push(next);
    }
    let preds: Vec<BTreeMap<u16, String>> = cfgs.iter().map(|c| lab::predicted(c, ports.clone())).collect();
    // A connection moves at the first change that sends its flow elsewhere (a reset one is gone after).
    let mut moved_at: BTreeMap<u16, usize> = BTreeMap::new();
    for (k, _) in changes.iter().enumerate() {
        for p in ports.clone() {
            if !moved_at.contains_key(&p) && preds[k][&p] != preds[k + 1][&p] {
                moved_at.insert(p, k);
            }
        }
    }
    let moved_by = |k: usize| moved_at.values().filter(|&&m| m == k).count();
    assert!(moved_by(0) > 0 && moved_by(1) > 0, "each change moves some test connections: {moved_at:?}");

    let cpu0 = cpu_jiffies();
    let client = lab.spawn(
        lab::lab_tcp(
            "sl-cli",
            &[
                "bulk",
                "10.10.0.1",
                "2049",
                &conns.to_string(),
                "30",
                &ports.start.to_string(),
                &size.to_string(),
                &interval_ms.to_string(),
            ],
        )
        .stdout(Stdio::piped()),
    );
    let out = lab.children[client].stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    let _ = tx.send(v);
                }
                Err(e) => eprintln!("client said something that is not JSON ({e}): {line}"),
            }
        }
    });
    let mut ev = Events { rx, all: Vec::new() };
    let start = ev.wait_for("start", Duration::from_secs(10)).expect("the bulk client starts");
    let wall0 = seconds(&start["wall"]);
    let ready = ev.wait_for("ready", Duration::from_secs(15)).expect("the bulk client connects");
    phase(&format!("client ready: {} of {conns} connections up ({size} B every {interval_ms} ms)", ready["up"]));
    if ready["up"] != conns {
        fail.push(format!("only {} of {conns} connections came up", ready["up"]));
    }
    std::thread::sleep(Duration::from_millis(500));

    // Every connection is established where its flow hashes.
    let held = lab::holders(NODES, ports.clone());
    let mut holder_of = BTreeMap::new();
    for (node, ps) in &held {
        for p in ps {
            holder_of.insert(*p, node.clone());
        }
    }
    let misplaced: Vec<_> = holder_of.iter().filter(|(p, n)| preds[0][*p] != **n).collect();
    if holder_of.len() != conns as usize || !misplaced.is_empty() {
        fail.push(format!("before any change, {} connections established, misplaced {misplaced:?}", holder_of.len()));
    }

    // The two changes, 2.5 s apart, and 3 s of traffic after the second.
    let mut at: Vec<f64> = Vec::new();
    for (k, c) in changes.iter().enumerate() {
        if k > 0 {
            let next = at[k - 1] + 2.5;
            std::thread::sleep(Duration::from_secs_f64((next - wall()).max(0.0)));
        }
        let t = wall();
        lab::sluicectl_nodes(&cfg_path, c.args);
        at.push(t);
        phase(&format!(
            "sluicectl nodes {} ({:.0} ms); moves {} connections",
            c.args.join(" "),
            (wall() - t) * 1000.0,
            moved_by(k)
        ));
    }
    std::thread::sleep(Duration::from_secs_f64((at[1] + 3.0 - wall()).max(0.0)));
    // The old holders have let go (except n3 of what the second change moves: a node that is down is
    // not probed).
    let held_after = lab::holders(NODES, ports.clone());
    let stale: Vec<(u16, String)> = moved_at
        .iter()
        .filter_map(|(p, k)| holder_of.get(p).map(|n| (*p, *k, n.clone())))
        .filter(|(p, k, n)| !(n == "n3" && *k == 1) && held_after[n].contains(p))
        .map(|(p, _, n)| (p, n))
        .collect();
    let _ = std::process::Command::new("kill").args(["-TERM", &lab.children[client].id().to_string()]).status();
    ev.drain(Duration::from_secs(10));
    let _ = lab.children[client].wait();
    let cpu1 = cpu_jiffies();
    let resets_listed = lab::console(&cfg_path, "{\"cmd\":\"resets\"}").as_array().map_or(0, |a| a.len());
    phase("client stopped");

    // The verdict, connection by connection.
    let fin: BTreeMap<u16, &Value> = ev
        .all
        .iter()
        .filter(|v| matches!(v["ev"].as_str(), Some("reset" | "error" | "done")))
        .filter_map(|v| Some((ports.start + v["conn"].as_u64()? as u16, v)))
        .collect();
    let summary = ev.all.iter().find(|v| v["ev"] == "summary").cloned().unwrap_or(Value::Null);
    let (mut took, mut late, mut missing, mut early) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut silent, mut disturbed, mut errors) = (Vec::new(), Vec::new(), Vec::new());
    for p in ports.clone() {
        let Some(v) = fin.get(&p) else {
            errors.push(format!("{p}: no final event"));
            continue;
        };
        let what = v["ev"].as_str().unwrap();
        let t = wall0 + seconds(&v["t"]);
        if seconds(&v["max_gap"]) > LIMIT {
            silent.push(format!("{p} ({what}) {:.2}s gaps {}", seconds(&v["max_gap"]), v["gaps"]));
        }
        match (moved_at.get(&p), what) {
            (Some(&k), "reset") => {
                let d = t - at[k];
                if d < 0.0 {
                    early.push(format!("{p} reset {:.0} ms before change {}", -d * 1000.0, k + 1));
                } else {
                    took.push(d);
                    if d > LIMIT {
                        late.push(format!("{p} (change {}, {}→{}) {d:.2}s", k + 1, preds[k][&p], preds[k + 1][&p]));
                    }
                }
            }
            (Some(&k), _) => missing.push(format!(
                "{p} (change {}, {}→{}): {what} {}",
                k + 1,
                preds[k][&p],
                preds[k + 1][&p],
                v.get("err").map_or(String::new(), |e| e.to_string())
            )),
            (None, "done") => {
                // It echoed to the end: its last echo came in the last half second.
                let last = wall0 + seconds(&v["last_rx"]);
                if t - last > 0.5 {
                    disturbed.push(format!("{p} last echo {:.2}s before the end", t - last));
                }
            }
            (None, "reset") => disturbed.push(format!("{p} on {} reset though it never moved", preds[0][&p])),
            (None, _) => {}
        }
        if what == "error" {
            errors.push(format!("{p}: {}", v["err"]));
        }
    }
    took.sort_by(f64::total_cmp);

    let (clean, err, s) = lab.stop_appliance(&app);
    phase("appliance stopped");
    eprintln!(
        "rep {rep} (workers {workers}): moved {}+{} of {conns}; resets {} (p50 {:.0} ms, p90 {:.0} ms, max {:.0} ms); \
         late {}, missing {}, early {}; silent >{LIMIT}s {}; unmoved disturbed {}; errors {}; not cleared on the old \
         node {}",
        moved_by(0),
        moved_by(1),
        took.len(),
        pct(&took, 0.5) * 1e3,
        pct(&took, 0.9) * 1e3,
        pct(&took, 1.0) * 1e3,
        late.len(),
        missing.len(),
        early.len(),
        silent.len(),
        disturbed.len(),
        errors.len(),
        stale.len(),
    );
    eprintln!(
        "rep {rep}: client {summary}; during the run {}; {resets_listed} fan-outs listed; appliance resets {}; {}",
        busy(&cpu0, &cpu1),
        s["resets"],
        losses(&s)
    );
    for (name, list) in [
        ("reset later than 1 s", &late),
        ("moved but never reset", &missing),
        ("reset before the change", &early),
        ("silent for more than 1 s", &silent),
        ("unmoved but disturbed", &disturbed),
        ("failed otherwise", &errors),
    ] {
        if !list.is_empty() {
            let more = if list.len() > 12 { format!("; and {} more", list.len() - 12) } else { String::new() };
            fail.push(format!("{} connections {name}: {}{more}", list.len(), list[..list.len().min(12)].join("; ")));
        }
    }
    if !stale.is_empty() {
        fail.push(format!("{} moved connections still established on their old node: {stale:?}", stale.len()));
    }
    // The client kept its schedule, or the gaps above may be its own.
    let max_late = seconds(&summary["max_late_ms"]);
    if max_late.is_nan() || max_late >= 250.0 {
        fail.push(format!("the client fell behind (a write {max_late} ms late): the harness, not sluice: {summary}"));
    }
    if !clean {
        fail.push(format!("the appliance did not stop cleanly on SIGTERM: {err}"));
    }
    if s["counters_balance"] != true || s["mempool_in_use_at_exit"] != 0 {
        fail.push(format!(
            "at exit: counters_balance {} mempool_in_use_at_exit {}",
            s["counters_balance"], s["mempool_in_use_at_exit"]
        ));
    }
    for f in &fail {
        eprintln!("rep {rep} FAILED: {f}");
    }
    fail
}

/// `reps` repetitions of the bulk scenario on one lab, each on a freshly started appliance; panics with
/// everything that went wrong in any of them.
fn bulk_membership_changes(workers: usize, reps: usize) {
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(NODES, Layout::Single);
    let mut failed = Vec::new();
    for rep in 0..reps {
        for f in bulk_once(&mut lab, workers, rep) {
            failed.push(format!("rep {rep}: {f}"));
        }
    }
    assert!(failed.is_empty(), "{} failures:\n{}", failed.len(), failed.join("\n"));
}

#[test]
fn bulk_connections_moved_by_a_weight_change_and_a_node_down_are_reset_within_a_second_five_times_over() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    bulk_membership_changes(1, 5);
}

#[test]
fn bulk_connections_moved_by_membership_changes_are_reset_within_a_second_with_two_workers() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    bulk_membership_changes(2, 1);
}

/// Counts the TCP RSTs from the VIP in a capture file.
fn rsts_in(pcap: &Path) -> usize {
    let out = lab::sh(&["tcpdump", "-n", "-r", pcap.to_str().unwrap(), "tcp[tcpflags] & tcp-rst != 0"], &[]);
    out.lines().filter(|l| l.contains("10.10.0.1.2049 >")).count()
}

#[test]
fn forged_bare_acks_for_connections_that_exist_nowhere_get_their_rsts_forwarded_and_start_no_fanout() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    const ACKS: u64 = 40;
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(NODES, Layout::Single);
    let cfg = lab.write_config("single", NODES, &[]);
    let app = lab.start_appliance("single", &cfg, "single");
    lab::wait_for_vip();
    let pcap = lab.dir.path().join("client.pcap");
    let dump = lab.spawn(
        std::process::Command::new("ip")
            .args(["netns", "exec", "sl-cli", "tcpdump", "-i", "eth0", "-n", "-U", "-w"])
            .arg(&pcap)
            .arg("tcp")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    std::thread::sleep(Duration::from_millis(1000));
    let sent = lab::lab_tcp("sl-cli", &["spoof-acks", "192.0.2.100", "10.10.0.1", "2049", &ACKS.to_string(), "52000"])
        .output()
        .unwrap();
    assert!(sent.status.success(), "spoof-acks: {}", String::from_utf8_lossy(&sent.stderr));
    assert_eq!(String::from_utf8_lossy(&sent.stdout).lines().count(), ACKS as usize);
    std::thread::sleep(Duration::from_millis(1000));
    support::stop(&mut lab.children[dump]);
    let seen = rsts_in(&pcap);
    let listed = lab::console(&cfg, "{\"cmd\":\"resets\"}");
    let (clean, err, s) = lab.stop_appliance(&app);
    let r = &s["resets"];
    eprintln!(
        "{ACKS} forged ACKs: {seen} RSTs reached the client; {} fan-outs listed; resets {r}",
        listed.as_array().map_or(0, |a| a.len())
    );
    assert!(clean, "{err}");
    assert_eq!(s["counters_balance"], true);
    assert_eq!(s["mempool_in_use_at_exit"], 0);
    assert!(r["node_rsts"].as_u64().unwrap() >= ACKS, "every forged ACK drew a RST from a node: {r}");
    assert!(r["rsts_forwarded"].as_u64().unwrap() >= ACKS, "each node RST went to the client: {r}");
    assert!(seen >= ACKS as usize, "the client saw {seen} RSTs from the VIP");
    assert_eq!(r["fanouts_started"], 0, "no connection moved, so no fan-out: {r}");
}
