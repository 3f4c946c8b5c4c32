//! Traffic synthesis: realistic client traffic to VIPs (TCP connections and UDP requests, IPv4 and IPv6,
//! with some ARP, ICMP echo and stray packets), and the nodes' return traffic, written to pcaps. Frame
//! sizes follow a weighted mix; UDP flows to port 2049 can carry NFSv3 calls (READ, WRITE, GETATTR,
//! COMMIT on a few hundred file handles), and a share of TCP flows can end in a node's RST, which
//! exercises the reset fan-out.

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
    /// Data frame sizes in bytes (Ethernet header to end of payload, no FCS) with their weights; SYNs and
    /// ARP are smaller.
    pub sizes: Vec<(usize, u64)>,
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
    /// Share of UDP flows that are NFSv3 calls to port 2049, percent.
    pub nfs3_pct: u64,
    /// Share of TCP flows that a node ends with a RST, percent.
    pub rst_pct: u64,
}

/// Parses a frame-size mix, `SIZE[:WEIGHT],...` (e.g. `64:7,576:4,1514:1`); a bare size weighs 1.
pub fn parse_mix(s: &str) -> Result<Vec<(usize, u64)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (size, weight) = part.split_once(':').unwrap_or((part, "1"));
        let size: usize = size.trim().parse().map_err(|_| format!("--frame-mix: {part:?}: size is not a number"))?;
        let weight: u64 =
            weight.trim().parse().map_err(|_| format!("--frame-mix: {part:?}: weight is not a number"))?;
        if !(64..=9014).contains(&size) {
            return Err(format!("--frame-mix: size {size} is outside 64..=9014"));
        }
        if weight == 0 {
            return Err(format!("--frame-mix: {part:?}: a weight must be at least 1"));
        }
        out.push((size, weight));
    }
    if out.is_empty() {
        return Err("--frame-mix: no sizes given".into());
    }
    Ok(out)
}

/// One of `items`, chosen with probability proportional to its weight.
fn pick<T: Copy>(items: &[(T, u64)], rng: &mut Rng) -> T {
    let total: u64 = items.iter().map(|&(_, w)| w).sum();
    let mut at = rng.below(total);
    for &(item, w) in items {
        if at < w {
            return item;
        }
        at -= w;
    }
    items[0].0
}

/// NFSv3 procedures in a storage client's mix: mostly READ and WRITE.
const NFS3_PROCS: [(u32, u64); 4] = [(6, 50), (7, 35), (1, 10), (21, 5)];

/// File handles the NFSv3 flows use (a handful of VMs' disks and files).
const NFS3_HANDLES: u64 = 256;

/// An ONC RPC call to NFSv3 (RFC 5531, RFC 1813) as a Linux client sends it: AUTH_UNIX credential, a
/// 28-byte file handle, the procedure's arguments, padded with WRITE data (or zeros) to `size` bytes of
/// payload where that is more.
pub fn nfs3_call(xid: u32, proc_: u32, handle: u64, offset: u64, size: usize) -> Vec<u8> {
    let mut v = Vec::with_capacity(size.max(128));
    let w = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_be_bytes());
    for word in [xid, 0, 2, 100_003, 3, proc_, 1] {
        w(&mut v, word);
    }
    let cred = [0u8, 0, 0, 1, 0, 0, 0, 4, b'h', b'o', b's', b't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    w(&mut v, cred.len() as u32);
    v.extend_from_slice(&cred);
    w(&mut v, 0); // AUTH_NONE verifier
    w(&mut v, 0);
    w(&mut v, 28);
    v.extend_from_slice(&[0x01, 0x00, 0x07, 0x00]);
    v.extend_from_slice(&handle.to_be_bytes());
    v.extend((0..16).map(|i| (handle as u8).wrapping_mul(31).wrapping_add(i)));
    if proc_ != 1 {
        v.extend_from_slice(&offset.to_be_bytes());
        w(&mut v, 4096); // count
        if proc_ == 7 {
            w(&mut v, 0); // UNSTABLE
            let data = size.saturating_sub(v.len() + 4) & !3;
            w(&mut v, data as u32);
            v.extend((0..data).map(|i| (i * 13) as u8));
        }
    }
    if v.len() < size {
        v.resize(size, 0);
    }
    v
}

/// Counts of what went into the files.
#[derive(Debug, Default, Clone, Copy)]
pub struct Written {
    pub client_packets: u64,
    pub node_packets: u64,
    pub tcp_flows: u64,
    pub udp_flows: u64,
    pub v6_flows: u64,
    pub nfs3_flows: u64,
    pub rst_flows: u64,
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
    /// NFSv3 calls (a UDP flow to port 2049).
    nfs3: bool,
    client: IpAddr,
    sport: u16,
    dport: u16,
    mac: [u8; 6],
}

/// What a TCP segment is: the opening SYN, data, or a node's RST.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Segment {
    Syn,
    Data,
    Rst,
}

fn build(f: &Flow, spec: &Spec, to_vip: bool, seg: Segment, size: usize, rng: &mut Rng) -> Vec<u8> {
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
        let room = size.saturating_sub(14 + ip_len + 8);
        let p = if f.nfs3 && to_vip {
            let proc_ = pick(&NFS3_PROCS, rng);
            let offset = rng.below(1 << 30) & !0xfff;
            nfs3_call(rng.next() as u32, proc_, rng.below(NFS3_HANDLES), offset, room)
        } else {
            payload_for(size, 14 + ip_len + 8)
        };
        l3.udp(sp, dp).write(&mut out, &p).expect("udp frame");
    } else if seg == Segment::Syn {
        l3.tcp(sp, dp, 1, 64240).syn().write(&mut out, &[]).expect("syn frame");
    } else if seg == Segment::Rst {
        l3.tcp(sp, dp, 3000, 0).rst().ack(1000).write(&mut out, &[]).expect("rst frame");
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

/// Writes `client.pcap`-style traffic to `client_out` and the nodes' return traffic to `node_out`,
/// calling `progress` with the flows done so far now and then.
pub fn synthesise(spec: &Spec, client_out: &Path, node_out: &Path, progress: &dyn Fn(u64)) -> std::io::Result<Written> {
    let mut rng = Rng::new(spec.seed);
    let mut cw = writer(client_out)?;
    let mut nw = writer(node_out)?;
    let mut done = Written::default();
    for i in 0..spec.flows as u64 {
        if i % 1024 == 0 {
            progress(i);
        }
        let v6 = rng.below(100) < spec.ipv6_pct;
        let udp = rng.below(100) < spec.udp_pct;
        let nfs3 = udp && rng.below(100) < spec.nfs3_pct;
        let rst = !udp && rng.below(100) < spec.rst_pct;
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
            nfs3,
            client,
            sport: 1024 + rng.below(60000) as u16,
            dport: if nfs3 { 2049 } else { spec.ports[rng.below(spec.ports.len() as u64) as usize] },
            mac: client_mac(i % CLIENT_MACS),
        };
        done.v6_flows += v6 as u64;
        done.nfs3_flows += nfs3 as u64;
        done.rst_flows += rst as u64;
        if udp {
            done.udp_flows += 1;
        } else {
            done.tcp_flows += 1;
            put(&mut cw, &mut done.client_packets, &build(&f, spec, true, Segment::Syn, 0, &mut rng))?;
        }
        for _ in 0..(2 + rng.below(6)) {
            let size = pick(&spec.sizes, &mut rng);
            put(&mut cw, &mut done.client_packets, &build(&f, spec, true, Segment::Data, size, &mut rng))?;
        }
        for _ in 0..(1 + rng.below(3)) {
            let size = pick(&spec.sizes, &mut rng);
            put(&mut nw, &mut done.node_packets, &build(&f, spec, false, Segment::Data, size, &mut rng))?;
        }
        if rst {
            put(&mut nw, &mut done.node_packets, &build(&f, spec, false, Segment::Rst, 0, &mut rng))?;
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
                let mut s = build(&stray, spec, true, Segment::Syn, 64, &mut rng);
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
    progress(spec.flows as u64);
    cw.into_writer().into_inner().map_err(|e| e.into_error())?.sync_all()?;
    nw.into_writer().into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_dataplane::hash::nfs3;

    fn spec() -> Spec {
        Spec {
            flows: 600,
            sizes: vec![(64, 7), (576, 4), (1514, 1)],
            vip4: [10, 10, 0, 1],
            vip6: "2001:db8:10::1".parse::<std::net::Ipv6Addr>().unwrap().octets(),
            ports: vec![2049, 3260],
            client_port_mac: [2, 0, 0, 0, 0, 1],
            node_port_mac: [2, 0, 0, 0, 1, 1],
            node_port_ip: [198, 51, 100, 1],
            seed: 7,
            ipv6_pct: 25,
            udp_pct: 50,
            nfs3_pct: 80,
            rst_pct: 20,
        }
    }

    fn read(path: &Path) -> Vec<Vec<u8>> {
        let mut r = pcap_file::pcap::PcapReader::new(File::open(path).unwrap()).unwrap();
        let mut out = Vec::new();
        while let Some(p) = r.next_packet() {
            out.push(p.unwrap().data.into_owned());
        }
        out
    }

    #[test]
    fn mixes_are_parsed_and_bad_ones_name_the_field() {
        assert_eq!(parse_mix("64:7, 576:4,1514").unwrap(), vec![(64, 7), (576, 4), (1514, 1)]);
        assert_eq!(parse_mix("9014").unwrap(), vec![(9014, 1)], "jumbo frames");
        for bad in ["", "63:1", "9015", "64:0", "x:1", "64:y"] {
            let e = parse_mix(bad).unwrap_err();
            assert!(e.starts_with("--frame-mix"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn nfs3_calls_key_as_the_dataplane_reads_them() {
        let mut key = [0u8; nfs3::KEY_MAX];
        for (proc_, size) in [(6, 0), (7, 1400), (1, 0), (21, 200)] {
            let call = nfs3_call(9, proc_, 42, 5 << 20, size);
            assert!(call.len() >= size);
            let n = nfs3::call_key(&call, 20, &mut key).unwrap_or_else(|e| panic!("proc {proc_}: {e:?}"));
            assert_eq!(&key[4..12], &42u64.to_be_bytes(), "the handle carries its number");
            if proc_ == 1 {
                assert_eq!(n, 28);
            } else {
                assert_eq!((n, &key[28..36]), (36, &5u64.to_be_bytes()[..]), "region 5 of 1 MiB");
            }
        }
    }

    #[test]
    fn the_pcaps_hold_what_the_spec_asks_for() {
        let dir = tempfile::tempdir().unwrap();
        let (c, n) = (dir.path().join("c.pcap"), dir.path().join("n.pcap"));
        let calls = std::cell::Cell::new(0u64);
        let w = synthesise(&spec(), &c, &n, &|done| {
            assert!(done >= calls.get());
            calls.set(done);
        })
        .unwrap();
        assert_eq!(calls.get(), 600, "progress ends at the flow count");
        let (client, node) = (read(&c), read(&n));
        assert_eq!((client.len() as u64, node.len() as u64), (w.client_packets, w.node_packets));
        // Every frame parses with an independent parser; count sizes, NFSv3 calls and node RSTs.
        let (mut sizes, mut nfs, mut rsts) = (std::collections::BTreeMap::new(), 0u64, 0u64);
        let mut key = [0u8; nfs3::KEY_MAX];
        for f in &client {
            let p = etherparse::SlicedPacket::from_ethernet(f).expect("client frame parses");
            if let Some(etherparse::TransportSlice::Udp(u)) = &p.transport {
                if u.destination_port() == 2049 && nfs3::call_key(u.payload(), 20, &mut key).is_ok() {
                    nfs += 1;
                    continue;
                }
                *sizes.entry(f.len()).or_insert(0u64) += 1;
            }
        }
        for f in &node {
            let p = etherparse::SlicedPacket::from_ethernet(f).expect("node frame parses");
            if let Some(etherparse::TransportSlice::Tcp(t)) = &p.transport {
                rsts += t.rst() as u64;
            }
        }
        assert_eq!(rsts, w.rst_flows, "one RST per flow that ends in one");
        assert!(w.rst_flows > 0 && w.nfs3_flows > 0);
        assert!(nfs >= 2 * w.nfs3_flows, "every NFSv3 flow's requests are calls ({nfs} for {} flows)", w.nfs3_flows);
        // Plain UDP data frames follow the 7:4:1 mix (IPv4 and IPv6 frames are the same sizes).
        let total: u64 = sizes.values().sum();
        let share = |s: usize| *sizes.get(&s).unwrap_or(&0) as f64 / total as f64;
        assert!((share(64) - 7.0 / 12.0).abs() < 0.08, "{sizes:?}");
        assert!((share(1514) - 1.0 / 12.0).abs() < 0.05, "{sizes:?}");
    }
}
