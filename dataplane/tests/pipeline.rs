//! The per-packet pipeline on crafted frames, checked with an independent parser.

mod support;

use std::collections::{HashMap, HashSet};

use etherparse::PacketBuilder;
use proptest::prelude::*;
use sluice_dataplane::pipeline::{Context, DropReason, Verdict};
use support::pipe::*;
use support::*;

#[test]
fn tcp_to_vip_goes_to_one_node_per_flow_with_macs_rewritten() {
    let ctx = context();
    let mut per_node: HashMap<u16, usize> = HashMap::new();
    for sport in 1024..3024u16 {
        let mut first = None;
        for payload in [&b""[..], b"hello", b"a longer payload of some bytes"] {
            let f = tcp4([192, 0, 2, 100], sport, VIP4, 2049, payload);
            let (v, out) = run(&ctx, CLIENT, &f);
            let Verdict::Node { node, port } = v else { panic!("{v:?}") };
            assert_eq!(port, NODES);
            assert_eq!(*first.get_or_insert(node), node, "flow {sport} split across nodes");
            let seen = check(&out).unwrap();
            assert_eq!(seen.src_mac, NODE_PORT_MAC);
            assert_eq!(seen.dst_mac, node_mac(&ctx, node));
            assert_eq!(seen.payload, payload);
            if seen.outer.is_none() {
                assert_eq!(out[14..], f[14..], "MAC mode must not touch L3");
            }
        }
        *per_node.entry(first.unwrap()).or_default() += 1;
    }
    assert_eq!(per_node.len(), 4, "every node takes some flows: {per_node:?}");
}

#[test]
fn ipip_node_gets_an_outer_header() {
    let ctx = context();
    let b2 = node_named(&ctx, "b2");
    let (frame, out) = (1024..u16::MAX)
        .map(|s| tcp4([192, 0, 2, 7], s, VIP4, 2049, b"data"))
        .map(|f| {
            let (v, out) = run(&ctx, CLIENT, &f);
            (f, v, out)
        })
        .find(|(_, v, _)| *v == Verdict::Node { node: b2, port: NODES })
        .map(|(f, _, o)| (f, o))
        .expect("some flow maps to b2");
    let seen = check(&out).unwrap();
    assert_eq!(seen.outer, Some((v4([198, 51, 100, 1]), v4([203, 0, 113, 22]), 4)));
    assert_eq!(seen.dst, v4(VIP4));
    assert_eq!(out.len(), 14 + 20 + (frame.len() - 14));
    assert_eq!(out[34..], frame[14..], "inner packet unchanged");
    // IPv6 inside IPv4 toward the same node.
    let f6 = (1024..u16::MAX)
        .map(|s| tcp6("2001:db8:c::5".parse::<std::net::Ipv6Addr>().unwrap().octets(), s, vip6(), 3260, b"x"))
        .find(|f| run(&ctx, CLIENT, f).0 == Verdict::Node { node: b2, port: NODES })
        .unwrap();
    let seen = check(&run(&ctx, CLIENT, &f6).1).unwrap();
    assert_eq!(seen.outer.unwrap().2, 41);
    assert_eq!(seen.dst.to_string(), VIP6);
}

#[test]
fn vlan_tagged_client_frames_leave_untagged() {
    let ctx = context();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .single_vlan(etherparse::VlanId::try_new(100).unwrap())
        .ipv4([192, 0, 2, 9], VIP4, 64)
        .udp(5000, 2049)
        .write(&mut f, b"nfs")
        .unwrap();
    let (v, out) = run(&ctx, CLIENT, &f);
    assert!(matches!(v, Verdict::Node { .. }), "{v:?}");
    let seen = check(&out).unwrap();
    assert!(!seen.vlan);
    assert_eq!(seen.payload, b"nfs");
}

/// Builds the fragments of one UDP datagram by hand (etherparse does not fragment).
fn udp_fragments(src: [u8; 4], payload_len: usize) -> Vec<Vec<u8>> {
    let whole = udp4(src, 40000, VIP4, 2049, &vec![7u8; payload_len]);
    let l4 = &whole[34..];
    let mut out = Vec::new();
    for (i, chunk) in l4.chunks(512).enumerate() {
        let more = (i + 1) * 512 < l4.len();
        let mut ip = [0u8; 20];
        let fo = ((i * 512 / 8) as u16) | if more { 0x2000 } else { 0 };
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&((20 + chunk.len()) as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
        ip[6..8].copy_from_slice(&fo.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&VIP4);
        let c = !{
            let mut s = ones_sum(&ip);
            while s > 0xffff {
                s = (s & 0xffff) + (s >> 16);
            }
            s as u16
        };
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let mut f = whole[..14].to_vec();
        f.extend_from_slice(&ip);
        f.extend_from_slice(chunk);
        out.push(f);
    }
    out
}

#[test]
fn all_fragments_of_a_datagram_go_to_the_same_node() {
    let ctx = context();
    let mut nodes_used = HashSet::new();
    for host in 1..60u8 {
        let frags = udp_fragments([192, 0, 2, host], 3000);
        assert!(frags.len() >= 5);
        let verdicts: HashSet<Verdict> = frags.iter().map(|f| run(&ctx, CLIENT, f).0).collect();
        assert_eq!(verdicts.len(), 1, "fragments split: {verdicts:?}");
        let v = *verdicts.iter().next().unwrap();
        let Verdict::Node { node, .. } = v else { panic!("{v:?}") };
        nodes_used.insert(node);
    }
    assert!(nodes_used.len() > 1);
}

#[test]
fn icmp_error_about_a_vip_flow_goes_to_that_flows_node() {
    let ctx = context();
    for sport in 2000..2100u16 {
        let client = [192, 0, 2, 55];
        let (flow_verdict, _) = run(&ctx, CLIENT, &tcp4(client, sport, VIP4, 2049, b"x"));
        // The node's reply (VIP → client) that a router refused, quoted in "fragmentation needed".
        let reply = tcp4(VIP4, 2049, client, sport, b"");
        let quoted = &reply[14..14 + 28];
        let mut f = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
            .ipv4([192, 0, 2, 254], VIP4, 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(
                etherparse::icmpv4::DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1400 },
            ))
            .write(&mut f, quoted)
            .unwrap();
        let (v, out) = run(&ctx, CLIENT, &f);
        assert_eq!(v, flow_verdict, "flow {sport}");
        check(&out).unwrap();
    }
}

#[test]
fn arp_for_vip_and_own_address_is_answered() {
    let ctx = context();
    let arp = |target: [u8; 4]| arp_request(target, [192, 0, 2, 100]);
    for (port, target, want) in [
        (CLIENT, VIP4, true),
        (CLIENT, [192, 0, 2, 1], true),
        (NODES, [198, 51, 100, 1], true),
        (NODES, VIP4, false),
        (CLIENT, [192, 0, 2, 99], false),
    ] {
        let (v, out) = run(&ctx, port, &arp(target));
        if !want {
            assert_eq!(v, Verdict::Drop(DropReason::ArpIgnored));
            continue;
        }
        assert_eq!(v, Verdict::Reply { port });
        let mac = if port == CLIENT { CLIENT_PORT_MAC } else { NODE_PORT_MAC };
        assert_eq!(out[0..6], CLIENT_MAC);
        assert_eq!(out[6..12], mac);
        assert_eq!(out[20..22], [0, 2], "op = reply");
        assert_eq!(out[22..28], mac, "sender hw = ours");
        assert_eq!(out[28..32], target, "sender ip = the asked address");
        assert_eq!(out[38..42], [192, 0, 2, 100]);
    }
}

#[test]
fn echo_to_vip_is_answered_v4_and_v6() {
    let ctx = context();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv4([192, 0, 2, 8], VIP4, 5)
        .icmpv4_echo_request(7, 1)
        .write(&mut f, b"ping!")
        .unwrap();
    let (v, out) = run(&ctx, CLIENT, &f);
    assert_eq!(v, Verdict::Reply { port: CLIENT });
    let seen = check(&out).unwrap();
    assert_eq!((seen.src, seen.dst), (v4(VIP4), v4([192, 0, 2, 8])));
    assert_eq!(out[14 + 20], 0, "echo reply");
    assert_eq!(out[0..6], CLIENT_MAC);

    let c6 = "2001:db8:c::8".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv6(c6, vip6(), 64)
        .icmpv6_echo_request(7, 1)
        .write(&mut f, b"ping6")
        .unwrap();
    let (v, out) = run(&ctx, CLIENT, &f);
    assert_eq!(v, Verdict::Reply { port: CLIENT });
    let seen = check(&out).unwrap();
    assert_eq!(seen.src.to_string(), VIP6);
    assert_eq!(out[54], 129);
}

#[test]
fn neighbour_solicitation_for_vip6_is_answered() {
    let ctx = context();
    let c6 = "2001:db8:c::8".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let target = vip6();
    let mut sn = [0xffu8, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0];
    sn[13..16].copy_from_slice(&target[13..16]);
    let mut body = vec![0u8; 4];
    body.extend_from_slice(&target);
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&CLIENT_MAC);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, [0x33, 0x33, 0xff, 0, 0, 1])
        .ipv6(c6, sn, 255)
        .icmpv6(etherparse::Icmpv6Type::Unknown { type_u8: 135, code_u8: 0, bytes5to8: [0; 4] })
        .write(&mut f, &body[4..])
        .unwrap();
    let (v, out) = run(&ctx, CLIENT, &f);
    assert_eq!(v, Verdict::Reply { port: CLIENT });
    let seen = check(&out).unwrap();
    assert_eq!((seen.src.to_string(), seen.dst), (VIP6.to_string(), std::net::IpAddr::from(c6)));
    assert_eq!(out[54], 136);
    assert_eq!(out[62..78], target);
    assert_eq!(out[80..86], CLIENT_PORT_MAC);
    // Hop limit other than 255 is refused.
    f[21] = 64;
    assert_eq!(run(&ctx, CLIENT, &f).0, Verdict::Drop(DropReason::NdIgnored));
}

#[test]
fn return_traffic_goes_to_the_client_gateway() {
    let ctx = context();
    let mut f = tcp4(VIP4, 2049, [192, 0, 2, 100], 40000, b"reply");
    f[0..6].copy_from_slice(&NODE_PORT_MAC);
    let (v, out) = run(&ctx, NODES, &f);
    assert_eq!(v, Verdict::Client { port: CLIENT });
    let seen = check(&out).unwrap();
    assert_eq!((seen.dst_mac, seen.src_mac), (GATEWAY_MAC, CLIENT_PORT_MAC));
    assert_eq!(out[14..], f[14..]);
    // The same, tunnelled back by a remote node, is decapsulated.
    let mut t = Vec::new();
    PacketBuilder::ethernet2([2, 0, 0, 0, 0x0b, 2], NODE_PORT_MAC)
        .ipv4([203, 0, 113, 22], [198, 51, 100, 1], 64)
        .write(&mut t, etherparse::IpNumber(4), &f[14..])
        .unwrap();
    let (v, out) = run(&ctx, NODES, &t);
    assert_eq!(v, Verdict::Client { port: CLIENT });
    assert_eq!(out[14..], f[14..]);
    // Not from a VIP: dropped.
    let g = tcp4([198, 51, 100, 11], 22, [192, 0, 2, 100], 40000, b"");
    assert_eq!(run(&ctx, NODES, &g).0, Verdict::Drop(DropReason::UnknownSource));
}

#[test]
fn everything_else_is_dropped_by_reason() {
    let ctx = context();
    let cases: Vec<(Vec<u8>, DropReason)> = vec![
        (tcp4([192, 0, 2, 1], 1, [10, 9, 9, 9], 2049, b""), DropReason::NotForVip),
        (tcp4([192, 0, 2, 1], 1, VIP4, 22, b""), DropReason::VipUnserved),
        (tcp4([192, 0, 2, 1], 1, [192, 0, 2, 1], 22, b""), DropReason::ToAppliance),
        (
            {
                let mut f = tcp4([192, 0, 2, 1], 1, VIP4, 2049, b"");
                f[12..14].copy_from_slice(&[0x88, 0xcc]);
                f
            },
            DropReason::UnknownEthertype,
        ),
        (vec![0u8; 10], DropReason::MalformedL2),
        (vec![], DropReason::MalformedL2),
    ];
    for (f, want) in cases {
        assert_eq!(run(&ctx, CLIENT, &f).0, Verdict::Drop(want));
    }
}

#[test]
fn every_truncation_is_dropped() {
    let ctx = context();
    let frames = [
        tcp4([192, 0, 2, 1], 999, VIP4, 2049, b"payload"),
        tcp6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], 999, vip6(), 2049, b"payload"),
        udp4([192, 0, 2, 1], 999, VIP4, 2049, b"payload"),
    ];
    for f in frames {
        for len in 0..f.len() {
            let (v, _) = run(&ctx, CLIENT, &f[..len]);
            assert!(matches!(v, Verdict::Drop(_)), "len {len}: {v:?}");
        }
    }
}

#[test]
fn ipv6_extension_header_loop_is_dropped() {
    let ctx = context();
    let c6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];
    let mut ext = Vec::new();
    for _ in 0..12 {
        ext.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
    }
    let mut f = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv6(c6, vip6(), 64)
        .write(&mut f, etherparse::IpNumber(60), &ext)
        .unwrap();
    assert_eq!(run(&ctx, CLIENT, &f).0, Verdict::Drop(DropReason::Ipv6ExtLimit));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600), port in 0u16..2) {
        let ctx = context_cached();
        let _ = run(ctx, port, &bytes);
    }

    #[test]
    fn mutated_valid_frames_never_panic(pos in 0usize..80, val in any::<u8>(), cut in 0usize..90, which in 0usize..3) {
        let ctx = context_cached();
        let mut f = match which {
            0 => tcp4([192, 0, 2, 1], 999, VIP4, 2049, b"payload bytes"),
            1 => tcp6([0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9], 999, vip6(), 2049, b"payload"),
            _ => udp4([192, 0, 2, 1], 999, VIP4, 2049, b"payload"),
        };
        let p = pos % f.len();
        f[p] = val;
        f.truncate(f.len() - cut.min(f.len()));
        for port in 0..2 {
            let (v, out) = run(ctx, port, &f);
            if let Verdict::Node { .. } | Verdict::Client { .. } = v {
                prop_assert!(out.len() >= 14);
            }
        }
    }
}

fn context_cached() -> &'static Context {
    static CTX: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    CTX.get_or_init(context)
}
