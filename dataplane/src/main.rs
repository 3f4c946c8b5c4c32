//! `sluice`: the load-balancer appliance.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use sluice_control::Config;
use sluice_dataplane::app::{self, RunOptions};

/// sluice: a DPDK kernel-bypass load balancer for storage clusters.
///
/// Reads one TOML configuration (see README.md), validates it before EAL starts, then balances VIP
/// traffic over chassis and nodes on poll-mode worker lcores until SIGINT/SIGTERM, --duration or
/// --exit-idle.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// The configuration file.
    #[arg(short, long)]
    config: PathBuf,
    /// Only validate the configuration and print the EAL arguments it implies.
    #[arg(long)]
    check: bool,
    /// With --check: print what a launcher needs (lcores and their CPUs, devices, hugepage memory, EAL
    /// arguments) as JSON instead.
    #[arg(long, requires = "check")]
    json: bool,
    /// Stop after this many seconds (more than 0, at most a year).
    #[arg(long, value_name = "SECONDS", value_parser = seconds, allow_negative_numbers = true)]
    duration: Option<Duration>,
    /// Stop once no packet has arrived for this many milliseconds (1 to 86400000).
    #[arg(long, value_name = "MS", value_parser = idle_ms, allow_negative_numbers = true)]
    exit_idle_ms: Option<u64>,
    /// Print a stats line this often (0: never; at most 86400000).
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = interval_ms, allow_negative_numbers = true)]
    stats_interval_ms: u64,
    /// Write the final summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
}

/// The longest `--duration`, in seconds: a year.
const MAX_SECONDS: f64 = 365.0 * 86_400.0;
/// The longest millisecond argument: a day.
const MAX_MS: u64 = 86_400_000;

/// `--duration`: a finite number of seconds above 0 and at most [`MAX_SECONDS`] (so that it always
/// converts to a `Duration`). A refusal is a usage error: exit code 2, before the configuration is read.
fn seconds(s: &str) -> Result<Duration, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= MAX_SECONDS => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("must be a number of seconds above 0 and at most {MAX_SECONDS} (a year)")),
    }
}

fn ms_in(s: &str, least: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if (least..=MAX_MS).contains(&v) => Ok(v),
        _ => Err(format!("must be a whole number of milliseconds in {least}..={MAX_MS} (a day)")),
    }
}

/// `--exit-idle-ms`: 1..=[`MAX_MS`].
fn idle_ms(s: &str) -> Result<u64, String> {
    ms_in(s, 1)
}

/// `--stats-interval-ms`: 0 (never) ..=[`MAX_MS`].
fn interval_ms(s: &str) -> Result<u64, String> {
    ms_in(s, 0)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if args.check && args.json {
        println!("{}", serde_json::to_string_pretty(&cfg.launch_facts()).expect("facts serialise"));
        return ExitCode::SUCCESS;
    }
    if args.check {
        println!(
            "configuration OK: {} ports, {} VIPs, {} chassis, {} nodes, {} workers",
            cfg.ports.len(),
            cfg.vips.len(),
            cfg.chassis.len(),
            cfg.nodes.len(),
            cfg.worker_lcores().len()
        );
        println!("EAL arguments: {}", cfg.eal_args().join(" "));
        return ExitCode::SUCCESS;
    }
    let opts = RunOptions {
        duration: args.duration,
        exit_idle: args.exit_idle_ms.map(Duration::from_millis),
        stats_interval: (args.stats_interval_ms > 0).then(|| Duration::from_millis(args.stats_interval_ms)),
        stats_json: args.stats_json.clone(),
        config_path: Some(args.config.clone()),
    };
    match app::run(&cfg, &opts) {
        Ok(summary) => {
            print!("{}", summary.render());
            if let Some(p) = &opts.stats_json {
                let json = serde_json::to_string_pretty(&summary).expect("summary serialises");
                if let Err(e) = std::fs::write(p, json) {
                    eprintln!("sluice: writing {}: {e}", p.display());
                    return ExitCode::FAILURE;
                }
            }
            if summary.mempool_in_use_at_exit != 0 || !summary.counters_balance {
                eprintln!(
                    "sluice: accounting error: {} mbufs still in use, counters balance: {}",
                    summary.mempool_in_use_at_exit, summary.counters_balance
                );
                return ExitCode::from(3);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sluice: {e}");
            ExitCode::FAILURE
        }
    }
}
