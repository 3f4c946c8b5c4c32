//! Traffic synthesis: realistic client traffic to VIPs (TCP connections and UDP requests, IPv4 and IPv6,
//! with some ARP, ICMP echo and stray packets), and the nodes' return traffic, written to pcaps.

use std::fs::File;
use std::io::BufWriter;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use etherparse::PacketBuilder;
use pcap_file::pcap::{PcapPacket, PcapWriter};

/// A small deterministic generator (splitmix64): the same seed gives the same pcap.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// What to synthesise.
#[derive(Debug, Clone)]
pub struct Spec {
    pub flows: u32,
    /// Data frame size in bytes (Ethernet header to end of payload, no FCS); SYNs and ARP are smaller.
    pub frame_size: usize,
    pub vip4: [u8; 4],
    pub vip6: [u8; 16],
    pub ports: Vec<u16>,
    pub client_port_mac: [u8; 6],
    pub node_port_mac: [u8; 6],
    /// Addresses of the appliance's node port (nodes ARP for it).
    pub node_port_ip: [u8; 4],
    pub seed: u64,
    /// Share of IPv6 flows, percent.
    pub ipv6_pct: u64,
    /// Share of UDP flows, percent.
    pub udp_pct: u64,
}

/// Counts of what went into the files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub client_packets: u64,
    pub node_packets: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    pub v6_flows: u64,
}

const CLIENT_MACS: u64 = 64;

fn client_mac(i: u64) -> [u8; 6] {
    [0x02, 0xc1, 0, 0, (i >> 8) as u8, i as u8]
}

/// Frame with its L4 payload padded so the frame is `size` bytes (or as small as its headers allow).
fn payload_for(size: usize, headers: usize) -> Vec<u8> {
    let n = size.saturating_sub(headers);
    (0..n).map(|i| (i * 7) as u8).collect()
}

struct Flow {
    v6: bool,
    udp: bool,
    client: IpAddr,
    sport: u16,
    dport: u16,
    mac: [u8; 6],
}

fn build(f: &Flow, spec: &Spec, to_vip: bool, syn: bool, size: usize) -> Vec<u8> {
    let (src_mac, dst_mac) =
        if to_vip { (f.mac, spec.client_port_mac) } else { ([2, 0, 0, 0, 0x0a, 1], spec.node_port_mac) };
    let eth = PacketBuilder::ethernet2(src_mac, dst_mac);
    let (sp, dp) = if to_vip { (f.sport, f.dport) } else { (f.dport, f.sport) };
    let mut out = Vec::with_capacity(size);
    let l3 = match (f.client, f.v6) {
        (IpAddr::V6(c), true) => {
            let (s, d) = if to_vip { (c.octets(), spec.vip6) } else { (spec.vip6, c.octets()) };
            eth.ipv6(s, d, 64)
        }
        (IpAddr::V4(c), _) => {
            let (s, d) = if to_vip { (c.octets(), spec.vip4) } else { (spec.vip4, c.octets()) };
            eth.ipv4(s, d, 64)
        }
        _ => unreachable!("flow family matches its client address"),
    };
    let ip_len = if f.v6 { 40 } else { 20 };
    if f.udp {
        let p = payload_for(size, 14 + ip_len + 8);
        l3.udp(sp, dp).write(&mut out, &p).expect("udp frame");
    } else if syn {
        l3.tcp(sp, dp, 1, 64240).syn().write(&mut out, &[]).expect("syn frame");
    } else {
        let p = payload_for(size, 14 + ip_len + 20);
        l3.tcp(sp, dp, 1000, 64240).ack(2000).psh().write(&mut out, &p).expect("tcp frame");
    }
    out
}

fn arp_request(sender_mac: [u8; 6], sender: [u8; 4], target: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&sender_mac);
    f.extend_from_slice(&sender);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target);
    f.resize(60, 0);
    f
}

fn writer(path: &Path) -> std::io::Result<PcapWriter<BufWriter<File>>> {
    PcapWriter::new(BufWriter::new(File::create(path)?)).map_err(std::io::Error::other)
}

fn put(w: &mut PcapWriter<BufWriter<File>>, n: &mut u64, frame: &[u8]) -> std::io::Result<()> {
    let ts = Duration::from_micros(*n);
    w.write_packet(&PcapPacket::new(ts, frame.len() as u32, frame)).map_err(std::io::Error::other)?;
    *n += 1;
    Ok(())
}

/// Writes `client.pcap`-style traffic to `client_out` and the nodes' return traffic to `node_out`.
pub fn synthesise(spec: &Spec, client_out: &Path, node_out: &Path) -> std::io::Result<Written> {
    let mut rng = Rng::new(spec.seed);
    let mut cw = writer(client_out)?;
    let mut nw = writer(node_out)?;
    let mut done = Written::default();
    for i in 0..spec.flows as u64 {
        let v6 = rng.below(100) < spec.ipv6_pct;
        let udp = rng.below(100) < spec.udp_pct;
        let host = rng.next();
        let client: IpAddr = if v6 {
            let mut a = [0x20, 0x01, 0x0d, 0xb8, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[8..16].copy_from_slice(&host.to_be_bytes());
            IpAddr::from(a)
        } else {
            IpAddr::from([172, 16 + (host % 16) as u8, (host >> 8) as u8, (host >> 16) as u8 | 1])
        };
        let f = Flow {
            v6,
            udp,
            client,
            sport: 1024 + rng.below(60000) as u16,
            dport: spec.ports[rng.below(spec.ports.len() as u64) as usize],
            mac: client_mac(i % CLIENT_MACS),
        };
        done.v6_flows += v6 as u64;
        if udp {
            done.udp_flows += 1;
        } else {
            done.tcp_flows += 1;
            put(&mut cw, &mut done.client_packets, &build(&f, spec, true, true, spec.frame_size))?;
        }
        for _ in 0..(2 + rng.below(6)) {
            put(&mut cw, &mut done.client_packets, &build(&f, spec, true, false, spec.frame_size))?;
        }
        for _ in 0..(1 + rng.below(3)) {
            put(&mut nw, &mut done.node_packets, &build(&f, spec, false, false, spec.frame_size))?;
        }
        // Now and then: a client resolving the VIP, pinging it, or a packet for an address we do not serve.
        match rng.below(200) {
            0 => put(&mut cw, &mut done.client_packets, &arp_request(f.mac, [172, 16, 0, 9], spec.vip4))?,
            1 => {
                let mut e = Vec::new();
                PacketBuilder::ethernet2(f.mac, spec.client_port_mac)
                    .ipv4([172, 16, 0, 9], spec.vip4, 64)
                    .icmpv4_echo_request(i as u16, 1)
                    .write(&mut e, b"sluice-demo-ping")
                    .expect("echo");
                put(&mut cw, &mut done.client_packets, &e)?;
            }
            2 => {
                let stray = Flow { client: IpAddr::from([172, 16, 0, 10]), v6: false, ..f };
                let mut s = build(&stray, spec, true, true, 64);
                s[30..34].copy_from_slice(&[10, 99, 0, 1]); // destination: not a VIP
                put(&mut cw, &mut done.client_packets, &s)?;
            }
            3 => put(
                &mut nw,
                &mut done.node_packets,
                &arp_request([2, 0, 0, 0, 0x0a, 1], [198, 51, 100, 11], spec.node_port_ip),
            )?,
            _ => {}
        }
    }
    cw.into_writer().into_inner().map_err(|e| e.into_error())?.sync_all()?;
    nw.into_writer().into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(done)
}
