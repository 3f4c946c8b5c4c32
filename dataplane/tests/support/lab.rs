//! The namespace lab (scripts/lab.sh) from a test: bring it up, write appliance configurations, start
//! echo servers and appliances, ask a console, see which node holds which connection, predict where a
//! flow goes. The lab is torn down when [`Lab`] drops, panic or not. Needs root (namespaces, EAL).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sluice_control::{Config, Topology};
use sluice_dataplane::hash::Toeplitz;

pub const CLIENT: [u8; 4] = [192, 0, 2, 100];
pub const VIP: [u8; 4] = [10, 10, 0, 1];
pub const VIP_PORT: u16 = 2049;

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// Runs a command to completion; panics unless it succeeds. Returns its stdout.
pub fn sh(args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).envs(env.iter().copied()).output().expect(args[0]);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `python3 scripts/lab_tcp.py ARGS` inside namespace `ns`.
pub fn lab_tcp(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "python3"]).arg(root().join("scripts/lab_tcp.py")).args(args);
    c
}

/// One appliance (single role), or a spine and two chassis appliances.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Layout {
    Single,
    Tiered,
}

/// A running appliance: its configuration, its stats JSON (written at exit), where its stderr goes.
pub struct Appliance {
    pub who: String,
    pub cfg: PathBuf,
    pub json: PathBuf,
    pub stderr: PathBuf,
    /// Index into [`Lab::children`].
    pub child: usize,
}

/// Tears the lab down and stops every process it started, whatever happens.
pub struct Lab {
    pub children: Vec<Child>,
    pub dir: tempfile::TempDir,
    pub nodes: usize,
}

impl Lab {
    /// `scripts/lab.sh up NODES LAYOUT` and an echo server on port 2049 in every node namespace.
    pub fn up(nodes: usize, layout: Layout) -> Lab {
        Lab::up_with(nodes, layout, &[])
    }

    /// [`Lab::up`] with `lab.sh up` given the environment `env` (LAB_MTU).
    pub fn up_with(nodes: usize, layout: Layout, env: &[(&str, &str)]) -> Lab {
        let l = if layout == Layout::Tiered { "tiered" } else { "single" };
        // Constructed before `up` runs, so that a failing `up` is undone too.
        let mut lab = Lab { children: Vec::new(), dir: tempfile::tempdir().unwrap(), nodes };
        sh(&["bash", root().join("scripts/lab.sh").to_str().unwrap(), "up", &nodes.to_string(), l], env);
        for i in 1..=nodes {
            lab.spawn(lab_tcp(&format!("sl-n{i}"), &["server", "2049"]).stdout(Stdio::null()).stderr(Stdio::null()));
        }
        lab
    }

    /// Writes appliance `who`'s configuration (`lab.sh config`) with `nodes` nodes and the extra
    /// environment `env` (LAB_WORKERS, LAB_DRAIN, ...; LAB_FLOWS is "off" unless `env` sets it), and
    /// forgets the runtime state an earlier appliance on the same path left.
    pub fn write_config(&self, who: &str, nodes: usize, env: &[(&str, &str)]) -> PathBuf {
        let p = self.dir.path().join(format!("{who}.toml"));
        let prefix = format!("sluice-lab-{}", std::process::id());
        // The reset-path scenarios run the stateless balancer unless they ask for the flow table.
        let mut e = vec![("LAB_NODES", nodes.to_string()), ("LAB_PREFIX", prefix), ("LAB_FLOWS", "off".into())];
        e.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
        let e: Vec<(&str, &str)> = e.iter().map(|(k, v)| (*k, v.as_str())).collect();
        sh(&["bash", root().join("scripts/lab.sh").to_str().unwrap(), "config", p.to_str().unwrap(), who], &e);
        // A configuration written anew starts an appliance with no runtime state: console changes a
        // previous appliance on the same path persisted (`who.state.json`) would be replayed over it.
        match std::fs::remove_file(p.with_extension("state.json")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => panic!("removing {who}'s runtime state: {e}"),
            _ => {}
        }
        p
    }

    /// Starts appliance `who` on configuration `cfg`; its stats JSON and stderr go to files named `tag`.
    /// DPDK 22.11's af_packet PMD names its PACKET_FANOUT group after (pid ^ ifindex); on the rare
    /// collision with another group it cannot start, and a new process (a new pid) is the remedy.
    pub fn start_appliance(&mut self, who: &str, cfg: &Path, tag: &str) -> Appliance {
        let json = self.dir.path().join(format!("{tag}.json"));
        let stderr = self.dir.path().join(format!("{tag}.err"));
        for _ in 0..5 {
            let child = self.spawn(
                Command::new(env!("CARGO_BIN_EXE_sluice"))
                    .args(["--config", cfg.to_str().unwrap(), "--stats-interval-ms", "0", "--stats-json"])
                    .arg(&json)
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&stderr).unwrap()),
            );
            std::thread::sleep(Duration::from_millis(1500));
            if self.children[child].try_wait().unwrap().is_none() {
                return Appliance { who: who.into(), cfg: cfg.into(), json, stderr, child };
            }
            let err = std::fs::read_to_string(&stderr).unwrap_or_default();
            assert!(err.contains("PACKET_FANOUT"), "sluice {} failed to start: {err}", cfg.display());
        }
        panic!("sluice {} could not start", cfg.display());
    }

    /// Stops an appliance with SIGTERM (as an operator would) and returns whether it exited with
    /// success, its stderr and its stats JSON (Null if it wrote none).
    pub fn stop_appliance(&mut self, a: &Appliance) -> (bool, String, serde_json::Value) {
        let c = &mut self.children[a.child];
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break Some(s);
            }
            if t0.elapsed() > Duration::from_secs(10) {
                let _ = c.kill();
                let _ = c.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let err = std::fs::read_to_string(&a.stderr).unwrap_or_default();
        let json = std::fs::read_to_string(&a.json)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        (status.is_some_and(|s| s.success()), err, json)
    }

    pub fn spawn(&mut self, cmd: &mut Command) -> usize {
        self.children.push(cmd.spawn().unwrap());
        self.children.len() - 1
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            super::stop(c);
        }
        let _ = Command::new("bash").arg(root().join("scripts/lab.sh")).arg("down").status();
    }
}

/// Established connections to the VIP per node namespace (`sl-n1..`): node name → the client source
/// ports among `ports` that it holds.
pub fn holders(nodes: usize, ports: Range<u16>) -> BTreeMap<String, BTreeSet<u16>> {
    (1..=nodes)
        .map(|i| {
            let ns = format!("sl-n{i}");
            let out = sh(&["ip", "netns", "exec", &ns, "ss", "-tnH", "state", "established", "( sport = :2049 )"], &[]);
            let held = out
                .lines()
                .filter_map(|l| l.split_whitespace().nth(3)?.rsplit(':').next()?.parse().ok())
                .filter(|p| ports.contains(p))
                .collect();
            (format!("n{i}"), held)
        })
        .collect()
}

/// Which node each flow from the client's source ports `ports` to the VIP hashes to under `cfg`.
pub fn predicted(cfg: &Config, ports: Range<u16>) -> BTreeMap<u16, String> {
    let topo = Topology::build(cfg);
    let t = Toeplitz::new(&cfg.dataplane.hash_key.bytes);
    ports
        .map(|p| {
            let n = topo.lookup(t.hash_v4(CLIENT, VIP, Some((p, VIP_PORT)))).unwrap();
            (p, topo.nodes[n as usize].name.clone())
        })
        .collect()
}

/// One connection to the VIP from the client namespace: true if it echoed.
pub fn connect() -> bool {
    lab_tcp("sl-cli", &["connect", "10.10.0.1", "2049"]).status().unwrap().success()
}

/// Waits (up to 20 s) until a connection to the VIP echoes (EAL start, ARP).
pub fn wait_for_vip() {
    let t0 = Instant::now();
    while !connect() {
        assert!(t0.elapsed() < Duration::from_secs(20), "the VIP never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One console request (JSON) to the appliance whose configuration is `cfg`; returns the data.
pub fn console(cfg: &Path, req: &str) -> serde_json::Value {
    let socket = Config::load(cfg).unwrap().console_socket();
    let s = std::os::unix::net::UnixStream::connect(&socket).unwrap();
    std::io::Write::write_all(&mut &s, format!("{req}\n").as_bytes()).unwrap();
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).unwrap();
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["ok"], true, "{req}: {v}");
    v["data"].clone()
}

/// `sluicectl`, which lives in the control package: built next to `sluice` (same profile) if a narrower
/// build left it out.
pub fn sluicectl() -> PathBuf {
    let sluice = Path::new(env!("CARGO_BIN_EXE_sluice"));
    let p = sluice.with_file_name("sluicectl");
    if !p.exists() {
        let mut b = Command::new(env!("CARGO"));
        b.args(["build", "-q", "-p", "sluice-control", "--bin", "sluicectl"]);
        if sluice.parent().is_some_and(|d| d.ends_with("release")) {
            b.arg("--release");
        }
        assert!(b.status().unwrap().success());
    }
    p
}

/// `sluicectl nodes --config CFG ARGS` (the operator's way of changing membership); panics unless it
/// succeeds.
pub fn sluicectl_nodes(cfg: &Path, args: &[&str]) -> String {
    let out = Command::new(sluicectl()).arg("nodes").arg("--config").arg(cfg).args(args).output().unwrap();
    assert!(out.status.success(), "sluicectl nodes {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The client's events, as they arrive.
pub struct Events {
    pub rx: std::sync::mpsc::Receiver<serde_json::Value>,
    pub all: Vec<serde_json::Value>,
}

impl Events {
    /// Waits for the first event `ev` (keeping every event seen); None after `timeout`.
    pub fn wait_for(&mut self, ev: &str, timeout: Duration) -> Option<serde_json::Value> {
        if let Some(v) = self.all.iter().find(|v| v["ev"] == ev) {
            return Some(v.clone());
        }
        let deadline = Instant::now() + timeout;
        while let Ok(v) = self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.all.push(v.clone());
            if v["ev"] == ev {
                return Some(v);
            }
        }
        None
    }

    /// Collects everything until the client's stdout closes (or `timeout`).
    pub fn drain(&mut self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while let Ok(v) = self.rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            self.all.push(v);
        }
    }
}

/// A JSON number of seconds (NaN when absent).
pub fn seconds(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Runs `python3 scripts/lab_tcp.py ARGS` in `ns` under `children`, its stdout's JSON events into [`Events`].
pub fn tcp_events(children: &mut Vec<Child>, ns: &str, args: &[&str]) -> Events {
    let mut c = lab_tcp(ns, args).stdout(Stdio::piped()).spawn().unwrap();
    let out = c.stdout.take().unwrap();
    children.push(c);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            match serde_json::from_str::<serde_json::Value>(&line) {
                Ok(v) => {
                    let _ = tx.send(v);
                }
                Err(e) => eprintln!("lab_tcp.py said something that is not JSON ({e}): {line}"),
            }
        }
    });
    Events { rx, all: Vec::new() }
}
