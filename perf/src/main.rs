//! `sluice-perf`: sluice's benchmark harness. `synth` writes realistic client and node traffic to pcaps;
//! `compare` runs sluice and DPDK's testpmd on them, alternating, and writes a report with a chart;
//! `latency` measures latency through the appliance at several offered loads over memif.

mod compare;
mod latency;
mod plot;
mod synth;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(version, about = "sluice's benchmark harness")]
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
        /// Data frame size in bytes, 64..=1514 (no FCS).
        #[arg(long, default_value_t = 128)]
        frame_size: usize,
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
        #[arg(long)]
        client: PathBuf,
        #[arg(long)]
        node: PathBuf,
        #[arg(long, default_value_t = 3)]
        rounds: u32,
        /// Seconds per run.
        #[arg(long, default_value_t = 5)]
        seconds: u32,
        /// Memory: no (--no-huge), yes (2 MB hugepages, reserved and mounted as needed and put back), both.
        #[arg(long, value_enum, default_value = "both")]
        huge: compare::Huge,
        /// Mbufs in each pool (sluice's and testpmd's).
        #[arg(long, default_value_t = 65535)]
        mbufs: u32,
        #[arg(long, default_value = "target/release/sluice")]
        sluice: PathBuf,
        #[arg(long, default_value = "dpdk-testpmd")]
        testpmd: String,
        /// The configuration sluice's runs start from (its @CLIENT_IN@/@NODE_IN@ are filled in).
        #[arg(long, default_value = "examples/demo.toml")]
        config: PathBuf,
        #[arg(long, default_value = "results")]
        out: PathBuf,
    },
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
    match args.cmd {
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
        Cmd::Compare { client, node, rounds, seconds, huge, mbufs, sluice, testpmd, config, out } => {
            let plan = compare::Plan {
                client,
                node,
                rounds,
                seconds,
                huge,
                mbufs,
                sluice,
                testpmd,
                out: out.clone(),
                config_template: config,
            };
            let started = std::time::Instant::now();
            let report = compare::run(&plan, &|step| eprintln!("[{:6.1}s] {step}", started.elapsed().as_secs_f64()))?;
            print!("{}", compare::markdown(&report));
            println!("written: {0}/compare.json {0}/compare.md {0}/compare.svg", out.display());
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
        } => {
            if flows == 0 {
                return Err("--flows must be at least 1".into());
            }
            if !(64..=1514).contains(&frame_size) {
                return Err(format!("--frame-size {frame_size} is outside 64..=1514 (a TCP/IPv6 frame needs 74 bytes of headers; smaller frames are padded up)"));
            }
            if ports.is_empty() || ports.contains(&0) {
                return Err("--ports needs at least one port, none of them 0".into());
            }
            if ipv6_pct > 100 || udp_pct > 100 {
                return Err("--ipv6-pct and --udp-pct are percentages (0..=100)".into());
            }
            let spec = synth::Spec {
                flows,
                frame_size,
                vip4: vip4.octets(),
                vip6: vip6.octets(),
                ports,
                client_port_mac: mac(&client_port_mac, "client-port-mac")?,
                node_port_mac: mac(&node_port_mac, "node-port-mac")?,
                node_port_ip: node_port_ip.octets(),
                seed,
                ipv6_pct,
                udp_pct,
            };
            let w = synth::synthesise(&spec, &client, &node).map_err(|e| format!("writing pcaps: {e}"))?;
            println!(
                "synthesised {} flows ({} TCP, {} UDP, {} over IPv6): {} client packets -> {}, {} node packets -> {}",
                flows,
                w.tcp_flows,
                w.udp_flows,
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
