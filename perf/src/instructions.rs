//! `sluice-perf instructions`: instructions per packet on the forwarding core, counted by callgrind, for
//! sluice and testpmd `io` and `macswap` on the same pcaps, pool and cores as `compare`. Instruction counts
//! do not change with the machine's load, so they compare across runs and machines where Mpps on a shared
//! VM does not; they leave out what instructions do not show (cache misses, branch mispredictions).
//!
//! Each target runs once under `valgrind --tool=callgrind --separate-threads=yes` without hugepages. The
//! forwarding core is the busiest thread other than the first (the main lcore's, which also loads the
//! pcaps); its count over the packets the run received is the figure.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use serde::Serialize;

use crate::compare::{self, Plan};
use crate::procs;

/// One target's count.
#[derive(Debug, Clone, Serialize)]
pub struct Count {
    pub what: String,
    pub packets: u64,
    /// Instructions the forwarding thread executed.
    pub instructions: u64,
    pub per_packet: f64,
    /// The next busiest thread's instructions (the forwarding thread must stand out).
    pub next_thread: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub client_pcap: String,
    pub node_pcap: String,
    pub seconds: u32,
    pub mbufs: u32,
    pub counts: Vec<Count>,
    /// testpmd macswap's instructions per packet over sluice's: the throughput ratio instructions alone
    /// predict.
    pub ratio_vs_macswap: f64,
    /// sluice's instructions per packet beyond testpmd io's (the PMDs' and the loop's own share).
    pub sluice_beyond_io: f64,
}

/// Checks what `compare` checks, and that valgrind is there.
pub fn preflight(p: &Plan, valgrind: &str) -> Result<(), String> {
    compare::preflight(p)?;
    let ok = Command::new(valgrind).arg("--version").output().is_ok_and(|o| o.status.success());
    if !ok {
        return Err(format!("{valgrind} not found: install Debian's valgrind package (apt-get install valgrind)"));
    }
    Ok(())
}

/// The busiest thread's instructions and the next one's, from callgrind's per-thread files `stem-NN`,
/// leaving out thread 1 (the main lcore: EAL set-up, pcap loading, control or console).
fn busiest_thread(dir: &Path, stem: &str) -> Result<(u64, u64), String> {
    let mut totals: Vec<u64> = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        if !name.starts_with(&format!("{stem}-")) || name == format!("{stem}-01") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).map_err(|e| e.to_string())?;
        let total = text.lines().find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")));
        if let Some(v) = total.and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok()) {
            totals.push(v);
        }
    }
    totals.sort_unstable_by(|a, b| b.cmp(a));
    match totals[..] {
        [] => Err(format!("callgrind wrote no per-thread counts for {stem}")),
        [one] => Ok((one, 0)),
        [first, second, ..] => Ok((first, second)),
    }
}

/// Packets testpmd received in all: the last `RX-packets:` figure, which is the all-ports total it prints
/// on exit.
pub fn testpmd_packets(output: &str) -> Option<u64> {
    output.lines().rev().find_map(|l| l.trim().strip_prefix("RX-packets:")?.split_whitespace().next()?.parse().ok())
}

fn callgrind(dir: &Path, stem: &str, valgrind: &str) -> Vec<String> {
    vec![
        valgrind.to_string(),
        "--tool=callgrind".into(),
        "--separate-threads=yes".into(),
        format!("--callgrind-out-file={}", dir.join(stem).display()),
    ]
}

fn sluice(p: &Plan, valgrind: &str, dir: &Path, stop: &AtomicBool) -> Result<u64, String> {
    let (cfg, json) = compare::sluice_config(p, false, dir)?;
    let s = procs::run_sluice(
        &p.sluice,
        &cfg,
        &json,
        p.seconds,
        stop,
        &callgrind(dir, "sluice", valgrind),
        &format!("{}-sluice", compare::PREFIX),
    )?;
    s["rx"].as_u64().filter(|&n| n > 0).ok_or_else(|| format!("sluice received nothing: {s}"))
}

pub fn run(p: &Plan, valgrind: &str, progress: &dyn Fn(&str)) -> Result<Report, String> {
    preflight(p, valgrind)?;
    std::fs::create_dir_all(&p.out).map_err(|e| format!("{}: {e}", p.out.display()))?;
    let stop = procs::stop_on_signals();
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut counts = Vec::new();
    for what in ["sluice", "io", "macswap"] {
        if stop.load(Relaxed) {
            return Err(procs::INTERRUPTED.into());
        }
        progress(&format!("{what} under callgrind ({} s of forwarding)", p.seconds));
        let packets = match what {
            "sluice" => sluice(p, valgrind, dir.path(), &stop)?,
            mode => {
                let text = compare::run_testpmd(p, false, mode, &stop, &callgrind(dir.path(), mode, valgrind))?;
                testpmd_packets(&text)
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("testpmd {mode} reported no packets"))?
            }
        };
        let (instructions, next_thread) = busiest_thread(dir.path(), what)?;
        let name = if what == "sluice" { "sluice".to_string() } else { format!("testpmd {what}") };
        counts.push(Count {
            what: name,
            packets,
            instructions,
            per_packet: instructions as f64 / packets as f64,
            next_thread,
        });
    }
    let per = |w: &str| counts.iter().find(|c| c.what == w).map_or(f64::NAN, |c| c.per_packet);
    let report = Report {
        client_pcap: p.client.display().to_string(),
        node_pcap: p.node.display().to_string(),
        seconds: p.seconds,
        mbufs: p.mbufs,
        ratio_vs_macswap: per("testpmd macswap") / per("sluice"),
        sluice_beyond_io: per("sluice") - per("testpmd io"),
        counts,
    };
    std::fs::write(p.out.join("instructions.json"), serde_json::to_string_pretty(&report).expect("json"))
        .map_err(|e| e.to_string())?;
    std::fs::write(p.out.join("instructions.md"), markdown(&report)).map_err(|e| e.to_string())?;
    Ok(report)
}

pub fn markdown(r: &Report) -> String {
    let mut s = format!(
        "Forwarding-core instructions per packet (callgrind), {} s of forwarding each, no hugepages, {} mbufs.\n\n\
         | | packets | instructions | per packet |\n|---|---|---|---|\n",
        r.seconds, r.mbufs
    );
    for c in &r.counts {
        s += &format!("| {} | {} | {} | {:.0} |\n", c.what, c.packets, c.instructions, c.per_packet);
    }
    s += &format!(
        "\nmacswap / sluice, per packet: **{:.2}** (the throughput ratio instruction counts predict); sluice's \
         instructions beyond testpmd io's: {:.0} per packet.\n",
        r.ratio_vs_macswap, r.sluice_beyond_io
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn testpmd_packets_takes_the_all_ports_total() {
        let out = "  RX-packets: 10             RX-dropped: 0\n  RX-packets: 12 RX-dropped: 0\n\
                   Accumulated forward statistics for all ports\n  RX-packets: 22             RX-dropped: 0\n";
        assert_eq!(testpmd_packets(out), Some(22));
        assert_eq!(testpmd_packets("nothing"), None);
    }

    #[test]
    fn the_busiest_thread_is_found_in_callgrind_files() {
        let d = tempfile::tempdir().unwrap();
        for (n, v) in [("01", 90000), ("02", 7), ("03", 4000), ("04", 500)] {
            std::fs::write(d.path().join(format!("io-{n}")), format!("version: 1\nsummary: {v}\n")).unwrap();
        }
        std::fs::write(d.path().join("sluice-01"), "summary: 99999\n").unwrap();
        assert_eq!(busiest_thread(d.path(), "io").unwrap(), (4000, 500));
        assert!(busiest_thread(d.path(), "macswap").is_err());
    }
}
