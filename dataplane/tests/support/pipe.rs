//! The pure pipeline in a test: the example configuration's context, a frame run through `process` in a
//! buffer with mbuf-like headroom, and frames as nodes send them.

use etherparse::PacketBuilder;
use sluice_control::config::ResetConfig;
use sluice_control::Topology;
use sluice_dataplane::pipeline::{process, Context, FrameBuf, Verdict, WorkerState};

use super::*;

pub const HEADROOM: usize = 128;
pub const CLIENT: u16 = 0;
pub const NODES: u16 = 1;

pub fn context() -> Context {
    let cfg = example_config();
    let topo = Topology::build(&cfg);
    Context::new(&cfg, topo, &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

pub fn resets() -> WorkerState {
    WorkerState::new(&ResetConfig::default(), 1_000_000)
}

/// Runs one frame through the pipeline in a buffer with mbuf-like headroom and tailroom.
pub fn run(ctx: &Context, port: u16, frame: &[u8]) -> (Verdict, Vec<u8>) {
    run_with(ctx, port, frame, &mut resets(), 1)
}

pub fn run_with(ctx: &Context, port: u16, frame: &[u8], r: &mut WorkerState, now: u64) -> (Verdict, Vec<u8>) {
    let mut buf = vec![0u8; HEADROOM + frame.len() + 256];
    buf[HEADROOM..HEADROOM + frame.len()].copy_from_slice(frame);
    let mut f = FrameBuf::new(&mut buf, HEADROOM, frame.len());
    let v = process(ctx, port, &mut f, r, now);
    let out = f.data().to_vec();
    (v, out)
}

pub fn node_named(ctx: &Context, name: &str) -> u16 {
    ctx.topology.node_index(name).unwrap() as u16
}

pub fn node_mac(ctx: &Context, n: u16) -> [u8; 6] {
    ctx.nodes[n as usize].mac
}

/// A TCP segment from the VIP back to the client, as node `node_mac` sends it.
pub fn from_node(node_mac: [u8; 6], client: [u8; 4], cport: u16, seq: u32, ack: u32, rst: bool) -> Vec<u8> {
    let mut v = Vec::new();
    let b = PacketBuilder::ethernet2(node_mac, NODE_PORT_MAC).ipv4(VIP4, client, 64).tcp(2049, cport, seq, 501);
    let b = if rst { b.rst() } else { b.ack(ack) };
    b.write(&mut v, &[]).unwrap();
    v
}
