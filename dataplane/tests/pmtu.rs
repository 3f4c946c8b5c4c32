//! Path MTU toward IP-in-IP nodes on crafted frames: a client packet too big for the node port once
//! encapsulated gets an ICMP fragmentation-needed (IPv4 with DF) or packet-too-big (IPv6) carrying the
//! largest inner MTU, checked with etherparse and recomputed checksums; without DF it is dropped; the
//! answers are rate-limited; the MSS IP-in-IP nodes announce is clamped when asked.

mod support;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use sluice_control::config::ResetConfig;
use sluice_control::Topology;
use sluice_dataplane::pipeline::{Context, DropReason, KeyCounter, TooBigBudget, Verdict, WorkerState};
use support::pipe::*;
use support::*;

const CLIENT_IP: [u8; 4] = [192, 0, 2, 7];

/// A client TCP segment with `payload` bytes to the VIP, from a source port whose flow goes to b2 (the
/// example's IP-in-IP node), with DF set or not.
fn to_b2(ctx: &Context, payload: usize, df: bool) -> Vec<u8> {
    let b2 = node_named(ctx, "b2");
    let sport = (1024..u16::MAX)
        .find(|&s| run(ctx, CLIENT, &tcp4(CLIENT_IP, s, VIP4, 2049, b"x")).0 == Verdict::Node { node: b2, port: NODES })
        .expect("a flow to b2");
    let mut f = tcp4(CLIENT_IP, sport, VIP4, 2049, &vec![0x5a; payload]);
    f[14 + 6] = if df { f[14 + 6] | 0x40 } else { f[14 + 6] & !0x40 };
    f[24..26].fill(0);
    let c = !fold(ones_sum(&f[14..34]));
    f[24..26].copy_from_slice(&c.to_be_bytes());
    f
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

fn state() -> WorkerState {
    WorkerState::new(&ResetConfig::default(), 1_000_000)
}

#[test]
fn a_df_packet_too_big_for_an_ipip_node_gets_fragmentation_needed_with_the_inner_mtu() {
    let ctx = context();
    assert_eq!(ctx.encap_mtu, 1480, "node port MTU 1500 less the 20-byte outer header");
    // 1480 bytes of IP fit once encapsulated; 1481 do not.
    let fits = to_b2(&ctx, 1480 - 40, true);
    assert!(matches!(run(&ctx, CLIENT, &fits).0, Verdict::Node { .. }));
    let big = to_b2(&ctx, 1500 - 40, true);
    let mut st = state();
    let (v, out) = run_with(&ctx, CLIENT, &big, &mut st, 1);
    assert_eq!(v, Verdict::Reply { port: CLIENT });
    assert_eq!(st.keys[KeyCounter::TooBigSent], 1);
    assert!(out.len() <= 14 + 576, "an ICMP error fits 576 bytes: {}", out.len());
    assert_eq!((&out[0..6], &out[6..12]), (&CLIENT_MAC[..], &CLIENT_PORT_MAC[..]));
    let p = SlicedPacket::from_ethernet(&out).expect("parses");
    let Some(NetSlice::Ipv4(ip)) = &p.net else { panic!("not IPv4") };
    let h = ip.header();
    assert_eq!((h.source(), h.destination(), h.protocol().0), ([192, 0, 2, 1], CLIENT_IP, 1));
    assert_eq!(fold(ones_sum(&out[14..34])), 0xffff, "IP header checksum");
    let icmp = &out[34..];
    assert_eq!((icmp[0], icmp[1]), (3, 4), "destination unreachable, fragmentation needed");
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1480, "next-hop MTU");
    assert_eq!(fold(ones_sum(icmp)), 0xffff, "ICMP checksum");
    assert_eq!(&icmp[8..8 + 28], &big[14..14 + 28], "the original header and 8 bytes are quoted");
}

#[test]
fn ipv4_without_df_is_dropped_and_ipv6_gets_packet_too_big() {
    let ctx = context();
    let big = to_b2(&ctx, 1500 - 40, false);
    assert_eq!(run(&ctx, CLIENT, &big).0, Verdict::Drop(DropReason::EncapTooBig));
    let b2 = node_named(&ctx, "b2");
    let c6: [u8; 16] = "2001:db8:c::5".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let sport = (1024..u16::MAX)
        .find(|&s| run(&ctx, CLIENT, &tcp6(c6, s, vip6(), 3260, b"x")).0 == Verdict::Node { node: b2, port: NODES })
        .unwrap();
    let f = tcp6(c6, sport, vip6(), 3260, &[7; 1440]);
    let (v, out) = run(&ctx, CLIENT, &f);
    assert_eq!(v, Verdict::Reply { port: CLIENT });
    assert!(out.len() <= 14 + 1280);
    let p = SlicedPacket::from_ethernet(&out).expect("parses");
    let Some(NetSlice::Ipv6(ip)) = &p.net else { panic!("not IPv6") };
    let h = ip.header();
    assert_eq!((h.source_addr().octets(), h.destination_addr().octets()), (vip_or_own6(), c6));
    let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else { panic!("not ICMPv6") };
    let body = icmp.slice();
    assert_eq!((body[0], body[1]), (2, 0), "packet too big");
    assert_eq!(u32::from_be_bytes(body[4..8].try_into().unwrap()), 1480);
    let pseudo = ones_sum(&out[22..38]) + ones_sum(&out[38..54]) + 58 + body.len() as u32;
    assert_eq!(fold(pseudo + ones_sum(body)), 0xffff, "ICMPv6 checksum");
    assert_eq!(&body[8..48], &f[14..54], "the original IPv6 header is quoted");
}

/// The example's client port has 2001:db8::1: the answer comes from it.
fn vip_or_own6() -> [u8; 16] {
    "2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets()
}

#[test]
fn answers_are_rate_limited_per_worker_and_the_rest_dropped_and_counted() {
    let ctx = context();
    let big = to_b2(&ctx, 1500 - 40, true);
    let mut st = state();
    st.too_big = TooBigBudget::new(2, 1_000_000);
    let verdicts: Vec<Verdict> = (0..5).map(|_| run_with(&ctx, CLIENT, &big, &mut st, 10).0).collect();
    assert_eq!(verdicts.iter().filter(|v| matches!(v, Verdict::Reply { .. })).count(), 2, "{verdicts:?}");
    assert_eq!(st.keys[KeyCounter::TooBigSuppressed], 3);
    // Half a second later, one more (2 a second).
    assert!(matches!(run_with(&ctx, CLIENT, &big, &mut st, 10 + 500_000).0, Verdict::Reply { .. }));
}

#[test]
fn mss_clamping_lowers_what_an_ipip_node_announces_and_leaves_mac_nodes_alone() {
    let mut cfg = example_config();
    cfg.dataplane.mss_clamp = true;
    let ctx = Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1);
    // A node's SYN-ACK back to the client, announcing MSS 8960, from next hop `mac`.
    let syn_ack = |mac: [u8; 6]| {
        let mut v = Vec::new();
        etherparse::PacketBuilder::ethernet2(mac, NODE_PORT_MAC)
            .ipv4(VIP4, CLIENT_IP, 64)
            .tcp(2049, 40000, 1, 65535)
            .syn()
            .ack(2)
            .options(&[etherparse::TcpOptionElement::MaximumSegmentSize(8960), etherparse::TcpOptionElement::Noop])
            .unwrap()
            .write(&mut v, &[])
            .unwrap();
        v
    };
    let mut st = state();
    // b2 is reached by IP-in-IP through the router at its `mac`; a1 is a MAC-mode node.
    for (name, want) in [("b2", 1440), ("a1", 8960)] {
        let mac = node_mac(&ctx, node_named(&ctx, name));
        let (v, out) = run_with(&ctx, NODES, &syn_ack(mac), &mut st, 1);
        assert_eq!(v, Verdict::Client { port: CLIENT });
        let (ip, tcp) = (&out[14..34], &out[34..]);
        assert_eq!(u16::from_be_bytes([tcp[22], tcp[23]]), want, "{name}");
        let pseudo = ones_sum(&ip[12..20]) + 6 + tcp.len() as u32;
        assert_eq!(fold(pseudo + ones_sum(tcp)), 0xffff, "{name}: TCP checksum");
    }
    assert_eq!(st.keys[KeyCounter::MssClamped], 1);
    // Off by default.
    let plain = context();
    let (_, out) = run(&plain, NODES, &syn_ack(node_mac(&plain, node_named(&plain, "b2"))));
    assert_eq!(u16::from_be_bytes([out[34 + 22], out[34 + 23]]), 8960);
}
