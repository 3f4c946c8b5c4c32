//! The affinity table against hostile clients: learning is capped per client prefix (IPv4 /24, IPv6
//! /64; none for MACs), the caps are released as entries go, and an operator's pin always finds room.

use sluice_control::affinity::{AffinityTable, ClientId};
use sluice_control::config::{AffinityConfig, ClientIdKind, Config};
use sluice_control::Topology;

fn topo() -> Topology {
    let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    Topology::build(&Config::from_toml(&t).unwrap())
}

fn cfg() -> AffinityConfig {
    AffinityConfig { enabled: true, idle_timeout_ms: 1000, ..Default::default() }
}

fn v6(prefix: u64, host: u64) -> ClientId {
    ClientId((prefix as u128) << 64 | host as u128)
}

fn v4(i: u32) -> ClientId {
    ClientId(0xffff_0000_0000 | i as u128)
}

const NET: u32 = 0x0a00_0000; // 10.0.0.0

#[test]
fn one_ipv6_slash_64_learns_at_most_its_cap() {
    let mut a = AffinityTable::new(&cfg(), 0);
    for h in 0..65_536u64 {
        a.observe(v6(0x2001_0db8_0000_0001, h.wrapping_mul(0x9e37_79b9_7f4a_7c15)), "a1", 1, 100, 0);
    }
    assert_eq!(a.len(), 256);
    assert_eq!((a.counters.learned, a.counters.prefix_full, a.counters.table_full), (256, 65_280, 0));
    assert_eq!(a.prefixes(), (256, 1));
    // Another /64 (even the next one) learns as before.
    for h in 0..10 {
        a.observe(v6(0x2001_0db8_0000_0002, h), "b1", 1, 100, 0);
    }
    assert_eq!((a.len(), a.counters.prefix_full), (266, 65_280));
    assert_eq!(a.learned_in_prefix(v6(0x2001_0db8_0000_0002, 99)), 10);
}

#[test]
fn sequential_ipv4_is_capped_per_slash_24() {
    // The default cap is a whole /24: 65,536 sequential addresses are all learned, 256 in each of 256.
    let mut a = AffinityTable::new(&cfg(), 0);
    for i in 0..65_536 {
        a.observe(v4(NET | i), "a1", 1, 100, 0);
    }
    assert_eq!((a.len(), a.counters.prefix_full), (65_536, 0));
    assert_eq!(a.prefixes(), (256, 256));
    // Beyond max_entries: the table, not the prefix, is full.
    a.observe(v4(0x0b00_0000), "a1", 1, 100, 0);
    assert_eq!((a.len(), a.counters.table_full, a.counters.prefix_full), (65_536, 1, 0));
    // A cap below a /24 holds for each of them.
    let mut a = AffinityTable::new(&AffinityConfig { max_entries_per_prefix: 16, ..cfg() }, 0);
    for i in 0..65_536 {
        a.observe(v4(NET | i), "a1", 1, 100, 0);
    }
    assert_eq!((a.len(), a.counters.prefix_full), (256 * 16, 65_536 - 256 * 16));
    assert_eq!(a.prefixes(), (16, 256));
    assert!((0..256).all(|p| a.learned_in_prefix(v4(NET | p << 8)) == 16));
}

#[test]
fn mac_clients_have_no_prefix_cap() {
    let mut a = AffinityTable::new(&AffinityConfig { client_id: ClientIdKind::Mac, ..cfg() }, 0);
    // One OUI (52:54:00, every KVM guest's): all learned.
    for i in 0..1000u32 {
        let b = i.to_be_bytes();
        a.observe(ClientId::from_mac([0x52, 0x54, 0, b[1], b[2], b[3]]), "a1", 1, 100, 0);
    }
    assert_eq!((a.len(), a.counters.prefix_full), (1000, 0));
    assert_eq!(a.prefixes(), (0, 0));
}

#[test]
fn aging_flushing_and_pins_give_a_prefix_its_room_back() {
    let t = topo();
    let mut a = AffinityTable::new(&AffinityConfig { max_entries_per_prefix: 4, ..cfg() }, 0);
    for i in 0..6 {
        a.observe(v4(NET | i), "a1", 1, 100, i as u64 * 100);
    }
    assert_eq!((a.len(), a.counters.prefix_full), (4, 2));
    // A pin takes its client out of the count (pins are not capped) and an unpin puts it back.
    a.pin(v4(NET), "b1", &t, 0).unwrap();
    assert_eq!(a.learned_in_prefix(v4(NET)), 3);
    a.pin(v4(NET | 200), "b1", &t, 0).unwrap();
    assert_eq!((a.len(), a.learned_in_prefix(v4(NET))), (5, 3));
    a.observe(v4(NET | 7), "a1", 1, 100, 500);
    assert_eq!(a.learned_in_prefix(v4(NET)), 4);
    a.observe(v4(NET | 8), "a1", 1, 100, 500);
    assert_eq!(a.counters.prefix_full, 3);
    a.unpin(v4(NET), 500).unwrap();
    assert_eq!(a.learned_in_prefix(v4(NET)), 5, "an unpin may take a prefix past its cap");
    // Aging frees room: 10.0.0.1 and .2 were last seen at 100 and 200.
    assert_eq!(a.age(1250), 2);
    assert_eq!(a.learned_in_prefix(v4(NET)), 3);
    a.observe(v4(NET | 9), "a1", 1, 100, 1250);
    assert_eq!(a.learned_in_prefix(v4(NET)), 4);
    // So does a flush; the pin stays and is not counted.
    assert_eq!(a.flush(None), 4);
    assert_eq!((a.len(), a.learned_in_prefix(v4(NET))), (1, 0));
}

#[test]
fn a_pin_evicts_the_least_recently_seen_learned_entry_of_a_full_table() {
    let t = topo();
    let mut a = AffinityTable::new(&AffinityConfig { max_entries: 4, ..cfg() }, 0);
    for (i, seen) in [(1, 300), (2, 100), (3, 200), (4, 400)] {
        a.observe(v4(NET | i), "a1", 1, 100, seen);
    }
    a.observe(v4(NET | 5), "a1", 1, 100, 500);
    assert_eq!((a.len(), a.counters.table_full), (4, 1));
    a.pin(v4(NET | 5), "b2", &t, 600).unwrap();
    assert_eq!((a.len(), a.counters.evicted), (4, 1));
    assert!(a.get(v4(NET | 2)).is_none(), "10.0.0.2, seen longest ago, made room");
    assert_eq!(&*a.get(v4(NET | 5)).unwrap().node, "b2");
    assert_eq!(a.learned_in_prefix(v4(NET)), 3);
    // Re-pinning a client already in the table evicts nothing.
    a.pin(v4(NET | 5), "b1", &t, 600).unwrap();
    a.pin(v4(NET | 1), "b1", &t, 600).unwrap();
    assert_eq!((a.len(), a.counters.evicted), (4, 1));
    // Pins evict learned entries until only pins are left; then a pin is refused and nothing changes.
    a.pin(v4(NET | 6), "b1", &t, 600).unwrap();
    a.pin(v4(NET | 7), "b1", &t, 600).unwrap();
    assert_eq!((a.len(), a.counters.evicted), (4, 3));
    assert_eq!(a.prefixes(), (0, 0));
    let e = a.pin(v4(NET | 8), "b1", &t, 600).unwrap_err();
    assert_eq!(e.problem, "the table is full of pins (4 entries)");
    assert_eq!((a.len(), a.counters.evicted), (4, 3));
    // A refused pin (a node that is not active) evicts nothing either.
    let mut a = AffinityTable::new(&AffinityConfig { max_entries: 1, ..cfg() }, 0);
    a.observe(v4(NET | 1), "a1", 1, 100, 0);
    assert!(a.pin(v4(NET | 2), "zz", &t, 0).is_err());
    assert_eq!((a.len(), a.counters.evicted), (1, 0));
}

/// What `honoured` should say, worked out from the entries by name.
fn by_name(a: &AffinityTable, t: &Topology) -> Vec<(ClientId, u16)> {
    use sluice_control::config::NodeState;
    let mut v: Vec<(ClientId, u16)> = a
        .show(&Default::default())
        .unwrap()
        .into_iter()
        .filter_map(|(c, e)| {
            let i = t.node_index(&e.node)?;
            (t.nodes[i].state == NodeState::Active && t.nodes[i].weight > 0).then_some((c, i as u16))
        })
        .collect();
    v.sort_unstable();
    v
}

fn honoured(a: &AffinityTable, t: &Topology) -> Vec<(ClientId, u16)> {
    let mut v = a.honoured(t);
    v.sort_unstable();
    v
}

#[test]
fn honoured_entries_resolve_to_their_nodes_through_moves_and_flushes() {
    use sluice_control::config::NodeState;
    let t = topo();
    let names: Vec<String> = t.nodes.iter().map(|n| n.name.clone()).collect();
    let mut a = AffinityTable::new(&cfg(), 0);
    for i in 0..400 {
        a.observe(v4(NET | i), &names[i as usize % names.len()], 1, 100, 0);
    }
    a.pin(v4(NET | 1000), "b2", &t, 0).unwrap();
    assert_eq!(honoured(&a, &t).len(), 401);
    assert_eq!(honoured(&a, &t), by_name(&a, &t));
    // a1 down: its learned entries move, and nothing is honoured on it.
    let mut c = Config::from_toml(
        &include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b"),
    )
    .unwrap();
    c.nodes.iter_mut().find(|n| n.name == "a1").unwrap().state = NodeState::Down;
    let down = Topology::build(&c);
    assert_eq!(a.evacuate(&down).len(), 100);
    assert_eq!(honoured(&a, &down), by_name(&a, &down));
    assert_eq!(honoured(&a, &down).len(), 401);
    // Everything learned forgotten and learned again on one node: still resolved.
    a.flush(None);
    for i in 0..50 {
        a.observe(v4(NET | i), "b1", 1, 100, 0);
    }
    assert_eq!(honoured(&a, &t), by_name(&a, &t));
    assert_eq!(honoured(&a, &t).len(), 51);
}
