//! Valid frames of every kind the pipeline handles, in both directions, for the mutator to start from:
//! client traffic to every VIP (TCP and UDP, IPv4 and IPv6, tagged and QinQ, IPv4 options, IPv6
//! extension headers, fragments), NFSv3 calls and payload-keyed datagrams, ICMP echo and errors quoting
//! a VIP flow, ARP and neighbour solicitations, fan-out frames from a spine and from a peer; return
//! traffic from every node (plain, RSTs, tunnelled), health answers, and for each target the RSTs and
//! challenge ACKs of connections its last change moved.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{IpNumber, PacketBuilder};
use sluice_control::config::{ForwardMode, ResetConfig, Role};
use sluice_dataplane::health::{self, Kind};
use sluice_dataplane::pipeline::{process, Context, FrameBuf, Verdict, WorkerState};
use sluice_dataplane::reset::{write_fanout_frame, write_peer_frame, Conn};
use sluice_dataplane::wire::parse::Addr;

use super::layout;
use super::targets::{Target, BOUND_CLIENT, PEER_MAC, TICKS_PER_SEC};
use crate::support::{CLIENT_MAC, CLIENT_PORT_MAC, GATEWAY_MAC, NODE_PORT_MAC, VIP4};

/// A frame and the port it is meant to arrive on.
#[derive(Clone)]
pub struct Seed {
    pub frame: Vec<u8>,
    pub port: u16,
}

const CLIENT: u16 = 0;
const NODES: u16 = 1;
const C4: [u8; 4] = [192, 0, 2, 50];
const NFS_VIP: [u8; 4] = [10, 10, 0, 2];
const PAYLOAD_VIP: [u8; 4] = [10, 10, 0, 3];
const CLIENT_KEY_VIP: [u8; 4] = [10, 10, 0, 4];
const OWN_C4: [u8; 4] = [192, 0, 2, 1];
const OWN_N4: [u8; 4] = [198, 51, 100, 1];

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().expect("IPv6"))
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn vip6() -> IpAddr {
    v6(crate::support::VIP6)
}

fn c6() -> IpAddr {
    v6("2001:db8:c::50")
}

/// A TCP header (20 bytes, checksum left to [`eth`]) and its payload.
fn tcp(sport: u16, dport: u16, seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut t = [sport.to_be_bytes(), dport.to_be_bytes()].concat();
    t.extend(seq.to_be_bytes());
    t.extend(ack.to_be_bytes());
    t.extend([0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    t.extend(payload);
    t
}

fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = [sport.to_be_bytes(), dport.to_be_bytes(), ((8 + payload.len()) as u16).to_be_bytes(), [0, 0]].concat();
    u.extend(payload);
    u
}

fn icmp(ty: u8, code: u8, rest: [u8; 4], body: &[u8]) -> Vec<u8> {
    let mut m = vec![ty, code, 0, 0];
    m.extend(rest);
    m.extend(body);
    m
}

/// An IP packet (no Ethernet) from `src` to `dst` carrying `l4` as protocol `proto`.
fn ip(src: IpAddr, dst: IpAddr, proto: u8, l4: &[u8]) -> Vec<u8> {
    let b = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => PacketBuilder::ipv4(s.octets(), d.octets(), 64),
        (IpAddr::V6(s), IpAddr::V6(d)) => PacketBuilder::ipv6(s.octets(), d.octets(), 64),
        _ => panic!("mixed families"),
    };
    let mut v = Vec::new();
    b.write(&mut v, IpNumber(proto), l4).expect("IP packet");
    v
}

/// An Ethernet frame around `l3` (ethertype by its version), every checksum made right.
fn eth(dst: [u8; 6], src: [u8; 6], l3: &[u8]) -> Vec<u8> {
    let ty: u16 = if l3.first().map(|b| b >> 4) == Some(6) { 0x86dd } else { 0x0800 };
    let mut f = [&dst[..], &src[..], &ty.to_be_bytes()[..], l3].concat();
    layout::fix_checksums(&mut f);
    f
}

fn client(l3: &[u8]) -> Seed {
    Seed { frame: eth(CLIENT_PORT_MAC, CLIENT_MAC, l3), port: CLIENT }
}

/// `f` with VLAN tags of these TPIDs inserted after the MACs.
fn tagged(mut f: Vec<u8>, tpids: &[u16]) -> Vec<u8> {
    for (i, t) in tpids.iter().enumerate().rev() {
        f.splice(12..12, [t.to_be_bytes(), (100 + i as u16).to_be_bytes()].concat());
    }
    f
}

/// An IPv4 packet with `opts` (a multiple of 4 bytes) inserted as options.
fn with_options(mut l3: Vec<u8>, opts: &[u8]) -> Vec<u8> {
    l3.splice(20..20, opts.iter().copied());
    l3[0] = 0x40 | (5 + opts.len() / 4) as u8;
    let total = (l3.len() as u16).to_be_bytes();
    l3[2..4].copy_from_slice(&total);
    l3
}

/// An IPv6 packet with extension headers of these types (8 bytes each) inserted before its upper layer.
fn with_extensions(mut l3: Vec<u8>, types: &[u8]) -> Vec<u8> {
    let mut next = l3[6];
    let mut ext = Vec::new();
    for t in types.iter().rev() {
        let mut h = vec![next, 0, 1, 4, 0, 0, 0, 0];
        if *t == 44 {
            h = vec![next, 0, 0, 1, 0, 0, 0x12, 0x34]; // first fragment, more to come
        }
        ext.splice(0..0, h);
        next = *t;
    }
    l3[6] = next;
    l3.splice(40..40, ext);
    let payload = ((l3.len() - 40) as u16).to_be_bytes();
    l3[4..6].copy_from_slice(&payload);
    l3
}

/// The IPv4 packet `l3` as a fragment at byte `offset` (a multiple of 8) keeping `keep` payload bytes.
fn fragment_v4(mut l3: Vec<u8>, offset: usize, keep: usize, more: bool) -> Vec<u8> {
    let payload: Vec<u8> = l3[20..].iter().skip(offset).take(keep).copied().collect();
    l3.truncate(20);
    l3.extend(payload);
    let fo = (offset / 8) as u16 | if more { 0x2000 } else { 0 };
    l3[6..8].copy_from_slice(&fo.to_be_bytes());
    let total = (l3.len() as u16).to_be_bytes();
    l3[2..4].copy_from_slice(&total);
    l3
}

/// An ONC RPC call to NFS version 3 procedure `proc_` on a handle of `fh_len` bytes at `offset`.
pub fn nfs3_call(proc_: u32, fh_len: usize, offset: u64) -> Vec<u8> {
    let mut v = Vec::new();
    let w = |v: &mut Vec<u8>, x: u32| v.extend(x.to_be_bytes());
    for x in [0x1234_5678, 0, 2, 100_003, 3, proc_, 1, 24] {
        w(&mut v, x);
    }
    v.extend([0, 0, 0, 1, 0, 0, 0, 4, b'h', b'o', b's', b't', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    for x in [0, 0, fh_len as u32] {
        w(&mut v, x);
    }
    v.extend((0..fh_len).map(|i| (i * 7) as u8));
    v.resize((v.len() + 3) & !3, 0);
    v.extend(offset.to_be_bytes());
    w(&mut v, 4096);
    w(&mut v, 1);
    v
}

fn client_seeds(out: &mut Vec<Seed>) {
    let (c4, vip4) = (v4(C4), v4(VIP4));
    let tcp4 = ip(c4, vip4, 6, &tcp(40000, 2049, 1000, 1, 0x18, b"client data"));
    let tcp6 = ip(c6(), vip6(), 6, &tcp(40001, 3260, 1000, 1, 0x10, b"v6 data"));
    let udp4 = ip(c4, vip4, 17, &udp(40002, 2049, b"datagram"));
    let udp6 = ip(c6(), vip6(), 17, &udp(40003, 2049, b"datagram6"));
    for l3 in [&tcp4, &tcp6, &udp4, &udp6] {
        let plain = client(l3).frame;
        for tags in [&[][..], &[0x8100], &[0x88a8, 0x8100], &[0x9100, 0x8100], &[0x8100, 0x8100, 0x8100]] {
            out.push(Seed { frame: tagged(plain.clone(), tags), port: CLIENT });
        }
    }
    out.push(client(&ip(c4, vip4, 6, &tcp(40000, 2049, 999, 0, 0x02, b""))));
    out.push(client(&ip(c4, vip4, 6, &tcp(40000, 2049, 1000, 0, 0x04, b""))));
    out.push(client(&ip(v4(BOUND_CLIENT), vip4, 6, &tcp(40010, 2049, 5, 1, 0x10, b"bound"))));
    out.push(client(&ip(c4, v4(CLIENT_KEY_VIP), 6, &tcp(40011, 22, 5, 1, 0x10, b"any port"))));
    out.push(client(&ip(c4, v4([10, 9, 9, 9]), 6, &tcp(40012, 2049, 5, 1, 0x10, b""))));
    out.push(client(&ip(c4, vip4, 6, &tcp(40013, 22, 5, 1, 0x10, b""))));
    // The single appliance's iSCSI portal (the first VIP's port 3260): a SYN and a login to it, and a
    // session's data to a node's own portal.
    out.push(client(&ip(c4, vip4, 6, &tcp(40014, 3260, 7, 0, 0x02, b""))));
    out.push(client(&ip(c4, vip4, 6, &tcp(40014, 3260, 8, 1, 0x18, &[0x43, 0x87, 0, 0, 0, 0, 0, 4, 0x80]))));
    out.push(client(&ip(c4, v4([198, 51, 100, 11]), 6, &tcp(40015, 3260, 9, 1, 0x18, b"scsi"))));
    // IPv4 options (NOPs; a record-route option filling the header) and IPv6 extension headers.
    out.push(client(&with_options(tcp4.clone(), &[1, 1, 1, 0])));
    let mut rr = vec![7, 39, 4];
    rr.resize(40, 0);
    out.push(client(&with_options(udp4.clone(), &rr)));
    out.push(client(&with_extensions(tcp6.clone(), &[0, 60, 43])));
    out.push(client(&with_extensions(udp6.clone(), &[0, 44])));
    out.push(client(&with_extensions(udp6.clone(), &[60; 9])));
    let mut later6 = with_extensions(udp6.clone(), &[44]);
    later6[42..44].copy_from_slice(&[0, 0x18]); // offset 24, last
    out.push(client(&later6));
    // Full-size datagrams (1500-byte IP packets) from 16 source ports: those whose flow an IP-in-IP
    // node takes no longer fit its port once encapsulated, so every run reaches the too-big path.
    for sport in 41000..41016u16 {
        out.push(client(&ip(c4, vip4, 17, &udp(sport, 2049, &[9u8; 1472]))));
    }
    // IPv4 fragments: first (carrying the ports) and later.
    let big = ip(c4, vip4, 17, &udp(40004, 2049, &[7u8; 64]));
    out.push(client(&fragment_v4(big.clone(), 0, 32, true)));
    out.push(client(&fragment_v4(big, 32, 40, false)));
    out.push(client(&fragment_v4(tcp4.clone(), 0, 24, true)));
    // Echo to a VIP and to the client port's own addresses; an echo with a code nobody answers.
    for (s, d) in [(c4, vip4), (c4, v4(OWN_C4)), (c6(), vip6()), (c6(), v6("2001:db8::1"))] {
        let ty = if d.is_ipv4() { 8 } else { 128 };
        let mut l3 = ip(s, d, if d.is_ipv4() { 1 } else { 58 }, &icmp(ty, 0, [0, 7, 0, 1], b"ping"));
        // A TTL (hop limit) the reply changes.
        l3[if d.is_ipv4() { 8 } else { 7 }] = 5;
        out.push(client(&l3));
    }
    out.push(client(&ip(c4, vip4, 1, &icmp(8, 1, [0, 7, 0, 1], b"odd"))));
    // ICMP errors quoting the VIP's reply to a client (a router refused it).
    for quoted_client in [C4, BOUND_CLIENT] {
        let reply = ip(vip4, v4(quoted_client), 6, &tcp(2049, 40000, 7, 8, 0x10, b""));
        out.push(client(&ip(v4([192, 0, 2, 254]), vip4, 1, &icmp(3, 4, [0, 0, 5, 0x78], &reply[..28]))));
    }
    let reply6 = ip(vip6(), c6(), 17, &udp(2049, 40003, b""));
    out.push(client(&ip(v6("2001:db8:c::fe"), vip6(), 58, &icmp(2, 0, [0, 0, 5, 0], &reply6[..48]))));
    let frag_reply = fragment_v4(ip(vip4, v4(C4), 17, &udp(2049, 40004, &[1; 40])), 16, 24, false);
    out.push(client(&ip(v4([192, 0, 2, 254]), vip4, 1, &icmp(11, 0, [0; 4], &frag_reply[..28]))));
    // ARP for a VIP and for our own address; neighbour solicitations (and a DAD probe).
    for target in [VIP4, OWN_C4, [192, 0, 2, 99]] {
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 1];
        a.extend(CLIENT_MAC.iter().chain(&C4).chain(&[0; 6]).chain(&target));
        let mut f = [&[0xff; 6][..], &CLIENT_MAC[..], &[0x08, 0x06][..], &a[..]].concat();
        f.resize(60, 0);
        out.push(Seed { frame: f, port: CLIENT });
    }
    for (src, target) in [(c6(), vip6()), (c6(), v6("2001:db8::1")), (v6("::"), vip6())] {
        let IpAddr::V6(t) = target else { unreachable!() };
        let mut body = t.octets().to_vec();
        body.extend([1, 1]);
        body.extend(CLIENT_MAC);
        let mut l3 = ip(src, v6("ff02::1:ff00:1"), 58, &icmp(135, 0, [0; 4], &body));
        l3[7] = 255;
        out.push(client(&l3));
    }
    // NFSv3 calls: keyed procedures, a handle at the limit and past it, NULL, LOOKUP; payload keys.
    for (p, fh, off) in [(1, 28, 0), (6, 8, 3 << 20), (7, 64, 5), (21, 32, 1 << 30), (6, 65, 0), (0, 8, 0), (3, 16, 0)]
    {
        out.push(client(&ip(c4, v4(NFS_VIP), 17, &udp(40005, 2049, &nfs3_call(p, fh, off)))));
    }
    out.push(client(&ip(c4, v4(NFS_VIP), 6, &tcp(40006, 2049, 1, 1, 0x18, &nfs3_call(6, 28, 0)))));
    out.push(client(&ip(c4, v4(PAYLOAD_VIP), 17, &udp(40007, 7000, b"hdr:KEYFIELD:rest of the request"))));
    out.push(client(&ip(c4, v4(PAYLOAD_VIP), 17, &udp(40007, 7000, b"short"))));
    // A spine's fan-out frames, as a chassis appliance's spine-side port receives them.
    for c in [conn(v4(C4), 41000), conn(c6(), 41001)] {
        let mut buf = [0u8; 160];
        let n = write_fanout_frame(&mut buf, &c, CLIENT_PORT_MAC, GATEWAY_MAC).expect("room");
        out.push(Seed { frame: buf[..n].to_vec(), port: CLIENT });
    }
}

fn conn(client: IpAddr, cport: u16) -> Conn {
    let vip = if client.is_ipv4() { v4(VIP4) } else { vip6() };
    Conn { client: Addr::from(client), vip: Addr::from(vip), cport, vport: 2049 }
}

/// `l3` as node `n` of `ctx` sends it to the appliance: from its MAC, or tunnelled from its address
/// when it is reached by IP-in-IP; at a spine, from the chassis appliance of its chassis.
fn from_node(ctx: &Context, n: u16, l3: &[u8]) -> Seed {
    let node = &ctx.nodes[n as usize];
    let frame = if ctx.role == Role::Spine {
        let chassis = ctx.topology.nodes[n as usize].chassis as usize;
        eth(NODE_PORT_MAC, ctx.chassis_links[chassis].map_or([0; 6], |l| l.0), l3)
    } else if node.forward == ForwardMode::Ipip {
        let proto = if l3[0] >> 4 == 6 { 41 } else { 4 };
        eth(NODE_PORT_MAC, node.mac, &ip(node.ip.to_ip(), node.tunnel_src.to_ip(), proto, l3))
    } else {
        eth(NODE_PORT_MAC, node.mac, l3)
    };
    Seed { frame, port: NODES }
}

fn node_seeds(ctx: &Context, out: &mut Vec<Seed>) {
    let (c4, vip4) = (v4(C4), v4(VIP4));
    for n in 0..ctx.nodes.len() as u16 {
        out.push(from_node(ctx, n, &ip(vip4, c4, 6, &tcp(2049, 40000, 7, 1001, 0x18, b"node data"))));
        out.push(from_node(ctx, n, &ip(vip4, c4, 6, &tcp(2049, 40000, 7, 0, 0x04, b""))));
        out.push(from_node(ctx, n, &ip(vip6(), c6(), 6, &tcp(3260, 40001, 9, 1, 0x14, b""))));
        out.push(from_node(ctx, n, &ip(vip4, c4, 17, &udp(2049, 40002, b"reply"))));
        for kind in [Kind::Tcp, Kind::Icmp, Kind::Arp] {
            if let Some(p) = health::write_probe(ctx, n, kind, 2049, 1234) {
                out.push(Seed { frame: p.frame[..p.len as usize].to_vec(), port: NODES });
            }
        }
        // Health answers: SYN-ACK and RST to a probe's port, an echo reply with the probes' identifier.
        // (To the node port's address of the node's family, as the probes leave from.)
        let node = &ctx.nodes[n as usize];
        let (nip, own, node_mac) = (node.ip.to_ip(), node.tunnel_src.to_ip(), node.mac);
        for flags in [0x12, 0x14] {
            let l3 = ip(nip, own, 6, &tcp(2049, 61005, 77, 1235, flags, b""));
            out.push(Seed { frame: eth(NODE_PORT_MAC, node_mac, &l3), port: NODES });
        }
        let (id, (proto, reply)) = (health::ICMP_ID.to_be_bytes(), if node.ip.v6 { (58, 129) } else { (1, 0) });
        let l3 = ip(nip, own, proto, &icmp(reply, 0, [id[0], id[1], 0, 9], b"sluice-h"));
        out.push(Seed { frame: eth(NODE_PORT_MAC, node_mac, &l3), port: NODES });
        if node.ip.v6 {
            continue;
        }
        let mut a = vec![0, 1, 8, 0, 6, 4, 0, 2];
        a.extend(node_mac.iter().chain(&ctx.nodes[n as usize].ip.v4_bytes()).chain(&NODE_PORT_MAC).chain(&OWN_N4));
        out.push(Seed { frame: [&NODE_PORT_MAC[..], &node_mac[..], &[0x08, 0x06][..], &a[..]].concat(), port: NODES });
    }
    out.push(Seed {
        frame: eth(NODE_PORT_MAC, CLIENT_MAC, &ip(c4, v4(OWN_N4), 1, &icmp(8, 0, [0, 1, 0, 1], b""))),
        port: NODES,
    });
}

/// The node a client packet goes to under `ctx` (`st`: a scratch worker state).
fn pick(ctx: &Context, st: &mut WorkerState, frame: &[u8]) -> Option<u16> {
    let mut buf = vec![0u8; 128 + frame.len() + 64];
    buf[128..128 + frame.len()].copy_from_slice(frame);
    match process(ctx, CLIENT, &mut FrameBuf::new(&mut buf, 128, frame.len()), st, 1) {
        Verdict::Node { node, .. } => Some(node),
        _ => None,
    }
}

/// For connections `t`'s last change moved: the new owner's RST (which starts a fan-out), the old
/// owner's challenge ACK (which becomes the exact RST) and its refusal of a probe; where `t` has peers,
/// a peer's frame.
fn reset_seeds(t: &Target, out: &mut Vec<Seed>) {
    let mut st = WorkerState::new(&ResetConfig::default(), TICKS_PER_SEC);
    let mut moved = 0;
    for cport in 1000..4000u16 {
        for client_ip in [v4(C4), v4(BOUND_CLIENT)] {
            let syn = client(&ip(client_ip, v4(VIP4), 6, &tcp(cport, 2049, 1, 0, 0x02, b""))).frame;
            let (Some(now), Some(was)) = (pick(&t.ctx, &mut st, &syn), pick(&t.before, &mut st, &syn)) else {
                continue;
            };
            if now == was {
                continue;
            }
            if moved == 6 {
                return;
            }
            moved += 1;
            let rst = ip(v4(VIP4), client_ip, 6, &tcp(2049, cport, 4242, 0, 0x04, b""));
            let ack = ip(v4(VIP4), client_ip, 6, &tcp(2049, cport, 17, 0x5150 + cport as u32, 0x10, b""));
            let c = Conn { client: Addr::from(client_ip), vip: Addr::v4(VIP4), cport, vport: 2049 };
            let cookie = t.ctx.cookie.of(&c);
            let refusal = ip(v4(VIP4), client_ip, 6, &tcp(2049, cport, cookie, 0, 0x04, b""));
            out.push(from_node(&t.ctx, now, &rst));
            out.push(from_node(&t.ctx, was, &ack));
            out.push(from_node(&t.ctx, was, &refusal));
            if t.ctx.peers.is_empty() {
                continue;
            }
            let mut buf = [0u8; 160];
            let owner = Some(t.ctx.nodes[now as usize].ip);
            let n = write_peer_frame(&mut buf, &c, cookie, owner, NODE_PORT_MAC, PEER_MAC).expect("room");
            out.push(Seed { frame: buf[..n].to_vec(), port: NODES });
        }
    }
}

/// Every seed for `targets`, and a few frames of random bytes.
pub fn all(targets: &[Target]) -> Vec<Seed> {
    let mut out = Vec::new();
    client_seeds(&mut out);
    let most = targets.iter().max_by_key(|t| t.ctx.nodes.len()).expect("targets");
    node_seeds(&most.ctx, &mut out);
    for t in targets {
        reset_seeds(t, &mut out);
    }
    let spine = targets.iter().find(|t| t.ctx.role == Role::Spine).expect("a spine");
    out.push(from_node(&spine.ctx, 0, &ip(v4(VIP4), v4(C4), 6, &tcp(2049, 40000, 1, 0, 0x04, b""))));
    let mut x = 0x9e37_79b9u32;
    for len in [0, 13, 60, 200] {
        let frame = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        out.push(Seed { frame, port: (len % 2) as u16 });
    }
    out
}
