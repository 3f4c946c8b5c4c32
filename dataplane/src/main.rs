//! `sluice`: the load-balancer appliance.

#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{CommandFactory, Parser};
use sluice_control::{clidoc, Config};
use sluice_dataplane::app::{self, RunOptions};
use sluice_dataplane::log;

/// sluice: a DPDK kernel-bypass load balancer for storage clusters.
///
/// Reads one TOML configuration (see README.md), validates it before EAL starts, then balances VIP
/// traffic over chassis and nodes on poll-mode worker lcores until SIGINT/SIGTERM, --duration or
/// --exit-idle.
#[derive(Parser, Debug)]
#[command(name = "sluice", version, about)]
struct Args {
    /// The configuration file.
    #[arg(short, long, required_unless_present_any = ["man", "completions"])]
    config: Option<PathBuf>,
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
    /// Print a stats line this often (0: never; at most 86400000). Default: 1000, or 0 when standard
    /// output is the systemd journal (a line a second would be 86,400 journal lines a day).
    #[arg(long, value_name = "MS", value_parser = interval_ms, allow_negative_numbers = true)]
    stats_interval_ms: Option<u64>,
    /// Write the final summary as JSON to this file.
    #[arg(long, value_name = "PATH")]
    stats_json: Option<PathBuf>,
    /// Log events at this level and above: error, warn, info, debug (debug adds one line per reset
    /// fan-out).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log_level: tracing_subscriber::filter::LevelFilter,
    /// Print sluice's man page (roff: `sluice --man | man -l -`).
    #[arg(long, exclusive = true)]
    man: bool,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    #[arg(long, exclusive = true, value_name = "SHELL")]
    completions: Option<clidoc::Shell>,
}

/// The man page's sections beyond the options.
fn man_sections() -> Vec<clidoc::Section> {
    vec![
        clidoc::exit_status(&[
            (0, "A clean stop (SIGINT, SIGTERM, --duration, --exit-idle-ms), or --check found the configuration valid."),
            (1, "A failure while running: EAL, the ports or the workers could not start, or the summary could not be written."),
            (2, "A usage error, or a configuration that cannot be read or is invalid: nothing was started."),
            (3, "It stopped, but mbufs were still in use or the counters did not add up (rx + generated = tx + drops)."),
        ]),
        clidoc::paragraphs(
            "SIGNALS",
            &[
                "SIGINT and SIGTERM stop it cleanly: with [announce] enabled it first withdraws the VIPs and waits for the routers, then the workers stop, the ports close and every mbuf is accounted for.",
                "SIGHUP re-reads the configuration file; a change that cannot be applied at run time is refused and nothing changes. `sluicectl reload` does the same and says whether it was refused.",
            ],
        ),
        clidoc::paragraphs(
            "LOGGING",
            &[
                "Events (health changes, reloads, console changes, affinity moves, fan-outs, warnings) go to standard error, one line each: sluice:, the level unless it is info, the message, then fields as key=value (node, generation, reason, client). When standard error is the systemd journal (JOURNAL_STREAM), each line starts with its syslog priority (<3> error, <4> warning, <6> info, <7> debug), so journalctl -p filters by it. Stats lines and the summary go to standard output; under the journal there is no stats line unless --stats-interval-ms asks for one.",
            ],
        ),
        clidoc::paragraphs(
            "SYSTEMD",
            &[
                "Under a unit of Type=notify (NotifyAccess=all when a launcher starts it), sluice sends READY=1 once its ports are up, its tables built and its workers running, STATUS= with the generation and the packet rate every few seconds, and STOPPING=1 when it begins to stop.",
            ],
        ),
    ]
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
    if args.man {
        return match clidoc::man(Args::command(), &man_sections(), &mut std::io::stdout().lock()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("sluice: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if let Some(shell) = args.completions {
        clidoc::completions(shell, Args::command(), &mut std::io::stdout().lock());
        return ExitCode::SUCCESS;
    }
    let config = args.config.clone().expect("clap requires --config here");
    log::init(args.log_level);
    let cfg = match Config::load(&config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("sluice: {}: {e}", config.display());
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
        stats_interval: Some(args.stats_interval_ms.unwrap_or(if log::is_journal(1) { 0 } else { 1000 }))
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis),
        stats_json: args.stats_json.clone(),
        config_path: Some(config),
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
