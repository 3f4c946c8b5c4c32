//! `sluice-perf`: sluice's benchmark harness. `synth` writes realistic client and node traffic to pcaps;
//! `compare` runs sluice and DPDK's testpmd on them, alternating, and writes a report with a chart;
//! `latency` measures latency through the appliance at several offered loads over memif; `tables`
//! measures the selection tables' balance and disruption; `instructions` counts instructions per packet
//! on the forwarding core (callgrind) for sluice and testpmd; `scale` measures Mpps against the number of
//! workers.

#![forbid(unsafe_code)]

mod compare;
mod instructions;
mod latency;
mod plot;
mod procs;
mod scale;
mod synth;
mod tables;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "sluice-perf", version, about = "sluice's benchmark harness")]
struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Synthesise client traffic to the VIPs and the nodes' return traffic into two pcaps.
    Synth {
        /// Client-side pcap (traffic to the VIPs).
        #[arg(long)]
        client: PathBuf,
        /// Node-side pcap (return traffic from the VIPs).
        #[arg(long)]
        node: PathBuf,
        /// Number of flows (TCP connections and UDP request streams).
        #[arg(long, default_value_t = 4000)]
        flows: u32,
        /// Data frame size in bytes, 64..=9014 (no FCS; above 1514, jumbo frames: run `compare --mtu 9000`).
        #[arg(long, default_value_t = 128)]
        frame_size: usize,
        /// A mix of data frame sizes instead, `SIZE[:WEIGHT],...`, e.g. `64:7,576:4,1514:1`.
        #[arg(long)]
        frame_mix: Option<String>,
        /// Percent of UDP flows that are NFSv3 calls to port 2049 (READ, WRITE, GETATTR, COMMIT).
        #[arg(long, default_value_t = 0)]
        nfs3_pct: u64,
        /// Percent of TCP flows that a node ends with a RST (each starts a reset fan-out in sluice).
        #[arg(long, default_value_t = 0)]
        rst_pct: u64,
        #[arg(long, default_value = "10.10.0.1")]
        vip4: std::net::Ipv4Addr,
        #[arg(long, default_value = "2001:db8:10::1")]
        vip6: std::net::Ipv6Addr,
        /// Destination ports, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "2049,3260")]
        ports: Vec<u16>,
        #[arg(long, default_value = "02:00:00:00:00:01")]
        client_port_mac: String,
        #[arg(long, default_value = "02:00:00:00:01:01")]
        node_port_mac: String,
        #[arg(long, default_value = "198.51.100.1")]
        node_port_ip: std::net::Ipv4Addr,
        /// Percent of flows over IPv6.
        #[arg(long, default_value_t = 25)]
        ipv6_pct: u64,
        /// Percent of flows over UDP.
        #[arg(long, default_value_t = 30)]
        udp_pct: u64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Run sluice and dpdk-testpmd (io, macswap) on the same pcaps, cores (-l 0,1) and pool size,
    /// alternating for several rounds; write compare.{json,md,svg} into --out.
    Compare {
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, default_value = "dpdk-testpmd")]
        testpmd: String,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Seconds per run.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// Memory: no (--no-huge), yes (2 MB hugepages, reserved and mounted as needed and put back), both.
        #[arg(long, value_enum, default_value = "both")]
        huge: compare::Huge,
    },
    /// Instructions per packet on the forwarding core, counted by callgrind, for sluice and testpmd (io,
    /// macswap) on the same pcaps, pool and cores; writes instructions.{json,md} into --out.
    Instructions {
        #[command(flatten)]
        inputs: Inputs,
        #[arg(long, default_value = "dpdk-testpmd")]
        testpmd: String,
        /// Seconds of forwarding per target (under valgrind, about 50 times slower than natively).
        #[arg(long, default_value_t = 20)]
        seconds: u32,
        #[arg(long, default_value = "valgrind")]
        valgrind: String,
    },
    /// Mpps against the number of workers (each with its own queue on both ports and its own CPU; the
    /// control lcore on CPU 0), several rounds; writes scale.{json,md,svg} into --out.
    Scale {
        #[command(flatten)]
        inputs: Inputs,
        /// Worker counts, comma-separated, each at most the machine's CPUs (default: 1 up to the CPUs).
        #[arg(long, value_delimiter = ',')]
        workers: Vec<u32>,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Seconds per run.
        #[arg(long, default_value_t = 4)]
        seconds: u32,
        /// Memory: no (--no-huge) or yes (2 MB hugepages, reserved and mounted as needed and put back).
        #[arg(long, value_enum, default_value = "no")]
        huge: compare::Huge,
        /// A further EAL argument for sluice (repeatable), e.g. `--eal-arg=-d --eal-arg=/path/librte_net_pcap.so`
        /// where DPDK is not installed.
        #[arg(long, allow_hyphen_values = true)]
        eal_arg: Vec<String>,
    },
    /// Balance (max/mean share) and disruption (keys moved when a node is removed or added, against the
    /// ideal) of the tier-1 table for several node counts and table sizes; writes tables.{json,md}.
    Tables {
        /// Node counts, comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "4,16,64,256")]
        nodes: Vec<u32>,
        /// Table sizes (primes), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "4099,65537,655373")]
        table_sizes: Vec<u32>,
        /// Table algorithms, comma-separated: maglev, rendezvous, bounded-rendezvous.
        #[arg(long, value_delimiter = ',', default_value = "maglev,rendezvous,bounded-rendezvous", value_parser = tables::parse_algorithm)]
        algorithms: Vec<sluice_control::config::TableAlgorithm>,
        /// Bounded rendezvous's cap per node, as a multiple of its weighted share (the configuration's
        /// `dataplane.load_bound`).
        #[arg(long, default_value_t = sluice_control::config::DEFAULT_LOAD_BOUND)]
        load_bound: f64,
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
    /// Print sluice-perf's man page (roff: `sluice-perf man | man -l -`).
    Man,
    /// Print a completion script for SHELL (bash, zsh, fish, elvish, powershell).
    Completions { shell: sluice_control::clidoc::Shell },
    /// Latency through sluice (and, as a baseline, testpmd io) over memif at several offered loads:
    /// TSC stamps in the frames, hdrhistogram percentiles; writes latency.{json,md,svg} into --out.
    Latency {
        /// Offered loads, percent of the measured maximum.
        #[arg(long, value_delimiter = ',', default_value = "10,50,90")]
        loads: Vec<u32>,
        /// Seconds per load level.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        #[arg(long, default_value_t = 128)]
        frame_size: usize,
        #[arg(long, default_value_t = 1024)]
        flows: u32,
        #[arg(long, default_value = "target/release/sluice")]
        sluice: PathBuf,
        #[arg(long, default_value = "dpdk-testpmd")]
        testpmd: String,
        /// Skip the testpmd io baseline.
        #[arg(long)]
        no_baseline: bool,
        #[arg(long, default_value = "examples/demo.toml")]
        config: PathBuf,
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
}

/// What `compare`, `instructions` and `scale` run on: the pcaps, the pool, sluice and where to write.
#[derive(clap::Args, Debug)]
struct Inputs {
    #[arg(long)]
    client: PathBuf,
    #[arg(long)]
    node: PathBuf,
    /// Mbufs in each pool (sluice's and testpmd's).
    #[arg(long, default_value_t = 65535)]
    mbufs: u32,
    #[arg(long, default_value = "target/release/sluice")]
    sluice: PathBuf,
    /// The configuration sluice's runs start from (its @CLIENT_IN@/@NODE_IN@ are filled in).
    #[arg(long, default_value = "examples/demo.toml")]
    config: PathBuf,
    #[arg(long, default_value = "results")]
    out: PathBuf,
    /// Both ports' IP MTU, for sluice and testpmd (9000 for jumbo frames, with `synth --frame-size 9014`).
    #[arg(long, default_value_t = 1500, value_parser = clap::value_parser!(u16).range(576..=9600))]
    mtu: u16,
}

impl Inputs {
    fn plan(self, testpmd: String, rounds: u32, seconds: u32, huge: compare::Huge) -> compare::Plan {
        compare::Plan {
            client: self.client,
            node: self.node,
            rounds,
            seconds,
            huge,
            mbufs: self.mbufs,
            sluice: self.sluice,
            testpmd,
            out: self.out,
            config_template: self.config,
            mtu: self.mtu,
        }
    }
}

fn mac(s: &str, what: &str) -> Result<[u8; 6], String> {
    s.parse::<sluice_control::config::MacAddr>().map(|m| m.0).map_err(|e| format!("--{what}: {e}"))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice-perf: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> Result<(), String> {
    use sluice_control::clidoc;
    match args.cmd {
        Cmd::Man => {
            let exit = clidoc::exit_status(&[
                (0, "The measurement finished and its results were written."),
                (2, "A usage error, a failed or interrupted measurement (SIGINT or SIGTERM: hugepages, mounts, processes and runtime files are put back first)."),
            ]);
            clidoc::man(Args::command(), &[exit], &mut std::io::stdout().lock()).map_err(|e| e.to_string())?;
            Ok(())
        }
        Cmd::Completions { shell } => {
            clidoc::completions(shell, Args::command(), &mut std::io::stdout().lock());
            Ok(())
        }
        Cmd::Tables { nodes, table_sizes, algorithms, load_bound, out } => {
            let plan = tables::Plan { nodes, table_sizes, algorithms, load_bound };
            let started = std::time::Instant::now();
            let report = tables::run(&plan, &|step| eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64()))?;
            let md = tables::markdown(&report);
            std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
            let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
            std::fs::write(out.join("tables.json"), json).map_err(|e| e.to_string())?;
            std::fs::write(out.join("tables.md"), &md).map_err(|e| e.to_string())?;
            print!("{md}");
            println!("written: {0}/tables.json {0}/tables.md", out.display());
            Ok(())
        }
        Cmd::Latency { loads, seconds, frame_size, flows, sluice, testpmd, no_baseline, config, out } => {
            let plan = latency::Plan {
                sluice,
                testpmd: (!no_baseline).then_some(testpmd),
                config_template: config,
                loads,
                seconds,
                frame_size,
                flows,
                out: out.clone(),
            };
            let started = std::time::Instant::now();
            let report = latency::run(&plan, &|step| eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64()))?;
            print!("{}", latency::markdown(&report));
            println!("written: {0}/latency.json {0}/latency.md {0}/latency.svg", out.display());
            Ok(())
        }
        Cmd::Instructions { inputs, testpmd, seconds, valgrind } => {
            let plan = inputs.plan(testpmd, 1, seconds, compare::Huge::No);
            let started = std::time::Instant::now();
            let report = instructions::run(&plan, &valgrind, &|step| {
                eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64())
            })?;
            print!("{}", instructions::markdown(&report));
            println!("written: {0}/instructions.json {0}/instructions.md", plan.out.display());
            Ok(())
        }
        Cmd::Scale { inputs, workers, rounds, seconds, huge, eal_arg } => {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
            let workers = if workers.is_empty() { (1..=cpus).collect() } else { workers };
            let plan = scale::Plan {
                base: inputs.plan(String::new(), rounds, seconds, huge),
                workers,
                cpus,
                eal_args: eal_arg,
            };
            let started = std::time::Instant::now();
            let report = scale::run(&plan, &|step| eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64()))?;
            print!("{}", scale::markdown(&report));
            println!("written: {0}/scale.json {0}/scale.md {0}/scale.svg", plan.base.out.display());
            Ok(())
        }
        Cmd::Compare { inputs, testpmd, rounds, seconds, huge } => {
            let plan = inputs.plan(testpmd, rounds, seconds, huge);
            let started = std::time::Instant::now();
            let report = compare::run(&plan, &|step| eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64()))?;
            print!("{}", compare::markdown(&report));
            println!("written: {0}/compare.json {0}/compare.md {0}/compare.svg", plan.out.display());
            Ok(())
        }
        Cmd::Synth {
            client,
            node,
            flows,
            frame_size,
            vip4,
            vip6,
            ports,
            client_port_mac,
            node_port_mac,
            node_port_ip,
            ipv6_pct,
            udp_pct,
            seed,
            frame_mix,
            nfs3_pct,
            rst_pct,
        } => {
            if flows == 0 {
                return Err("--flows must be at least 1".into());
            }
            if !(64..=9014).contains(&frame_size) {
                return Err(format!("--frame-size {frame_size} is outside 64..=9014 (a TCP/IPv6 frame needs 74 bytes of headers; smaller frames are padded up)"));
            }
            if ports.is_empty() || ports.contains(&0) {
                return Err("--ports needs at least one port, none of them 0".into());
            }
            for (v, name) in
                [(ipv6_pct, "ipv6-pct"), (udp_pct, "udp-pct"), (nfs3_pct, "nfs3-pct"), (rst_pct, "rst-pct")]
            {
                if v > 100 {
                    return Err(format!("--{name} {v} is not a percentage (0..=100)"));
                }
            }
            let sizes = match frame_mix {
                Some(m) => synth::parse_mix(&m)?,
                None => vec![(frame_size, 1)],
            };
            let spec = synth::Spec {
                flows,
                sizes,
                vip4: vip4.octets(),
                vip6: vip6.octets(),
                ports,
                client_port_mac: mac(&client_port_mac, "client-port-mac")?,
                node_port_mac: mac(&node_port_mac, "node-port-mac")?,
                node_port_ip: node_port_ip.octets(),
                seed,
                ipv6_pct,
                udp_pct,
                nfs3_pct,
                rst_pct,
            };
            // A progress bar on a terminal; nothing otherwise.
            let bar = indicatif::ProgressBar::new(flows as u64).with_style(
                indicatif::ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} flows")
                    .expect("template")
                    .progress_chars("=> "),
            );
            let w = synth::synthesise(&spec, &client, &node, &|done| bar.set_position(done))
                .map_err(|e| format!("writing pcaps: {e}"))?;
            bar.finish_and_clear();
            println!(
                "synthesised {} flows ({} TCP, {} ending in a RST; {} UDP, {} NFSv3; {} over IPv6): {} client packets -> {}, {} node packets -> {}",
                flows,
                w.tcp_flows,
                w.rst_flows,
                w.udp_flows,
                w.nfs3_flows,
                w.v6_flows,
                w.client_packets,
                client.display(),
                w.node_packets,
                node.display()
            );
            Ok(())
        }
    }
}
