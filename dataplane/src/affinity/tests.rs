use super::*;
use sluice_control::affinity::AffinityTable;
use sluice_control::affinity::ClientId;
use sluice_control::config::{AffinityConfig, Config};
use sluice_control::Topology;

/// Clients the table has and does not have: every one is found (or not) within the probe bound.
fn assert_bounded(m: &AffinityMap, entries: &[(ClientId, u16)], absent: impl Iterator<Item = u128>) {
    assert!(m.max_probe() <= MAP_PROBES, "max probe {}", m.max_probe());
    for &(c, n) in entries {
        assert_eq!(m.get(c.0), Some(n));
        assert!(m.probe_len(c.0) <= MAP_PROBES);
    }
    for c in absent {
        assert_eq!(m.get(c), None);
        assert!(m.probe_len(c) <= MAP_PROBES);
    }
}

/// 65,536 addresses of one IPv6 /64 that all share one home slot under an unkeyed multiplicative
/// hash (`(lo ^ rotl(hi, 17)) × φ`: lo = j × φ⁻¹ ^ rotl(hi, 17) hashes to j, whose top bits are 0).
fn colliding_slash_64() -> Vec<u128> {
    const PHI: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut inv: u64 = 1;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(PHI.wrapping_mul(inv)));
    }
    assert_eq!(PHI.wrapping_mul(inv), 1);
    let hi = 0x2001_0db8_0000_0001u64;
    (0..65_536u64).map(|j| (hi as u128) << 64 | (j.wrapping_mul(inv) ^ hi.rotate_left(17)) as u128).collect()
}

fn spread(n: usize, mut x: u64) -> Vec<u128> {
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            0x2001_0db8u128 << 96 | (x as u128) << 16 | (x >> 48) as u128
        })
        .collect()
}

#[test]
fn map_bounds_probes_whatever_the_addresses() {
    let v4 = |i: u32| 0xffff_0000_0000u128 | 0x0a00_0000 | i as u128;
    let sets: [(&str, Vec<u128>); 4] = [
        ("one /64, chosen to collide", colliding_slash_64()),
        ("one /64, sequential", (0..65_536u128).map(|i| 0x2001_0db8_0000_0001u128 << 64 | i).collect()),
        ("IPv4, sequential", (0..65_536u32).map(v4).collect()),
        ("spread", spread(65_536, 0x1234_5678_9abc_def1)),
    ];
    for (what, clients) in sets {
        let entries: Vec<(ClientId, u16)> =
            clients.iter().enumerate().map(|(i, &c)| (ClientId(c), (i % 4) as u16)).collect();
        let m = AffinityMap::build(&entries);
        assert_eq!((m.len(), m.unplaced()), (65_536, 0), "{what}: every entry has a slot");
        let absent = spread(10_000, 0x0bad_cafe_f00d_0001).into_iter().chain((65_536..75_536).map(v4));
        assert_bounded(&m, &entries, absent);
        assert!((0..4).all(|n| m.binds(n)) && !m.binds(4));
    }
}

#[test]
fn a_map_too_small_leaves_entries_out_and_counts_them() {
    let entries: Vec<(ClientId, u16)> = (0..100u32).map(|i| (ClientId(i as u128), (i % 3) as u16)).collect();
    let m = AffinityMap::build_in(&entries, 16);
    assert_eq!((m.len(), m.unplaced()), (16, 84));
    let found = entries.iter().filter(|(c, n)| m.get(c.0) == Some(*n)).count();
    assert_eq!(found, 16, "what is placed is found, what is not is absent");
    assert!(entries.iter().all(|(c, _)| m.probe_len(c.0) <= MAP_PROBES));
    // A full-size build places them all.
    assert_eq!(AffinityMap::build(&entries).unplaced(), 0);
}

fn topo() -> Topology {
    let t = include_str!("../../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    Topology::build(&Config::from_toml(&t).unwrap())
}

/// The control core learns 65,536 clients the way an attacker would pick them, and the map it publishes
/// stays within the probe bound.
#[test]
fn a_flood_of_chosen_clients_is_capped_and_the_published_map_stays_bounded() {
    let t = topo();
    let cfg = AffinityConfig { enabled: true, ..Default::default() };
    let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
    let learn = |clients: &[u128]| {
        let mut a = AffinityTable::new(&cfg, 0);
        for (i, &c) in clients.iter().enumerate() {
            a.observe(ClientId(c), names[i % names.len()], 1, 100, 0);
        }
        a
    };
    // One /64: its prefix learns 256 and counts the rest.
    let a = learn(&colliding_slash_64());
    assert_eq!((a.len(), a.counters.learned, a.counters.prefix_full), (256, 256, 65_536 - 256));
    let honoured = a.honoured(&t);
    let m = AffinityMap::build(&honoured);
    assert_eq!((m.len(), m.unplaced()), (256, 0));
    assert_bounded(&m, &honoured, colliding_slash_64().into_iter().skip(256));
    // 65,536 sequential IPv4 addresses: 256 /24s of 256, all learned, all honoured, bounded probes.
    let v4: Vec<u128> = (0..65_536u32).map(|i| 0xffff_0000_0000u128 | 0x0a00_0000 | i as u128).collect();
    let a = learn(&v4);
    assert_eq!((a.len(), a.counters.prefix_full, a.counters.table_full), (65_536, 0, 0));
    assert_eq!(a.prefixes(), (256, 256));
    let honoured = a.honoured(&t);
    assert_eq!(honoured.len(), 65_536);
    let m = AffinityMap::build(&honoured);
    assert_eq!((m.len(), m.unplaced()), (65_536, 0));
    assert_bounded(&m, &honoured, std::iter::empty());
    // Honest clients spread over many /64s: every one learned and honoured.
    let honest = spread(60_000, 0x5eed);
    let a = learn(&honest);
    assert_eq!((a.len(), a.counters.prefix_full), (60_000, 0));
    let m = AffinityMap::build(&a.honoured(&t));
    assert_eq!((m.len(), m.unplaced()), (60_000, 0));
    assert!(m.max_probe() <= MAP_PROBES);
}

#[test]
fn map_finds_every_entry_and_nothing_else() {
    let entries: Vec<(ClientId, u16)> =
        (0..5000u32).map(|i| (ClientId(0xffff_0a00_0000 | i as u128), (i % 7) as u16)).collect();
    let m = AffinityMap::build(&entries);
    assert_eq!(m.len(), 5000);
    for (c, n) in &entries {
        assert_eq!(m.get(c.0), Some(*n));
    }
    for i in 5000..20000u32 {
        assert_eq!(m.get(0xffff_0a00_0000 | i as u128), None);
    }
    assert_eq!(AffinityMap::default().get(0), None);
}

#[test]
fn learner_sums_per_client_and_node_and_reports_refusals() {
    let mut l = Learner::default();
    for _ in 0..3 {
        assert!(l.record(7, 1, 100));
    }
    assert!(l.record(7, 2, 60));
    assert!(l.record(8, 1, 10));
    let mut got = Vec::new();
    assert_eq!(
        l.flush(9, |r| {
            got.push(r);
            true
        }),
        0
    );
    got.sort_by_key(|r| (r.client, r.node));
    assert_eq!(got.len(), 3);
    assert_eq!((got[0].packets, got[0].bytes, got[0].topology), (3, 300, 9));
    assert!(l.is_empty());
    // A refused report is counted; the learner is empty either way.
    for c in 0..100u128 {
        l.record(c, 0, 1);
    }
    assert_eq!(l.flush(1, |_| false), 100);
    assert!(l.is_empty());
    // Filling it: some records find no slot and say so.
    let refused = (0..(LEARNER_SLOTS as u128 * 2)).filter(|&c| !l.record(c, 0, 1)).count();
    assert!(refused >= LEARNER_SLOTS);
}
