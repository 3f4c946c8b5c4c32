//! The pipeline's side of the control core's features on crafted frames: affinity honoured and learned,
//! health probes as an independent parser reads them, and the node answers recognised (a SYN-ACK turned
//! into the RST that closes it, a RST, an echo reply, an ARP reply).

mod support;

use std::collections::HashSet;
use std::sync::Arc;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use sluice_control::affinity::ClientId;
use sluice_control::config::ResetConfig;
use sluice_control::Topology;
use sluice_dataplane::affinity::AffinityMap;
use sluice_dataplane::health::{self, Kind};
use sluice_dataplane::pipeline::{process, Context, DropReason, FrameBuf, KeyCounter, Verdict, WorkerState};
use support::*;

const HEADROOM: usize = 128;
const CLIENT: u16 = 0;
const NODES: u16 = 1;

fn context(toml_patch: impl Fn(String) -> String) -> Context {
    let cfg = sluice_control::Config::from_toml(&toml_patch(example_toml("in.pcap", "ret.pcap"))).unwrap();
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

fn with_affinity(s: String) -> String {
    s.replacen(
        "[[vips]]\naddress = \"10.10.0.1\"",
        "[affinity]\nenabled = true\n\n[[vips]]\naffinity = true\naddress = \"10.10.0.1\"",
        1,
    )
}

/// The example with ARP health checks. (Validation refuses them for its IP-in-IP and IPv6 nodes, which
/// the pipeline does not care about.)
fn arp_checked() -> Context {
    let mut cfg = sluice_control::Config::from_toml(&example_toml("in.pcap", "ret.pcap")).unwrap();
    cfg.health.enabled = true;
    cfg.health.check = sluice_control::config::HealthCheck::Arp;
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

fn run(ctx: &Context, port: u16, frame: &[u8], st: &mut WorkerState) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + frame.len() + 256];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut f = FrameBuf::new(&mut buf, HEADROOM, frame.len());
    let v = process(ctx, port, &mut f, st, 1);
    (v, f.data().to_vec())
}

fn state() -> WorkerState {
    WorkerState::new(&ResetConfig::default(), 1_000_000)
}

#[test]
fn affinity_sends_a_client_to_its_cvm_and_learns_the_rest() {
    let mut ctx = context(with_affinity);
    let mut st = state();
    // No entry: flows of one client spread by their key, and every choice is learned.
    let mut nodes = HashSet::new();
    for sport in 1000..1200u16 {
        let (v, _) = run(&ctx, CLIENT, &tcp4([172, 16, 0, 1], sport, VIP4, 2049, b"x"), &mut st);
        let Verdict::Node { node, .. } = v else { panic!("{v:?}") };
        nodes.insert(node);
    }
    assert!(nodes.len() > 1);
    assert_eq!(st.keys[KeyCounter::AffinityNone], 200);
    let mut reports = Vec::new();
    st.learn.flush(ctx.topology_id, |r| {
        reports.push(r);
        true
    });
    assert_eq!(reports.iter().map(|r| r.packets as u64).sum::<u64>(), 200);
    assert!(reports.iter().all(|r| r.client == ClientId::from_ip("172.16.0.1".parse().unwrap())));
    // Bind the client to b1: every flow of it goes there (MAC rewrite to b1), other clients do not.
    let b1 = ctx.topology.node_index("b1").unwrap() as u16;
    ctx.affinity = Arc::new(AffinityMap::build(&[(ClientId::from_ip("172.16.0.1".parse().unwrap()), b1)]));
    for sport in 1000..1200u16 {
        let (v, out) = run(&ctx, CLIENT, &tcp4([172, 16, 0, 1], sport, VIP4, 2049, b"x"), &mut st);
        assert_eq!(v, Verdict::Node { node: b1, port: NODES });
        assert_eq!(check(&out).unwrap().dst_mac, ctx.nodes[b1 as usize].mac);
    }
    assert_eq!(st.keys[KeyCounter::AffinityHit], 200);
    let others: HashSet<u16> = (1000..1200u16)
        .map(|sport| match run(&ctx, CLIENT, &tcp4([172, 16, 0, 2], sport, VIP4, 2049, b"x"), &mut st).0 {
            Verdict::Node { node, .. } => node,
            v => panic!("{v:?}"),
        })
        .collect();
    assert!(others.len() > 1, "an unbound client is still balanced by its key");
    // The second VIP does not keep affinity: the bound client is balanced there.
    let v6: HashSet<u16> = (1000..1100u16)
        .map(|sport| {
            match run(
                &ctx,
                CLIENT,
                &tcp6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], sport, vip6(), 2049, b"x"),
                &mut st,
            )
            .0
            {
                Verdict::Node { node, .. } => node,
                v => panic!("{v:?}"),
            }
        })
        .collect();
    assert!(v6.len() > 1);
}

#[test]
fn affinity_by_mac_identifies_the_sender() {
    let mut ctx = context(|s| with_affinity(s).replace("enabled = true\n", "enabled = true\nclient_id = \"mac\"\n"));
    let a2 = ctx.topology.node_index("a2").unwrap() as u16;
    ctx.affinity = Arc::new(AffinityMap::build(&[(ClientId::from_mac(CLIENT_MAC), a2)]));
    let mut st = state();
    for i in 0..50u8 {
        let (v, _) = run(&ctx, CLIENT, &tcp4([172, 16, 1, i], 5000, VIP4, 2049, b""), &mut st);
        assert_eq!(v, Verdict::Node { node: a2, port: NODES }, "all from the same MAC");
    }
}

fn parse(frame: &[u8]) -> SlicedPacket<'_> {
    SlicedPacket::from_ethernet(frame).unwrap()
}

#[test]
fn health_probes_are_well_formed() {
    let ctx = context(|s| s);
    let a1 = ctx.topology.node_index("a1").unwrap() as u16;
    let p = health::write_probe(&ctx, a1, Kind::Tcp, 2049, 77).unwrap();
    let f = &p.frame[..p.len as usize];
    let seen = check(f).unwrap();
    assert_eq!((seen.dst_mac, seen.src_mac), (ctx.nodes[a1 as usize].mac, NODE_PORT_MAC));
    let s = parse(f);
    let Some(TransportSlice::Tcp(t)) = s.transport else { panic!() };
    assert!(t.syn() && !t.ack() && !t.rst());
    assert_eq!((t.destination_port(), t.sequence_number()), (2049, 77));
    assert!((health::SPORT_BASE..health::SPORT_BASE + health::SPORT_SPAN).contains(&t.source_port()));
    assert_eq!(t.window_size(), 1024);
    assert_eq!(p.port, NODES);
    // ICMP echo, v4, checksummed.
    let p = health::write_probe(&ctx, a1, Kind::Icmp, 0, 9).unwrap();
    let f = &p.frame[..p.len as usize];
    check(f).unwrap();
    let s = parse(f);
    let Some(TransportSlice::Icmpv4(i)) = s.transport else { panic!() };
    assert_eq!(i.type_u8(), 8);
    assert_eq!(&i.slice()[4..8], &[0x5c, 0x1e, 0, 9]);
    // ARP request from the port's address.
    let p = health::write_probe(&ctx, a1, Kind::Arp, 0, 1).unwrap();
    let f = &p.frame[..p.len as usize];
    assert_eq!(&f[0..6], &[0xff; 6]);
    assert_eq!(&f[12..14], &[8, 6]);
    assert_eq!(&f[14 + 14..14 + 18], &[198, 51, 100, 1]);
    assert_eq!(&f[14 + 24..14 + 28], &[198, 51, 100, 11]);
}

/// A TCP segment from node `a1` (198.51.100.11) to the appliance's node-port address.
fn node_tcp(sport: u16, dport: u16, seq: u32, ack: u32, syn: bool, rst: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b =
        PacketBuilder::ethernet2([2, 0, 0, 0, 0xa, 1], NODE_PORT_MAC).ipv4([198, 51, 100, 11], [198, 51, 100, 1], 64);
    let mut t = b.tcp(sport, dport, seq, 0).ack(ack);
    if syn {
        t = t.syn();
    }
    if rst {
        t = t.rst();
    }
    t.write(&mut v, &[]).unwrap();
    v
}

#[test]
fn health_answers_are_recognised_and_a_syn_ack_is_closed() {
    let ctx = context(|s| s);
    let mut st = state();
    // SYN-ACK to probe 77: healthy, and answered with a RST at its ack.
    let (v, out) = run(&ctx, NODES, &node_tcp(2049, health::SPORT_BASE + 77, 5000, 78, true, false), &mut st);
    assert_eq!(v, Verdict::Reply { port: NODES });
    check(&out).unwrap();
    assert_eq!(&out[0..6], &[2, 0, 0, 0, 0xa, 1]);
    let s = parse(&out);
    let Some(TransportSlice::Tcp(t)) = s.transport else { panic!() };
    assert!(t.rst() && !t.syn());
    assert_eq!((t.sequence_number(), t.source_port(), t.destination_port()), (78, health::SPORT_BASE + 77, 2049));
    // RST: nothing listens.
    let (v, _) = run(&ctx, NODES, &node_tcp(2049, health::SPORT_BASE + 78, 0, 79, false, true), &mut st);
    assert_eq!(v, Verdict::Drop(DropReason::HealthAnswer));
    // Echo reply with our identifier.
    let mut e = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0xa, 1], NODE_PORT_MAC)
        .ipv4([198, 51, 100, 11], [198, 51, 100, 1], 64)
        .icmpv4_echo_reply(health::ICMP_ID, 9)
        .write(&mut e, b"sluice-h")
        .unwrap();
    assert_eq!(run(&ctx, NODES, &e, &mut st).0, Verdict::Drop(DropReason::HealthAnswer));
    // ARP reply from a1 to our address: an answer only when the check is arp.
    let mut arp = arp_request([198, 51, 100, 1], [198, 51, 100, 11]);
    arp[6..12].copy_from_slice(&[2, 0, 0, 0, 0xa, 1]);
    arp[14 + 8..14 + 14].copy_from_slice(&[2, 0, 0, 0, 0xa, 1]);
    arp[14 + 7] = 2;
    assert_eq!(run(&ctx, NODES, &arp, &mut st).0, Verdict::Drop(DropReason::HealthForged));
    let arp_ctx = arp_checked();
    assert_eq!(run(&arp_ctx, NODES, &arp, &mut st).0, Verdict::Drop(DropReason::HealthAnswer));
    let got: Vec<_> = st.health.drain().map(|a| (a.kind, a.token, a.ok)).collect();
    assert_eq!(
        got,
        vec![
            (Kind::Tcp, Some(77), true),
            (Kind::Tcp, Some(78), false),
            (Kind::Icmp, Some(9), true),
            (Kind::Arp, None, true)
        ]
    );
    // From something that is not a node, or to another port range: not a health answer.
    let mut stray = node_tcp(2049, 40000, 0, 1, true, false);
    let (v, _) = run(&ctx, NODES, &stray, &mut st);
    assert_ne!(v, Verdict::Drop(DropReason::HealthAnswer));
    stray = node_tcp(2049, health::SPORT_BASE, 0, 1, true, false);
    stray[26..30].copy_from_slice(&[198, 51, 100, 99]);
    let (v, _) = run(&ctx, NODES, &stray, &mut st);
    assert_ne!(v, Verdict::Drop(DropReason::HealthAnswer));
    assert_eq!(st.health.drain().count(), 0);
}

#[test]
fn health_answers_count_only_from_the_probed_node_on_its_port() {
    let ctx = context(|s| s);
    let arp_ctx = arp_checked();
    let mut st = state();
    let stranger = [2, 0, 0, 0, 0x66, 0x66];
    // A SYN-ACK or RST "from a1" sent from another MAC: forged, dropped, no answer noted.
    let mut forged = node_tcp(2049, health::SPORT_BASE + 77, 5000, 78, true, false);
    forged[6..12].copy_from_slice(&stranger);
    assert_eq!(run(&ctx, NODES, &forged, &mut st).0, Verdict::Drop(DropReason::HealthForged));
    let mut refused = node_tcp(2049, health::SPORT_BASE + 78, 0, 79, false, true);
    refused[6..12].copy_from_slice(&stranger);
    assert_eq!(run(&ctx, NODES, &refused, &mut st).0, Verdict::Drop(DropReason::HealthForged));
    // An echo reply from a1's address on the client side.
    let mut e = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0xa, 1], CLIENT_PORT_MAC)
        .ipv4([198, 51, 100, 11], [192, 0, 2, 1], 64)
        .icmpv4_echo_reply(health::ICMP_ID, 9)
        .write(&mut e, b"sluice-h")
        .unwrap();
    assert_ne!(run(&ctx, CLIENT, &e, &mut st).0, Verdict::Drop(DropReason::HealthAnswer));
    // ARP replies naming a1: from the client side, or from another MAC on the node side.
    let mut arp = arp_request([192, 0, 2, 1], [198, 51, 100, 11]);
    arp[14 + 7] = 2;
    assert_eq!(run(&arp_ctx, CLIENT, &arp, &mut st).0, Verdict::Drop(DropReason::HealthForged));
    let mut arp = arp_request([198, 51, 100, 1], [198, 51, 100, 11]);
    arp[6..12].copy_from_slice(&stranger);
    arp[14 + 8..14 + 14].copy_from_slice(&stranger);
    arp[14 + 7] = 2;
    assert_eq!(run(&arp_ctx, NODES, &arp, &mut st).0, Verdict::Drop(DropReason::HealthForged));
    assert_eq!(st.health.drain().count(), 0, "nothing forged reaches the health checker");
}

/// Client VMs identified by MAC: a node's RST does not say which client VM it belongs to. A RST from a
/// node that neither the tables pick nor any affinity entry binds starts nothing, even right after the
/// affinity map changed.
#[test]
fn mac_keyed_affinity_lets_only_the_picked_or_bound_node_start_a_fanout() {
    let patch = |s: String| with_affinity(s).replace("enabled = true\n", "enabled = true\nclient_id = \"mac\"\n");
    let mut before = context(patch);
    let a2 = before.topology.node_index("a2").unwrap() as u16;
    before.affinity = Arc::new(AffinityMap::build(&[(ClientId::from_mac([2, 0, 0, 0, 0x77, 1]), a2)]));
    let mut after = context(patch);
    after.affinity = Arc::new(AffinityMap::build(&[
        (ClientId::from_mac([2, 0, 0, 0, 0x77, 1]), a2),
        (ClientId::from_mac([2, 0, 0, 0, 0x77, 2]), a2),
    ]));
    let after = with_prior(&before, after, 0);
    let mut st = state();
    let table_pick = |cport: u16| {
        // The node the tables pick, from a client MAC the map does not know.
        match run(&after, CLIENT, &tcp4([192, 0, 2, 66], cport, VIP4, 2049, b""), &mut state()).0 {
            Verdict::Node { node, .. } => node,
            v => panic!("{v:?}"),
        }
    };
    let mut sent = 0;
    for (i, n) in after.nodes.iter().enumerate() {
        let i = i as u16;
        if i == a2 || n.forward != sluice_control::config::ForwardMode::Mac || n.ip.v6 {
            continue;
        }
        for cport in 30000..30050u16 {
            let mut v = Vec::new();
            PacketBuilder::ethernet2(n.mac, NODE_PORT_MAC)
                .ipv4([10, 10, 0, 1], [192, 0, 2, 66], 64)
                .tcp(2049, cport, 42, 0)
                .rst()
                .write(&mut v, &[])
                .unwrap();
            assert_eq!(run(&after, NODES, &v, &mut st).0, Verdict::Client { port: CLIENT });
            sent += (table_pick(cport) != i) as u64;
        }
    }
    let c = |k: sluice_dataplane::reset::ResetCounter| st.resets.counters[k as usize];
    assert_eq!(c(sluice_dataplane::reset::ResetCounter::Fanouts), 0, "nothing moved for 192.0.2.66");
    assert_eq!(c(sluice_dataplane::reset::ResetCounter::NotOwner), sent);
}
