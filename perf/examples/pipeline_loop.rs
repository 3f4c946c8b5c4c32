//! The pure per-packet pipeline in a plain loop, for instruction-level profiling: callgrind counts
//! instructions (repeatable whatever else the machine does), so a hot-path change can be judged by its
//! instructions per packet without a quiet machine.
//!
//!   cargo build --release -p sluice-perf --example pipeline_loop
//!   valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*pipeline_loop*run*' \
//!       target/release/examples/pipeline_loop client 100000
//!
//! Arguments: `client` (client → node, TCP/IPv4 to the demo VIP), `node` (node → client), or
//! `pcaps CLIENT.pcap NODE.pcap` (what `sluice-perf synth` wrote, alternating 32 frames from each side, as
//! the compare run's two ports do), then the packet count. It prints ns per packet, which under
//! callgrind means nothing; Ir / packets is the figure.

use std::hint::black_box;

use etherparse::PacketBuilder;
use sluice_control::config::{Config, ResetConfig};
use sluice_control::Topology;
use sluice_dataplane::pipeline::{process, Context, FrameBuf, Verdict, WorkerState};

fn frames(client: bool) -> Vec<Vec<u8>> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..256)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let b = x.to_be_bytes();
            let (c, sp) = ([b[0], b[1], b[2], b[3]], u16::from_be_bytes([b[4], b[5]]) | 1024);
            let mut v = Vec::new();
            let builder = if client {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0xc1, 1], [2, 0, 0, 0, 0, 1])
                    .ipv4(c, [10, 10, 0, 1], 64)
                    .tcp(sp, 2049, 1, 65535)
            } else {
                PacketBuilder::ethernet2([2, 0, 0, 0, 0xa, 1], [2, 0, 0, 0, 1, 1])
                    .ipv4([10, 10, 0, 1], c, 64)
                    .tcp(2049, sp, 1, 65535)
            };
            builder.ack(1).write(&mut v, &[0u8; 64]).expect("frame");
            v
        })
        .collect()
}

fn read_pcap(path: &str) -> Vec<Vec<u8>> {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut r = pcap_file::pcap::PcapReader::new(file).expect("a pcap file");
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        out.push(p.expect("a packet").data.into_owned());
    }
    out
}

/// Frames and the port each arrives on.
type Input = Vec<(Vec<u8>, u16)>;

#[inline(never)]
fn run(ctx: &Context, st: &mut WorkerState, set: &Input, bufs: &mut [Vec<u8>], packets: usize) -> u64 {
    let mut forwarded = 0u64;
    for i in 0..packets {
        let (f, port) = &set[i % set.len()];
        let buf = &mut bufs[i % bufs.len()];
        // Restore the frame's first 128 bytes only (no rewrite touches more): about what a NIC's DMA
        // leaves in the cache.
        let head = f.len().min(128);
        buf[128..128 + head].copy_from_slice(&f[..head]);
        let mut fr = FrameBuf::new(buf, 128, f.len());
        if !matches!(process(ctx, *port, &mut fr, st, 1), Verdict::Drop(_)) {
            forwarded += 1;
        }
    }
    forwarded
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map_or("client", |a| a.as_str());
    let set: Input = match mode {
        "pcaps" => {
            let (c, n) = (read_pcap(&args[2]), read_pcap(&args[3]));
            let mut out = Vec::new();
            let (mut ci, mut ni) = (c.iter().cycle(), n.iter().cycle());
            for _ in 0..(c.len().max(n.len()) / 32).max(1) {
                out.extend(ci.by_ref().take(32).map(|f| (f.clone(), 0)));
                out.extend(ni.by_ref().take(32).map(|f| (f.clone(), 1)));
            }
            out
        }
        "node" => frames(false).into_iter().map(|f| (f, 1)).collect(),
        _ => frames(true).into_iter().map(|f| (f, 0)).collect(),
    };
    let packets: usize =
        args.get(if mode == "pcaps" { 4 } else { 2 }).and_then(|n| n.parse().ok()).unwrap_or(10_000_000);
    let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    let cfg = Config::from_toml(&t).expect("demo config");
    let ctx = Context::new(&cfg, Topology::build(&cfg), &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 1]], 1);
    let mut st = WorkerState::new(&ResetConfig::default(), 1_000_000_000);
    // 512 buffers, as a worker cycles through its mbuf cache.
    let mut bufs: Vec<Vec<u8>> = set
        .iter()
        .cycle()
        .take(512)
        .map(|(f, _)| {
            let mut b = vec![0u8; 2048];
            b[128..128 + f.len()].copy_from_slice(f);
            b
        })
        .collect();
    let t0 = std::time::Instant::now();
    let n = run(&ctx, &mut st, &set, &mut bufs, black_box(packets));
    let dt = t0.elapsed();
    println!("{n}/{packets} forwarded, {:.1} ns per packet", dt.as_nanos() as f64 / packets as f64);
}
