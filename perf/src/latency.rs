//! `sluice-perf latency`: latency through the appliance. sluice-perf is itself a DPDK process with two
//! memif ports (servers); the appliance under test connects to them as a client (its client port on the
//! first, its node port on the second). The generator sends UDP requests to the VIP carrying a TSC stamp
//! in their last bytes, paced at a share of the measured maximum rate, and reads the stamp back from what
//! the appliance sends toward the nodes: one clock, no cross-process skew. The same loop through
//! `dpdk-testpmd --forward-mode=io` gives the transport's own latency as a baseline.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use dpdk_sys::eal::Eal;
use dpdk_sys::{lcore, Burst, Mempool, PortConf, PortId, SocketId};
use hdrhistogram::Histogram;
use serde::Serialize;

use crate::procs;

const MAGIC: &[u8; 4] = b"SLAT";
const PREFIX: &str = "sluice-perf-lat";

#[derive(Debug, Clone)]
pub struct Plan {
    pub sluice: PathBuf,
    pub testpmd: Option<String>,
    pub config_template: PathBuf,
    /// Offered loads, percent of the measured maximum.
    pub loads: Vec<u32>,
    pub seconds: f64,
    pub frame_size: usize,
    pub flows: u32,
    pub out: PathBuf,
}

#[derive(Debug, Clone, Serialize)]
pub struct Level {
    pub load_pct: u32,
    pub offered_mpps: f64,
    pub sent: u64,
    pub received: u64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TargetReport {
    pub target: String,
    pub max_mpps: f64,
    pub levels: Vec<Level>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub frame_size: usize,
    pub flows: u32,
    pub seconds_per_level: f64,
    pub cores: &'static str,
    pub targets: Vec<TargetReport>,
}

pub fn preflight(p: &Plan) -> Result<(), String> {
    if !p.sluice.is_file() {
        return Err(format!("--sluice {}: no such file", p.sluice.display()));
    }
    if !p.config_template.is_file() {
        return Err(format!("{}: the example configuration is missing", p.config_template.display()));
    }
    if p.loads.is_empty() || p.loads.iter().any(|l| !(1..=100).contains(l)) {
        return Err("--loads are percentages of the maximum rate, each in 1..=100".into());
    }
    if !(64..=1500).contains(&p.frame_size) {
        return Err(format!(
            "--frame-size {} is outside 64..=1500 (UDP/IPv4 headers and the stamp need 58)",
            p.frame_size
        ));
    }
    if p.flows == 0 || p.flows > 65536 {
        return Err(format!("--flows {} is outside 1..=65536", p.flows));
    }
    if !(0.2..=600.0).contains(&p.seconds) {
        return Err(format!("--seconds {} is outside 0.2..=600", p.seconds));
    }
    if let Some(t) = &p.testpmd {
        let found = Command::new("sh").args(["-c", &format!("command -v {t}")]).stdout(Stdio::null()).status();
        if !found.is_ok_and(|s| s.success()) {
            return Err(format!("{t} not found (apt-get install dpdk), or pass --no-baseline"));
        }
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return Err("two CPUs are needed (the generator on CPU 0, the forwarding core on CPU 1)".into());
    }
    Ok(())
}

struct Gen {
    pool: Mempool,
    tx_port: PortId,
    rx_port: PortId,
    frames: Vec<Vec<u8>>,
    hz: u64,
}

impl Gen {
    /// Sends up to `n` frames now (stamped); returns how many the port took.
    fn send(&self, n: usize, next: &mut usize) -> usize {
        let mut b = Burst::new(n);
        for _ in 0..n {
            let Some(mut m) = self.pool.alloc() else { break };
            let f = &self.frames[*next % self.frames.len()];
            *next += 1;
            let (buf, off, _) = m.buffer_mut();
            buf[off..off + f.len()].copy_from_slice(f);
            let end = off + f.len();
            buf[end - 8..end].copy_from_slice(&lcore::rdtsc().to_le_bytes());
            m.set_data_range(off, f.len());
            let _ = b.push(m);
        }
        b.tx(self.tx_port, 0).sent as usize
    }

    /// Receives what is waiting; records each stamped frame's latency (ns). Returns frames seen.
    fn receive(&self, h: Option<&mut Histogram<u64>>) -> u64 {
        let mut b = Burst::new(32);
        let n = b.rx(self.rx_port, 0);
        if n == 0 {
            return 0;
        }
        let now = lcore::rdtsc();
        let mut seen = 0;
        let mut h = h;
        for m in b.drain() {
            let d = m.data();
            if d.len() >= 16 && &d[d.len() - 16..d.len() - 12] == MAGIC {
                seen += 1;
                if let Some(h) = h.as_deref_mut() {
                    let stamp = u64::from_le_bytes(d[d.len() - 8..].try_into().expect("8 bytes"));
                    let ns = (now.saturating_sub(stamp) as u128 * 1_000_000_000 / self.hz as u128) as u64;
                    let _ = h.record(ns.max(1));
                }
            }
        }
        seen
    }
}

fn frames(p: &Plan) -> Vec<Vec<u8>> {
    (0..p.flows)
        .map(|i| {
            let mut v = Vec::with_capacity(p.frame_size);
            let payload = vec![0u8; p.frame_size - 42];
            etherparse::PacketBuilder::ethernet2([2, 0, 0, 0, 0xc1, 1], [2, 0, 0, 0, 0, 1])
                .ipv4([172, 16, (i >> 8) as u8, i as u8], [10, 10, 0, 1], 64)
                .udp(10_000 + (i % 50_000) as u16, 2049)
                .write(&mut v, &payload)
                .expect("frame");
            // The stamp trailer: magic, 4 bytes, then the TSC written at send time. The UDP checksum is
            // 0 (none) for IPv4, so the stamp does not invalidate it.
            let n = v.len();
            v[n - 16..n - 12].copy_from_slice(MAGIC);
            v[40..42].fill(0);
            v
        })
        .collect()
}

fn sluice_config(p: &Plan, s0: &Path, s1: &Path) -> Result<String, String> {
    let t = std::fs::read_to_string(&p.config_template).map_err(|e| e.to_string())?;
    let t = t
        .replace(
            "net_pcap0,rx_pcap=@CLIENT_IN@,infinite_rx=1",
            &format!("net_memif0,role=client,socket={}", s0.display()),
        )
        .replace(
            "net_pcap1,rx_pcap=@NODE_IN@,infinite_rx=1",
            &format!("net_memif1,role=client,socket={}", s1.display()),
        )
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{PREFIX}-sluice\"\ncpus = \"0,1\""))
        .replace("mbufs = 65535", "mbufs = 16383")
        .replacen("[[ports]]", "[console]\nenabled = false\n\n[[ports]]", 1);
    Ok(t)
}

/// Starts the target; dropping what this returns stops it (SIGINT) and removes testpmd's runtime files.
fn start(p: &Plan, which: &str, dir: &Path, s0: &Path, s1: &Path) -> Result<Target, String> {
    let mut cmd = if which == "sluice" {
        let cfg = dir.join("lat.toml");
        std::fs::write(&cfg, sluice_config(p, s0, s1)?).map_err(|e| e.to_string())?;
        let mut c = procs::command(&p.sluice);
        c.args(["--config", cfg.to_str().expect("utf-8 path"), "--stats-interval-ms", "0"]);
        c
    } else {
        let mut c = procs::command(p.testpmd.as_deref().unwrap_or("dpdk-testpmd"));
        c.args([
            "--lcores=0@0,1@1",
            "--no-pci",
            "--no-huge",
            "-m",
            "1024",
            "--file-prefix",
            &format!("{PREFIX}-testpmd"),
        ])
        .args(["--vdev", &format!("net_memif0,role=client,socket={}", s0.display())])
        .args(["--vdev", &format!("net_memif1,role=client,socket={}", s1.display())])
        .args([
            "--",
            "--total-num-mbufs=16384",
            "--forward-mode=io",
            "--port-topology=paired",
            "--stats-period=60",
        ]);
        c
    };
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let child =
        procs::Guarded::spawn(&mut cmd, Duration::from_secs(10)).map_err(|e| format!("starting {which}: {e}"))?;
    Ok(Target { child, testpmd: which != "sluice" })
}

/// A running target. Dropping it stops it, then removes the runtime directory testpmd leaves behind.
struct Target {
    child: procs::Guarded,
    testpmd: bool,
}

impl Drop for Target {
    fn drop(&mut self) {
        self.child.interrupt();
        if self.testpmd {
            procs::remove_runtime_dir(&format!("{PREFIX}-testpmd"));
        }
    }
}

fn measure(
    g: &Gen,
    p: &Plan,
    name: &str,
    progress: &dyn Fn(&str),
    interrupted: &AtomicBool,
) -> Result<TargetReport, String> {
    let check = || if interrupted.load(Relaxed) { Err(procs::INTERRUPTED.to_string()) } else { Ok(()) };
    let mut next = 0usize;
    // Until the target forwards (EAL start, memif connect).
    let t0 = Instant::now();
    loop {
        check()?;
        g.send(4, &mut next);
        std::thread::sleep(Duration::from_millis(20));
        if g.receive(None) > 0 {
            break;
        }
        if t0.elapsed() > Duration::from_secs(30) {
            return Err(format!("{name} forwarded nothing within 30 s"));
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    while g.receive(None) > 0 {}
    // The maximum: send as fast as the target takes it for a second; count what comes back.
    let end = Instant::now() + Duration::from_secs(1);
    let mut got = 0u64;
    let started = Instant::now();
    while Instant::now() < end {
        check()?;
        g.send(32, &mut next);
        got += g.receive(None);
    }
    let max_pps = got as f64 / started.elapsed().as_secs_f64();
    progress(&format!("{name}: maximum {:.2} Mpps through the loop", max_pps / 1e6));
    let mut levels = Vec::new();
    for &load in &p.loads {
        // What the previous phase left in flight is not this level's.
        let settle = Instant::now() + Duration::from_millis(100);
        while Instant::now() < settle {
            g.receive(None);
        }
        let rate = max_pps * load as f64 / 100.0;
        let burst = ((rate / 1e6).ceil() as usize).clamp(1, 32);
        let gap = (g.hz as f64 * burst as f64 / rate) as u64;
        let mut h = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
        let (mut sent, mut received) = (0u64, 0u64);
        let start = lcore::rdtsc();
        let end = start + (p.seconds * g.hz as f64) as u64;
        let mut due = start;
        loop {
            let now = lcore::rdtsc();
            if now >= end {
                break;
            }
            check()?;
            if now >= due {
                sent += g.send(burst, &mut next) as u64;
                due += gap;
            }
            received += g.receive(Some(&mut h));
        }
        let settle = Instant::now() + Duration::from_millis(50);
        while Instant::now() < settle {
            received += g.receive(Some(&mut h));
        }
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        let l = Level {
            load_pct: load,
            offered_mpps: rate / 1e6,
            sent,
            received,
            p50_us: us(0.5),
            p99_us: us(0.99),
            p999_us: us(0.999),
            max_us: h.max() as f64 / 1000.0,
        };
        progress(&format!(
            "{name}: {load}% ({:.2} Mpps): p50 {:.2} us, p99 {:.2} us, p99.9 {:.2} us, max {:.1} us, {} of {} back",
            l.offered_mpps, l.p50_us, l.p99_us, l.p999_us, l.max_us, received, sent
        ));
        levels.push(l);
    }
    Ok(TargetReport { target: name.to_string(), max_mpps: max_pps / 1e6, levels })
}

pub fn run(p: &Plan, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p)?;
    std::fs::create_dir_all(&p.out).map_err(|e| format!("{}: {e}", p.out.display()))?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (s0, s1) = (dir.path().join("client.sock"), dir.path().join("node.sock"));
    let args: Vec<String> = vec![
        "sluice-perf".into(),
        "--lcores=0@0".into(),
        "--no-pci".into(),
        "--no-huge".into(),
        "-m".into(),
        "512".into(),
        "--file-prefix".into(),
        PREFIX.into(),
        "--vdev".into(),
        format!("net_memif0,role=server,socket={},id=0", s0.display()),
        "--vdev".into(),
        format!("net_memif1,role=server,socket={},id=0", s1.display()),
    ];
    let stop = procs::stop_on_signals();
    let eal = Eal::init(&args).map_err(|e| format!("EAL: {e}"))?;
    let pool = Mempool::new("lat_pool", 16383, 256, 2048 + 128, SocketId::ANY).map_err(|e| e.to_string())?;
    let mut ports = Vec::new();
    for name in ["net_memif0", "net_memif1"] {
        let id = PortId::by_name(name).map_err(|e| format!("{name}: {e}"))?;
        let conf = PortConf {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            rss_key: Vec::new(),
            promiscuous: false,
            mtu: 1500,
        };
        id.configure_and_start(&conf, &pool).map_err(|e| format!("{name}: {e}"))?;
        ports.push(id);
    }
    let g = Gen { pool, tx_port: ports[0], rx_port: ports[1], frames: frames(p), hz: lcore::tsc_hz() };
    let mut targets = Vec::new();
    let mut which = vec!["sluice"];
    if p.testpmd.is_some() {
        which.push("testpmd io");
    }
    let mut result = Ok(());
    for name in which {
        progress(&format!("starting {name}"));
        let t = match start(p, name, dir.path(), &s0, &s1) {
            Ok(t) => t,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let r = measure(&g, p, name, progress, &stop);
        drop(t);
        // Let the memif client go before the next one connects.
        std::thread::sleep(Duration::from_millis(500));
        while g.receive(None) > 0 {}
        match r {
            Ok(r) => targets.push(r),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    for id in &ports {
        let _ = id.stop();
        let _ = id.close();
    }
    drop(g);
    drop(eal);
    result?;
    let report = Report {
        frame_size: p.frame_size,
        flows: p.flows,
        seconds_per_level: p.seconds,
        cores: "generator on CPU 0; the target's forwarding core on CPU 1",
        targets,
    };
    std::fs::write(p.out.join("latency.json"), serde_json::to_string_pretty(&report).expect("json"))
        .map_err(|e| e.to_string())?;
    std::fs::write(p.out.join("latency.md"), markdown(&report)).map_err(|e| e.to_string())?;
    let series: Vec<(String, Vec<(f64, f64)>)> = report
        .targets
        .iter()
        .flat_map(|t| {
            [("p50", 0), ("p99", 1)].map(|(q, i)| {
                let pts =
                    t.levels.iter().map(|l| (l.load_pct as f64, if i == 0 { l.p50_us } else { l.p99_us })).collect();
                (format!("{} {q}", t.target), pts)
            })
        })
        .collect();
    let refs: Vec<(&str, Vec<(f64, f64)>)> = series.iter().map(|(n, v)| (n.as_str(), v.clone())).collect();
    let svg = crate::plot::lines("Latency through the loop vs offered load", "load, % of maximum", "µs", &refs);
    std::fs::write(p.out.join("latency.svg"), svg).map_err(|e| e.to_string())?;
    Ok(report)
}

pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "{} B UDP frames over {} flows, {} s per level; {}.\n\n| target | load | offered | p50 | p99 | p99.9 | max | back/sent |\n|---|---|---|---|---|---|---|---|\n",
        r.frame_size, r.flows, r.seconds_per_level, r.cores
    );
    for t in &r.targets {
        for l in &t.levels {
            s.push_str(&format!(
                "| {} (max {:.2} Mpps) | {}% | {:.2} Mpps | {:.2} µs | {:.2} µs | {:.2} µs | {:.1} µs | {}/{} |\n",
                t.target,
                t.max_mpps,
                l.load_pct,
                l.offered_mpps,
                l.p50_us,
                l.p99_us,
                l.p999_us,
                l.max_us,
                l.received,
                l.sent
            ));
        }
    }
    s
}
