//! Micro-benchmarks of the per-packet building blocks (criterion): sluice's table-driven Toeplitz against
//! DPDK's `rte_softrss` (IPv4 and IPv6 4-tuples), the tier-1 Maglev lookup, the affinity map, and the
//! whole pure pipeline on byte slices (client → node and node → client), and the worker time one reset
//! fan-out costs (a node's RST noted, then a probe written and addressed to every other node, for 4 and 64
//! nodes). No EAL is needed.
//!
//!   cargo bench -p sluice-perf --bench micro

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use etherparse::PacketBuilder;
use sluice_control::affinity::ClientId;
use sluice_control::config::{Config, ResetConfig, MICROSOFT_KEY};
use sluice_control::Topology;
use sluice_dataplane::affinity::AffinityMap;
use sluice_dataplane::hash::Toeplitz;
use sluice_dataplane::pipeline::{process, Context, FrameBuf, Verdict, WorkerState};
use sluice_dataplane::reset::probe_to;
use sluice_dataplane::reset::{moved, write_probe, Conn, Judgement, Prior, Resets, RstKind};
use sluice_dataplane::wire::parse::Addr;

fn config() -> Config {
    let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    Config::from_toml(&t).unwrap()
}

fn tuples(n: usize) -> Vec<([u8; 4], [u8; 4], u16, u16)> {
    let mut x = 0x1234_5678_9abc_def0u64;
    (0..n)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let b = x.to_be_bytes();
            ([b[0], b[1], b[2], b[3]], [10, 10, 0, 1], u16::from_be_bytes([b[4], b[5]]), 2049)
        })
        .collect()
}

/// Hashes every tuple into `out`. Each hash is independent, as in a burst: a fold that XORs each into an
/// accumulator would chain every hash's XORs onto the previous one's and measure that chain instead.
#[inline(always)]
fn each<T>(out: &mut [u32], xs: &[T], f: impl Fn(&T) -> u32) {
    for (o, x) in out.iter_mut().zip(xs) {
        *o = f(x);
    }
    black_box(out);
}

fn toeplitz(c: &mut Criterion) {
    let t = Toeplitz::new(&MICROSOFT_KEY);
    let ts = tuples(1024);
    let mut out = vec![0u32; ts.len()];
    let mut g = c.benchmark_group("toeplitz");
    g.throughput(Throughput::Elements(ts.len() as u64));
    g.bench_function("sluice_ipv4_4tuple", |b| {
        b.iter(|| each(&mut out, &ts, |(s, d, sp, dp)| t.hash_v4(*s, *d, Some((*sp, *dp)))))
    });
    // Opaque to the compiler, as a VIP's premixed part loaded from the configuration is.
    let vip = black_box(t.dst_part_v4([10, 10, 0, 1]));
    g.bench_function("sluice_ipv4_4tuple_vip_premixed", |b| {
        b.iter(|| each(&mut out, &ts, |(s, _, sp, dp)| t.hash_v4_premixed(*s, vip, Some((*sp, *dp)))))
    });
    g.bench_function("rte_softrss_ipv4_4tuple", |b| {
        b.iter(|| {
            each(&mut out, &ts, |(s, d, sp, dp)| {
                let w = [u32::from_be_bytes(*s), u32::from_be_bytes(*d), (*sp as u32) << 16 | *dp as u32];
                dpdk_sys::thash::softrss(black_box(&w), &MICROSOFT_KEY)
            })
        })
    });
    let v6: Vec<([u8; 16], [u8; 16])> = ts
        .iter()
        .map(|(s, _, _, _)| {
            let mut a = [0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            a[12..].copy_from_slice(s);
            (a, [0x20, 1, 0xd, 0xb8, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
        })
        .collect();
    g.bench_function("sluice_ipv6_4tuple", |b| {
        b.iter(|| each(&mut out, &v6, |(s, d)| t.hash_v6(s, d, Some((1000, 2049)))))
    });
    let vip6 = black_box(t.dst_part_v6(&v6[0].1));
    g.bench_function("sluice_ipv6_4tuple_vip_premixed", |b| {
        b.iter(|| each(&mut out, &v6, |(s, _)| t.hash_v6_premixed(s, vip6, Some((1000, 2049)))))
    });
    g.bench_function("rte_softrss_ipv6_4tuple", |b| {
        b.iter(|| {
            each(&mut out, &v6, |(s, d)| {
                let mut w = [0u32; 9];
                for i in 0..4 {
                    w[i] = u32::from_be_bytes(s[4 * i..4 * i + 4].try_into().unwrap());
                    w[4 + i] = u32::from_be_bytes(d[4 * i..4 * i + 4].try_into().unwrap());
                }
                w[8] = 1000 << 16 | 2049;
                dpdk_sys::thash::softrss(black_box(&w), &MICROSOFT_KEY)
            })
        })
    });
    g.finish();
}

fn tables(c: &mut Criterion) {
    let topo = Topology::build(&config());
    let hashes: Vec<u32> = (0..1024u32).map(|i| i.wrapping_mul(0x9e37_79b9)).collect();
    let entries: Vec<(ClientId, u16)> =
        (0..10_000u32).map(|i| (ClientId(0xffff_0000_0000 | i as u128), (i % 4) as u16)).collect();
    let map = AffinityMap::build(&entries);
    let mut g = c.benchmark_group("tables");
    g.throughput(Throughput::Elements(hashes.len() as u64));
    g.bench_function("maglev_lookup_65537", |b| {
        b.iter(|| hashes.iter().fold(0u16, |a, h| a ^ topo.lookup(black_box(*h)).unwrap_or(0)))
    });
    g.bench_function("affinity_map_10k_hit", |b| {
        b.iter(|| hashes.iter().fold(0u16, |a, h| a ^ map.get(0xffff_0000_0000 | (*h % 10_000) as u128).unwrap_or(0)))
    });
    g.finish();
}

fn pipeline(c: &mut Criterion) {
    let cfg = config();
    let ctx = Context::new(&cfg, Topology::build(&cfg), &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 1]], 1);
    let mut st = WorkerState::new(&ResetConfig::default(), 1_000_000_000);
    let frames: Vec<Vec<u8>> = tuples(256)
        .iter()
        .map(|(s, d, sp, dp)| {
            let mut v = Vec::new();
            PacketBuilder::ethernet2([2, 0, 0, 0, 0xc1, 1], [2, 0, 0, 0, 0, 1])
                .ipv4(*s, *d, 64)
                .tcp(*sp | 1024, *dp, 1, 65535)
                .ack(1)
                .write(&mut v, &[0u8; 64])
                .unwrap();
            v
        })
        .collect();
    let returns: Vec<Vec<u8>> = tuples(256)
        .iter()
        .map(|(s, d, sp, dp)| {
            let mut v = Vec::new();
            PacketBuilder::ethernet2([2, 0, 0, 0, 0xa, 1], [2, 0, 0, 0, 1, 1])
                .ipv4(*d, *s, 64)
                .tcp(*dp, *sp | 1024, 1, 65535)
                .ack(1)
                .write(&mut v, &[0u8; 64])
                .unwrap();
            v
        })
        .collect();
    let mut buf = vec![0u8; 2048];
    let mut g = c.benchmark_group("pipeline");
    for (name, set, port) in [("client_tcp4_to_node", &frames, 0u16), ("node_tcp4_to_client", &returns, 1u16)] {
        g.throughput(Throughput::Elements(set.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut n = 0u32;
                for f in set.iter() {
                    buf[128..128 + f.len()].copy_from_slice(f);
                    let mut fr = FrameBuf::new(&mut buf, 128, f.len());
                    if matches!(process(&ctx, port, &mut fr, &mut st, 1), sluice_dataplane::pipeline::Verdict::Drop(_))
                    {
                        n += 1;
                    }
                }
                n
            })
        });
    }
    g.finish();
}

/// A configuration with `n` MAC-mode nodes in one chassis.
fn config_with_nodes(n: usize) -> Config {
    let base = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    let mut t = base[..base.find("[[nodes]]").unwrap()].to_string();
    for i in 0..n {
        t += &format!(
            "[[nodes]]\nname = \"n{i:03}\"\nchassis = \"chassis-a\"\nmac = \"02:00:00:01:{:02x}:{:02x}\"\nip = \"198.51.100.{}\"\n\n",
            i >> 8,
            i & 0xff,
            10 + i
        );
    }
    Config::from_toml(&t).unwrap()
}

/// The worker's own time per fan-out: the RST classified (cookie, soft state), judged against the current
/// snapshot and one earlier one (did the connection move?), the fan-out started, then one probe written
/// and addressed (Ethernet rewrite) per other node. Allocation and transmission of the probe mbufs are
/// DPDK's and not included.
fn reset_fanout(c: &mut Criterion) {
    let mut g = c.benchmark_group("reset_fanout");
    for nodes in [4usize, 64] {
        let cfg = config_with_nodes(nodes);
        let macs = [[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 1]];
        let before = Context::new(&cfg, Topology::build(&cfg), &macs, 1);
        // The context after the last node started draining, with the one before as its prior.
        let mut after_cfg = cfg.clone();
        after_cfg.nodes.last_mut().expect("nodes").state = sluice_control::config::NodeState::Draining;
        let mut ctx = Context::new(&after_cfg, Topology::build(&after_cfg), &macs, 2);
        ctx.history =
            vec![Prior { topology: before.topology.clone(), affinity: before.affinity.clone(), retired: 0 }].into();
        let rc = ResetConfig {
            rate_per_sec: u32::MAX,
            burst: u32::MAX,
            prefix_rate_per_sec: u32::MAX,
            prefix_burst: u32::MAX,
            ..ResetConfig::default()
        };
        let mut resets = Resets::new(&rc, 1_000_000_000);
        let mut pending = Vec::new();
        let mut buf = vec![0u8; 2048];
        let mut i = 0u32;
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{nodes}_nodes"), |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let conn = Conn {
                    client: Addr::v4(i.to_be_bytes()),
                    vip: Addr::v4([10, 10, 0, 1]),
                    cport: (i >> 16) as u16 | 1024,
                    vport: 2049,
                };
                // A fresh connection each time, and time far enough on that nothing is a duplicate (the
                // prior stays within the moved window: it is retired at 0 and the window is set below).
                let now = i as u64 * 4_000_000_000;
                let cookie = ctx.cookie.of(&conn);
                assert_eq!(resets.on_node_rst(conn, 1, cookie, now), RstKind::Fresh);
                // Judged from its owner, so the judgement goes through to the earlier snapshot's pick.
                let owner = moved::owner(&ctx, &conn).expect("a node takes it");
                let judged = moved::judge(&ctx, &conn, moved::From::Node(owner), now, u64::MAX);
                black_box(judged);
                // Whatever the judgement, time the fan-out it leads to for a moved connection.
                let owner_ip = ctx.nodes[owner as usize].ip;
                resets.judged(conn, 1, Judgement::Moved, Some(owner_ip), now);
                resets.take_pending(&mut pending);
                let mut sent = 0u32;
                for f in &pending {
                    let cookie = ctx.cookie.of(&f.conn);
                    for n in 0..ctx.nodes.len() as u16 {
                        if f.owner == Some(ctx.nodes[n as usize].ip) {
                            continue;
                        }
                        let len = write_probe(&mut buf[128..], &f.conn, cookie).expect("room");
                        let mut fr = FrameBuf::new(&mut buf, 128, len);
                        sent += !matches!(probe_to(&ctx, &mut fr, n, &f.conn), Verdict::Drop(_)) as u32;
                    }
                }
                assert_eq!(sent as usize, ctx.nodes.len() - 1);
                sent
            })
        });
    }
    g.finish();
}

criterion_group!(benches, toeplitz, tables, pipeline, reset_fanout);
criterion_main!(benches);
