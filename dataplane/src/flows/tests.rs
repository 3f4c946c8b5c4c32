//! The flow table on its own: bounds, eviction order, the flood limit, timeouts and sweeps.

use super::*;
use crate::pipeline::Context;
use sluice_control::config::{Config, NodeState};
use sluice_control::Topology;

const HZ: u64 = 1_000_000;

fn ctx(states: &[(&str, NodeState)]) -> Context {
    let mut toml = String::from(
        "[eal]\nlcores = \"0,1\"\n\n[[ports]]\nname = \"c\"\ndevice = \"net_null0\"\nrole = \"client\"\nmac = \"02:00:00:00:00:01\"\n\
         addresses = [\"192.0.2.1\"]\ngateway_mac = \"02:00:00:00:00:fe\"\n\n[[ports]]\nname = \"n\"\ndevice = \"net_null1\"\nrole = \"node\"\nmac = \"02:00:00:00:01:01\"\n\
         addresses = [\"198.51.100.1\"]\n\n[[vips]]\naddress = \"10.10.0.1\"\n\n[[chassis]]\nname = \"c1\"\n",
    );
    for (i, (name, state)) in states.iter().enumerate() {
        let state = format!("{state:?}").to_lowercase();
        toml += &format!(
            "\n[[nodes]]\nname = \"{name}\"\nchassis = \"c1\"\nmac = \"02:00:00:00:0a:{:02x}\"\nip = \"198.51.100.{}\"\nstate = \"{state}\"\n",
            i + 1,
            i + 11
        );
    }
    let cfg = Config::from_toml(&toml).expect("config");
    Context::new(&cfg, Topology::build(&cfg), &[[2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 1, 1]], 1)
}

fn table(entries: u32, new_per_sec: u32) -> FlowTable {
    let cfg = FlowsConfig { entries_per_worker: entries, new_per_sec, ..FlowsConfig::default() };
    FlowTable::new(&cfg, HZ)
}

fn conn(i: u32) -> (Addr, Addr, u16, u16) {
    let client = Addr::v4((0xc000_0200 + (i >> 16)).to_be_bytes());
    (client, Addr::v4([10, 10, 0, 1]), (i & 0xffff) as u16, 2049)
}

fn look(t: &mut FlowTable, c: &Context, i: u32, flags: u8, now: u64) -> Lookup {
    let (a, b, x, y) = conn(i);
    t.lookup(c, (&a, &b, x, y), flags, now)
}

/// Sends connection `i`'s segment with `flags`; the tables' choice is `pick` when it has no entry.
fn send(t: &mut FlowTable, c: &Context, i: u32, flags: u8, pick: u16, now: u64) -> u16 {
    match look(t, c, i, flags, now) {
        Lookup::Node(n) => n,
        Lookup::Decide(tag) => {
            t.record(c, tag, pick, flags, now);
            pick
        }
        Lookup::Off => panic!("table off"),
    }
}

#[test]
fn an_established_connection_stays_on_its_node_while_the_tables_change_and_a_new_one_follows_them() {
    let c = ctx(&[("a", NodeState::Active), ("b", NodeState::Active)]);
    let mut t = table(1024, 1000);
    assert_eq!(send(&mut t, &c, 1, SYN, 0, 1), 0);
    assert_eq!(send(&mut t, &c, 1, ACK, 1, 2), 0, "tracked: the new pick is ignored");
    assert_eq!(t.tracked(c.nodes[0].flow_id as usize), 1);
    // A forged SYN or RST cannot unpin it: both go to its node, which ignores them (RFC 5961).
    assert_eq!(send(&mut t, &c, 1, SYN, 1, 3), 0);
    assert_eq!(send(&mut t, &c, 1, ACK, 1, 4), 0);
    assert_eq!(send(&mut t, &c, 1, RST | ACK, 1, 5), 0, "a client RST goes to the holder");
    assert_eq!(t.counters[FlowCounter::Closed], 1);
    assert_eq!(send(&mut t, &c, 1, ACK, 1, 6), 0, "and the entry stays until the closing timeout");
    // Once closing, a SYN on the same ports is a new connection, which follows the tables.
    assert_eq!(send(&mut t, &c, 1, SYN, 1, 7), 1);
    assert_eq!(t.counters[FlowCounter::Renewed], 1);
    assert_eq!((t.tracked(c.nodes[0].flow_id as usize), t.tracked(c.nodes[1].flow_id as usize)), (0, 1));
    assert_eq!(t.counters[FlowCounter::Entries], 1);
}

#[test]
fn a_draining_node_keeps_its_connections_until_its_deadline_and_a_down_one_loses_them_at_once() {
    let mut c = ctx(&[("a", NodeState::Draining), ("b", NodeState::Active), ("d", NodeState::Down)]);
    let mut t = table(1024, 1000);
    for i in 0..10 {
        send(&mut t, &c, i, ACK, 0, 1);
    }
    // Draining, no deadline yet: kept.
    assert!((0..10).all(|i| look(&mut t, &c, i, ACK, 2 * HZ) == Lookup::Node(0)));
    c.nodes[0].keep_until = 3 * HZ;
    assert!((0..10).all(|i| look(&mut t, &c, i, ACK, 3 * HZ - 1) == Lookup::Node(0)));
    // Past the deadline, half of them by their next segment, the rest by the sweep.
    assert!((0..5).all(|i| matches!(look(&mut t, &c, i, ACK, 3 * HZ), Lookup::Decide(_))));
    t.sweep(&c, 3 * HZ, usize::MAX);
    assert_eq!(t.tracked(c.nodes[0].flow_id as usize), 0);
    assert_eq!(t.counters[FlowCounter::Released], 10);
    // A released connection's next segment goes by the tables and is recorded `new`: when its client never
    // follows up (the new node refused it), it is forgotten after the closing timeout, not the idle one.
    assert!(matches!(look(&mut t, &c, 100, ACK, 5 * HZ), Lookup::Decide(_)));
    send(&mut t, &c, 100, ACK, 1, 5 * HZ);
    t.sweep(&c, 5 * HZ + 31 * HZ, usize::MAX);
    assert_eq!(t.tracked(c.nodes[1].flow_id as usize), 0);
    // A connection recorded to the down node (as the tables would never do) is released at once.
    send(&mut t, &c, 99, ACK, 2, 4 * HZ);
    assert!(matches!(look(&mut t, &c, 99, ACK, 4 * HZ), Lookup::Decide(_)));
}

#[test]
fn floods_of_syns_and_of_forged_segments_fill_no_more_than_the_table_and_evict_no_established_connection() {
    let c = ctx(&[("a", NodeState::Active), ("b", NodeState::Active)]);
    // 4096 places: 2000 established connections, then floods.
    let mut t = table(4096, 100_000_000);
    for i in 0..2000 {
        send(&mut t, &c, i, SYN, 1, 1);
        send(&mut t, &c, i, ACK, 1, 1);
    }
    assert_eq!(t.counters[FlowCounter::Entries], 2000, "two choices: no connection left out at half load");
    for i in 10_000..200_000 {
        send(&mut t, &c, i, SYN, 0, 2);
    }
    // Forged mid-stream segments, two per made-up connection (the second promotes it).
    for i in 200_000..220_000 {
        send(&mut t, &c, i, ACK, 0, 3);
        send(&mut t, &c, i, ACK, 0, 4);
    }
    assert!(t.counters[FlowCounter::Entries] <= t.capacity() as u64);
    assert!(t.counters[FlowCounter::Full] > 0, "full buckets refuse newcomers");
    let kept = (0..2000).filter(|&i| look(&mut t, &c, i, ACK, 5) == Lookup::Node(1)).count();
    assert_eq!(kept, 2000, "every established connection kept its entry");
    // A slow rate: 1000 a second, 100 in the bucket.
    let mut slow = table(1 << 16, 1000);
    for i in 0..1000 {
        send(&mut slow, &c, i, SYN, 0, 10 * HZ);
    }
    assert_eq!(slow.counters[FlowCounter::Inserted], 100);
    assert_eq!(slow.counters[FlowCounter::Flood], 900);
    // 50 ms later, 50 more.
    for i in 1000..2000 {
        send(&mut slow, &c, i, SYN, 0, 10 * HZ + HZ / 20);
    }
    assert_eq!(slow.counters[FlowCounter::Inserted], 150);
}

#[test]
fn entries_expire_by_state_and_a_full_table_leaves_newcomers_untracked() {
    let c = ctx(&[("a", NodeState::Active)]);
    let cfg =
        FlowsConfig { entries_per_worker: 1024, idle_timeout_s: 100, closing_timeout_s: 5, ..FlowsConfig::default() };
    let mut t = FlowTable::new(&cfg, HZ);
    send(&mut t, &c, 1, SYN, 0, HZ);
    send(&mut t, &c, 2, ACK, 0, HZ);
    send(&mut t, &c, 2, ACK, 0, HZ);
    send(&mut t, &c, 3, ACK, 0, HZ);
    send(&mut t, &c, 3, FIN | ACK, 0, HZ);
    send(&mut t, &c, 4, ACK, 0, HZ);
    t.sweep(&c, 7 * HZ, usize::MAX);
    assert_eq!(
        t.counters[FlowCounter::Expired],
        3,
        "the half-open one, the closing one, and the one seen once mid-stream and never again"
    );
    assert_eq!(look(&mut t, &c, 2, ACK, 7 * HZ), Lookup::Node(0));
    t.sweep(&c, 108 * HZ, usize::MAX);
    assert_eq!(t.counters[FlowCounter::Entries], 0);
    // More established connections than places: the table fills, and the rest go untracked.
    let mut tiny = table(1024, 100_000_000);
    for i in 0..100_000 {
        send(&mut tiny, &c, i, ACK, 0, HZ + i as u64);
        send(&mut tiny, &c, i, ACK, 0, HZ + i as u64);
    }
    assert_eq!(tiny.counters[FlowCounter::Entries], 1024);
    assert!(tiny.counters[FlowCounter::Full] >= 100_000 - 1024);
}

#[test]
fn the_table_is_sixteen_bytes_an_entry_and_a_cache_line_a_bucket() {
    assert_eq!(std::mem::size_of::<Entry>(), 16);
    assert_eq!(std::mem::size_of::<Bucket>(), 64);
    assert_eq!(table(1000, 1).capacity(), 1024);
    assert!(!FlowTable::new(&FlowsConfig { enabled: false, ..FlowsConfig::default() }, HZ).is_on());
}
