//! Spine and chassis roles on crafted frames: the spine picks chassis appliances and fans node RSTs out
//! to them as fan-out frames; a chassis appliance takes fan-out frames only from its spine-side port,
//! probes its own nodes, and completes resets there.

mod support;

use etherparse::PacketBuilder;
use sluice_control::config::{Config, ResetConfig};
use sluice_control::Topology;
use sluice_dataplane::pipeline::{process, Context, DropReason, FrameBuf, Verdict, WorkerState};
use sluice_dataplane::reset::{write_fanout_frame, Conn, Origin, ResetCounter, FANOUT_ETHERTYPE};
use sluice_dataplane::wire::parse::Addr;
use support::*;

const CLIENT: u16 = 0;
const DOWN: u16 = 1;
const APPLIANCE_A: [u8; 6] = [2, 0, 0, 0, 0xca, 0];
const APPLIANCE_B: [u8; 6] = [2, 0, 0, 0, 0xcb, 0];

fn config(role: &str) -> Config {
    let mut t = example_toml("in.pcap", "ret.pcap");
    match role {
        "spine" => {
            t = format!("role = \"spine\"\n{t}")
                .replace("name = \"chassis-a\"\n", "name = \"chassis-a\"\nmac = \"02:00:00:00:ca:00\"\n")
                .replace("name = \"chassis-b\"\n", "name = \"chassis-b\"\nmac = \"02:00:00:00:cb:00\"\n");
        }
        "chassis-a" => t = format!("role = \"chassis\"\nthis_chassis = \"chassis-a\"\n{t}"),
        _ => {}
    }
    Config::from_toml(&t).unwrap()
}

fn ctx(role: &str) -> Context {
    let cfg = config(role);
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

fn run(ctx: &Context, port: u16, frame: &[u8], r: &mut WorkerState) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; 128 + frame.len() + 256];
    buf[128..128 + frame.len()].copy_from_slice(frame);
    let mut f = FrameBuf::new(&mut buf, 128, frame.len());
    let v = process(ctx, port, &mut f, r, 10);
    (v, f.data().to_vec())
}

fn resets() -> WorkerState {
    WorkerState::new(&ResetConfig::default(), 1_000_000)
}

fn node_rst(src_mac: [u8; 6], cport: u16) -> Vec<u8> {
    node_rst_at(src_mac, cport, 9)
}

fn node_rst_at(src_mac: [u8; 6], cport: u16, seq: u32) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, NODE_PORT_MAC)
        .ipv4(VIP4, [192, 0, 2, 50], 64)
        .tcp(2049, cport, seq, 0)
        .rst()
        .write(&mut v, &[])
        .unwrap();
    v
}

fn conn(cport: u16) -> Conn {
    Conn { client: Addr::v4([192, 0, 2, 50]), vip: Addr::v4(VIP4), cport, vport: 2049 }
}

#[test]
fn spine_sends_client_traffic_to_the_chassis_appliance_of_the_tier1_node() {
    let spine = ctx("spine");
    let single = ctx("single");
    for sport in 1000..1400u16 {
        let f = tcp4([192, 0, 2, 50], sport, VIP4, 2049, b"x");
        let (v, out) = run(&spine, CLIENT, &f, &mut resets());
        let Verdict::Node { node, port } = v else { panic!("{v:?}") };
        assert_eq!(port, DOWN);
        // Tier 1 agrees with a single appliance's choice; the frame goes to that node's chassis appliance.
        assert_eq!(run(&single, CLIENT, &f, &mut resets()).0, Verdict::Node { node, port: DOWN });
        let chassis = &spine.topology.chassis[spine.topology.nodes[node as usize].chassis as usize].name;
        let want = if chassis == "chassis-a" { APPLIANCE_A } else { APPLIANCE_B };
        assert_eq!(out[0..6], want);
        assert_eq!(out[14..], f[14..], "L3 untouched");
    }
}

#[test]
fn chassis_appliance_picks_only_its_own_nodes() {
    let c = ctx("chassis-a");
    for sport in 1000..1400u16 {
        let (v, _) = run(&c, CLIENT, &tcp4([192, 0, 2, 50], sport, VIP4, 2049, b"x"), &mut resets());
        let Verdict::Node { node, .. } = v else { panic!("{v:?}") };
        assert_eq!(c.topology.chassis[c.topology.nodes[node as usize].chassis as usize].name, "chassis-a");
    }
}

#[test]
fn spine_fans_rsts_for_moved_connections_out_to_chassis_appliances() {
    // b1 starts draining: some of its connections move to other nodes, in either chassis.
    let before = ctx("spine");
    let after_cfg = draining(&config("spine"), "b1");
    let spine = with_prior(
        &before,
        Context::new(&after_cfg, Topology::build(&after_cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 2),
        1,
    );
    let appliance = |c: &Context, cport: u16| {
        let (v, out) = run(c, CLIENT, &tcp4([192, 0, 2, 50], cport, VIP4, 2049, b"x"), &mut resets());
        assert!(matches!(v, Verdict::Node { .. }), "{v:?}");
        <[u8; 6]>::try_from(&out[0..6]).unwrap()
    };
    let node = |c: &Context, cport: u16| match run(
        c,
        CLIENT,
        &tcp4([192, 0, 2, 50], cport, VIP4, 2049, b"x"),
        &mut resets(),
    )
    .0
    {
        Verdict::Node { node, .. } => c.topology.nodes[node as usize].name.clone(),
        v => panic!("{v:?}"),
    };
    let mut moved_ports = (1000..3000u16).filter(|p| node(&before, *p) != node(&spine, *p));
    let (moved, moved2) = (moved_ports.next().unwrap(), moved_ports.next().unwrap());
    let stayed = (1000..3000u16).find(|p| node(&before, *p) == node(&spine, *p)).unwrap();
    let mut r = resets();
    // The RST comes up through the chassis appliance of the connection's new node: fan-out.
    let (v, _) = run(&spine, DOWN, &node_rst(appliance(&spine, moved), moved), &mut r);
    assert_eq!(v, Verdict::Client { port: CLIENT });
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].conn, conn(moved));
    // A connection that did not move, or a RST through the other chassis appliance (not where the flow
    // goes), or from a MAC that is no chassis appliance: no fan-out.
    assert_eq!(
        run(&spine, DOWN, &node_rst(appliance(&spine, stayed), stayed), &mut r).0,
        Verdict::Client { port: CLIENT }
    );
    let other = if appliance(&spine, moved2) == APPLIANCE_A { APPLIANCE_B } else { APPLIANCE_A };
    assert_eq!(run(&spine, DOWN, &node_rst(other, moved2), &mut r).0, Verdict::Client { port: CLIENT });
    let stranger = [2, 0, 0, 0, 0x66, 0x66];
    assert_eq!(run(&spine, DOWN, &node_rst(stranger, moved), &mut r).0, Verdict::Drop(DropReason::UnknownSender));
    r.resets.take_pending(&mut p);
    assert!(p.is_empty());
    let c = |k: ResetCounter| r.resets.counters[k as usize];
    assert_eq!((c(ResetCounter::NotMoved), c(ResetCounter::NotOwner), c(ResetCounter::Fanouts)), (1, 1, 1));
    // Ordinary return traffic, and even segments of the connection being reset, pass the spine.
    for cport in [moved, stayed] {
        let mut v = Vec::new();
        PacketBuilder::ethernet2(APPLIANCE_B, NODE_PORT_MAC)
            .ipv4(VIP4, [192, 0, 2, 50], 64)
            .tcp(2049, cport, 1, 9)
            .syn()
            .ack(1)
            .write(&mut v, &[])
            .unwrap();
        assert_eq!(run(&spine, DOWN, &v, &mut r).0, Verdict::Client { port: CLIENT });
    }
}

#[test]
fn chassis_takes_fanout_frames_only_from_its_spine_side() {
    let mut buf = [0u8; 128];
    // From the spine: the chassis's spine-side port names it as its gateway.
    let n = write_fanout_frame(&mut buf, &conn(555), APPLIANCE_A, GATEWAY_MAC).unwrap();
    let frame = buf[..n].to_vec();
    assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), FANOUT_ETHERTYPE);
    // A chassis appliance on its spine-side (client-role) port: consumed, probes queued for its nodes.
    // (It has taken a change itself within the moved window: it is not lagging its spine.)
    let c = with_prior(&ctx("chassis-a"), ctx("chassis-a"), 1);
    let mut r = resets();
    assert_eq!(run(&c, CLIENT, &frame, &mut r).0, Verdict::Drop(DropReason::FanoutReceived));
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    // The connection's node in this chassis now is spared: not probed, its segments pass.
    let owner = match run(&c, CLIENT, &tcp4([192, 0, 2, 50], 555, VIP4, 2049, b"x"), &mut resets()).0 {
        Verdict::Node { node, .. } => node,
        v => panic!("{v:?}"),
    };
    let owner_ip = c.nodes[owner as usize].ip;
    assert_eq!((p.len(), p[0].conn, p[0].owner, p[0].origin), (1, conn(555), Some(owner_ip), Origin::Spine));
    // A chassis that has seen no change lately may lag its spine, and its pick be the stale holder: it
    // spares no node.
    let mut lagging = resets();
    assert_eq!(run(&ctx("chassis-a"), CLIENT, &frame, &mut lagging).0, Verdict::Drop(DropReason::FanoutReceived));
    let mut q = Vec::new();
    lagging.resets.take_pending(&mut q);
    assert_eq!((q.len(), q[0].owner), (1, None));
    let mut owners = Vec::new();
    PacketBuilder::ethernet2(c.nodes[owner as usize].mac, NODE_PORT_MAC)
        .ipv4(VIP4, [192, 0, 2, 50], 64)
        .tcp(2049, 555, 1, 0)
        .ack(0x1111)
        .write(&mut owners, &[])
        .unwrap();
    assert_eq!(run(&c, DOWN, &owners, &mut r).0, Verdict::Client { port: CLIENT });
    // The other node's answers: a refusal (a RST at the cookie) is kept back, a challenge ACK becomes the
    // exact RST.
    let other = ["a1", "a2"].iter().map(|n| c.topology.node_index(n).unwrap() as u16).find(|n| *n != owner).unwrap();
    let other_mac = c.nodes[other as usize].mac;
    let refusal = node_rst_at(other_mac, 555, c.cookie.of(&conn(555)));
    assert_eq!(run(&c, DOWN, &refusal, &mut r).0, Verdict::Drop(DropReason::ResetSwallowed));
    let mut ack = Vec::new();
    PacketBuilder::ethernet2(other_mac, NODE_PORT_MAC)
        .ipv4(VIP4, [192, 0, 2, 50], 64)
        .tcp(2049, 555, 1, 0)
        .ack(0xabcd)
        .write(&mut ack, &[])
        .unwrap();
    let (v, out) = run(&c, DOWN, &ack, &mut r);
    assert_eq!(v, Verdict::Node { node: other, port: DOWN });
    assert_eq!(out[14 + 20 + 13], 0x04);
    assert_eq!(out[14 + 20 + 4..14 + 20 + 8], 0xabcdu32.to_be_bytes());
    // Forged: on the node side, at a single appliance, at a spine, or with a bad magic.
    assert_eq!(run(&c, DOWN, &frame, &mut resets()).0, Verdict::Drop(DropReason::FanoutForged));
    assert_eq!(run(&ctx("single"), CLIENT, &frame, &mut resets()).0, Verdict::Drop(DropReason::FanoutForged));
    assert_eq!(run(&ctx("spine"), CLIENT, &frame, &mut resets()).0, Verdict::Drop(DropReason::FanoutForged));
    let mut stranger = frame.clone();
    stranger[6..12].copy_from_slice(&[2, 0, 0, 0, 0x66, 0x66]);
    assert_eq!(run(&c, CLIENT, &stranger, &mut resets()).0, Verdict::Drop(DropReason::FanoutUnknownSender));
    let mut bad = frame.clone();
    bad[15] ^= 0xff;
    assert_eq!(run(&c, CLIENT, &bad, &mut resets()).0, Verdict::Drop(DropReason::FanoutForged));
    for len in 0..frame.len() {
        assert!(matches!(run(&c, CLIENT, &frame[..len], &mut resets()).0, Verdict::Drop(_)));
    }
}

#[test]
fn a_chassis_forwards_node_rsts_up_and_fans_out_itself_only_for_moves_of_its_own() {
    // No change: forwarded up to the spine, nothing else.
    let c = ctx("chassis-a");
    let mut r = resets();
    let mac = c.nodes[c.topology.node_index("a2").unwrap()].mac;
    assert_eq!(run(&c, DOWN, &node_rst(mac, 9), &mut r).0, Verdict::Client { port: CLIENT });
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 0);
    assert_eq!(r.resets.counters[ResetCounter::RstsForwarded], 1);
    // The chassis has taken a2's drain and its spine not yet: the spine still sends a2's flows here,
    // and the chassis sends them to a1. a1's RST goes up, and the chassis clears a2 itself.
    let after_cfg = draining(&config("chassis-a"), "a2");
    let after =
        with_prior(&c, Context::new(&after_cfg, Topology::build(&after_cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 2), 1);
    let node = |x: &Context, p: u16| match run(x, CLIENT, &tcp4([192, 0, 2, 50], p, VIP4, 2049, b"x"), &mut resets()).0
    {
        Verdict::Node { node, .. } => node,
        v => panic!("{v:?}"),
    };
    let a1 = c.topology.node_index("a1").unwrap() as u16;
    let moved = (1000..3000u16).find(|p| node(&c, *p) != node(&after, *p)).unwrap();
    assert_eq!(node(&after, moved), a1);
    let (v, _) = run(&after, DOWN, &node_rst(c.nodes[a1 as usize].mac, moved), &mut r);
    assert_eq!(v, Verdict::Client { port: CLIENT });
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    let a1_ip = c.nodes[a1 as usize].ip;
    assert_eq!((p.len(), p[0].conn, p[0].owner, p[0].origin), (1, conn(moved), Some(a1_ip), Origin::NodeRst));
    // The spine's fan-out frame for it finds the fan-out live: no second round of probes.
    let mut buf = [0u8; 128];
    let n = write_fanout_frame(&mut buf, &conn(moved), APPLIANCE_A, GATEWAY_MAC).unwrap();
    assert_eq!(run(&after, CLIENT, &buf[..n], &mut r).0, Verdict::Drop(DropReason::FanoutReceived));
    r.resets.take_pending(&mut p);
    assert!(p.is_empty());
    assert_eq!(r.resets.counters[ResetCounter::Fanouts], 1);
}

#[test]
fn a_chassis_spares_no_node_for_a_connection_tier_one_sends_elsewhere() {
    // Its own pick for such a flow is only the fallback (its spine sends it elsewhere): the stale holder
    // may be exactly that node, so every node of the chassis is probed.
    let single = ctx("single");
    let c = ctx("chassis-a");
    let elsewhere = (1000..3000u16)
        .find(|p| match run(&single, CLIENT, &tcp4([192, 0, 2, 50], *p, VIP4, 2049, b"x"), &mut resets()).0 {
            Verdict::Node { node, .. } => {
                single.topology.chassis[single.topology.nodes[node as usize].chassis as usize].name == "chassis-b"
            }
            _ => false,
        })
        .unwrap();
    let mut buf = [0u8; 128];
    let n = write_fanout_frame(&mut buf, &conn(elsewhere), APPLIANCE_A, GATEWAY_MAC).unwrap();
    let mut r = resets();
    assert_eq!(run(&c, CLIENT, &buf[..n], &mut r).0, Verdict::Drop(DropReason::FanoutReceived));
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    assert_eq!((p.len(), p[0].owner), (1, None));
}
