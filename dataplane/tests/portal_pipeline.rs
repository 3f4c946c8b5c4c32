//! The portal's part in the per-packet pipeline, on crafted frames (no EAL): segments to a portal VIP's
//! portal port become their IP packet for the portal (IPv4 and IPv6); fragments there are refused; the
//! VIP's other ports are balanced as before; a client's segments to a CVM's own portal go to that node
//! and only there (not other ports, not other protocols); the node's answers from its portal go back to
//! the client only from that node's MAC; affinity is learned from a session's data, not from a bare SYN.

mod support;

use etherparse::PacketBuilder;
use sluice_control::{Config, Topology};
use sluice_dataplane::pipeline::{Context, DropReason, Verdict};
use support::pipe::*;
use support::*;

const C4: [u8; 4] = [192, 0, 2, 7];

/// The example with both VIPs portals (their port 3260 answered by the appliance) and affinity on.
fn portal_context() -> Context {
    let t = example_toml("in.pcap", "ret.pcap")
        .replace("ports = [2049, 3260]", "ports = [2049]\nportal = \"iscsi\"\naffinity = true")
        .replacen("[[ports]]", "[affinity]\nenabled = true\n\n[[ports]]", 1)
        + "\n[portal]\n\n[[portal.targets]]\nname = \"iqn.2026-12.org.example:vol1\"\n";
    let cfg = Config::from_toml(&t).unwrap();
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

#[test]
fn segments_to_the_portal_port_become_their_ip_packet_for_the_portal() {
    let ctx = portal_context();
    let f = tcp4(C4, 40000, VIP4, 3260, b"login");
    let (v, out) = run(&ctx, CLIENT, &f);
    assert_eq!(v, Verdict::Portal);
    assert_eq!(out, f[14..], "the IP packet alone");
    let c6: [u8; 16] = "2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap().octets();
    let f6 = tcp6(c6, 40000, vip6(), 3260, b"login");
    let (v, out) = run(&ctx, CLIENT, &f6);
    assert_eq!((v, &out[..]), (Verdict::Portal, &f6[14..]));
    // The VIP's other ports are balanced; a portal VIP's UDP to 3260 is not the portal's.
    assert!(matches!(run(&ctx, CLIENT, &tcp4(C4, 40000, VIP4, 2049, b"nfs")).0, Verdict::Node { .. }));
    assert_eq!(run(&ctx, CLIENT, &udp4(C4, 40000, VIP4, 3260, b"x")).0, Verdict::Drop(DropReason::VipUnserved));
    // Without a portal the same segment is balanced like any other.
    assert!(matches!(run(&context(), CLIENT, &f).0, Verdict::Node { .. }));
}

#[test]
fn a_first_fragment_to_the_portal_is_unfit_and_later_fragments_go_the_vips_way() {
    let ctx = portal_context();
    let mut first = tcp4(C4, 40000, VIP4, 3260, &[7; 64]);
    first[14 + 6] |= 0x20; // MF
    fix_ipv4_checksum(&mut first);
    assert_eq!(run(&ctx, CLIENT, &first).0, Verdict::Drop(DropReason::PortalUnfit));
    let mut later = first.clone();
    later[14 + 6] = 0x00;
    later[14 + 7] = 0x10; // offset 128 bytes, last fragment
    fix_ipv4_checksum(&mut later);
    assert_ne!(run(&ctx, CLIENT, &later).0, Verdict::Portal);
}

fn fix_ipv4_checksum(f: &mut [u8]) {
    f[24..26].fill(0);
    let mut s = ones_sum(&f[14..34]);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
}

#[test]
fn a_cvms_own_portal_is_reached_by_address_on_the_portal_port_alone() {
    let ctx = portal_context();
    let a1 = node_named(&ctx, "a1");
    let ip = ctx.nodes[a1 as usize].ip.v4_bytes();
    let (v, out) = run(&ctx, CLIENT, &tcp4(C4, 40000, ip, 3260, b"scsi"));
    assert_eq!(v, Verdict::Node { node: a1, port: NODES });
    assert_eq!(&out[0..6], &node_mac(&ctx, a1)[..], "to a1's MAC");
    assert_eq!(&out[14 + 16..14 + 20], &ip[..], "addressed to a1 still");
    for other in [tcp4(C4, 40000, ip, 22, b"ssh"), udp4(C4, 40000, ip, 3260, b"x")] {
        assert_eq!(run(&ctx, CLIENT, &other).0, Verdict::Drop(DropReason::NotForVip));
    }
    assert_eq!(run(&context(), CLIENT, &tcp4(C4, 40000, ip, 3260, b"scsi")).0, Verdict::Drop(DropReason::NotForVip));
}

/// A segment from node address `ip`'s port `sport` to the client, as `mac` sends it.
fn from_cvm(mac: [u8; 6], ip: [u8; 4], sport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(mac, NODE_PORT_MAC)
        .ipv4(ip, C4, 64)
        .tcp(sport, 40000, 9, 501)
        .ack(1)
        .write(&mut v, b"r")
        .unwrap();
    v
}

#[test]
fn a_cvms_portal_answers_go_back_to_the_client_only_from_that_node() {
    let ctx = portal_context();
    let a1 = node_named(&ctx, "a1");
    let a2 = node_named(&ctx, "a2");
    let ip = ctx.nodes[a1 as usize].ip.v4_bytes();
    let (v, out) = run(&ctx, NODES, &from_cvm(node_mac(&ctx, a1), ip, 3260));
    assert_eq!(v, Verdict::Client { port: CLIENT });
    let gateway = ctx.ports[CLIENT as usize].gateway_mac;
    assert_eq!((&out[0..6], &out[6..12]), (&gateway[..], &CLIENT_PORT_MAC[..]), "toward the client port's gateway");
    assert_eq!(run(&ctx, NODES, &from_cvm(node_mac(&ctx, a2), ip, 3260)).0, Verdict::Drop(DropReason::UnknownSender));
    assert_eq!(run(&ctx, NODES, &from_cvm(node_mac(&ctx, a1), ip, 22)).0, Verdict::Drop(DropReason::UnknownSource));
}

#[test]
fn affinity_is_learned_from_a_sessions_data_not_from_a_bare_syn() {
    let ctx = portal_context();
    let a1 = node_named(&ctx, "a1");
    let ip = ctx.nodes[a1 as usize].ip.v4_bytes();
    let mut st = resets();
    let mut syn = Vec::new();
    PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
        .ipv4(C4, ip, 64)
        .tcp(40000, 3260, 1, 501)
        .syn()
        .write(&mut syn, &[])
        .unwrap();
    run_with(&ctx, CLIENT, &syn, &mut st, 1);
    assert!(st.learn.is_empty(), "a SYN teaches nothing");
    run_with(&ctx, CLIENT, &tcp4(C4, 40000, ip, 3260, b"scsi"), &mut st, 1);
    assert!(!st.learn.is_empty(), "data does");
}
