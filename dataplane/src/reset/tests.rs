//! Unit tests of the reset module.

use super::*;

const HZ: u64 = 1_000_000; // ticks are microseconds here

fn conn(p: u16) -> Conn {
    Conn { client: Addr::v4([192, 0, 2, 1]), vip: Addr::v4([10, 10, 0, 1]), cport: p, vport: 2049 }
}

fn node(n: u8) -> Addr {
    Addr::v4([198, 51, 100, n])
}

fn resets(rate: u32, burst: u32, entries: u32) -> Resets {
    let cfg = ResetConfig {
        window_ms: 1000,
        rate_per_sec: rate,
        burst,
        table_entries: entries,
        prefix_rate_per_sec: rate,
        prefix_burst: burst,
        ..ResetConfig::default()
    };
    Resets::new(&cfg, HZ)
}

/// A RST from the owner (node 3) of a connection that moved.
fn moved(r: &mut Resets, c: Conn, seq: u32, now: u64) -> RstKind {
    let k = r.on_node_rst(c, seq, 77, now);
    if k == RstKind::Fresh {
        r.judged(c, seq, Judgement::Moved, Some(node(3)), now);
    }
    k
}

#[test]
fn a_moved_connection_fans_out_and_only_refusals_and_identical_rsts_are_kept_back() {
    let mut r = resets(1000, 10, 64);
    assert_eq!(moved(&mut r, conn(1), 500, 10), RstKind::Fresh);
    let mut p = Vec::new();
    r.take_pending(&mut p);
    assert_eq!(p.len(), 1);
    assert_eq!(p[0].owner, Some(node(3)));
    assert_eq!(r.on_node_rst(conn(1), 77, 77, 20), RstKind::Refusal, "a probed node's refusal");
    assert_eq!(r.on_node_rst(conn(1), 500, 77, 21), RstKind::Duplicate, "the same RST again");
    assert_eq!(r.on_node_rst(conn(1), 900, 77, 22), RstKind::UnderFanout, "the owner's next RST goes out");
    assert_eq!(r.on_node_rst(conn(1), 900, 77, 23), RstKind::Duplicate);
    assert_eq!(r.on_node_segment(conn(1), node(1), 30), Some(true), "challenge ACK → exact RST");
    assert_eq!(r.on_node_segment(conn(1), node(3), 30), None, "the owner's segments are its own");
    assert_eq!(r.on_node_segment(conn(2), node(1), 30), None, "other connections are untouched");
    let c = |k: ResetCounter| r.counters[k as usize];
    assert_eq!((c(ResetCounter::Refusals), c(ResetCounter::SuppressedDuplicate)), (1, 2));
    assert_eq!((c(ResetCounter::RstsForwarded), c(ResetCounter::Completions)), (2, 1));
    // After the window the connection is forgotten.
    assert_eq!(r.on_node_segment(conn(1), node(1), 10 + HZ + 1), None);
    assert_eq!(moved(&mut r, conn(1), 500, 10 + HZ + 1), RstKind::Fresh);
    assert_eq!(r.counters[ResetCounter::Fanouts], 2);
}

#[test]
fn rsts_for_connections_that_did_not_move_start_nothing() {
    let mut r = resets(1000, 10, 64);
    for (p, j) in [(1, Judgement::Stayed), (2, Judgement::NotOwner)] {
        assert_eq!(r.on_node_rst(conn(p), 9, 77, 5), RstKind::Fresh);
        r.judged(conn(p), 9, j, Some(node(0)), 5);
    }
    let mut v = Vec::new();
    r.take_pending(&mut v);
    assert!(v.is_empty());
    assert!(r.is_idle());
    let c = |k: ResetCounter| r.counters[k as usize];
    assert_eq!((c(ResetCounter::NotMoved), c(ResetCounter::NotOwner), c(ResetCounter::RstsForwarded)), (1, 1, 2));
}

#[test]
fn rate_limit_and_bounds() {
    let mut r = resets(10, 5, 64);
    let mut started = 0;
    for p in 0..1000u16 {
        assert_eq!(moved(&mut r, conn(p), 1, 1), RstKind::Fresh, "every node RST is still forwarded");
        let mut v = Vec::new();
        r.take_pending(&mut v);
        started += v.len();
    }
    assert_eq!(started, 5, "the bucket holds 5");
    assert_eq!(r.counters[ResetCounter::SuppressedRate], 995);
    // A second later the bucket is full again (5 of the 10 a second brings).
    for p in 1000..1100u16 {
        moved(&mut r, conn(p), 1, 1 + HZ);
        r.take_pending(&mut Vec::new());
    }
    assert_eq!(r.counters[ResetCounter::Fanouts], 10);
    let mut big = resets(1_000_000, 1_000_000, 64);
    for p in 0..10_000u16 {
        moved(&mut big, conn(p), 1, 5);
        big.take_pending(&mut Vec::new());
    }
    assert!(big.counters[ResetCounter::Entries] <= 64);
    assert!(big.counters[ResetCounter::Evictions] > 9_000);
    for _ in 0..10 {
        big.sweep(5 + 2 * HZ);
    }
    assert_eq!(big.counters[ResetCounter::Entries], 0);
}

#[test]
fn one_client_prefix_cannot_spend_the_workers_budget() {
    let cfg =
        ResetConfig { rate_per_sec: 100, burst: 40, prefix_rate_per_sec: 10, prefix_burst: 8, ..Default::default() };
    let mut r = Resets::new(&cfg, HZ);
    let hog = |p: u16| Conn { client: Addr::v4([203, 0, 113, (p % 200) as u8]), ..conn(p) };
    for p in 0..100 {
        r.on_node_rst(hog(p), 1, 77, 1);
        r.judged(hog(p), 1, Judgement::Moved, None, 1);
    }
    assert_eq!(r.counters[ResetCounter::Fanouts], 8);
    assert_eq!(r.counters[ResetCounter::SuppressedPrefix], 92);
    for p in 0..20 {
        moved(&mut r, conn(p), 1, 1);
    }
    assert_eq!(r.counters[ResetCounter::Fanouts], 16, "another prefix still starts its own 8");
    assert_eq!(r.counters[ResetCounter::SuppressedRate], 0, "the worker's budget is not spent");
}

#[test]
fn adopted_entries_answer_challenge_acks_on_any_worker() {
    let (mut a, mut b) = (resets(1000, 10, 64), resets(1000, 10, 64));
    moved(&mut a, conn(4), 1, 1);
    let mut p = Vec::new();
    a.take_pending(&mut p);
    b.adopt(&p[0], 2);
    assert_eq!(b.on_node_segment(conn(4), node(0), 3), Some(true));
    assert_eq!(b.on_node_segment(conn(4), node(3), 3), None, "the owner's segments pass");
    assert_eq!(b.counters[ResetCounter::Fanouts], 0, "only the starting worker counts the fan-out");
}

#[test]
fn completions_are_bounded_per_fanout() {
    let mut r = resets(1000, 10, 64);
    moved(&mut r, conn(9), 1, 1);
    let answers: Vec<_> = (0..100).map(|_| r.on_node_segment(conn(9), node(0), 2)).collect();
    assert_eq!(answers.iter().filter(|a| **a == Some(true)).count(), MAX_COMPLETIONS as usize);
    assert_eq!(r.counters[ResetCounter::Swallowed], 100 - MAX_COMPLETIONS as u64);
}

#[test]
fn cookies_are_keyed_and_never_zero() {
    let (a, b, other) = (ProbeCookie::new(b"key-one"), ProbeCookie::new(b"key-one"), ProbeCookie::new(b"key-two"));
    assert_eq!(a.of(&conn(1)), b.of(&conn(1)), "every worker agrees");
    assert_ne!(a.of(&conn(1)), a.of(&conn(2)));
    let differ = (0..100).filter(|p| a.of(&conn(*p)) != other.of(&conn(*p))).count();
    assert!(differ > 95, "another key, other cookies");
    assert!((0..1000).all(|p| a.of(&conn(p)) != 0));
}

#[test]
fn a_probed_fan_out_is_probed_again_once_after_reprobe_ms_while_its_entry_lives() {
    // window 1000 ms, reprobe 600 ms (the default); ticks are microseconds.
    let mut r = resets(1000, 10, 64);
    let mut p = Vec::new();
    for (port, at) in [(1, 10), (2, 20)] {
        moved(&mut r, conn(port), 500, at);
        r.take_pending(&mut p);
        r.schedule_reprobe(&p[0], at);
    }
    assert!(!r.reprobe_due(10 + 599_999), "not before reprobe_ms");
    assert_eq!(r.next_reprobe(10 + 599_999).map(|f| f.conn), None);
    assert!(r.reprobe_due(10 + 600_000));
    assert_eq!(r.next_reprobe(20 + 600_000).map(|f| f.conn), Some(conn(1)));
    assert_eq!(r.next_reprobe(20 + 600_000).map(|f| f.conn), Some(conn(2)));
    assert_eq!(r.next_reprobe(20 + 600_000).map(|f| f.conn), None, "once each");
    assert_eq!(r.counters[ResetCounter::Reprobes], 2);
    // A fan-out whose entry is gone by then (evicted, or a window shorter than the wait) is let go.
    moved(&mut r, conn(3), 500, 30);
    r.take_pending(&mut p);
    r.schedule_reprobe(&p[0], 30);
    assert!(r.reprobe_due(30 + 1_000_001));
    assert_eq!(r.next_reprobe(30 + 1_000_001).map(|f| f.conn), None);
    assert!(!r.reprobe_due(30 + 1_000_001));
    assert_eq!(r.counters[ResetCounter::Reprobes], 2);
}

#[test]
fn second_rounds_are_bounded_and_can_be_turned_off() {
    let mut r = resets(1_000_000, 1_000_000, 4096);
    let f = Fanout { conn: conn(1), owner: Some(node(3)), origin: Origin::NodeRst };
    for _ in 0..REPROBE_MAX + 5 {
        r.schedule_reprobe(&f, 1);
    }
    assert_eq!(r.counters[ResetCounter::ReprobesSkipped], 5);
    let cfg = ResetConfig { reprobe_ms: 0, ..ResetConfig::default() };
    let mut off = Resets::new(&cfg, HZ);
    off.schedule_reprobe(&f, 1);
    assert!(!off.reprobe_due(u64::MAX));
    assert_eq!(off.counters[ResetCounter::ReprobesSkipped], 0);
}
