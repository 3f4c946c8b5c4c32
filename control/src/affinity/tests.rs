//! Unit tests of the affinity module.

use super::*;
use crate::config::Config;

fn topo(states: &[(&str, NodeState)]) -> Topology {
    let t = include_str!("../../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    let mut c = Config::from_toml(&t).unwrap();
    for (n, s) in states {
        c.nodes.iter_mut().find(|x| x.name == *n).unwrap().state = *s;
    }
    Topology::build(&c)
}

fn cfg() -> AffinityConfig {
    AffinityConfig {
        enabled: true,
        idle_timeout_ms: 1000,
        rebalance_interval_ms: 1000,
        rebalance_min_packets: 10,
        max_entries: 100,
        ..Default::default()
    }
}

fn ip(s: &str) -> ClientId {
    ClientId::parse(ClientIdKind::Ip, s).unwrap()
}

#[test]
fn client_ids_parse_and_print() {
    assert_eq!(ip("10.0.0.1").display(ClientIdKind::Ip).to_string(), "10.0.0.1");
    assert_eq!(ip("2001:db8::7").display(ClientIdKind::Ip).to_string(), "2001:db8::7");
    let m = ClientId::parse(ClientIdKind::Mac, "02:00:00:00:c1:01").unwrap();
    assert_eq!(m, ClientId::from_mac([2, 0, 0, 0, 0xc1, 1]));
    assert_eq!(m.display(ClientIdKind::Mac).to_string(), "02:00:00:00:c1:01");
    assert_eq!(ClientId::parse(ClientIdKind::Ip, "02:00:00:00:c1:01").unwrap_err().field, "client");
    assert!(ClientId::parse(ClientIdKind::Mac, "10.0.0.1").unwrap_err().problem.contains("MAC"));
}

#[test]
fn learns_refreshes_and_ages() {
    let t = topo(&[]);
    let mut a = AffinityTable::new(&cfg(), 0);
    a.observe(ip("10.0.0.1"), "a1", 5, 500, 0);
    assert!(a.take_dirty() && !a.take_dirty());
    // Traffic that reached another CVM before the entry was published keeps it alive, unchanged.
    a.observe(ip("10.0.0.1"), "b1", 1, 100, 800);
    let e = a.get(ip("10.0.0.1")).unwrap();
    assert_eq!((&*e.node, e.packets, e.last_seen_ms), ("a1", 5, 800));
    assert_eq!(a.honoured(&t), vec![(ip("10.0.0.1"), t.node_index("a1").unwrap() as u16)]);
    assert_eq!(a.age(1800), 0);
    assert_eq!(a.age(1801), 1);
    assert!(a.is_empty() && a.take_dirty());
    assert_eq!((a.counters.learned, a.counters.aged), (1, 1));
    // Full: new clients are counted, not learned.
    let mut a = AffinityTable::new(&AffinityConfig { max_entries: 2, ..cfg() }, 0);
    for i in 0..3 {
        a.observe(ip(&format!("10.0.0.{i}")), "a1", 1, 1, 0);
    }
    assert_eq!((a.len(), a.counters.table_full), (2, 1));
}

#[test]
fn unavailable_cvms_shed_learned_entries_only() {
    let mut a = AffinityTable::new(&AffinityConfig { max_entries: 1000, ..cfg() }, 0);
    for i in 0..200 {
        a.observe(ip(&format!("10.0.{}.{}", i / 250, i % 250)), if i % 2 == 0 { "a1" } else { "b1" }, 1, 1, 0);
    }
    let pinned = ip("10.9.9.9");
    let t = topo(&[]);
    a.pin(pinned, "a1", &t, 0).unwrap();
    let down = topo(&[("a1", NodeState::Down)]);
    let moves = a.evacuate(&down);
    assert_eq!(moves.len(), 100, "exactly a1's learned entries move");
    assert!(moves.iter().all(|m| m.from == "a1" && m.to != "a1" && m.reason == MoveReason::CvmUnavailable));
    // They spread over the other three (b2 included), and b1's entries stay put.
    for n in ["a2", "b1", "b2"] {
        assert!(moves.iter().any(|m| m.to == n), "{n} takes some");
    }
    assert!(a.show(&Filter { node: Some("b1".into()), ..Default::default() }).unwrap().len() > 100);
    // The pin stays on a1 but is not honoured while a1 is down, and is again when it is back.
    assert_eq!(&*a.get(pinned).unwrap().node, "a1");
    assert!(!a.honoured(&down).iter().any(|(c, _)| *c == pinned));
    assert!(a.honoured(&t).iter().any(|(c, _)| *c == pinned));
    assert!(a.evacuate(&down).is_empty(), "nothing more to move");
}

#[test]
fn overload_moves_affinities_to_the_least_loaded_without_ping_pong() {
    let t = topo(&[]);
    let mut a = AffinityTable::new(&cfg(), 0);
    // a1 carries 70% of the bytes over 7 clients; the others 10% each.
    for i in 0..7 {
        a.observe(ip(&format!("10.0.0.{i}")), "a1", 10, 1000, 0);
    }
    a.observe(ip("10.0.1.1"), "a2", 10, 1000, 0);
    a.observe(ip("10.0.1.2"), "b1", 10, 1000, 0);
    a.observe(ip("10.0.1.3"), "b2", 10, 1000, 0);
    assert!(a.rebalance(&t, 999).is_empty(), "not before the interval");
    let moves = a.rebalance(&t, 1000);
    // Equal weights: a bound of 25% × 1.25 of 10 000 bytes = 3125 → a1 keeps 3 and sheds 4, one to each
    // of the others while they stay within their bound.
    assert_eq!(moves.len(), 4, "{moves:?}");
    assert!(moves.iter().all(|m| m.from == "a1" && m.reason == MoveReason::Overload));
    let count = |n: &str| a.show(&Filter { node: Some(n.into()), ..Default::default() }).unwrap().len();
    assert_eq!((count("a1"), count("a2"), count("b1"), count("b2")), (3, 3, 2, 2));
    // A single heavy client cannot be helped by moving it: it stays.
    let mut a = AffinityTable::new(&cfg(), 0);
    a.observe(ip("10.0.0.1"), "a1", 100, 100_000, 0);
    a.observe(ip("10.0.0.2"), "b1", 1, 10, 0);
    assert!(a.rebalance(&t, 1000).is_empty());
    // Too little traffic: no decision.
    let mut a = AffinityTable::new(&AffinityConfig { rebalance_min_packets: 1000, ..cfg() }, 0);
    for i in 0..7 {
        a.observe(ip(&format!("10.0.0.{i}")), "a1", 10, 1000, 0);
    }
    assert!(a.rebalance(&t, 1000).is_empty());
}

#[test]
fn pins_are_checked_and_flush_keeps_them() {
    let t = topo(&[("a2", NodeState::Draining), ("b1", NodeState::Down)]);
    let mut a = AffinityTable::new(&cfg(), 0);
    let c = ip("10.0.0.1");
    assert_eq!(a.pin(c, "zz", &t, 0).unwrap_err().problem, "no node \"zz\"");
    assert!(a.pin(c, "b1", &t, 0).unwrap_err().problem.contains("is down"));
    assert!(a.pin(c, "a2", &t, 0).unwrap_err().problem.contains("is draining"));
    assert!(a.is_empty(), "a refused pin changes nothing");
    a.observe(c, "a1", 1, 1, 0);
    a.pin(c, "b2", &t, 0).unwrap();
    assert_eq!(&*a.get(c).unwrap().node, "b2");
    a.observe(ip("10.0.0.2"), "a1", 1, 1, 0);
    assert_eq!(a.age(10_000), 1, "the learned one ages, the pin does not");
    a.observe(ip("10.0.0.3"), "a1", 1, 1, 0);
    assert_eq!(a.flush(None), 1);
    assert_eq!(a.len(), 1);
    assert_eq!(a.unpin(ip("10.0.0.3"), 0).unwrap_err().problem, "no affinity for this client");
    a.unpin(c, 20_000).unwrap();
    assert_eq!(a.unpin(c, 0).unwrap_err().problem, "not pinned");
    assert_eq!(a.flush(Some("a1")), 0);
    assert_eq!(a.flush(Some("b2")), 1);
}
