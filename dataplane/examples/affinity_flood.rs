//! The control core's affinity publication and the workers' lookups under floods of chosen clients:
//! 65,536 addresses of one IPv6 /64 picked to share one home slot under an unkeyed multiplicative hash,
//! 65,536 sequential IPv4 addresses, and 65,536 spread ones. For each: what the table learns, how long a
//! publication takes (the honoured entries and the map built from them), and the probes and time of
//! worker lookups.
//!
//!   cargo run --release -p sluice-dataplane --example affinity_flood

use std::hint::black_box;
use std::time::{Duration, Instant};

use sluice_control::affinity::{AffinityTable, ClientId};
use sluice_control::config::{AffinityConfig, Config};
use sluice_control::Topology;
use sluice_dataplane::affinity::AffinityMap;

const N: u64 = 65_536;
const ROUNDS: usize = 21;

fn colliding_slash_64() -> Vec<u128> {
    const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut inv: u64 = 1;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(PHI.wrapping_mul(inv)));
    }
    let hi = 0x2001_0db8_0000_0001u64;
    (0..N).map(|j| (hi as u128) << 64 | (j.wrapping_mul(inv) ^ hi.rotate_left(17)) as u128).collect()
}

fn spread(mut x: u64) -> Vec<u128> {
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            0x2001_0db8u128 << 96 | (x as u128) << 16 | (x >> 48) as u128
        })
        .collect()
}

fn median_max(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() - 1])
}

fn report(what: &str, topo: &Topology, clients: &[u128]) {
    let names: Vec<&str> = topo.nodes.iter().map(|n| n.name.as_str()).collect();
    let mut a = AffinityTable::new(&AffinityConfig { enabled: true, ..Default::default() }, 0);
    for (i, &c) in clients.iter().enumerate() {
        a.observe(ClientId(c), names[i % names.len()], 1, 100, 0);
    }
    // A publication: the honoured entries, and the workers' map built from them.
    let (mut times, mut listing) = (Vec::new(), Vec::new());
    let mut map = AffinityMap::default();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        let honoured = a.honoured(topo);
        listing.push(t.elapsed());
        map = AffinityMap::build(&honoured);
        times.push(t.elapsed());
    }
    let (med, max) = median_max(times);
    println!(
        "{what}: learned {} (prefix_full {}); publication median {:.2} ms (listing {:.2} ms), max {:.2} ms; map {} entries in {} slots, {} unplaced",
        a.len(),
        a.counters.prefix_full,
        med.as_secs_f64() * 1e3,
        median_max(listing).0.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        map.len(),
        map.slots(),
        map.unplaced()
    );
    // Worker lookups: every flooding client (learned or not) and 65,536 others.
    let others = spread(0x0bad_cafe_f00d_0001);
    let probes: Vec<usize> = clients.iter().chain(&others).map(|&c| map.probe_len(c)).collect();
    let mean = probes.iter().sum::<usize>() as f64 / probes.len() as f64;
    let t = Instant::now();
    let mut hits = 0u32;
    for _ in 0..10 {
        for &c in clients.iter().chain(&others) {
            hits += black_box(map.get(black_box(c))).is_some() as u32;
        }
    }
    let per = t.elapsed().as_secs_f64() * 1e9 / (10 * probes.len()) as f64;
    println!(
        "  lookups: max probe {} slots (present entries: {}), mean {:.2}; {:.1} ns per lookup ({} hits)",
        probes.iter().max().unwrap(),
        map.max_probe(),
        mean,
        per,
        hits / 10
    );
}

fn main() {
    let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    let topo = Topology::build(&Config::from_toml(&t).unwrap());
    report("one /64, chosen to collide", &topo, &colliding_slash_64());
    report("IPv4, sequential", &topo, &(0..N as u32).map(|i| 0xffff_0a00_0000u128 | i as u128).collect::<Vec<_>>());
    report("spread over /64s", &topo, &spread(0x1234_5678_9abc_def1));
    // The map alone (no prefix cap) from the 65,536 chosen addresses: the build is linear whatever they are.
    let entries: Vec<(ClientId, u16)> =
        colliding_slash_64().into_iter().enumerate().map(|(i, c)| (ClientId(c), (i % 4) as u16)).collect();
    let mut times = Vec::new();
    let mut map = AffinityMap::default();
    for _ in 0..ROUNDS {
        let t = Instant::now();
        map = AffinityMap::build(&entries);
        times.push(t.elapsed());
    }
    let (med, max) = median_max(times);
    println!(
        "map alone, 65,536 chosen /64 addresses: build median {:.2} ms, max {:.2} ms; {} entries in {} slots, {} unplaced, max probe {}",
        med.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        map.len(),
        map.slots(),
        map.unplaced(),
        map.max_probe()
    );
}
