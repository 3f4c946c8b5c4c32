//! `sluice-perf`: sluice's benchmark harness. `synth` writes realistic client and node traffic to pcaps.

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
