//! Fan-outs shared between the appliances of a fleet, in the pure pipeline on crafted frames: a peer's
//! fan-out frame is taken only from a configured peer's MAC on its node port, installs the entry without
//! probing, and the nodes' answers to the peer's probes that reach this appliance become exact RSTs.

mod support;

use sluice_control::config::{MacAddr, PeerConfig};
use sluice_control::Topology;
use sluice_dataplane::pipeline::{Context, DropReason, Verdict};
use sluice_dataplane::reset::{write_peer_frame, Conn, Origin, ResetCounter, FANOUT_ETHERTYPE};
use sluice_dataplane::wire::parse::Addr;
use support::pipe::*;
use support::*;

const PEER: [u8; 6] = [2, 0, 0, 0, 1, 2];

fn with_peer() -> Context {
    let mut cfg = example_config();
    cfg.peers.push(PeerConfig { name: "a2".into(), mac: MacAddr(PEER), port: None });
    cfg.validate().unwrap();
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

fn conn(cport: u16) -> Conn {
    Conn { client: Addr::v4([192, 0, 2, 60]), vip: Addr::v4(VIP4), cport, vport: 2049 }
}

/// A peer's frame as its worker writes it: the probe acknowledges the connection's cookie under `ctx`'s key.
fn peer_frame(ctx: &Context, c: &Conn, owner: Option<Addr>, src: [u8; 6]) -> Vec<u8> {
    let mut buf = [0u8; 160];
    let n = write_peer_frame(&mut buf, c, ctx.cookie.of(c), owner, NODE_PORT_MAC, src).unwrap();
    buf[..n].to_vec()
}

/// A MAC-mode node the flow from port `cport` reaches under `ctx`.
fn owner_of(ctx: &Context, cport: u16) -> u16 {
    match run(ctx, CLIENT, &tcp4([192, 0, 2, 60], cport, VIP4, 2049, b"x")).0 {
        Verdict::Node { node, .. } => node,
        v => panic!("{v:?}"),
    }
}

#[test]
fn a_peers_frame_installs_the_entry_and_answers_become_exact_rsts() {
    let ctx = with_peer();
    let mac_mode = |n: u16| ctx.nodes[n as usize].forward == sluice_control::config::ForwardMode::Mac;
    let (cport, owner) = (4000..5000u16).map(|p| (p, owner_of(&ctx, p))).find(|&(_, n)| mac_mode(n)).unwrap();
    let c = conn(cport);
    let stale = (0..ctx.nodes.len() as u16).find(|&n| n != owner && mac_mode(n)).unwrap();
    let frame = peer_frame(&ctx, &c, Some(ctx.nodes[owner as usize].ip), PEER);
    assert_eq!(u16::from_be_bytes([frame[12], frame[13]]), FANOUT_ETHERTYPE);
    let mut r = resets();
    assert_eq!(run_with(&ctx, NODES, &frame, &mut r, 10).0, Verdict::Drop(DropReason::FanoutReceived));
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    assert_eq!((p.len(), p[0].conn, p[0].origin), (1, c, Origin::Peer));
    assert_eq!(r.resets.counters[ResetCounter::PeerEntries], 1);
    // The same frame again (the peer's other worker, a retransmission): nothing new.
    assert_eq!(run_with(&ctx, NODES, &frame, &mut r, 11).0, Verdict::Drop(DropReason::FanoutReceived));
    r.resets.take_pending(&mut p);
    assert!(p.is_empty());
    assert_eq!(r.resets.counters[ResetCounter::DuplicateFrames], 1);
    // The owner's segments pass to the client.
    let own = from_node(node_mac(&ctx, owner), [192, 0, 2, 60], cport, 7, 0x100, false);
    assert_eq!(run_with(&ctx, NODES, &own, &mut r, 12).0, Verdict::Client { port: CLIENT });
    // A stale holder's challenge ACK becomes the RST at exactly its acknowledgement number, back to it.
    let ack = from_node(node_mac(&ctx, stale), [192, 0, 2, 60], cport, 9, 0x5150, false);
    let (v, out) = run_with(&ctx, NODES, &ack, &mut r, 13);
    assert!(matches!(v, Verdict::Node { node, .. } if node == stale), "{v:?}");
    assert_eq!(check(&out).unwrap().dst_mac, node_mac(&ctx, stale));
    let h = etherparse::PacketHeaders::from_ethernet_slice(&out).unwrap();
    let Some(etherparse::TransportHeader::Tcp(t)) = h.transport else { panic!("not TCP") };
    assert_eq!((t.rst, t.sequence_number, t.destination_port), (true, 0x5150, 2049));
    assert_eq!(r.resets.counters[ResetCounter::Completions], 1);
}

#[test]
fn peer_frames_from_strangers_or_elsewhere_or_forged_or_malformed_are_dropped_and_install_nothing() {
    let ctx = with_peer();
    let c = conn(4343);
    let owner = Some(ctx.nodes[owner_of(&ctx, 4343) as usize].ip);
    let mut r = resets();
    // From a MAC that is no peer's (a node's, say).
    let forged = peer_frame(&ctx, &c, owner, node_mac(&ctx, 0));
    assert_eq!(run_with(&ctx, NODES, &forged, &mut r, 10).0, Verdict::Drop(DropReason::FanoutUnknownSender));
    // On the client port, even from the peer's MAC.
    let good = peer_frame(&ctx, &c, owner, PEER);
    assert_eq!(run_with(&ctx, CLIENT, &good, &mut r, 10).0, Verdict::Drop(DropReason::FanoutForged));
    // An appliance with no peers configured takes none.
    assert_eq!(run_with(&context(), NODES, &good, &mut r, 10).0, Verdict::Drop(DropReason::FanoutUnknownSender));
    // From the peer's MAC but not knowing the key: the probe acknowledges another number.
    let mut buf = [0u8; 160];
    let n = write_peer_frame(&mut buf, &c, ctx.cookie.of(&c) ^ 1, owner, NODE_PORT_MAC, PEER).unwrap();
    let wrong_cookie = buf[..n].to_vec();
    // Naming no owner, or an owner no snapshot picks for the connection (whose segments would become RSTs).
    let no_owner = peer_frame(&ctx, &c, None, PEER);
    let stranger = peer_frame(&ctx, &c, Some(Addr::v4([198, 51, 100, 99])), PEER);
    // A bad owner family, a carried packet that is no probe to our VIP, a truncated frame.
    let mut bad_family = good.clone();
    bad_family[14 + 4] = 5;
    let not_ours = peer_frame(&ctx, &Conn { vip: Addr::v4([10, 9, 9, 9]), ..c }, owner, PEER);
    let truncated = good[..14 + 10].to_vec();
    for f in [&wrong_cookie, &no_owner, &stranger, &bad_family, &not_ours, &truncated] {
        assert_eq!(run_with(&ctx, NODES, f, &mut r, 10).0, Verdict::Drop(DropReason::FanoutForged));
    }
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    assert!(p.is_empty());
    assert_eq!(r.resets.counters[ResetCounter::PeerEntries], 0);
    // And the nodes' segments for that connection pass as they always do.
    let seg = from_node(node_mac(&ctx, 0), [192, 0, 2, 60], 4343, 9, 0x77, false);
    assert_eq!(run_with(&ctx, NODES, &seg, &mut r, 12).0, Verdict::Client { port: CLIENT });
}

#[test]
fn a_peers_frame_naming_an_owner_not_picked_here_yet_waits_for_the_change() {
    // The peer drained a node a moment before this appliance did.
    let mut cfg = example_config();
    cfg.peers.push(PeerConfig { name: "a2".into(), mac: MacAddr(PEER), port: None });
    let before = Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1);
    let mac_mode = |n: u16| before.nodes[n as usize].forward == sluice_control::config::ForwardMode::Mac;
    let cport = (6000..7000u16).find(|&p| mac_mode(owner_of(&before, p))).unwrap();
    let old = owner_of(&before, cport);
    let drained = draining(&cfg, &before.topology.nodes[old as usize].name);
    let after =
        with_prior(&before, Context::new(&drained, Topology::build(&drained), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 2), 1);
    let new = owner_of(&after, cport);
    assert_ne!(old, new);
    let c = conn(cport);
    let frame = peer_frame(&before, &c, Some(after.nodes[new as usize].ip), PEER);
    let mut r = resets();
    r.resets.defer_not_owners(true);
    assert_eq!(run_with(&before, NODES, &frame, &mut r, 10).0, Verdict::Drop(DropReason::FanoutReceived));
    let mut p = Vec::new();
    r.resets.take_pending(&mut p);
    assert!(p.is_empty(), "not taken while this appliance does not pick that owner");
    assert_eq!(r.resets.counters[ResetCounter::Deferred], 1);
    // An unrelated snapshot: still held. The change: taken.
    r.resets.rejudge(&before, 11);
    r.resets.take_pending(&mut p);
    assert!(p.is_empty());
    r.resets.rejudge(&after, 12);
    r.resets.take_pending(&mut p);
    assert_eq!((p.len(), p[0].conn, p[0].origin), (1, c, Origin::Peer));
    assert_eq!(p[0].owner, Some(after.nodes[new as usize].ip));
}

#[test]
fn a_flood_of_peer_frames_spends_the_peers_budget_only() {
    let ctx = with_peer();
    let mut r = resets();
    let d = sluice_control::config::ResetConfig::default();
    let frames: Vec<Vec<u8>> = (5000..5000 + 4 * d.prefix_burst as u16 + 50)
        .map(|p| peer_frame(&ctx, &conn(p), Some(ctx.nodes[owner_of(&ctx, p) as usize].ip), PEER))
        .collect();
    let mut taken = 0;
    let mut p = Vec::new();
    for f in &frames {
        run_with(&ctx, NODES, f, &mut r, 10);
        r.resets.take_pending(&mut p);
        taken += p.len();
    }
    // One client prefix: the peers' prefix budget (4× a worker's) bounds it.
    assert_eq!(taken, 4 * d.prefix_burst as usize);
    assert_eq!(r.resets.counters[ResetCounter::SuppressedPrefix], 50);
    // This appliance's own fan-outs still have their whole budget.
    let own = r.resets.counters[ResetCounter::Fanouts];
    assert_eq!(own, 0);
}

#[test]
fn peers_are_validated() {
    let mut cfg = example_config();
    cfg.peers.push(PeerConfig { name: "a2".into(), mac: MacAddr(NODE_PORT_MAC), port: None });
    assert_eq!(cfg.validate().unwrap_err().field, "peers[0].mac");
    cfg.peers[0].mac = MacAddr(PEER);
    cfg.peers[0].port = Some("client".into());
    let e = cfg.validate().unwrap_err();
    assert_eq!(e.field, "peers[0].port", "{e}");
    cfg.peers[0].port = None;
    cfg.peers.push(cfg.peers[0].clone());
    assert_eq!(cfg.validate().unwrap_err().field, "peers[1].name");
    cfg.peers[1].name = "a3".into();
    assert_eq!(cfg.validate().unwrap_err().field, "peers[1].mac");
}
