//! The reset path's judgement in the pure pipeline, on crafted frames: a node RST starts a fan-out only
//! for a connection that moved and from the node its flow reaches now; refusals and identical RSTs are
//! kept from the client and nothing else; strangers on the node side are dropped and spend nothing.

mod support;

use std::collections::HashSet;

use etherparse::PacketBuilder;
use sluice_control::config::ResetConfig;
use sluice_control::Topology;
use sluice_dataplane::pipeline::{Context, DropReason, FrameBuf, Verdict, WorkerState};
use sluice_dataplane::reset::probe_to;
use sluice_dataplane::reset::{write_probe, Conn, Fanout, Origin, ResetCounter};
use sluice_dataplane::wire::parse::Addr;
use support::pipe::*;
use support::*;

/// A TCP segment from the VIP back to the client as node `n` sends it: plain from its MAC, or tunnelled
/// from its address when it is reached by IP-in-IP.
fn from_node_n(ctx: &Context, n: u16, client: [u8; 4], cport: u16, seq: u32, rst: bool) -> Vec<u8> {
    let node = &ctx.nodes[n as usize];
    if node.forward == sluice_control::config::ForwardMode::Mac {
        return from_node(node.mac, client, cport, seq, 0, rst);
    }
    let mut inner = Vec::new();
    let b = PacketBuilder::ipv4(VIP4, client, 64).tcp(2049, cport, seq, 501);
    let b = if rst { b.rst() } else { b.ack(0) };
    b.write(&mut inner, &[]).unwrap();
    let mut v = Vec::new();
    PacketBuilder::ethernet2(node.mac, NODE_PORT_MAC)
        .ipv4(node.ip.v4_bytes(), node.tunnel_src.v4_bytes(), 64)
        .write(&mut v, etherparse::IpNumber(4), &inner)
        .unwrap();
    v
}

/// Where the pipeline sends the client's packets from `cport` to the VIP under `ctx`.
fn pick(ctx: &Context, client: [u8; 4], cport: u16) -> u16 {
    match run(ctx, CLIENT, &tcp4(client, cport, VIP4, 2049, b"")).0 {
        Verdict::Node { node, .. } => node,
        v => panic!("{v:?}"),
    }
}

/// The example cluster before and after `name` starts draining (the latter with the former as its prior).
fn drain_change(name: &str) -> (Context, Context) {
    let cfg = example_config();
    let before = context();
    let after_cfg = draining(&cfg, name);
    let after = Context::new(&after_cfg, Topology::build(&after_cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 2);
    let after = with_prior(&before, after, 1);
    (before, after)
}

/// Client ports `range` whose connection moved between `before` and `after`, with their new node.
fn moved_ports(before: &Context, after: &Context, client: [u8; 4], range: std::ops::Range<u16>) -> Vec<(u16, u16)> {
    range
        .map(|p| (p, pick(before, client, p), pick(after, client, p)))
        .filter(|m| m.1 != m.2)
        .map(|m| (m.0, m.2))
        .collect()
}

#[test]
fn a_node_rst_for_a_moved_connection_is_forwarded_and_fans_out_to_every_other_node() {
    let (before, ctx) = drain_change("a2");
    let mut r = resets();
    let a2 = node_named(&ctx, "a2");
    let client = [192, 0, 2, 77];
    let (cport, owner) = moved_ports(&before, &ctx, client, 40000..41000)[0];
    assert_eq!(pick(&before, client, cport), a2);
    let rst = from_node(node_mac(&ctx, owner), client, cport, 5000, 0, true);
    let (v, out) = run_with(&ctx, NODES, &rst, &mut r, 10);
    assert_eq!(v, Verdict::Client { port: CLIENT });
    assert_eq!(check(&out).unwrap().dst_mac, GATEWAY_MAC);
    let mut pending = Vec::new();
    r.resets.take_pending(&mut pending);
    assert_eq!(pending.len(), 1);
    let Fanout { conn, owner: owner_ip, origin } = pending[0];
    assert_eq!((owner_ip, origin), (Some(ctx.nodes[owner as usize].ip), Origin::NodeRst));
    assert_eq!((conn.client, conn.vip, conn.cport, conn.vport), (Addr::v4(client), Addr::v4(VIP4), cport, 2049));
    // The probe toward each node is a SYN|ACK from the client to the VIP acknowledging the connection's
    // cookie, addressed like client traffic.
    let cookie = ctx.cookie.of(&conn);
    for n in 0..ctx.nodes.len() as u16 {
        let mut buf = vec![0u8; 256];
        let len = write_probe(&mut buf[HEADROOM..], &conn, cookie).unwrap();
        let mut f = FrameBuf::new(&mut buf, HEADROOM, len);
        assert_eq!(probe_to(&ctx, &mut f, n, &conn), Verdict::Node { node: n, port: NODES });
        let seen = check(f.data()).unwrap();
        assert_eq!(seen.dst_mac, node_mac(&ctx, n));
        assert_eq!((seen.src, seen.dst, seen.ports), (v4(client), v4(VIP4), Some((cport, 2049))));
        let tcp = &f.data()[f.len() - 20..];
        assert_eq!(tcp[13], 0x12, "SYN|ACK");
        assert_eq!(tcp[8..12], cookie.to_be_bytes());
    }
    // A probed node's refusal (a RST at the cookie) stays away from the client.
    let b1 = node_named(&ctx, "b1");
    let refusal = from_node(node_mac(&ctx, b1), client, cport, cookie, 0, true);
    assert_eq!(run_with(&ctx, NODES, &refusal, &mut r, 20).0, Verdict::Drop(DropReason::ResetSwallowed));
    // The owner's RST again (a retransmission) is collapsed; its RST at a new sequence number goes out.
    assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 21).0, Verdict::Drop(DropReason::ResetSwallowed));
    let exact = from_node(node_mac(&ctx, owner), client, cport, 6000, 0, true);
    assert_eq!(run_with(&ctx, NODES, &exact, &mut r, 22).0, Verdict::Client { port: CLIENT });
    // The holder's challenge ACK becomes a RST at exactly its rcv_nxt, sent back to it.
    let challenge = from_node(node_mac(&ctx, a2), client, cport, 777, 0x1234_5678, false);
    let (v, out) = run_with(&ctx, NODES, &challenge, &mut r, 30);
    assert_eq!(v, Verdict::Node { node: a2, port: NODES });
    let seen = check(&out).unwrap();
    assert_eq!((seen.dst_mac, seen.src_mac), (node_mac(&ctx, a2), NODE_PORT_MAC));
    assert_eq!((seen.src, seen.dst, seen.ports), (v4(client), v4(VIP4), Some((cport, 2049))));
    let tcp = &out[34..54];
    assert_eq!(tcp[13], 0x04, "RST");
    assert_eq!(u32::from_be_bytes(tcp[4..8].try_into().unwrap()), 0x1234_5678, "seq = the node's rcv_nxt");
    assert_eq!(r.resets.counters[ResetCounter::Completions], 1);
    // The owner's own segments for the connection pass untouched.
    let owners = from_node(node_mac(&ctx, owner), client, cport, 1, 2, false);
    assert_eq!(run_with(&ctx, NODES, &owners, &mut r, 35).0, Verdict::Client { port: CLIENT });
    // Other connections' return traffic is untouched.
    let other = from_node(node_mac(&ctx, a2), client, cport + 1, 1, 2, false);
    assert_eq!(run_with(&ctx, NODES, &other, &mut r, 40).0, Verdict::Client { port: CLIENT });
}

#[test]
fn rsts_for_connections_that_exist_nowhere_are_forwarded_and_fan_out_nowhere() {
    // No change at all: a spoofed bare ACK draws its node's RST, which reaches the client alone.
    let ctx = context();
    let mut r = resets();
    let client = [192, 0, 2, 66];
    for cport in 20000..20040u16 {
        let owner = pick(&ctx, client, cport);
        let rst = from_node_n(&ctx, owner, client, cport, 42, true);
        assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    }
    // After a change, connections that did not move start nothing either.
    let (before, after) = drain_change("b1");
    let moved: HashSet<u16> = moved_ports(&before, &after, client, 20000..20200).into_iter().map(|m| m.0).collect();
    for cport in (20000..20200u16).filter(|p| !moved.contains(p)) {
        let owner = pick(&after, client, cport);
        let rst = from_node_n(&after, owner, client, cport, 42, true);
        assert_eq!(run_with(&after, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    }
    let c = |k: ResetCounter| r.resets.counters[k as usize];
    assert_eq!(c(ResetCounter::Fanouts), 0);
    assert_eq!(c(ResetCounter::NotMoved), 40 + 200 - moved.len() as u64);
    assert_eq!(c(ResetCounter::RstsForwarded), c(ResetCounter::NodeRsts));
    // Once the change is older than the moved window, a moved connection's RST starts nothing.
    let (cport, owner) = moved_ports(&before, &after, client, 20000..20200)[0];
    let late = 1 + ResetConfig::default().moved_window_ms * 1000;
    let rst = from_node_n(&after, owner, client, cport, 42, true);
    assert_eq!(run_with(&after, NODES, &rst, &mut r, late).0, Verdict::Client { port: CLIENT });
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
}

#[test]
fn a_rst_from_a_node_the_flow_does_not_reach_fans_out_nowhere() {
    // The fragment attack: a bare ACK sent as fragments is hashed on its addresses alone and reaches a
    // node that does not hold the connection. That node's RST must not clear the real one, even for a
    // connection that moved.
    let (before, ctx) = drain_change("a2");
    let client = [192, 0, 2, 77];
    let mut r = resets();
    let mut tried = 0;
    for (cport, owner) in moved_ports(&before, &ctx, client, 30000..30400) {
        let mut frag = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
            .ipv4(client, VIP4, 64)
            .tcp(cport, 2049, 1, 100)
            .ack(1)
            .write(&mut frag, &[])
            .unwrap();
        frag[14 + 6] = 0x20; // more fragments, offset 0
        let ip_csum =
            etherparse::Ipv4HeaderSlice::from_slice(&frag[14..34]).unwrap().to_header().calc_header_checksum();
        frag[24..26].copy_from_slice(&ip_csum.to_be_bytes());
        let Verdict::Node { node: reached, .. } = run(&ctx, CLIENT, &frag).0 else { panic!() };
        if reached == owner {
            continue;
        }
        tried += 1;
        let rst = from_node_n(&ctx, reached, client, cport, 1, true);
        assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    }
    assert!(tried > 10, "some fragments reach another node than their flow's: {tried}");
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
    assert_eq!(r.resets.counters[ResetCounter::NotOwner], tried);
}

#[test]
fn an_ipv6_atomic_fragment_that_reaches_another_node_fans_out_nowhere() {
    // The same attack over IPv6: a bare ACK with a fragment header (offset 0, no more fragments) is hashed
    // on its addresses alone.
    let (_, ctx) = drain_change("a2");
    let client6 = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x77];
    let mut r = resets();
    let mut tried = 0;
    for cport in 30000..30400u16 {
        let plain = tcp6(client6, cport, vip6(), 2049, b"");
        let Verdict::Node { node: owner, .. } = run(&ctx, CLIENT, &plain).0 else { panic!() };
        let mut atomic = plain[..14 + 40].to_vec();
        atomic[14 + 6] = 44;
        let len = u16::from_be_bytes([atomic[18], atomic[19]]) + 8;
        atomic[18..20].copy_from_slice(&len.to_be_bytes());
        atomic.extend_from_slice(&[6, 0, 0, 0, 0, 0, 0x12, 0x34]);
        atomic.extend_from_slice(&plain[14 + 40..]);
        let Verdict::Node { node: reached, .. } = run(&ctx, CLIENT, &atomic).0 else { panic!() };
        let node = &ctx.nodes[reached as usize];
        if reached == owner || node.forward != sluice_control::config::ForwardMode::Mac {
            continue;
        }
        tried += 1;
        let mut rst = Vec::new();
        PacketBuilder::ethernet2(node.mac, NODE_PORT_MAC)
            .ipv6(vip6(), client6, 64)
            .tcp(2049, cport, 1, 501)
            .rst()
            .write(&mut rst, &[])
            .unwrap();
        assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    }
    assert!(tried > 10, "some atomic fragments reach another node than their flow's: {tried}");
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
    assert_eq!(r.resets.counters[ResetCounter::NotOwner], tried);
}

#[test]
fn node_side_senders_are_checked() {
    let (before, ctx) = drain_change("a2");
    let client = [192, 0, 2, 77];
    let (cport, _) = moved_ports(&before, &ctx, client, 40000..41000)[0];
    let mut r = resets();
    // A RST from a MAC that is no configured node.
    let stranger = [2, 0, 0, 0, 0x66, 0x66];
    let rst = from_node(stranger, client, cport, 5, 0, true);
    assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 10).0, Verdict::Drop(DropReason::UnknownSender));
    // IP-in-IP from an outer source that is no configured node.
    let mut inner = Vec::new();
    PacketBuilder::ipv4(VIP4, client, 64).tcp(2049, cport, 5, 0).rst().write(&mut inner, &[]).unwrap();
    let mut outer = Vec::new();
    PacketBuilder::ethernet2(stranger, NODE_PORT_MAC)
        .ipv4([198, 51, 100, 250], [198, 51, 100, 1], 64)
        .write(&mut outer, etherparse::IpNumber(4), &inner)
        .unwrap();
    assert_eq!(run_with(&ctx, NODES, &outer, &mut r, 10).0, Verdict::Drop(DropReason::UnknownSender));
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
    assert_eq!(r.resets.counters[ResetCounter::NodeRsts], 0);
}

#[test]
fn client_rsts_never_fan_out() {
    let ctx = context();
    let mut r = resets();
    for p in 0..100u16 {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(CLIENT_MAC, CLIENT_PORT_MAC)
            .ipv4([192, 0, 2, 9], VIP4, 64)
            .tcp(p + 1000, 2049, 1, 0)
            .rst()
            .write(&mut v, &[])
            .unwrap();
        assert!(matches!(run_with(&ctx, CLIENT, &v, &mut r, 5).0, Verdict::Node { .. }));
    }
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
    assert_eq!(r.resets.counters[ResetCounter::NodeRsts], 0);
}

#[test]
fn a_flood_of_node_rsts_is_forwarded_but_fanouts_are_rate_limited() {
    let (before, ctx) = drain_change("a2");
    let mut r = WorkerState::new(&ResetConfig { rate_per_sec: 100, burst: 10, ..ResetConfig::default() }, 1_000_000);
    let moved = moved_ports(&before, &ctx, [192, 0, 2, 1], 0..5000);
    let mut started = 0;
    for (i, (p, owner)) in moved.iter().enumerate() {
        let rst = from_node_n(&ctx, *owner, [192, 0, 2, 1], *p, 1, true);
        let (v, _) = run_with(&ctx, NODES, &rst, &mut r, 100 + i as u64);
        assert_eq!(v, Verdict::Client { port: CLIENT });
        let mut pending = Vec::new();
        r.resets.take_pending(&mut pending);
        started += pending.len();
    }
    // 10 in the bucket, then one per 10 ms of the few ms that passed.
    assert!(moved.len() > 500, "{}", moved.len());
    assert_eq!(started, 10);
    assert_eq!(r.resets.counters[ResetCounter::SuppressedRate], moved.len() as u64 - 10);
    assert!(r.resets.counters[ResetCounter::Entries] <= ResetConfig::default().table_entries as u64);
    let _ = Conn::default();
}

#[test]
fn the_owners_segments_pass_after_a_republication_of_the_same_tables() {
    // A fan-out is live; the control lcore republishes (a reload, a health change elsewhere) with the same
    // tables. The owner's segments (an NFS client reconnecting from the same port, say) still pass.
    let (before, ctx) = drain_change("a2");
    let client = [192, 0, 2, 77];
    let mac_node = |m: &(u16, u16)| ctx.nodes[m.1 as usize].forward == sluice_control::config::ForwardMode::Mac;
    let (cport, owner) = moved_ports(&before, &ctx, client, 40000..41000).into_iter().find(mac_node).unwrap();
    let mut r = resets();
    let rst = from_node_n(&ctx, owner, client, cport, 5000, true);
    assert_eq!(run_with(&ctx, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 1);
    let cfg = draining(&example_config(), "a2");
    let next = with_prior(&before, Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 3), 1);
    let synack = from_node(node_mac(&next, owner), client, cport, 1, 2, false);
    assert_eq!(run_with(&next, NODES, &synack, &mut r, 20).0, Verdict::Client { port: CLIENT });
}

#[test]
fn strangers_cannot_spend_a_fanouts_completions() {
    let (before, ctx) = drain_change("a2");
    let client = [192, 0, 2, 77];
    let mac_node = |m: &(u16, u16)| ctx.nodes[m.1 as usize].forward == sluice_control::config::ForwardMode::Mac;
    let (cport, owner) = moved_ports(&before, &ctx, client, 40000..41000).into_iter().find(mac_node).unwrap();
    let mut r = resets();
    run_with(&ctx, NODES, &from_node_n(&ctx, owner, client, cport, 5000, true), &mut r, 10);
    let stranger = [2, 0, 0, 0, 0x66, 0x66];
    for _ in 0..100 {
        run_with(&ctx, NODES, &from_node(stranger, client, cport, 1, 2, false), &mut r, 20);
    }
    let a2 = node_named(&ctx, "a2");
    let challenge = from_node(node_mac(&ctx, a2), client, cport, 777, 0x1234_5678, false);
    assert_eq!(run_with(&ctx, NODES, &challenge, &mut r, 30).0, Verdict::Node { node: a2, port: NODES });
    assert_eq!(r.resets.counters[ResetCounter::Completions], 1);
}

#[test]
fn a_not_owner_rst_is_judged_again_when_the_change_arrives_here_after_it() {
    // An appliance of a fleet that applies a drain a little after its peers: the new owner's RST reaches
    // it while its tables still send the connection to the old node.
    let (before, after) = drain_change("a2");
    let client = [192, 0, 2, 78];
    let moved = moved_ports(&before, &after, client, 40000..41000);
    let mac_mode = |n: u16| after.nodes[n as usize].forward == sluice_control::config::ForwardMode::Mac;
    let &(cport, owner) = moved.iter().find(|m| mac_mode(m.1)).unwrap();
    let mut r = resets();
    // Only an appliance with peers defers: alone, a RST that came before the change is no evidence of it.
    r.resets.defer_not_owners(true);
    let rst = from_node(node_mac(&after, owner), client, cport, 7000, 0, true);
    assert_eq!(run_with(&before, NODES, &rst, &mut r, 10).0, Verdict::Client { port: CLIENT });
    let c = |r: &WorkerState, k: ResetCounter| r.resets.counters[k as usize];
    assert_eq!((c(&r, ResetCounter::NotOwner), c(&r, ResetCounter::Deferred)), (1, 1));
    let mut pending = Vec::new();
    r.resets.take_pending(&mut pending);
    assert!(pending.is_empty());
    // Another snapshot first (an affinity republication, say): still not the owner, kept.
    r.resets.rejudge(&before, 15);
    r.resets.take_pending(&mut pending);
    assert!(pending.is_empty());
    // The change arrives: the RST was the new owner's for a moved connection.
    r.resets.rejudge(&after, 20);
    r.resets.take_pending(&mut pending);
    assert_eq!(pending.len(), 1);
    assert_eq!((pending[0].owner, pending[0].origin), (Some(after.nodes[owner as usize].ip), Origin::NodeRst));
    assert_eq!(c(&r, ResetCounter::Rejudged), 1);
    // Judged once: a second snapshot finds nothing left to judge.
    r.resets.rejudge(&after, 30);
    r.resets.take_pending(&mut pending);
    assert!(pending.is_empty());
    // A deferred RST older than a second is forgotten.
    let mut late = resets();
    late.resets.defer_not_owners(true);
    run_with(&before, NODES, &rst, &mut late, 10);
    // And an appliance without peers keeps nothing.
    let mut alone = resets();
    run_with(&before, NODES, &rst, &mut alone, 10);
    alone.resets.rejudge(&after, 20);
    alone.resets.take_pending(&mut pending);
    assert!(pending.is_empty() && alone.resets.counters[ResetCounter::Deferred] == 0);
    late.resets.rejudge(&after, 10 + 1_000_001);
    late.resets.take_pending(&mut pending);
    assert!(pending.is_empty());
}
