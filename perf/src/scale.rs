//! `sluice-perf scale`: Mpps against the number of workers. Each worker polls its own receive queue on
//! both ports (net_pcap `infinite_rx`, every queue replaying the same pcaps) and has a CPU of its own; the
//! control lcore stays on CPU 0. Worker counts up to the machine's CPUs are allowed: at the last count the
//! first worker shares CPU 0 with the control lcore, which sleeps between its rounds. Several rounds,
//! alternating the order; every run must balance its counters and return every mbuf.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use serde::Serialize;

use crate::compare::{self, HugeGuard};
use crate::procs;

#[derive(Debug, Clone)]
pub struct Plan {
    /// Pcaps, binaries, pool floor, rounds, seconds and memory mode (`huge` is No or Yes).
    pub base: compare::Plan,
    /// Worker counts to run, each 1..=cpus.
    pub workers: Vec<u32>,
    /// CPUs this process may use.
    pub cpus: u32,
    /// Further EAL arguments for sluice (e.g. `-d librte_net_pcap.so` where DPDK is not installed).
    pub eal_args: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub workers: u32,
    pub round: u32,
    pub total_mpps: f64,
    pub per_worker_mpps: Vec<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub workers: u32,
    /// CPU of each lcore, the control lcore first.
    pub cpus: Vec<u32>,
    /// The first worker shares CPU 0 with the control lcore.
    pub control_shares_cpu: bool,
    /// Median over the rounds.
    pub total_mpps: f64,
    pub mpps_per_worker: f64,
    /// Total against `workers` times the per-worker rate at the smallest count.
    pub vs_linear: f64,
    /// The slowest worker's share of the mean, in the median round (1.0: all equal).
    pub slowest_vs_mean: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub client_pcap: String,
    pub node_pcap: String,
    pub rounds: u32,
    pub seconds: u32,
    pub hugepages: bool,
    pub machine_cpus: u32,
    pub samples: Vec<Sample>,
    pub points: Vec<Point>,
}

/// CPUs for the control lcore and `workers` workers on a machine with `cpus` CPUs: control on CPU 0,
/// the workers on the last `workers` CPUs (so the first shares CPU 0 when `workers == cpus`).
pub fn layout(workers: u32, cpus: u32) -> Result<Vec<u32>, String> {
    if workers == 0 {
        return Err("--workers: a count of 0 workers".into());
    }
    if workers > cpus {
        return Err(format!("--workers: {workers} workers but this machine has {cpus} CPUs"));
    }
    Ok(std::iter::once(0).chain(cpus - workers..cpus).collect())
}

/// Checks everything that can be checked before anything starts.
pub fn preflight(p: &Plan) -> Result<(), String> {
    let b = &p.base;
    compare::check_inputs(b)?;
    if p.workers.is_empty() {
        return Err("--workers: no worker counts".into());
    }
    for &w in &p.workers {
        layout(w, p.cpus)?;
    }
    if b.huge == compare::Huge::Both {
        return Err("--huge: scale runs one memory mode, no or yes".into());
    }
    if b.huge == compare::Huge::Yes && !compare::is_root() {
        return Err("--huge yes reserves hugepages and needs root".into());
    }
    Ok(())
}

fn frames_in(path: &Path) -> Result<u64, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut r = pcap_file::pcap::PcapReader::new(f).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut n = 0;
    while let Some(p) = r.next_packet() {
        p.map_err(|e| format!("{}: {e}", path.display()))?;
        n += 1;
    }
    Ok(n)
}

/// Mbufs for `workers` queues on each port, each holding a whole copy of its pcap (infinite_rx), plus
/// room for what is in flight; never fewer than the plan's pool.
pub fn pool_size(workers: u32, client_frames: u64, node_frames: u64, floor: u32) -> u64 {
    (workers as u64 * (client_frames + node_frames + 4096) + 8192).max(floor as u64)
}

/// sluice's configuration for one count: the compare configuration with one `rx_pcap` per worker on each
/// port, the lcores and CPUs of [`layout`], and a pool and memory to match.
pub fn config_text(p: &Plan, workers: u32, mbufs: u64) -> Result<String, String> {
    let b = &p.base;
    let text = compare::sluice_config_text(b, b.huge == compare::Huge::Yes)?;
    let mut t: toml::Table = text.parse().map_err(|e| format!("{}: {e}", b.config_template.display()))?;
    let cpus = layout(workers, p.cpus)?;
    let list = |v: &[u32]| v.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
    let eal = t.get_mut("eal").and_then(|v| v.as_table_mut()).ok_or("the configuration has no [eal]")?;
    eal.insert("lcores".into(), list(&(0..=workers).collect::<Vec<_>>()).into());
    eal.insert("cpus".into(), list(&cpus).into());
    // An mbuf with its 2 KB data room takes about 2.5 KB of the memory DPDK maps.
    eal.insert("memory_mb".into(), ((mbufs * 5 / 2048) as i64 + 512).into());
    let extra = p.eal_args.iter().map(|a| toml::Value::from(a.as_str())).collect::<Vec<_>>();
    eal.insert("extra_args".into(), extra.into());
    let dp = t.get_mut("dataplane").and_then(|v| v.as_table_mut()).ok_or("the configuration has no [dataplane]")?;
    dp.insert("mbufs".into(), (mbufs as i64).into());
    let ports = t.get_mut("ports").and_then(|v| v.as_array_mut()).ok_or("the configuration has no [[ports]]")?;
    for (port, pcap) in ports.iter_mut().zip([&b.client, &b.node]) {
        let pcap = pcap.canonicalize().map_err(|e| format!("{}: {e}", pcap.display()))?;
        let dev = port.get("device").and_then(|d| d.as_str()).ok_or("a port without a device")?;
        let name = dev.split(',').next().unwrap_or(dev).to_string();
        let queues = (0..workers).map(|_| format!(",rx_pcap={}", pcap.display())).collect::<String>();
        port.as_table_mut()
            .ok_or("a port that is not a table")?
            .insert("device".into(), format!("{name}{queues},infinite_rx=1").into());
    }
    toml::to_string(&t).map_err(|e| e.to_string())
}

fn once(p: &Plan, workers: u32, mbufs: u64, dir: &Path, stop: &AtomicBool) -> Result<Sample, String> {
    let cfg = dir.join(format!("scale-{workers}.toml"));
    let json = dir.join(format!("scale-{workers}.json"));
    std::fs::write(&cfg, config_text(p, workers, mbufs)?).map_err(|e| e.to_string())?;
    let prefix = format!("{}-sluice", compare::PREFIX);
    let s = procs::run_sluice(&p.base.sluice, &cfg, &json, p.base.seconds, stop, &[], &prefix)?;
    let per_worker: Vec<f64> = s["workers"]
        .as_array()
        .map(|a| a.iter().map(|w| w["mpps"].as_f64().unwrap_or(0.0)).collect())
        .unwrap_or_default();
    if per_worker.len() != workers as usize || per_worker.iter().any(|&m| m <= 0.0) {
        return Err(format!("{workers} workers: not every worker forwarded ({per_worker:?} Mpps)"));
    }
    let total = s["rx"].as_f64().unwrap_or(0.0) / s["seconds"].as_f64().unwrap_or(1.0) / 1e6;
    Ok(Sample { workers, round: 0, total_mpps: total, per_worker_mpps: per_worker })
}

pub fn run(p: &Plan, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p)?;
    let b = &p.base;
    std::fs::create_dir_all(&b.out).map_err(|e| format!("{}: {e}", b.out.display()))?;
    let stop = procs::stop_on_signals();
    let (cf, nf) = (frames_in(&b.client)?, frames_in(&b.node)?);
    let most = *p.workers.iter().max().expect("checked in preflight");
    let mbufs = pool_size(most, cf, nf, b.mbufs);
    let huge = b.huge == compare::Huge::Yes;
    // 2 MB pages for the largest pool, and room for the rest of DPDK's memory.
    let _guard = if huge { Some(HugeGuard::reserve(mbufs * 5 / 2048 / 2 + 512)?) } else { None };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut counts = p.workers.clone();
    counts.sort_unstable();
    counts.dedup();
    let mut samples = Vec::new();
    for round in 1..=b.rounds {
        let mut order = counts.clone();
        if round % 2 == 0 {
            order.reverse();
        }
        for &w in &order {
            if stop.load(Relaxed) {
                return Err(procs::INTERRUPTED.into());
            }
            progress(&format!("round {round}/{}: {w} workers ({} s, {mbufs} mbufs)", b.rounds, b.seconds));
            let mut s = once(p, w, mbufs, dir.path(), &stop)?;
            s.round = round;
            progress(&format!("  {:.2} Mpps in all, per worker {:.2?}", s.total_mpps, s.per_worker_mpps));
            samples.push(s);
        }
    }
    let points = summarise(&samples, &counts, p.cpus)?;
    let report = Report {
        client_pcap: b.client.display().to_string(),
        node_pcap: b.node.display().to_string(),
        rounds: b.rounds,
        seconds: b.seconds,
        hugepages: huge,
        machine_cpus: p.cpus,
        samples,
        points,
    };
    write(&report, &b.out)?;
    Ok(report)
}

/// Medians per count, and each against linear scaling from the smallest count.
pub fn summarise(samples: &[Sample], counts: &[u32], cpus: u32) -> Result<Vec<Point>, String> {
    let median = |w: u32| -> Option<&Sample> {
        let mut v: Vec<&Sample> = samples.iter().filter(|s| s.workers == w).collect();
        v.sort_by(|a, b| a.total_mpps.total_cmp(&b.total_mpps));
        v.get(v.len() / 2).copied()
    };
    let base = counts.first().and_then(|&w| median(w)).ok_or("no samples")?;
    let per_worker_base = base.total_mpps / base.workers as f64;
    counts
        .iter()
        .map(|&w| {
            let m = median(w).ok_or(format!("no samples for {w} workers"))?;
            let mean = m.per_worker_mpps.iter().sum::<f64>() / m.per_worker_mpps.len().max(1) as f64;
            let slowest = m.per_worker_mpps.iter().copied().fold(f64::INFINITY, f64::min);
            Ok(Point {
                workers: w,
                cpus: layout(w, cpus)?,
                control_shares_cpu: w == cpus,
                total_mpps: m.total_mpps,
                mpps_per_worker: m.total_mpps / w as f64,
                vs_linear: m.total_mpps / (w as f64 * per_worker_base),
                slowest_vs_mean: slowest / mean.max(1e-9),
            })
        })
        .collect()
}

fn write(r: &Report, out: &Path) -> Result<(), String> {
    std::fs::write(out.join("scale.json"), serde_json::to_string_pretty(r).expect("json"))
        .map_err(|e| e.to_string())?;
    std::fs::write(out.join("scale.md"), markdown(r)).map_err(|e| e.to_string())?;
    let measured: Vec<(f64, f64)> = r.points.iter().map(|p| (p.workers as f64, p.total_mpps)).collect();
    let linear: Vec<(f64, f64)> =
        r.points.iter().map(|p| (p.workers as f64, p.total_mpps / p.vs_linear.max(1e-9))).collect();
    let svg =
        crate::plot::lines("sluice: Mpps vs workers", "workers", "Mpps", &[("sluice", measured), ("linear", linear)]);
    std::fs::write(out.join("scale.svg"), svg).map_err(|e| e.to_string())
}

/// The report as a markdown table.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Medians of {} rounds of {} s; {}; {} CPUs; control lcore on CPU 0.\n\n| workers | CPUs (control, workers) | total | per worker | vs linear | slowest worker / mean |\n|---|---|---|---|---|---|\n",
        r.rounds,
        r.seconds,
        if r.hugepages { "hugepages (2 MB)" } else { "no hugepages" },
        r.machine_cpus
    );
    for p in &r.points {
        let cpus = p.cpus.iter().map(|c| c.to_string()).collect::<Vec<_>>().join(",");
        s.push_str(&format!(
            "| {} | {}{} | {:.2} Mpps | {:.2} Mpps | **{:.2}** | {:.2} |\n",
            p.workers,
            cpus,
            if p.control_shares_cpu { " (CPU 0 shared)" } else { "" },
            p.total_mpps,
            p.mpps_per_worker,
            p.vs_linear,
            p.slowest_vs_mean
        ));
    }
    s
}

/// A plan for the tests below.
#[cfg(test)]
fn plan_for(
    client: std::path::PathBuf,
    node: std::path::PathBuf,
    template: std::path::PathBuf,
    workers: Vec<u32>,
    cpus: u32,
) -> Plan {
    Plan {
        base: compare::Plan {
            client,
            node,
            rounds: 1,
            seconds: 1,
            huge: compare::Huge::No,
            mbufs: 65535,
            sluice: "/bin/true".into(),
            testpmd: String::new(),
            out: "/tmp".into(),
            config_template: template,
            mtu: 1500,
        },
        workers,
        cpus,
        eal_args: vec!["-d".into(), "/opt/pmds/librte_net_pcap.so".into()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_get_the_last_cpus_and_share_cpu_0_only_at_the_machine_s_count() {
        assert_eq!(layout(1, 2).unwrap(), vec![0, 1]);
        assert_eq!(layout(2, 2).unwrap(), vec![0, 0, 1]);
        assert_eq!(layout(4, 16).unwrap(), vec![0, 12, 13, 14, 15]);
        assert!(layout(3, 2).unwrap_err().contains("2 CPUs"));
        assert!(layout(0, 2).unwrap_err().contains("0 workers"));
    }

    #[test]
    fn impossible_plans_are_refused_before_anything_starts() {
        let f = tempfile::NamedTempFile::new().unwrap();
        let p = |w: Vec<u32>| plan_for(f.path().into(), f.path().into(), f.path().into(), w, 2);
        assert!(preflight(&p(vec![1, 3])).unwrap_err().contains("has 2 CPUs"));
        assert!(preflight(&p(vec![])).unwrap_err().contains("no worker counts"));
        assert!(preflight(&p(vec![0])).unwrap_err().contains("0 workers"));
        let mut q = p(vec![1]);
        q.base.client = "/nonexistent.pcap".into();
        assert!(preflight(&q).unwrap_err().contains("--client"));
        let mut q = p(vec![1]);
        q.base.huge = compare::Huge::Both;
        assert!(preflight(&q).unwrap_err().contains("--huge"));
        assert!(preflight(&p(vec![1, 2])).is_ok());
    }

    #[test]
    fn each_worker_count_gets_a_valid_configuration_with_a_queue_per_worker() {
        let dir = tempfile::tempdir().unwrap();
        let (c, n) = (dir.path().join("c.pcap"), dir.path().join("n.pcap"));
        std::fs::write(&c, b"").unwrap();
        std::fs::write(&n, b"").unwrap();
        let template = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/demo.toml");
        let p = plan_for(c.clone(), n, template, vec![3], 3);
        let text = config_text(&p, 3, pool_size(3, 20_000, 8_000, 65535)).unwrap();
        let cfg = sluice_control::config::Config::from_toml(&text).unwrap();
        assert_eq!(cfg.worker_lcores(), &[1, 2, 3]);
        let args = cfg.eal_args();
        assert!(args.contains(&"--lcores=0@0,1@0,2@1,3@2".to_string()), "{args:?}");
        assert!(args.windows(2).any(|a| a[0] == "-d" && a[1] == "/opt/pmds/librte_net_pcap.so"), "{args:?}");
        let c = c.canonicalize().unwrap().display().to_string();
        let client = &cfg.ports[0].device;
        assert_eq!(client.matches(&format!("rx_pcap={c}")).count(), 3, "{client}");
        assert!(client.starts_with("net_pcap0,") && client.ends_with(",infinite_rx=1"), "{client}");
        assert_eq!(cfg.dataplane.mbufs as u64, 3 * (28_000 + 4096) + 8192);
        assert!(!cfg.console.enabled);
    }

    #[test]
    fn efficiency_is_against_linear_from_the_smallest_count() {
        let s =
            |workers, total: f64, per: Vec<f64>| Sample { workers, round: 1, total_mpps: total, per_worker_mpps: per };
        let samples = vec![
            s(1, 10.0, vec![10.0]),
            s(2, 18.0, vec![10.0, 8.0]),
            s(2, 16.0, vec![8.0, 8.0]),
            s(2, 19.0, vec![9.5, 9.5]),
        ];
        let pts = summarise(&samples, &[1, 2], 2).unwrap();
        assert_eq!(pts[1].total_mpps, 18.0);
        assert!((pts[1].vs_linear - 0.9).abs() < 1e-9);
        assert!((pts[1].slowest_vs_mean - 8.0 / 9.0).abs() < 1e-9);
        assert!(pts[1].control_shares_cpu && !pts[0].control_shares_cpu);
    }
}
