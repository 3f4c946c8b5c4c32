//! The pipeline fuzzed (see `support/fuzz`): a short run through every role, which must find nothing
//! and must reach the deep paths (fan-outs, exact RSTs, peers' entries, health answers); the seeds
//! themselves pass every check unmutated. `SLUICE_FUZZ_FRAMES` and `SLUICE_FUZZ_SEED` change the run;
//! `examples/fuzz_pipeline.rs` is the long one.

#[path = "support/fuzz/mod.rs"]
mod fuzz;
mod support;

use fuzz::{slot, Fuzzer};
use sluice_dataplane::pipeline::{DropReason, KeyCounter, Verdict};
use sluice_dataplane::reset::ResetCounter;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn findings(fz: &Fuzzer) -> String {
    fz.findings.iter().take(10).map(|f| format!("{f}\n")).collect()
}

/// Frames the fuzzer found something on, with the port they came in on; each goes through every target.
const FOUND: &[(u16, &str)] = &[
    // An echo request to the node port's address whose identifier, sequence and payload are all 0: the
    // reply's incrementally updated checksum came out 0x0000 (ones' complement +0), which fails every
    // receiver's check; the only valid one is 0xffff.
    (1, "02000000010102000000c10108004500001c0000400040014e7ac0000232c63364010800f7ff0000000045010001"),
    // IP-in-IP from a node carrying a first fragment of an IPv6-in-IPv4 packet from the VIP, and IPv6-in-IP
    // carrying IPv6-in-IPv6 whose innermost packet is a first fragment: decapsulated to the client as they
    // are (the checker had taken a fragment's payload for a packet, once the tunnel was unwrapped).
    (
        1,
        "020000000a02020000000a0288a8099708004500003c7f00400040045572cb007116c6336401450000280000600040294e70\
         0a0a0001c00002320801080100001092000000005004ffffc7280000",
    ),
    (
        1,
        "020000000101020000000b02080045000085000040004029d404cb007116c6336401600000000049294020010db80010000000\
         0000000000000120010db8020000000000000000000033600000000021004020010db8000c000000000000000005b120010db8\
         0010000000000000000000012c0001040000000011000001000012349c43080100600000646174616772616d21",
    ),
];

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap()).collect()
}

#[test]
fn frames_the_fuzzer_found_pass_every_check() {
    let mut fz = Fuzzer::new(0);
    fz.room = Some((128, 64));
    for (port, h) in FOUND {
        let frame = hex(h);
        let ok = fuzz::verify::verifies(&frame).is_ok();
        for t in 0..fz.targets.len() {
            fz.run(t, *port, &frame, ok);
        }
    }
    assert!(fz.findings.is_empty(), "{}", findings(&fz));
    let totals = fz.totals();
    assert!(totals[slot(Verdict::Reply { port: 0 })] > 0 && totals[slot(Verdict::Client { port: 0 })] > 0);
}

#[test]
fn seeds_pass_every_check_on_every_target() {
    let mut fz = Fuzzer::new(0);
    let seeds = fz.corpus.clone();
    for s in &seeds {
        let ok = fuzz::verify::verifies(&s.frame).is_ok();
        for t in 0..fz.targets.len() {
            fz.run(t, s.port, &s.frame, ok);
        }
    }
    assert!(fz.findings.is_empty(), "{}", findings(&fz));
    let totals = fz.totals();
    for v in [Verdict::Node { node: 0, port: 0 }, Verdict::Client { port: 0 }, Verdict::Reply { port: 0 }] {
        assert!(totals[slot(v)] > 0, "{v:?} never reached:\n{}", fz.report());
    }
}

#[test]
fn fuzzed_frames_through_every_role_find_nothing_and_reach_the_reset_path() {
    let mut fz = Fuzzer::new(env("SLUICE_FUZZ_SEED", 1));
    let frames = env("SLUICE_FUZZ_FRAMES", 200_000);
    while fz.frames < frames {
        fz.step();
    }
    fz.maintain();
    eprintln!("{}", fz.report());
    assert!(fz.findings.is_empty(), "{} findings:\n{}", fz.findings.len(), findings(&fz));
    let totals = fz.totals();
    assert_eq!(totals.iter().sum::<u64>(), fz.frames, "one verdict per frame");
    let reached = [
        Verdict::Node { node: 0, port: 0 },
        Verdict::Client { port: 0 },
        Verdict::Reply { port: 0 },
        Verdict::Portal,
        Verdict::Drop(DropReason::FanoutReceived),
        Verdict::Drop(DropReason::HealthAnswer),
        Verdict::Drop(DropReason::ResetSwallowed),
        Verdict::Drop(DropReason::MalformedIpv4),
        Verdict::Drop(DropReason::MalformedIpv6),
        Verdict::Drop(DropReason::MalformedL4),
        Verdict::Drop(DropReason::Ipv6ExtLimit),
        Verdict::Drop(DropReason::NoHeadroom),
        Verdict::Drop(DropReason::NoNode),
    ];
    for v in reached {
        assert!(totals[slot(v)] > 0, "{v:?} never reached:\n{}", fz.report());
    }
    // Packets too big for an IP-in-IP node: answered with ICMP (DF set) or dropped (no DF, or the
    // answers' budget spent). Which of the two a run reaches depends on the soft state, whose flow-table
    // key is random per process.
    let answered: u64 = fz.targets.iter().map(|t| t.st.keys[KeyCounter::TooBigSent]).sum();
    let too_big = totals[slot(Verdict::Drop(DropReason::EncapTooBig))] + answered;
    assert!(too_big > 0, "no packet too big for an IP-in-IP node:\n{}", fz.report());
    for c in [ResetCounter::Fanouts, ResetCounter::Completions, ResetCounter::PeerEntries, ResetCounter::Refusals] {
        assert!(fz.reset_counter(c) > 0, "{} never counted:\n{}", c.as_str(), fz.report());
    }
    assert!(fz.written > 0);
}
