//! Changes made at run time survive a reload and a restart: the real sluice on net_pcap devices, changed
//! with the real sluicectl (a drain, a weight, a pin), reloaded with SIGHUP and through the console,
//! stopped and started again, and its state file beside the configuration read back.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

fn config(d: &Path) -> PathBuf {
    write_pcap(&d.join("c.pcap"), &[tcp4([192, 0, 2, 10], 40_000, VIP4, 2049, b"x")]);
    write_pcap(&d.join("n.pcap"), &[tcp4(VIP4, 2049, [192, 0, 2, 10], 40_000, b"r")]);
    let prefix = format!("sluice-rt-{}", std::process::id());
    let t = example_toml(&format!("{}/c.pcap", d.display()), &format!("{}/n.pcap", d.display()))
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{prefix}\""))
        .replace("mbufs = 65535", "mbufs = 8191");
    let p = d.join("prod.toml");
    std::fs::write(&p, console_in(format!("{t}\n[affinity]\nenabled = true\n"), d)).unwrap();
    p
}

fn ctl(cfg: &Path, args: &[&str]) -> Output {
    Command::new(lab::sluicectl()).args(args).arg("--config").arg(cfg).output().unwrap()
}

fn ok(cfg: &Path, args: &[&str]) -> String {
    let out = ctl(cfg, args);
    assert!(out.status.success(), "sluicectl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A running sluice, stopped (SIGINT, then waited for) however the test ends, a failed assertion too.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        support::stop(&mut self.0);
    }
}

/// Starts sluice (its standard error in `d/stderr.N`) and waits until its console answers.
fn start(cfg: &Path, n: u32) -> Running {
    let err = std::fs::File::create(cfg.with_file_name(format!("stderr.{n}"))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", cfg.to_str().unwrap(), "--stats-interval-ms", "0"])
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap();
    let child = Running(child);
    let t0 = Instant::now();
    while !ctl(cfg, &["status"]).status.success() {
        assert!(t0.elapsed() < Duration::from_secs(30), "the console never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

fn stop(child: Running) {
    drop(child);
}

/// (state, weight) of each node, from `sluicectl nodes --json`.
fn nodes(cfg: &Path) -> Vec<(String, String, u64)> {
    let v: Value = serde_json::from_str(&ok(cfg, &["nodes", "--json"])).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (n["name"].as_str().unwrap().into(), n["state"].as_str().unwrap().into(), n["weight"].as_u64().unwrap())
        })
        .collect()
}

fn node(cfg: &Path, name: &str) -> (String, u64) {
    nodes(cfg).into_iter().find(|n| n.0 == name).map(|n| (n.1, n.2)).unwrap()
}

#[test]
fn runtime_changes_survive_reloads_and_restarts_until_discarded() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let state = dir.path().join("prod.state.json");
    let child = start(&cfg, 1);
    ok(&cfg, &["nodes", "drain", "a1"]);
    ok(&cfg, &["nodes", "weight", "b2", "300"]);
    ok(&cfg, &["affinity", "pin", "192.0.2.77", "b1"]);
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["changes"].as_array().unwrap().len(), 3, "{saved}");

    // A reload keeps them, and says the file says otherwise.
    let out = ok(&cfg, &["reload"]);
    assert!(out.contains("runtime changes kept over the file: drain a1, weight b2 300, pin 192.0.2.77 b1"), "{out}");
    assert_eq!((node(&cfg, "a1"), node(&cfg, "b2")), (("draining".into(), 100), ("active".into(), 300)));
    // What a reload would do after an edit of the file, nothing applied.
    let text = std::fs::read_to_string(&cfg).unwrap();
    let edited = text.replacen("weight = 100", "weight = 50", 1);
    std::fs::write(&cfg, &edited).unwrap();
    let plan = ok(&cfg, &["reload", "--diff"]);
    assert!(plan.contains("a reload would change:") && plan.contains("node a1: weight 100 -> 50"), "{plan}");
    assert!(plan.contains("runtime change kept over the file: drain a1"), "{plan}");
    assert_eq!(node(&cfg, "a1"), ("draining".into(), 100), "--diff applies nothing");
    std::fs::write(&cfg, &text).unwrap();
    // A refused reload says so through --diff too, and changes nothing.
    std::fs::write(&cfg, text.replace("burst = 32", "burst = 16")).unwrap();
    let plan = ok(&cfg, &["reload", "--diff"]);
    assert!(plan.contains("would be refused") && plan.contains("[dataplane]"), "{plan}");
    assert_eq!(ctl(&cfg, &["reload"]).status.code(), Some(1));
    std::fs::write(&cfg, &text).unwrap();

    // b1 drains: its pin stays, and must come back after the restart as it was.
    ok(&cfg, &["nodes", "drain", "b1"]);
    // A restart restores them from the state file.
    stop(child);
    let child = start(&cfg, 2);
    assert_eq!((node(&cfg, "a1"), node(&cfg, "b2")), (("draining".into(), 100), ("active".into(), 300)));
    let pinned: Value = serde_json::from_str(&ok(&cfg, &["affinity", "show", "--pinned", "--json"])).unwrap();
    assert!(pinned.to_string().contains("192.0.2.77"), "the pin to a draining node came back: {pinned}");
    assert_eq!(node(&cfg, "b1").0, "draining");
    let log = std::fs::read_to_string(dir.path().join("stderr.2")).unwrap();
    assert!(log.contains("runtime change restored over the configuration file: drain a1"), "{log}");

    // The file takes a change over: it is dropped from the state. Then the rest is discarded.
    std::fs::write(&cfg, text.replacen("name = \"a1\"\n", "name = \"a1\"\nstate = \"draining\"\n", 1)).unwrap();
    let out = ok(&cfg, &["reload"]);
    assert!(out.contains("dropped: drain a1: the configuration file says so now"), "{out}");
    std::fs::write(&cfg, &text).unwrap();
    let out = ok(&cfg, &["reload", "--discard-runtime"]);
    assert!(out.contains("runtime changes discarded: weight b2 300, pin 192.0.2.77 b1, drain b1"), "{out}");
    assert_eq!((node(&cfg, "a1"), node(&cfg, "b2")), (("active".into(), 100), ("active".into(), 100)));
    let pinned: Value = serde_json::from_str(&ok(&cfg, &["affinity", "show", "--pinned", "--json"])).unwrap();
    assert!(!pinned.to_string().contains("192.0.2.77"), "the discarded pin is gone from the table: {pinned}");
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&state).unwrap()).unwrap();
    assert_eq!(saved["changes"], serde_json::json!([]));
    stop(child);
}
