//! The ECMP lab (scripts/ecmp_lab.sh) from a test: an FRR router spreading the VIP over several sluice
//! appliances, each with its BIRD speaker driven by `sluicectl speaker`, and nodes routing back through
//! them over BGP. Starts and stops appliances, asks the router which appliances it uses, runs `sluicectl
//! fleet`. The lab is torn down when [`Fleet`] drops, panic or not. Needs root (namespaces, EAL).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::lab::{root, sh, sluicectl};

pub const CLIENT: [u8; 4] = [203, 0, 113, 100];

fn script() -> String {
    root().join("scripts/ecmp_lab.sh").to_str().unwrap().to_string()
}

/// One appliance's processes (indices into [`Fleet::children`]) and files.
pub struct Slot {
    pub cfg: PathBuf,
    pub json: PathBuf,
    pub stderr: PathBuf,
    pub sluice: Option<usize>,
    pub speaker: Option<usize>,
}

pub struct Fleet {
    pub children: Vec<Child>,
    pub dir: tempfile::TempDir,
    pub nodes: usize,
    pub slots: Vec<Slot>,
}

impl Fleet {
    /// `ecmp_lab.sh up APPLIANCES NODES`, an echo server on port 2049 in every node namespace, and each
    /// appliance's configuration written (with `env`: LAB_HEALTH, LAB_HEALTH_SCOPE, ...). Starts no sluice.
    pub fn up(appliances: usize, nodes: usize, env: &[(&str, &str)]) -> Fleet {
        let mut f = Fleet { children: Vec::new(), dir: tempfile::tempdir().unwrap(), nodes, slots: Vec::new() };
        sh(&["bash", &script(), "up", &appliances.to_string(), &nodes.to_string()], &[]);
        for i in 1..=nodes {
            f.spawn(
                super::lab::lab_tcp(&format!("sl-n{i}"), &["server", "2049"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null()),
            );
        }
        let prefix = format!("sluice-ecmp-{}", std::process::id());
        let n = appliances.to_string();
        for k in 1..=appliances {
            let cfg = f.dir.path().join(format!("a{k}.toml"));
            // The stateless fleet unless the scenario asks for the flow table.
            let mut e: Vec<(&str, &str)> = vec![("LAB_PREFIX", &prefix), ("LAB_APPLIANCES", &n), ("LAB_FLOWS", "off")];
            e.extend_from_slice(env);
            sh(&["bash", &script(), "config", cfg.to_str().unwrap(), &k.to_string(), &nodes.to_string()], &e);
            f.slots.push(Slot {
                cfg,
                json: f.dir.path().join(format!("a{k}.json")),
                stderr: f.dir.path().join(format!("a{k}.err")),
                sluice: None,
                speaker: None,
            });
        }
        f
    }

    pub fn spawn(&mut self, cmd: &mut Command) -> usize {
        self.children.push(cmd.spawn().unwrap());
        self.children.len() - 1
    }

    pub fn socket(&self, k: usize) -> String {
        format!("/run/sluice-lab/a{k}.sock")
    }

    /// Starts appliance `k`'s sluice (inside its namespace) and, the first time, its speaker; waits until
    /// its console answers. DPDK 22.11's af_packet PMD names its PACKET_FANOUT group after (pid ^
    /// ifindex): on the rare collision a new process is the remedy.
    pub fn start(&mut self, k: usize) {
        for _ in 0..5 {
            let s = &self.slots[k - 1];
            let (cfg, json, stderr) = (s.cfg.clone(), s.json.clone(), s.stderr.clone());
            let child = self.spawn(
                Command::new("ip")
                    .args(["netns", "exec", &format!("sl-a{k}")])
                    .arg(env!("CARGO_BIN_EXE_sluice"))
                    .args(["--config", cfg.to_str().unwrap(), "--stats-interval-ms", "0", "--stats-json"])
                    .arg(&json)
                    .stdout(Stdio::null())
                    .stderr(std::fs::File::create(&stderr).unwrap()),
            );
            let t0 = Instant::now();
            while t0.elapsed() < Duration::from_secs(20) {
                if self.children[child].try_wait().unwrap().is_some() {
                    break;
                }
                if self.ask(k, r#"{"cmd":"status"}"#).is_some() {
                    let s_cfg = cfg.clone();
                    self.slots[k - 1].sluice = Some(child);
                    if self.slots[k - 1].speaker.is_none() {
                        let sp = self.spawn(
                            Command::new("ip")
                                .args(["netns", "exec", &format!("sl-a{k}")])
                                .arg(sluicectl())
                                .args(["speaker", "--config", s_cfg.to_str().unwrap(), "--bird-socket"])
                                .arg(format!("/run/sluice-lab/a{k}.ctl"))
                                .args(["--also", "ret", "--interval-ms", "100"])
                                .stdout(Stdio::null())
                                .stderr(std::fs::File::create(self.dir.path().join(format!("a{k}.speaker"))).unwrap()),
                        );
                        self.slots[k - 1].speaker = Some(sp);
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let err = std::fs::read_to_string(&stderr).unwrap_or_default();
            let _ = self.children[child].kill();
            let _ = self.children[child].wait();
            assert!(err.contains("PACKET_FANOUT"), "appliance a{k} did not start: {err}");
        }
        panic!("appliance a{k} could not start");
    }

    /// One console request to appliance `k`; None when it does not answer.
    pub fn ask(&self, k: usize, req: &str) -> Option<serde_json::Value> {
        let s = std::os::unix::net::UnixStream::connect(self.socket(k)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        std::io::Write::write_all(&mut &s, format!("{req}\n").as_bytes()).ok()?;
        let mut line = String::new();
        BufReader::new(&s).read_line(&mut line).ok()?;
        let v: serde_json::Value = serde_json::from_str(&line).ok()?;
        (v["ok"] == true).then(|| v["data"].clone())
    }

    /// Appliance `k`'s packets received so far (every worker).
    pub fn rx(&self, k: usize) -> Option<u64> {
        let s = self.ask(k, r#"{"cmd":"stats"}"#)?;
        s["workers"].as_array().map(|w| w.iter().map(|w| w["rx"].as_u64().unwrap_or(0)).sum())
    }

    /// `kill -9` of appliance `k`'s sluice (its speaker lives on).
    pub fn kill9(&mut self, k: usize) {
        let i = self.slots[k - 1].sluice.take().expect("running");
        let _ = self.children[i].kill();
        let _ = self.children[i].wait();
    }

    /// SIGTERM to appliance `k`'s sluice, as an operator's stop: whether it exited with success within
    /// `limit`, its stderr, and its stats JSON.
    pub fn stop(&mut self, k: usize, limit: Duration) -> (bool, String, serde_json::Value) {
        let i = self.slots[k - 1].sluice.take().expect("running");
        let c = &mut self.children[i];
        // `ip netns exec` execs sluice: the child's pid is sluice's.
        let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = c.try_wait().unwrap() {
                break Some(s);
            }
            if t0.elapsed() > limit {
                let _ = c.kill();
                let _ = c.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let s = &self.slots[k - 1];
        let err = std::fs::read_to_string(&s.stderr).unwrap_or_default();
        let json = std::fs::read_to_string(&s.json)
            .ok()
            .and_then(|s| serde_json::from_str(&s).ok())
            .unwrap_or(serde_json::Value::Null);
        (status.is_some_and(|s| s.success()), err, json)
    }

    /// The appliances the router's route to the VIP leads to now.
    pub fn nexthops(&self) -> BTreeSet<usize> {
        let out = sh(&["ip", "-n", "sl-r", "route", "show", "10.10.0.1/32"], &[]);
        via_appliances(&out, "192.0.2.")
    }

    /// The appliances node `i`'s route back to the client leads to now.
    pub fn node_nexthops(&self, i: usize) -> BTreeSet<usize> {
        let out = sh(&["ip", "-n", &format!("sl-n{i}"), "route", "show", "203.0.113.0/24"], &[]);
        via_appliances(&out, "198.51.100.")
    }

    /// Waits until the router's route to the VIP and every node's route back lead to exactly `want`;
    /// returns how long that took (None after `limit`).
    pub fn wait_routes(&self, want: &[usize], limit: Duration) -> Option<Duration> {
        let want: BTreeSet<usize> = want.iter().copied().collect();
        let t0 = Instant::now();
        while t0.elapsed() < limit {
            if self.nexthops() == want && (1..=self.nodes).all(|i| self.node_nexthops(i) == want) {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Waits until the router's route to the VIP has not changed for `quiet` (FRR may install a multipath
    /// route more than once as sessions come up, and the next hops' order decides where a flow goes).
    pub fn wait_route_settled(&self, quiet: Duration, limit: Duration) {
        let show = || sh(&["ip", "-n", "sl-r", "-d", "route", "show", "10.10.0.1/32"], &[]);
        let t0 = Instant::now();
        let mut last = (show(), Instant::now());
        while last.1.elapsed() < quiet {
            assert!(t0.elapsed() < limit, "the router's route kept changing: {}", last.0);
            std::thread::sleep(Duration::from_millis(50));
            let now = show();
            if now != last.0 {
                last = (now, Instant::now());
            }
        }
    }

    /// Has the router resolve every appliance's MAC (a datagram to each client-port address, which sluice
    /// drops) and waits until it has: Linux skips a next hop of a nexthop group (as FRR installs them) whose
    /// neighbour entry is not valid, so flows that arrive while one is being resolved take another
    /// appliance than the hash predicts.
    pub fn resolve_next_hops(&self) {
        let n = self.slots.len();
        let send = format!(
            "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\nfor k in range(1, {}):\n    s.sendto(b'arp', ('192.0.2.%d' % k, 9))",
            n + 1
        );
        let t0 = Instant::now();
        loop {
            sh(&["ip", "netns", "exec", "sl-r", "python3", "-c", &send], &[]);
            std::thread::sleep(Duration::from_millis(100));
            let neigh = sh(&["ip", "-n", "sl-r", "neigh", "show", "dev", "f0"], &[]);
            let ok = (1..=n).all(|k| {
                neigh.lines().any(|l| {
                    l.starts_with(&format!("192.0.2.{k} ")) && (l.contains("REACHABLE") || l.contains("STALE"))
                })
            });
            if ok {
                return;
            }
            assert!(t0.elapsed() < Duration::from_secs(10), "the router did not resolve the appliances: {neigh}");
        }
    }

    /// Which appliance the router sends each flow from the client's source ports `first..first+count` to.
    pub fn predict(&self, first: u16, count: u16) -> BTreeMap<u16, usize> {
        let out = sh(&["bash", &script(), "predict-many", &first.to_string(), &count.to_string()], &[]);
        out.lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let p = w.next()?.parse().ok()?;
                let a = w.next()?.strip_prefix('a')?.parse().ok()?;
                Some((p, a))
            })
            .collect()
    }

    /// `sluicectl fleet --appliance A1 ... ARGS` over every appliance of the lab.
    pub fn fleet(&self, args: &[&str]) -> Output {
        let mut c = Command::new(sluicectl());
        c.arg("fleet");
        for k in 1..=self.slots.len() {
            c.args(["--appliance", &self.socket(k)]);
        }
        c.args(args).output().unwrap()
    }

    /// `sluicectl ARGS --socket (appliance k's)`; panics unless it succeeds.
    pub fn ctl(&self, k: usize, args: &[&str]) -> String {
        let out = Command::new(sluicectl()).args(args).args(["--socket", &self.socket(k)]).output().unwrap();
        assert!(out.status.success(), "sluicectl {args:?} on a{k}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

/// Appliance numbers from `via PREFIX K` next hops in `ip route` output.
fn via_appliances(out: &str, prefix: &str) -> BTreeSet<usize> {
    out.split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[0] == "via")
        .filter_map(|w| w[1].strip_prefix(prefix)?.parse().ok())
        .collect()
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for c in &mut self.children {
            super::stop(c);
        }
        let _ = Command::new("bash").arg(script()).arg("down").status();
    }
}
