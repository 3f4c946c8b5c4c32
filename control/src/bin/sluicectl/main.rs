//! `sluicectl`: the operator's tool. It talks to a running appliance over its console socket (`status`,
//! `stats`, `nodes`, `reload`), and `check` validates a configuration offline and shows how the tables
//! built from it divide traffic (no DPDK, no running appliance needed).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Parser, Subcommand};
use serde::Serialize;
use sluice_control::affinity::Filter;
use sluice_control::config::{ForwardMode, MacAddr, NodeConfig, NodeState};
use sluice_control::console::{Request, Response};
use sluice_control::{maglev, Config, Topology};

/// Prints a line to stdout, ignoring a reader that went away (`sluicectl nodes | head`).
macro_rules! out {
    ($($t:tt)*) => {{
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod top;

#[derive(Parser, Debug)]
#[command(version, about = "Operate a sluice appliance")]
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
    /// Take a node out of every selection (its connections move and are reset).
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

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Role, generation, uptime, workers, ports, VIPs, nodes.
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
    /// Re-read the appliance's configuration file (as SIGHUP does).
    Reload {
        #[command(flatten)]
        target: Target,
    },
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

/// Sends one request and returns the answer.
pub(crate) fn ask(target: &Target, req: &Request) -> Result<Response, String> {
    let path = match (&target.socket, &target.config) {
        (Some(s), _) => s.clone(),
        (None, Some(c)) => Config::load(c).map_err(|e| format!("{}: {e}", c.display()))?.console_socket(),
        (None, None) => return Err("say where the appliance is: --socket PATH or --config FILE".into()),
    };
    let s = UnixStream::connect(&path).map_err(|e| format!("cannot reach the appliance at {}: {e}", path.display()))?;
    s.set_read_timeout(Some(Duration::from_secs(10))).map_err(|e| e.to_string())?;
    let mut w = &s;
    writeln!(w, "{}", serde_json::to_string(req).expect("request serialises")).map_err(|e| e.to_string())?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).map_err(|e| format!("no answer: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("unreadable answer: {e}"))
}

fn node_request(cmd: NodeCmd) -> Result<Request, String> {
    Ok(match cmd {
        NodeCmd::List => Request::Nodes,
        NodeCmd::Add { name, chassis, mac, ip, weight, ipip, port } => Request::NodeAdd {
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
        NodeCmd::Remove { name } => Request::NodeRemove { name },
        NodeCmd::Weight { name, weight } => Request::NodeWeight { name, weight },
        NodeCmd::Drain { name } => Request::NodeDrain { name },
        NodeCmd::Undrain { name } => Request::NodeUndrain { name },
        NodeCmd::Down { name } => Request::NodeDown { name },
    })
}

/// Prints an answer: JSON, or a readable rendering.
fn show(target: &Target, req: &Request, resp: Response) -> ExitCode {
    if !resp.ok {
        eprintln!("sluicectl: {}", resp.error.unwrap_or_default());
        return ExitCode::from(1);
    }
    let data = resp.data.unwrap_or_default();
    if target.json {
        out!("{}", serde_json::to_string_pretty(&data).expect("json"));
        return ExitCode::SUCCESS;
    }
    match (req, &data) {
        (Request::Nodes, serde_json::Value::Array(nodes)) => {
            out!(
                "{:<14} {:<14} {:<9} {:<6} {:>7} {:>8} {:>12}",
                "node",
                "chassis",
                "state",
                "health",
                "weight",
                "share%",
                "packets"
            );
            for n in nodes {
                out!(
                    "{:<14} {:<14} {:<9} {:<6} {:>7} {:>8.2} {:>12}",
                    n["name"].as_str().unwrap_or(""),
                    n["chassis"].as_str().unwrap_or(""),
                    n["state"].as_str().unwrap_or(""),
                    n["health"].as_str().unwrap_or(""),
                    n["weight"],
                    n["table_share_pct"].as_f64().unwrap_or(0.0),
                    n["selected"]
                );
            }
        }
        (Request::Affinity { .. }, serde_json::Value::Object(m)) => {
            let empty = vec![];
            let list = m.get("entries").and_then(|e| e.as_array()).unwrap_or(&empty);
            out!(
                "{:<40} {:<14} {:<7} {:>12} {:>14} {:>6} {:>10}",
                "client",
                "cvm",
                "pinned",
                "packets",
                "bytes",
                "moves",
                "idle s"
            );
            for e in list {
                out!(
                    "{:<40} {:<14} {:<7} {:>12} {:>14} {:>6} {:>10.1}",
                    e["client"].as_str().unwrap_or(""),
                    e["node"].as_str().unwrap_or(""),
                    if e["pinned"] == true { "yes" } else { "" },
                    e["packets"],
                    e["bytes"],
                    e["moves"],
                    e["idle_s"].as_f64().unwrap_or(0.0)
                );
            }
            out!("{} of {} entries shown; counters: {}", list.len(), m["total"], m["counters"]);
        }
        (Request::Health, serde_json::Value::Object(m)) => {
            out!("check: {}", m["check"]);
            out!(
                "{:<14} {:<6} {:>6} {:>6} {:>10} {:>10}  last",
                "node",
                "health",
                "ok",
                "fail",
                "up->down",
                "down->up"
            );
            for n in m["nodes"].as_array().unwrap_or(&vec![]) {
                out!(
                    "{:<14} {:<6} {:>6} {:>6} {:>10} {:>10}  {}",
                    n["name"].as_str().unwrap_or(""),
                    n["health"].as_str().unwrap_or(""),
                    n["successes"],
                    n["failures"],
                    n["went_down"],
                    n["came_up"],
                    n["last"].as_str().unwrap_or("")
                );
            }
        }
        (Request::Resets, serde_json::Value::Array(list)) => {
            out!("{:<18} {:<44} {:<28} {:>6}  started by", "at (unix s)", "client", "vip", "worker");
            for e in list {
                out!(
                    "{:<18.3} {:<44} {:<28} {:>6}  {}",
                    e["at"].as_f64().unwrap_or(0.0),
                    e["client"].as_str().unwrap_or(""),
                    e["vip"].as_str().unwrap_or(""),
                    e["worker"],
                    e["started_by"].as_str().unwrap_or("")
                );
            }
        }
        (_, serde_json::Value::Object(m)) => {
            for (k, v) in m {
                match v {
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => out!("{k}: {v}"),
                    serde_json::Value::String(s) => out!("{k}: {s}"),
                    v => out!("{k}: {v}"),
                }
            }
        }
        (_, v) => out!("{v}"),
    }
    ExitCode::SUCCESS
}

fn remote(target: Target, req: Result<Request, String>) -> ExitCode {
    let req = match req {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return ExitCode::from(2);
        }
    };
    match ask(&target, &req) {
        Ok(resp) => show(&target, &req, resp),
        Err(e) => {
            eprintln!("sluicectl: {e}");
            ExitCode::from(2)
        }
    }
}

fn main() -> ExitCode {
    match Args::parse().cmd {
        Cmd::Status { target } => remote(target, Ok(Request::Status)),
        Cmd::Stats { target } => remote(target, Ok(Request::Stats)),
        Cmd::Reload { target } => remote(target, Ok(Request::Reload)),
        Cmd::Resets { target } => remote(target, Ok(Request::Resets)),
        Cmd::Nodes { target, cmd } => remote(target, node_request(cmd.unwrap_or(NodeCmd::List))),
        Cmd::Health { target } => remote(target, Ok(Request::Health)),
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
            ExitCode::SUCCESS
        }
    }
}
