//! `sluicectl`: the operator's tool. It talks to a running appliance over its console socket (`status`,
//! `stats`, `nodes`, `reload`, `appliance`), to every appliance of a fleet at once (`fleet`), drives a
//! BIRD speaker from an appliance's announcement (`speaker`), and `check` validates a configuration
//! offline and shows how the tables built from it divide traffic (no DPDK, no running appliance needed).

#![forbid(unsafe_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, CommandFactory, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sluice_control::affinity::Filter;
use sluice_control::config::{ForwardMode, MacAddr, NodeConfig, NodeState};
use sluice_control::console::{Request, Response};
use sluice_control::{clidoc, maglev, Config, Topology};

/// Prints a line to stdout, ignoring a reader that went away (`sluicectl nodes | head`).
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod client;
mod exit;
mod fleet;
mod fleet_health;
mod render;
mod speaker;
mod top;
mod watch;

#[derive(Parser, Debug)]
#[command(name = "sluicectl", version, about = "Operate a sluice appliance")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

/// Where the appliance's console is.
#[derive(ClapArgs, Debug)]
pub(crate) struct Target {
    /// The console socket.
    #[arg(long, global = true, conflicts_with = "config")]
    socket: Option<PathBuf>,
    /// The appliance's configuration file (its console socket is taken from it).
    #[arg(long, short, global = true)]
    config: Option<PathBuf>,
    /// Print the answer as JSON.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Subcommand, Debug)]
enum NodeCmd {
    /// List nodes: state, weight, table share, packets since the last change.
    List,
    #[command(flatten)]
    Change(NodeChange),
}

/// A change to the nodes (of one appliance, or of every appliance of a fleet).
#[derive(Subcommand, Debug, Clone)]
pub(crate) enum NodeChange {
    /// Add a node.
    Add {
        name: String,
        #[arg(long)]
        chassis: String,
        #[arg(long)]
        mac: String,
        #[arg(long)]
        ip: std::net::IpAddr,
        #[arg(long, default_value_t = 100)]
        weight: u32,
        /// Reach it by IP-in-IP instead of MAC rewrite.
        #[arg(long)]
        ipip: bool,
        #[arg(long)]
        port: Option<String>,
    },
    /// Remove a node.
    Remove { name: String },
    /// Set a node's weight.
    Weight { name: String, weight: u32 },
    /// Take a node out of every selection: new connections go elsewhere; with the flow table on, its
    /// established connections stay until they close or flows.drain_timeout_s passes, then move and are reset
    Drain { name: String },
    /// Make a node active again.
    Undrain { name: String },
    /// Mark a node down (out of selections and of reset fan-outs).
    Down { name: String },
}

#[derive(Subcommand, Debug)]
enum AffinityCmd {
    /// List entries (heaviest first) and the table's counters.
    Show {
        /// Only this CVM's entries.
        #[arg(long)]
        node: Option<String>,
        /// Only this client (IP or MAC).
        #[arg(long)]
        client: Option<String>,
        /// Only pinned entries.
        #[arg(long)]
        pinned: bool,
        /// At most this many (0: all).
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Pin a client VM to an active CVM (it never ages or moves; honoured while the CVM is active).
    Pin { client: String, node: String },
    /// Turn a pin back into a learned entry.
    Unpin { client: String },
    /// Forget learned entries (of --node, or all); pins stay.
    Flush {
        #[arg(long)]
        node: Option<String>,
    },
}

/// The appliance itself: leave the fabric and come back.
#[derive(Subcommand, Debug)]
enum ApplianceCmd {
    /// Withdraw every VIP (the speaker stops announcing); traffic still arriving is forwarded.
    Drain,
    /// Announce again (when ready).
    Undrain,
    /// What the appliance announces now: its state, and each VIP announced or not, and why.
    Status,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The appliance's state (ready, draining, stopping) and digest; role, generation, uptime, workers,
    /// ports, VIPs, nodes.
    Status {
        #[command(flatten)]
        target: Target,
    },
    /// Every counter: per worker, node, drop reason, resets, keys, ports.
    Stats {
        #[command(flatten)]
        target: Target,
    },
    /// List or change nodes; a change is validated whole and applied atomically, or not at all.
    Nodes {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: Option<NodeCmd>,
    },
    /// The latest reset fan-outs (newest first): connection, worker, what started it.
    Resets {
        #[command(flatten)]
        target: Target,
    },
    /// Controller-VM affinity: show (with filters), pin, unpin, flush.
    Affinity {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: Option<AffinityCmd>,
    },
    /// Health-check state of every node.
    Health {
        #[command(flatten)]
        target: Target,
    },
    /// The iSCSI portal: connections, discoveries, logins placed per CVM (and why), refusals.
    Portal {
        #[command(flatten)]
        target: Target,
    },
    /// A live view refreshed every second: Mpps, per-node share, affinity moves, resets.
    Top {
        #[command(flatten)]
        target: Target,
        /// Stop after this many refreshes (0: until q or Ctrl-C).
        #[arg(long, default_value_t = 0)]
        count: u32,
        /// Seconds between refreshes.
        #[arg(long, default_value_t = 1.0)]
        interval: f64,
    },
    /// Re-read the appliance's configuration file (as SIGHUP does) and apply it, with the changes made
    /// at run time (node changes, pins) kept over it; exits 1, nothing changed, when it is refused.
    Reload {
        #[command(flatten)]
        target: Target,
        /// Only show what a reload would change, and which runtime changes it keeps or drops.
        #[arg(long, conflicts_with = "discard_runtime")]
        diff: bool,
        /// Forget the changes made at run time and apply the file alone.
        #[arg(long)]
        discard_runtime: bool,
    },
    /// Drain or undrain the appliance (its BGP announcement), or show what it announces.
    Appliance {
        #[command(flatten)]
        target: Target,
        #[command(subcommand)]
        cmd: ApplianceCmd,
    },
    /// Every appliance of a fleet at once: compare their digests, change nodes on all, vote on health.
    Fleet(fleet::FleetArgs),
    /// Drive a BIRD 2 speaker from an appliance's announcement: enable each VIP's static protocol while
    /// the appliance announces it, disable all of them when it does not answer.
    Speaker(speaker::SpeakerArgs),
    /// Validate a configuration and show the chassis and node shares its tables give.
    Check {
        config: PathBuf,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Print sluicectl's man page (roff: `sluicectl man | man -l -`).
    Man,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions { shell: clidoc::Shell },
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
    /// The fleet digest of the configuration as written (see `sluice_control::digest`).
    digest: String,
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
        digest: sluice_control::digest::digest(cfg),
    }
}

/// The console socket: `--socket`, or the one `--config`'s file names.
fn socket_path(socket: Option<&PathBuf>, config: Option<&PathBuf>) -> Result<PathBuf, String> {
    match (socket, config) {
        (Some(s), _) => Ok(s.clone()),
        (None, Some(c)) => Ok(Config::load(c).map_err(|e| format!("{}: {e}", c.display()))?.console_socket()),
        (None, None) => Err("say where the appliance is: --socket PATH or --config FILE".into()),
    }
}

/// Sends one request and returns the answer.
pub(crate) fn ask(target: &Target, req: &Request) -> Result<Response, String> {
    let path = socket_path(target.socket.as_ref(), target.config.as_ref())?;
    client::exchange(&path, req, Duration::from_secs(10))
}

/// Sends one request and reads its answer as `T` (`ask_as::<StatsAnswer>(target, &Request::Stats)`); the
/// appliance's refusal, or why it could not be asked or read, otherwise.
pub(crate) fn ask_as<T: DeserializeOwned>(target: &Target, req: &Request) -> Result<T, String> {
    ask(target, req)?.data_as().map_err(|e| e.to_string())
}

fn node_request(cmd: NodeCmd) -> Result<Request, String> {
    match cmd {
        NodeCmd::List => Ok(Request::Nodes),
        NodeCmd::Change(c) => change_request(c),
    }
}

/// The console request for a node change.
pub(crate) fn change_request(change: NodeChange) -> Result<Request, String> {
    Ok(match change {
        NodeChange::Add { name, chassis, mac, ip, weight, ipip, port } => Request::NodeAdd {
            node: NodeConfig {
                name,
                chassis,
                mac: mac.parse::<MacAddr>().map_err(|e| format!("--mac: {e}"))?,
                ip,
                weight,
                state: NodeState::Active,
                forward: if ipip { ForwardMode::Ipip } else { ForwardMode::Mac },
                port,
            },
        },
        NodeChange::Remove { name } => Request::NodeRemove { name },
        NodeChange::Weight { name, weight } => Request::NodeWeight { name, weight },
        NodeChange::Drain { name } => Request::NodeDrain { name },
        NodeChange::Undrain { name } => Request::NodeUndrain { name },
        NodeChange::Down { name } => Request::NodeDown { name },
    })
}

fn remote(target: Target, req: Result<Request, String>) -> ExitCode {
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return exit::USAGE.into();
        }
    };
    let path = match socket_path(target.socket.as_ref(), target.config.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return exit::USAGE.into();
        }
    };
    match client::exchange(&path, &req, Duration::from_secs(10)) {
        Ok(resp) => render::show(&target, &req, resp),
        Err(e) => {
            eprintln!("sluicectl: {e}");
            exit::UNREACHABLE.into()
        }
    }
}

fn main() -> ExitCode {
    match Args::parse().cmd {
        Cmd::Status { target } => remote(target, Ok(Request::Status)),
        Cmd::Stats { target } => remote(target, Ok(Request::Stats)),
        Cmd::Reload { target, diff, discard_runtime } => remote(target, Ok(Request::Reload { diff, discard_runtime })),
        Cmd::Resets { target } => remote(target, Ok(Request::Resets)),
        Cmd::Nodes { target, cmd } => remote(target, node_request(cmd.unwrap_or(NodeCmd::List))),
        Cmd::Health { target } => remote(target, Ok(Request::Health)),
        Cmd::Portal { target } => remote(target, Ok(Request::Portal)),
        Cmd::Affinity { target, cmd } => {
            let req = match cmd.unwrap_or(AffinityCmd::Show { node: None, client: None, pinned: false, limit: 50 }) {
                AffinityCmd::Show { node, client, pinned, limit } => {
                    Request::Affinity { filter: Filter { node, client, pinned_only: pinned, limit } }
                }
                AffinityCmd::Pin { client, node } => Request::AffinityPin { client, node },
                AffinityCmd::Unpin { client } => Request::AffinityUnpin { client },
                AffinityCmd::Flush { node } => Request::AffinityFlush { node },
            };
            remote(target, Ok(req))
        }
        Cmd::Top { target, count, interval } => top::run(&target, count, interval),
        Cmd::Appliance { target, cmd } => {
            let req = match cmd {
                ApplianceCmd::Drain => Request::ApplianceDrain,
                ApplianceCmd::Undrain => Request::ApplianceUndrain,
                ApplianceCmd::Status => Request::Announce { withdrawn: false },
            };
            remote(target, Ok(req))
        }
        Cmd::Man => {
            let mut out = std::io::stdout().lock();
            match clidoc::man(Args::command(), &[exit::section()], &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("sluicectl: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Cmd::Completions { shell } => {
            clidoc::completions(shell, Args::command(), &mut std::io::stdout().lock());
            ExitCode::SUCCESS
        }
        Cmd::Fleet(args) => fleet::run(args),
        Cmd::Speaker(args) => speaker::run(args),
        Cmd::Check { config, json } => {
            let cfg = match Config::load(&config) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("sluicectl: {}: {e}", config.display());
                    return exit::USAGE.into();
                }
            };
            let r = report(&cfg);
            if json {
                out!("{}", serde_json::to_string_pretty(&r).expect("report serialises"));
                return ExitCode::SUCCESS;
            }
            out!(
                "{}: OK — {} ports, {} VIPs, {} workers, tier-1 {} table of {} slots",
                config.display(),
                r.ports,
                r.vips,
                r.workers,
                cfg.dataplane.table_algorithm.name(),
                r.table_size
            );
            for c in &r.chassis {
                out!("chassis {:<16} {:>3} nodes {:6.2}%", c.name, c.nodes, c.share_pct);
            }
            for n in &r.nodes {
                out!(
                    "  node {:<16} {:<16} {:<8} weight {:>7} {:6.2}%",
                    n.name,
                    n.chassis,
                    n.state,
                    n.weight,
                    n.share_pct
                );
            }
            out!("EAL: {}", r.eal_args.join(" "));
            out!("digest: {}", r.digest);
            ExitCode::SUCCESS
        }
    }
}
