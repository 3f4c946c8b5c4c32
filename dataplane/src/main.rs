//! `sluice`: the load-balancer appliance.

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
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Stop once no packet has arrived for this many milliseconds.
    #[arg(long, value_name = "MS")]
    exit_idle_ms: Option<u64>,
    /// Print a stats line this often (0: never).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    stats_interval_ms: u64,
    /// Write the final summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
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
    if let Some(d) = args.duration {
        if !(d.is_finite() && d > 0.0) {
            eprintln!("sluice: --duration must be a positive number of seconds");
            return ExitCode::from(2);
        }
    }
    let opts = RunOptions {
        duration: args.duration.map(Duration::from_secs_f64),
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
