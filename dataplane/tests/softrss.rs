//! sluice's table-driven Toeplitz against DPDK's own bit-serial `rte_softrss` (through the shim), on many
//! random tuples and keys, and the node the whole pipeline picks against the table slot of that hash.

mod support;

use dpdk_sys::thash::softrss;
use sluice_control::config::{HashKey, ResetConfig, MICROSOFT_KEY};
use sluice_control::Topology;
use sluice_dataplane::hash::Toeplitz;
use sluice_dataplane::pipeline::{process, Context, FrameBuf, Verdict, WorkerState};
use support::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn words(bytes: &[u8]) -> Vec<u32> {
    bytes.chunks(4).map(|c| u32::from_be_bytes(c.try_into().unwrap())).collect()
}

#[test]
fn toeplitz_matches_rte_softrss() {
    let mut rng = Rng(42);
    let mut random_key = [0u8; 52];
    random_key.iter_mut().for_each(|b| *b = rng.next() as u8);
    let keys: Vec<Vec<u8>> =
        vec![MICROSOFT_KEY.to_vec(), "symmetric".parse::<HashKey>().unwrap().bytes, random_key.to_vec()];
    for key in &keys {
        let t = Toeplitz::new(key);
        for _ in 0..20_000 {
            let r = rng.next();
            let (s4, d4) = ((r as u32).to_be_bytes(), ((r >> 32) as u32).to_be_bytes());
            let (sp, dp) = (rng.next() as u16, rng.next() as u16);
            let mut v4 = s4.to_vec();
            v4.extend_from_slice(&d4);
            assert_eq!(t.hash_v4(s4, d4, None), softrss(&words(&v4), key));
            v4.extend_from_slice(&sp.to_be_bytes());
            v4.extend_from_slice(&dp.to_be_bytes());
            assert_eq!(t.hash_v4(s4, d4, Some((sp, dp))), softrss(&words(&v4), key));

            let mut s6 = [0u8; 16];
            let mut d6 = [0u8; 16];
            s6.iter_mut().chain(d6.iter_mut()).for_each(|b| *b = rng.next() as u8);
            let mut v6 = s6.to_vec();
            v6.extend_from_slice(&d6);
            assert_eq!(t.hash_v6(&s6, &d6, None), softrss(&words(&v6), key));
            v6.extend_from_slice(&sp.to_be_bytes());
            v6.extend_from_slice(&dp.to_be_bytes());
            assert_eq!(t.hash_v6(&s6, &d6, Some((sp, dp))), softrss(&words(&v6), key));
        }
    }
}

/// Frames through the whole pipeline (its straight-line parse and the VIP's premixed hash): the node it
/// picks is the table's node for `rte_softrss` over the client → VIP 4-tuple, IPv4 and IPv6, TCP and UDP.
#[test]
fn the_pipeline_picks_the_node_of_the_rss_hash() {
    let cfg = example_config();
    let ctx = Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1);
    let mut st = WorkerState::new(&ResetConfig::default(), 1_000_000);
    let vip6: std::net::Ipv6Addr = VIP6.parse().unwrap();
    let mut rng = Rng(7);
    let mut seen = std::collections::HashSet::new();
    for i in 0..4000 {
        let r = rng.next();
        let (sport, dport) = (r as u16 | 1024, if i % 3 == 0 { 3260 } else { 2049 });
        let (frame, tuple) = if i % 2 == 0 {
            let src = ((r >> 16) as u32).to_be_bytes();
            let f = if i % 4 == 0 { tcp4(src, sport, VIP4, dport, b"x") } else { udp4(src, sport, VIP4, dport, b"x") };
            (f, [&src[..], &VIP4[..]].concat())
        } else {
            let mut src = [0x20, 1, 0xd, 0xb8, 0xc1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            src[8..].copy_from_slice(&rng.next().to_be_bytes());
            let f = if i % 4 == 1 {
                tcp6(src, sport, vip6.octets(), dport, b"x")
            } else {
                udp6(src, sport, vip6.octets(), dport, b"x")
            };
            (f, [&src[..], &vip6.octets()[..]].concat())
        };
        let mut input = tuple;
        input.extend_from_slice(&sport.to_be_bytes());
        input.extend_from_slice(&dport.to_be_bytes());
        let want = ctx.topology.lookup(softrss(&words(&input), &cfg.dataplane.hash_key.bytes)).unwrap();
        let mut buf = vec![0u8; 128 + frame.len()];
        buf[128..].copy_from_slice(&frame);
        let mut f = FrameBuf::new(&mut buf, 128, frame.len());
        match process(&ctx, 0, &mut f, &mut st, 1) {
            Verdict::Node { node, .. } => assert_eq!(node, want, "frame {i}"),
            v => panic!("frame {i}: {v:?}"),
        }
        seen.insert(want);
    }
    assert!(seen.len() > 1, "every flow went to one node");
}
