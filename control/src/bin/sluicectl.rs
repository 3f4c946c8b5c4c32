//! `sluicectl`: the operator's tool. `check` validates a configuration offline and shows how the tables
//! built from it divide traffic among chassis and nodes (no DPDK, no running appliance needed).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use sluice_control::{maglev, Config, Topology};

#[derive(Parser, Debug)]
#[command(version, about = "Operate a sluice appliance")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate a configuration and show the chassis and node shares its tables give.
    Check {
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Serialize)]
struct NodeShare {
    name: String,
    chassis: String,
    state: String,
    weight: u32,
    /// Share of tier-1 slots, percent.
    share_pct: f64,
}

#[derive(Serialize)]
struct ChassisShare {
    name: String,
    nodes: usize,
    share_pct: f64,
}

#[derive(Serialize)]
struct Report {
    ports: usize,
    vips: usize,
    workers: usize,
    table_size: usize,
    chassis: Vec<ChassisShare>,
    nodes: Vec<NodeShare>,
    eal_args: Vec<String>,
}

fn report(cfg: &Config) -> Report {
    let topo = Topology::build(cfg);
    let slots = topo.node_table.len() as f64;
    let mut counts = vec![0usize; topo.nodes.len()];
    for &n in &topo.node_table {
        if n != maglev::EMPTY {
            counts[n as usize] += 1;
        }
    }
    let nodes: Vec<NodeShare> = topo
        .nodes
        .iter()
        .zip(&counts)
        .map(|(n, c)| NodeShare {
            name: n.name.clone(),
            chassis: topo.chassis[n.chassis as usize].name.clone(),
            state: format!("{:?}", n.state).to_lowercase(),
            weight: n.weight,
            share_pct: 100.0 * *c as f64 / slots,
        })
        .collect();
    let chassis = topo
        .chassis
        .iter()
        .map(|c| ChassisShare {
            name: c.name.clone(),
            nodes: c.nodes.len(),
            share_pct: c.nodes.iter().map(|&n| nodes[n as usize].share_pct).sum(),
        })
        .collect();
    Report {
        ports: cfg.ports.len(),
        vips: cfg.vips.len(),
        workers: cfg.worker_lcores().len(),
        table_size: topo.node_table.len(),
        chassis,
        nodes,
        eal_args: cfg.eal_args(),
    }
}

fn main() -> ExitCode {
    match Args::parse().cmd {
        Cmd::Check { config, json } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("sluicectl: {}: {e}", config.display());
                    return ExitCode::from(2);
                }
            };
            let r = report(&cfg);
            if json {
                println!("{}", serde_json::to_string_pretty(&r).expect("report serialises"));
                return ExitCode::SUCCESS;
            }
            println!(
                "{}: OK — {} ports, {} VIPs, {} workers, tier-1 table of {} slots",
                config.display(),
                r.ports,
                r.vips,
                r.workers,
                r.table_size
            );
            for c in &r.chassis {
                println!("chassis {:<16} {:>3} nodes {:6.2}%", c.name, c.nodes, c.share_pct);
            }
            for n in &r.nodes {
                println!(
                    "  node {:<16} {:<16} {:<8} weight {:>7} {:6.2}%",
                    n.name, n.chassis, n.state, n.weight, n.share_pct
                );
            }
            println!("EAL: {}", r.eal_args.join(" "));
            ExitCode::SUCCESS
        }
    }
}
