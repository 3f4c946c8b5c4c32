//! The pipeline fuzzed (see `support/fuzz`): a short run through every role, which must find nothing
//! and must reach the deep paths (fan-outs, exact RSTs, peers' entries, health answers); the seeds
//! themselves pass every check unmutated. `SLUICE_FUZZ_FRAMES` and `SLUICE_FUZZ_SEED` change the run;
//! `examples/fuzz_pipeline.rs` is the long one.

#[path = "support/fuzz/mod.rs"]
mod fuzz;
mod support;

use fuzz::{slot, Fuzzer};
use sluice_dataplane::pipeline::{DropReason, Verdict};
use sluice_dataplane::reset::ResetCounter;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn findings(fz: &Fuzzer) -> String {
    fz.findings.iter().take(10).map(|f| format!("{f}\n")).collect()
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
    let reached = [
        Verdict::Node { node: 0, port: 0 },
        Verdict::Client { port: 0 },
        Verdict::Reply { port: 0 },
        Verdict::Drop(DropReason::FanoutReceived),
        Verdict::Drop(DropReason::HealthAnswer),
        Verdict::Drop(DropReason::ResetSwallowed),
        Verdict::Drop(DropReason::MalformedIpv4),
        Verdict::Drop(DropReason::MalformedIpv6),
        Verdict::Drop(DropReason::MalformedL4),
        Verdict::Drop(DropReason::Ipv6ExtLimit),
        Verdict::Drop(DropReason::NoHeadroom),
        Verdict::Drop(DropReason::NoNode),
        Verdict::Drop(DropReason::EncapTooBig),
    ];
    for v in reached {
        assert!(totals[slot(v)] > 0, "{v:?} never reached:\n{}", fz.report());
    }
    for c in [ResetCounter::Fanouts, ResetCounter::Completions, ResetCounter::PeerEntries, ResetCounter::Refusals] {
        assert!(fz.reset_counter(c) > 0, "{} never counted:\n{}", c.as_str(), fz.report());
    }
    assert!(fz.written > 0);
}
