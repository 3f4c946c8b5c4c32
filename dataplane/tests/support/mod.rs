//! Shared by the dataplane tests: the example configuration, frame builders (etherparse) and an
//! independent frame checker (etherparse's slicer plus a test-local RFC 1071 checksum); [`lab`] drives
//! the namespace lab (scripts/lab.sh) for the end-to-end tests; `fuzz/` holds the pipeline fuzzer,
//! included on its own by `tests/fuzz.rs` and `examples/fuzz_pipeline.rs`.
#![allow(dead_code)]

// The lab drivers start the `sluice` binary, whose path only test targets are given (the fuzzer's
// example includes this module too).
#[cfg(test)]
pub mod ecmp;
#[cfg(test)]
pub mod lab;
pub mod pipe;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use sluice_control::config::Config;

/// Whether the tests run as root (effective uid 0, from `/proc/self/status`).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:"))?.split_whitespace().nth(2).map(|u| u == "0"))
        .unwrap_or(false)
}

/// True (and a one-line reason on stderr) when the calling test cannot run because it is not root: it
/// needs `what` (network namespaces, hugepages, …). The test returns at once.
pub fn skip_unless_root(what: &str) -> bool {
    use std::io::Write;
    if is_root() {
        return false;
    }
    let name = std::thread::current().name().unwrap_or("test").to_string();
    // Straight to stderr, past the harness's capture: a skip is said even when the test "passes".
    let _ = writeln!(std::io::stderr(), "skipped {name}: needs root for {what}");
    true
}

/// `toml` with its console socket at `dir/console.sock` instead of under /run/sluice (which only root
/// may write).
pub fn console_in(toml: String, dir: &std::path::Path) -> String {
    format!("{toml}\n[console]\nsocket = \"{}\"\n", dir.join("console.sock").display())
}

pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0xc1, 0x01];
pub const CLIENT_PORT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const NODE_PORT_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const GATEWAY_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
pub const VIP4: [u8; 4] = [10, 10, 0, 1];
pub const VIP6: &str = "2001:db8:10::1";

pub fn vip6() -> [u8; 16] {
    VIP6.parse::<Ipv6Addr>().unwrap().octets()
}

/// The example configuration with its pcap placeholders filled in.
pub fn example_toml(client_in: &str, node_in: &str) -> String {
    include_str!("../../../examples/demo.toml").replace("@CLIENT_IN@", client_in).replace("@NODE_IN@", node_in)
}

pub fn example_config() -> Config {
    Config::from_toml(&example_toml("in.pcap", "ret.pcap")).unwrap()
}

pub fn tcp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv4(src, dst, 64)
        .tcp(sport, dport, 1000, 65535)
        .ack(1)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn tcp6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv6(src, dst, 64)
        .tcp(sport, dport, 1000, 65535)
        .ack(1)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn udp4(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn udp6(src: [u8; 16], sport: u16, dst: [u8; 16], dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv6(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// An Ethernet/IPv4 ARP request from the test client for `target`.
pub fn arp_request(target: [u8; 4], sender: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&CLIENT_MAC);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f.resize(60, 0);
    f
}

/// RFC 1071, written out here so the tests do not trust the dataplane's own checksum code.
pub fn ones_sum(data: &[u8]) -> u32 {
    let mut s: u32 = 0;
    for c in data.chunks(2) {
        s += u32::from(c[0]) << 8 | u32::from(*c.get(1).unwrap_or(&0));
    }
    s
}

pub fn folds_to_ffff(mut s: u32) -> bool {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s == 0xffff
}

fn pseudo(src: &[u8], dst: &[u8], proto: u8, len: usize) -> u32 {
    ones_sum(src) + ones_sum(dst) + proto as u32 + (len as u32 >> 16) + (len as u32 & 0xffff)
}

/// What the checker found in a frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    pub dst_mac: [u8; 6],
    pub src_mac: [u8; 6],
    pub vlan: bool,
    /// Outer addresses when tunnelled.
    pub outer: Option<(IpAddr, IpAddr, u8)>,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub protocol: u8,
    pub ports: Option<(u16, u16)>,
    pub payload: Vec<u8>,
}

/// Parses a frame with etherparse and verifies every IPv4 header checksum and the TCP/UDP/ICMP checksum.
/// IP-in-IP (4) and IPv6-in-IP (41) are unwrapped once.
pub fn check(frame: &[u8]) -> Result<Seen, String> {
    let sp = SlicedPacket::from_ethernet(frame).map_err(|e| format!("etherparse: {e}"))?;
    let eth = match sp.link {
        Some(etherparse::LinkSlice::Ethernet2(e)) => e,
        _ => return Err("no Ethernet II header".into()),
    };
    let (dst_mac, src_mac, vlan) = (eth.destination(), eth.source(), sp.vlan.is_some());
    let net = sp.net.ok_or("no IP layer")?;
    let (mut src, mut dst, mut proto, mut ip_payload): (IpAddr, IpAddr, u8, &[u8]) = ip_of(&net)?;
    let mut outer = None;
    let inner_holder;
    if proto == 4 || proto == 41 {
        outer = Some((src, dst, proto));
        inner_holder = SlicedPacket::from_ip(ip_payload).map_err(|e| format!("inner: {e}"))?;
        let inet = inner_holder.net.as_ref().ok_or("no inner IP")?;
        (src, dst, proto, ip_payload) = ip_of(inet)?;
        return finish(dst_mac, src_mac, vlan, outer, src, dst, proto, ip_payload, inner_holder.transport.as_ref());
    }
    finish(dst_mac, src_mac, vlan, outer, src, dst, proto, ip_payload, sp.transport.as_ref())
}

fn ip_of<'a>(net: &NetSlice<'a>) -> Result<(IpAddr, IpAddr, u8, &'a [u8]), String> {
    match net {
        NetSlice::Ipv4(v4) => {
            let h = v4.header();
            if !folds_to_ffff(ones_sum(h.slice())) {
                return Err("IPv4 header checksum does not verify".into());
            }
            let p = v4.payload();
            Ok((IpAddr::V4(h.source_addr()), IpAddr::V4(h.destination_addr()), p.ip_number.0, p.payload))
        }
        NetSlice::Ipv6(v6) => {
            let h = v6.header();
            let p = v6.payload();
            Ok((IpAddr::V6(h.source_addr()), IpAddr::V6(h.destination_addr()), p.ip_number.0, p.payload))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn finish(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    vlan: bool,
    outer: Option<(IpAddr, IpAddr, u8)>,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    l4: &[u8],
    transport: Option<&TransportSlice>,
) -> Result<Seen, String> {
    let (s, d) = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        (IpAddr::V6(s), IpAddr::V6(d)) => (s.octets().to_vec(), d.octets().to_vec()),
        _ => return Err("mixed families".into()),
    };
    let ok = match proto {
        6 | 17 | 58 => folds_to_ffff(pseudo(&s, &d, proto, l4.len()) + ones_sum(l4)),
        1 => folds_to_ffff(ones_sum(l4)),
        _ => true,
    };
    if !ok {
        return Err(format!("protocol {proto} checksum does not verify"));
    }
    let (ports, payload) = match transport {
        Some(TransportSlice::Tcp(t)) => (Some((t.source_port(), t.destination_port())), t.payload().to_vec()),
        Some(TransportSlice::Udp(u)) => (Some((u.source_port(), u.destination_port())), u.payload().to_vec()),
        _ => (None, l4.to_vec()),
    };
    Ok(Seen { dst_mac, src_mac, vlan, outer, src, dst, protocol: proto, ports, payload })
}

pub fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// Asks a running DPDK process (by file prefix) the telemetry `commands` through DPDK's own client,
/// `dpdk-telemetry.py`, and returns its answers in order; panics unless there is one per command.
pub fn telemetry(prefix: &str, commands: &[&str]) -> Vec<serde_json::Value> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut tel = Command::new("dpdk-telemetry.py")
        .args(["-f", prefix])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dpdk-telemetry.py (Debian package dpdk)");
    tel.stdin
        .take()
        .unwrap()
        .write_all(commands.iter().map(|c| format!("{c}\n")).collect::<String>().as_bytes())
        .unwrap();
    let out = tel.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let answers: Vec<serde_json::Value> =
        text.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), commands.len(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    answers
}

/// Stops a child the way an operator would (SIGTERM), so that sluice shuts down cleanly and removes
/// what EAL made; SIGKILL only if it has not exited within 10 s.
pub fn stop(child: &mut std::process::Child) {
    if matches!(child.try_wait(), Ok(None)) {
        let _ = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let t0 = std::time::Instant::now();
        while matches!(child.try_wait(), Ok(None)) && t0.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// `after`, carrying `before`'s tables and affinity map as its one earlier snapshot, retired at tick
/// `retired` (what the control lcore hands the workers after a change).
pub fn with_prior(
    before: &sluice_dataplane::pipeline::Context,
    mut after: sluice_dataplane::pipeline::Context,
    retired: u64,
) -> sluice_dataplane::pipeline::Context {
    let prior = sluice_dataplane::reset::Prior {
        topology: before.topology.clone(),
        affinity: before.affinity.clone(),
        retired,
    };
    after.history = vec![prior].into();
    after
}

/// `cfg` with node `name` draining.
pub fn draining(cfg: &Config, name: &str) -> Config {
    let mut c = cfg.clone();
    c.nodes.iter_mut().find(|n| n.name == name).expect("node").state = sluice_control::config::NodeState::Draining;
    c
}

/// Writes `frames` to a classic pcap file, a microsecond apart.
pub fn write_pcap(path: &std::path::Path, frames: &[Vec<u8>]) {
    let mut w = pcap_file::pcap::PcapWriter::new(std::fs::File::create(path).unwrap()).unwrap();
    for (i, f) in frames.iter().enumerate() {
        let at = std::time::Duration::from_micros(i as u64);
        w.write_packet(&pcap_file::pcap::PcapPacket::new(at, f.len() as u32, f)).unwrap();
    }
}

/// The frames of a classic pcap file.
pub fn read_pcap(path: &std::path::Path) -> Vec<Vec<u8>> {
    let mut r = pcap_file::pcap::PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.unwrap().data.into_owned());
    }
    out
}
