//! `sluice-perf compare`: sluice against DPDK's testpmd (`io` and `macswap`) on the same pcaps, the same
//! cores and the same pool size, alternating, several rounds, with and without hugepages; sluice runs
//! twice a round, with its flow table on and off (the table's cost). Hugepages are reserved (and
//! hugetlbfs mounted) when needed and everything is put back afterwards, interrupted or not.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::procs;

/// Which memory modes to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Huge {
    No,
    Yes,
    Both,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub client: PathBuf,
    pub node: PathBuf,
    pub rounds: u32,
    pub seconds: u32,
    pub huge: Huge,
    pub mbufs: u32,
    pub sluice: PathBuf,
    pub testpmd: String,
    pub out: PathBuf,
    /// The example configuration sluice's runs start from.
    pub config_template: PathBuf,
    /// Both ports' IP MTU (above 1500: jumbo frames, for sluice and testpmd alike).
    pub mtu: u16,
}

/// One measurement.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub what: String,
    pub hugepages: bool,
    pub round: u32,
    /// Packets per second received by the one forwarding core, both ports together, in millions.
    pub mpps: f64,
}

/// The result: every sample and the per-mode medians and ratios.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub client_pcap: String,
    pub node_pcap: String,
    pub rounds: u32,
    pub seconds: u32,
    pub mbufs: u32,
    pub cores: &'static str,
    pub samples: Vec<Sample>,
    pub summary: Vec<ModeSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModeSummary {
    pub hugepages: bool,
    pub sluice_mpps: f64,
    pub testpmd_io_mpps: f64,
    pub testpmd_macswap_mpps: f64,
    pub ratio_vs_macswap: f64,
    pub ratio_vs_io: f64,
    /// The lowest and highest sluice / macswap ratio of a single round.
    pub round_ratio_vs_macswap_min: f64,
    pub round_ratio_vs_macswap_max: f64,
    /// sluice with its flow table off (`[flows] enabled = false`: the stateless balancer).
    pub sluice_stateless_mpps: f64,
    /// sluice (flow table on) / sluice stateless, of the medians.
    pub ratio_flows_on_vs_off: f64,
}

const HUGE_DIR: &str = "/dev/hugepages";
const HUGE_NR: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages";
const PAGES: u64 = 1024;

/// The checks every harness that runs sluice on the plan's pcaps makes first: the files are there, and
/// the rounds, seconds and pool are possible.
pub(crate) fn check_inputs(p: &Plan) -> Result<(), String> {
    for (what, f) in [("--client", &p.client), ("--node", &p.node), ("--sluice", &p.sluice)] {
        if !f.is_file() {
            return Err(format!("{what} {}: no such file", f.display()));
        }
    }
    if !p.config_template.is_file() {
        return Err(format!("{}: the example configuration is missing", p.config_template.display()));
    }
    if p.rounds == 0 || p.seconds == 0 {
        return Err("--rounds and --seconds must be at least 1".into());
    }
    if !(1024..=1 << 22).contains(&p.mbufs) {
        return Err(format!("--mbufs {} is outside 1024..=4194304", p.mbufs));
    }
    Ok(())
}

/// Checks everything that can be checked before anything starts.
pub fn preflight(p: &Plan) -> Result<(), String> {
    check_inputs(p)?;
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {}", p.testpmd)])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        return Err(format!("{} not found: install Debian's dpdk package (apt-get install dpdk)", p.testpmd));
    }
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        return Err("two CPUs are needed (one control/console lcore, one forwarding lcore)".into());
    }
    if p.huge != Huge::No && !is_root() {
        return Err("--huge yes|both reserves hugepages and needs root".into());
    }
    Ok(())
}

pub(crate) fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// Hugepages reserved and hugetlbfs mounted for the runs; Drop puts both back and removes our files.
pub(crate) struct HugeGuard {
    previous: Option<u64>,
    mounted: bool,
}

impl HugeGuard {
    /// Makes sure at least `pages` 2 MB pages (and no fewer than 1024) are reserved.
    pub(crate) fn reserve(pages: u64) -> Result<HugeGuard, String> {
        let pages = pages.max(PAGES);
        let cur: u64 = std::fs::read_to_string(HUGE_NR)
            .map_err(|e| format!("{HUGE_NR}: {e}"))?
            .trim()
            .parse()
            .map_err(|e| format!("{HUGE_NR}: {e}"))?;
        let mut g = HugeGuard { previous: None, mounted: false };
        if cur < pages {
            std::fs::write(HUGE_NR, pages.to_string()).map_err(|e| format!("reserving hugepages: {e}"))?;
            g.previous = Some(cur);
            let now: u64 = std::fs::read_to_string(HUGE_NR).unwrap_or_default().trim().parse().unwrap_or(0);
            if now < pages / 2 {
                return Err(format!("only {now} of {pages} 2 MB hugepages could be reserved"));
            }
        }
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if !mounts.lines().any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs")) {
            std::fs::create_dir_all(HUGE_DIR).map_err(|e| format!("{HUGE_DIR}: {e}"))?;
            let ok = Command::new("mount").args(["-t", "hugetlbfs", "nodev", HUGE_DIR]).status();
            if !ok.is_ok_and(|s| s.success()) {
                return Err(format!("mounting hugetlbfs on {HUGE_DIR} failed"));
            }
            g.mounted = true;
        }
        Ok(g)
    }
}

impl Drop for HugeGuard {
    fn drop(&mut self) {
        remove_our_hugepage_files();
        if self.mounted {
            let _ = Command::new("umount").arg(HUGE_DIR).status();
        }
        if let Some(p) = self.previous {
            let _ = std::fs::write(HUGE_NR, p.to_string());
        }
    }
}

pub(crate) const PREFIX: &str = "sluice-perf";

fn remove_our_hugepage_files() {
    if let Ok(d) = std::fs::read_dir(HUGE_DIR) {
        for e in d.flatten() {
            if e.file_name().to_string_lossy().starts_with(PREFIX) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Writes sluice's configuration for a run into `dir`: the plan's pcaps and pool, hugepages or not, no
/// console. Returns the configuration's path and where sluice is to write its statistics.
pub(crate) fn sluice_config(p: &Plan, huge: bool, dir: &Path) -> Result<(PathBuf, PathBuf), String> {
    let cfg = sluice_config_text(p, huge)?;
    let cfg_path = dir.join(format!("sluice-{huge}.toml"));
    std::fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
    Ok((cfg_path, dir.join(format!("sluice-{huge}.json"))))
}

/// The text of [`sluice_config`]'s configuration.
pub(crate) fn sluice_config_text(p: &Plan, huge: bool) -> Result<String, String> {
    let t = std::fs::read_to_string(&p.config_template).map_err(|e| e.to_string())?;
    Ok(t.replace("@CLIENT_IN@", &p.client.canonicalize().map_err(|e| e.to_string())?.display().to_string())
        .replace("@NODE_IN@", &p.node.canonicalize().map_err(|e| e.to_string())?.display().to_string())
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{PREFIX}-sluice\""))
        .replace("no_huge = true", &format!("no_huge = {}", !huge))
        .replace("mbufs = 65535", &format!("mbufs = {}", p.mbufs))
        .replacen("[[ports]]", "[console]\nenabled = false\n\n[[ports]]", 1)
        .replace("\nrole = \"client\"\n", &format!("\nrole = \"client\"\nmtu = {}\n", p.mtu))
        // The node port carries an IP-in-IP node's outer header on top, as storage underlays do.
        .replace("\nrole = \"node\"\n", &format!("\nrole = \"node\"\nmtu = {}\n", p.mtu + 40)))
}

/// One sluice run; `stateless` turns its flow table off.
fn sluice_once(p: &Plan, huge: bool, stateless: bool, dir: &Path, stop: &AtomicBool) -> Result<f64, String> {
    let (cfg_path, json) = sluice_config(p, huge, dir)?;
    if stateless {
        let mut cfg = std::fs::read_to_string(&cfg_path).map_err(|e| e.to_string())?;
        cfg.push_str("\n[flows]\nenabled = false\n");
        std::fs::write(&cfg_path, cfg).map_err(|e| e.to_string())?;
    }
    let s = procs::run_sluice(&p.sluice, &cfg_path, &json, p.seconds, stop, &[], &format!("{PREFIX}-sluice"))?;
    Ok(s["rx"].as_f64().unwrap_or(0.0) / s["seconds"].as_f64().unwrap_or(1.0) / 1e6)
}

/// Mean of the per-second Rx-pps samples, summed over both ports: leading zeros (startup) and the first
/// non-zero sample (a partial period) are left out.
pub fn testpmd_mpps(output: &str) -> Option<f64> {
    let mut per_port: Vec<Vec<f64>> = vec![Vec::new(), Vec::new()];
    let mut port = None;
    for line in output.lines() {
        let l = line.trim();
        if let Some(rest) = l.strip_prefix("######################## NIC statistics for port") {
            port = rest.split_whitespace().next().and_then(|n| n.parse::<usize>().ok());
        } else if let Some(rest) = l.strip_prefix("Rx-pps:") {
            if let (Some(p), Some(v)) = (port, rest.split_whitespace().next().and_then(|v| v.parse::<f64>().ok())) {
                if let Some(s) = per_port.get_mut(p) {
                    s.push(v);
                }
            }
        }
    }
    let mean = |s: &[f64]| -> Option<f64> {
        let s = &s[s.iter().position(|&v| v > 0.0)?..];
        let s = if s.len() > 1 { &s[1..] } else { s };
        Some(s.iter().sum::<f64>() / s.len() as f64)
    };
    Some((mean(&per_port[0])? + mean(&per_port[1])?) / 1e6)
}

fn testpmd_once(p: &Plan, huge: bool, mode: &str, stop: &AtomicBool) -> Result<f64, String> {
    let text = run_testpmd(p, huge, mode, stop, &[])?;
    testpmd_mpps(&text).ok_or_else(|| format!("no Rx-pps figures in testpmd {mode}'s output"))
}

/// Runs testpmd in `mode` (behind `wrapper`, e.g. valgrind, when not empty) until it has forwarded for
/// the plan's seconds, then stops it with SIGINT; returns everything it printed.
pub(crate) fn run_testpmd(
    p: &Plan,
    huge: bool,
    mode: &str,
    stop: &AtomicBool,
    wrapper: &[String],
) -> Result<String, String> {
    let mut args: Vec<String> = vec!["-l".into(), "0,1".into(), "--no-pci".into()];
    args.extend(["--file-prefix".into(), format!("{PREFIX}-testpmd")]);
    if huge {
        args.push("--huge-unlink".into());
    } else {
        args.extend(["--no-huge".into(), "-m".into(), "1024".into()]);
    }
    for (i, f) in [&p.client, &p.node].iter().enumerate() {
        let f = f.canonicalize().map_err(|e| e.to_string())?;
        args.extend(["--vdev".into(), format!("net_pcap{i},rx_pcap={},infinite_rx=1", f.display())]);
    }
    args.push("--".into());
    if p.mtu > 1500 {
        // Frames of the MTU in one mbuf, as sluice's pool holds them (128 bytes of headroom, Ethernet,
        // two VLAN tags, the CRC, rounded up to 64).
        let room = (128 + usize::from(p.mtu) + 26).div_ceil(64) * 64;
        args.extend([format!("--max-pkt-len={}", usize::from(p.mtu) + 18), format!("--mbuf-size={room}")]);
    }
    args.extend([
        format!("--total-num-mbufs={}", p.mbufs),
        format!("--forward-mode={mode}"),
        "--stats-period".into(),
        "1".into(),
        "--nb-cores=1".into(),
    ]);
    // Line-buffered (stdbuf), so the first statistics can be seen as they come.
    let mut cmd = procs::command("stdbuf");
    cmd.arg("-oL").args(wrapper).arg(&p.testpmd).args(&args).stdout(Stdio::piped()).stderr(Stdio::null());
    let grace = Duration::from_secs(if wrapper.is_empty() { 10 } else { 120 });
    let mut child = procs::Guarded::spawn(&mut cmd, grace)?;
    let out = child.child().stdout.take().expect("piped");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(out)).map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    // Wait (startup can take seconds on a cold machine, minutes under valgrind) until packets flow, then
    // measure.
    let deadline = Instant::now() + Duration::from_secs(if wrapper.is_empty() { 30 } else { 300 });
    let flowing = loop {
        if stop.load(Relaxed) || Instant::now() > deadline {
            break false;
        }
        if let Ok(Some(st)) = child.child().try_wait() {
            procs::remove_runtime_dir(&format!("{PREFIX}-testpmd"));
            return Err(format!("{} {mode} exited early: {st}", p.testpmd));
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(l) => {
                let v = l.trim().strip_prefix("Rx-pps:").and_then(|r| r.split_whitespace().next()?.parse::<u64>().ok());
                if v.is_some_and(|v| v > 0) {
                    break true;
                }
            }
            Err(_) => continue,
        }
    };
    if flowing {
        let until = Instant::now() + Duration::from_millis(p.seconds as u64 * 1000 + 1200);
        while Instant::now() < until && !stop.load(Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // SIGINT lets testpmd stop its ports and release its memory; its runtime directory is left to us.
    child.interrupt();
    drop(child);
    procs::remove_runtime_dir(&format!("{PREFIX}-testpmd"));
    let text = reader.join().unwrap_or_default();
    if stop.load(Relaxed) {
        return Err(procs::INTERRUPTED.into());
    }
    if !flowing {
        return Err(format!("testpmd {mode} forwarded nothing in time"));
    }
    Ok(text)
}

/// Runs the comparison; writes `compare.json`, `compare.md` and `compare.svg` into `out`.
pub fn run(p: &Plan, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p)?;
    std::fs::create_dir_all(&p.out).map_err(|e| format!("{}: {e}", p.out.display()))?;
    let stop = procs::stop_on_signals();
    let modes: Vec<bool> = match p.huge {
        Huge::No => vec![false],
        Huge::Yes => vec![true],
        Huge::Both => vec![false, true],
    };
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut samples = Vec::new();
    for &huge in &modes {
        let _guard = if huge { Some(HugeGuard::reserve(PAGES)?) } else { None };
        for round in 1..=p.rounds {
            // Alternate the order so neither side always runs on a warmer (or hotter) machine.
            let mut order = vec!["sluice", "io", "sluice stateless", "macswap"];
            if round % 2 == 0 {
                order.reverse();
            }
            for what in order {
                if stop.load(Relaxed) {
                    return Err(procs::INTERRUPTED.into());
                }
                progress(&format!(
                    "round {round}/{} {} {what} ({} s)",
                    p.rounds,
                    if huge { "hugepages" } else { "no hugepages" },
                    p.seconds
                ));
                let mpps = match what {
                    "sluice" | "sluice stateless" => sluice_once(p, huge, what != "sluice", dir.path(), &stop)?,
                    mode => testpmd_once(p, huge, mode, &stop)?,
                };
                let what = if what.starts_with("sluice") { what.to_string() } else { format!("testpmd {what}") };
                samples.push(Sample { what, hugepages: huge, round, mpps });
            }
        }
    }
    let summary = summarise(&samples, &modes);
    let report = Report {
        client_pcap: p.client.display().to_string(),
        node_pcap: p.node.display().to_string(),
        rounds: p.rounds,
        seconds: p.seconds,
        mbufs: p.mbufs,
        cores: "-l 0,1 (lcore 1 forwards)",
        samples,
        summary,
    };
    std::fs::write(p.out.join("compare.json"), serde_json::to_string_pretty(&report).expect("json"))
        .map_err(|e| e.to_string())?;
    std::fs::write(p.out.join("compare.md"), markdown(&report)).map_err(|e| e.to_string())?;
    std::fs::write(p.out.join("compare.svg"), crate::plot::bars(&report)).map_err(|e| e.to_string())?;
    Ok(report)
}

/// Per memory mode: the medians over rounds, their ratios, and the spread of the ratios taken round by
/// round (each round runs the three targets back to back, so its ratio sees one state of the machine).
pub fn summarise(samples: &[Sample], modes: &[bool]) -> Vec<ModeSummary> {
    let of = |what: &str, huge: bool| -> Vec<&Sample> {
        samples.iter().filter(|s| s.what == what && s.hugepages == huge).collect()
    };
    let median = |what: &str, huge: bool| {
        let mut v: Vec<f64> = of(what, huge).iter().map(|s| s.mpps).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    modes
        .iter()
        .map(|&huge| {
            let (s, io, mac) = (median("sluice", huge), median("testpmd io", huge), median("testpmd macswap", huge));
            let stateless = median("sluice stateless", huge);
            let per_round: Vec<f64> = of("sluice", huge)
                .iter()
                .filter_map(|a| {
                    let m = of("testpmd macswap", huge).into_iter().find(|b| b.round == a.round)?;
                    Some(a.mpps / m.mpps.max(1e-9))
                })
                .collect();
            let lo = per_round.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = per_round.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            ModeSummary {
                hugepages: huge,
                sluice_mpps: s,
                testpmd_io_mpps: io,
                testpmd_macswap_mpps: mac,
                ratio_vs_macswap: s / mac.max(1e-9),
                ratio_vs_io: s / io.max(1e-9),
                round_ratio_vs_macswap_min: if per_round.is_empty() { 0.0 } else { lo },
                round_ratio_vs_macswap_max: if per_round.is_empty() { 0.0 } else { hi },
                sluice_stateless_mpps: stateless,
                ratio_flows_on_vs_off: s / stateless.max(1e-9),
            }
        })
        .collect()
}

/// The report as a markdown table.
pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Medians of {} rounds of {} s; {} mbufs; cores {}. In brackets: the lowest and highest ratio of a single \
         round. sluice runs with its flow table on; \"stateless\" is sluice with it off.\n\n| | sluice | testpmd io | testpmd \
         macswap | sluice / macswap | sluice / io | sluice stateless | flow table on / off |\n|---|---|---|---|---|---|---|---|\n",
        r.rounds, r.seconds, r.mbufs, r.cores
    );
    for m in &r.summary {
        s.push_str(&format!(
            "| {} | {:.2} Mpps | {:.2} Mpps | {:.2} Mpps | **{:.2}** ({:.2}–{:.2}) | {:.2} | {:.2} Mpps | {:.2} |\n",
            if m.hugepages { "hugepages (2 MB)" } else { "no hugepages" },
            m.sluice_mpps,
            m.testpmd_io_mpps,
            m.testpmd_macswap_mpps,
            m.ratio_vs_macswap,
            m.round_ratio_vs_macswap_min,
            m.round_ratio_vs_macswap_max,
            m.ratio_vs_io,
            m.sluice_stateless_mpps,
            m.ratio_flows_on_vs_off
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testpmd_output_is_read_per_port_after_the_warm_up() {
        let block = |p: u32, pps: u64| {
            format!(
                "  ######################## NIC statistics for port {p}  ########################\n  RX-packets: 1 RX-missed: 0\n  Throughput (since last show)\n  Rx-pps:      {pps}          Rx-bps: 1\n  Tx-pps:      {pps}          Tx-bps: 1\n"
            )
        };
        let out = [
            block(0, 1),
            block(1, 1),
            block(0, 10_000_000),
            block(1, 5_000_000),
            block(0, 12_000_000),
            block(1, 5_000_000),
        ]
        .concat();
        assert_eq!(testpmd_mpps(&out), Some(16.0));
        assert_eq!(testpmd_mpps("nothing"), None);
    }

    #[test]
    fn medians_and_the_per_round_ratio_spread() {
        let mut samples = Vec::new();
        for (round, sl, io, mac) in [(1, 6.0, 12.0, 10.0), (2, 9.0, 14.0, 10.0), (3, 8.0, 13.0, 20.0)] {
            for (what, mpps) in
                [("sluice", sl), ("testpmd io", io), ("testpmd macswap", mac), ("sluice stateless", 10.0)]
            {
                samples.push(Sample { what: what.into(), hugepages: true, round, mpps });
            }
        }
        let m = &summarise(&samples, &[true])[0];
        assert_eq!((m.sluice_mpps, m.testpmd_io_mpps, m.testpmd_macswap_mpps), (8.0, 13.0, 10.0));
        assert_eq!(m.ratio_vs_macswap, 0.8);
        assert_eq!((m.sluice_stateless_mpps, m.ratio_flows_on_vs_off), (10.0, 0.8));
        // Rounds: 0.6, 0.9, 0.4.
        assert_eq!((m.round_ratio_vs_macswap_min, m.round_ratio_vs_macswap_max), (0.4, 0.9));
        assert!(markdown(&Report {
            client_pcap: String::new(),
            node_pcap: String::new(),
            rounds: 3,
            seconds: 1,
            mbufs: 1024,
            cores: "",
            samples,
            summary: vec![m.clone()],
        })
        .contains("**0.80** (0.40–0.90)"));
    }

    #[test]
    fn impossible_plans_are_refused_before_anything_starts() {
        let p = Plan {
            client: "/nonexistent.pcap".into(),
            node: "/nonexistent.pcap".into(),
            rounds: 1,
            seconds: 1,
            huge: Huge::No,
            mbufs: 65535,
            sluice: "/bin/true".into(),
            testpmd: "dpdk-testpmd".into(),
            out: "/tmp".into(),
            config_template: "/nonexistent".into(),
            mtu: 1500,
        };
        assert!(preflight(&p).unwrap_err().contains("--client"));
        let f = tempfile::NamedTempFile::new().unwrap();
        let mut q = Plan { client: f.path().into(), node: f.path().into(), config_template: f.path().into(), ..p };
        q.rounds = 0;
        assert!(preflight(&q).unwrap_err().contains("--rounds"));
        q.rounds = 1;
        q.testpmd = "no-such-testpmd-binary".into();
        assert!(preflight(&q).unwrap_err().contains("not found"));
    }
}
