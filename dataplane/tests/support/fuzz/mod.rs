//! A structure-aware mutation fuzzer over the pure pipeline (stable Rust, no instrumentation): frames
//! drawn from a corpus of valid seeds and mutated ([`mutate`]) go through every target appliance
//! ([`targets`]) with one worker state each, carried across frames so that soft state accumulates, in
//! buffers of varied headroom and tailroom; every output is checked ([`verify`]) and every write is
//! kept inside the frame. A frame that makes some target do something not seen before (a verdict, a
//! counter moved, for a layout of frame) joins the corpus, as do the frames the pipeline writes itself
//! (fan-out and peer frames), so the corpus drifts toward the deeper paths.
//!
//! Included by `tests/fuzz.rs` (a short run) and `examples/fuzz_pipeline.rs` (long runs).
#![allow(dead_code)]

pub mod layout;
pub mod mutate;
pub mod seeds;
pub mod targets;
pub mod verify;

use std::collections::HashSet;
use std::panic::AssertUnwindSafe;

use sluice_control::config::{NodeState, Role};
use sluice_dataplane::pipeline::{process, DropReason, FrameBuf, KeyCounter, Verdict};
use sluice_dataplane::reset::probe_to;
use sluice_dataplane::reset::{write_fanout_frame, write_peer_frame, write_probe, Fanout, ResetCounter};

use mutate::{Known, Rng};
use seeds::Seed;
use targets::Target;

/// Histogram slots: forwarded to a node, to a client, a reply, to the portal, then one per drop reason.
pub const SLOTS: usize = 4 + DropReason::COUNT;
/// Bytes around a frame in its buffer that nothing may write.
const CANARY: u8 = 0xa5;
/// Frames the corpus holds beyond its seeds.
const CORPUS_MAX: usize = 4096;
/// Fan-out and peer frames the pipeline wrote that join the corpus, at most.
const WRITTEN_KEPT: usize = 256;

pub fn slot(v: Verdict) -> usize {
    match v {
        Verdict::Node { .. } => 0,
        Verdict::Client { .. } => 1,
        Verdict::Reply { .. } => 2,
        Verdict::Portal => 3,
        Verdict::Drop(r) => 4 + r as usize,
    }
}

pub fn slot_name(i: usize) -> &'static str {
    match i {
        0 => "to_node",
        1 => "to_client",
        2 => "reply",
        3 => "portal",
        _ => DropReason::ALL[i - 4].as_str(),
    }
}

/// A frame the pipeline panicked on, or whose output failed a check.
#[derive(Debug, Clone)]
pub struct Finding {
    pub target: &'static str,
    pub port: u16,
    pub headroom: usize,
    pub tailroom: usize,
    /// The pipeline call it happened on (earlier frames built the soft state).
    pub at: u64,
    pub what: String,
    pub frame: Vec<u8>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hex: String = self.frame.iter().map(|b| format!("{b:02x}")).collect();
        write!(
            f,
            "{}: target {} port {} headroom {} tailroom {} (call {})\n  frame {hex}",
            self.what, self.target, self.port, self.headroom, self.tailroom, self.at
        )
    }
}

pub struct Fuzzer {
    pub rng: Rng,
    pub targets: Vec<Target>,
    pub corpus: Vec<Seed>,
    seeds: usize,
    known: Known,
    seen: HashSet<u64>,
    sig: ahash::RandomState,
    /// The worker clock (a tick is a microsecond).
    pub now: u64,
    retired: u64,
    /// Catch a panic, record it and carry on with a fresh worker state (else the panic propagates).
    pub catch_panics: bool,
    /// Headroom and tailroom for every frame (else drawn per frame).
    pub room: Option<(usize, usize)>,
    /// Pipeline calls made, and their verdicts per target.
    pub frames: u64,
    pub verdicts: Vec<[u64; SLOTS]>,
    /// Frames the pipeline's reset path made it write (probes, fan-out and peer frames), all checked.
    pub written: u64,
    written_kept: usize,
    /// Frames let out (to a node, a client or as a reply), and of those the ones whose checksums were
    /// verified (the input's verified, or sluice wrote the frame itself).
    pub forwarded: u64,
    pub verified: u64,
    pub findings: Vec<Finding>,
    buf: Vec<u8>,
    /// The last output's place in `buf`.
    last: (usize, usize),
    pending: Vec<Fanout>,
}

impl Fuzzer {
    pub fn new(seed: u64) -> Fuzzer {
        let targets = targets::all();
        let corpus = seeds::all(&targets);
        Fuzzer {
            rng: Rng::new(seed),
            known: targets::known(&targets),
            verdicts: vec![[0; SLOTS]; targets.len()],
            targets,
            seeds: corpus.len(),
            corpus,
            seen: HashSet::new(),
            sig: ahash::RandomState::with_seeds(1, 2, 3, 4),
            now: 1,
            retired: 0,
            catch_panics: false,
            room: None,
            frames: 0,
            written: 0,
            written_kept: 0,
            forwarded: 0,
            verified: 0,
            findings: Vec::new(),
            buf: Vec::new(),
            last: (0, 0),
            pending: Vec::new(),
        }
    }

    /// One frame from the corpus, mutated (mostly), through every target.
    pub fn step(&mut self) {
        let (frame, port) = self.draw();
        let input_ok = verify::verifies(&frame).is_ok();
        for t in 0..self.targets.len() {
            self.now += self.rng.below(1000) as u64;
            if self.rng.one_in(20_000) {
                self.now += 3 * targets::TICKS_PER_SEC;
            }
            self.run(t, port, &frame, input_ok);
        }
        if self.frames % 640 < self.targets.len() as u64 {
            self.maintain();
        }
    }

    /// The next frame to try and the port it arrives on: from the corpus, mutated (mostly), now and
    /// then on the other port.
    pub fn draw(&mut self) -> (Vec<u8>, u16) {
        let Fuzzer { rng, corpus, known, seeds, .. } = self;
        // Half the time a seed, else anything in the corpus.
        let from = if rng.one_in(2) { *seeds } else { corpus.len() };
        let s = &corpus[rng.below(from)];
        let (mut frame, mut port) = (s.frame.clone(), s.port);
        if !rng.one_in(16) {
            let other = &corpus[rng.below(corpus.len())].frame;
            mutate::mutate(rng, &mut frame, other, known);
        }
        if rng.one_in(8) {
            port ^= 1;
        }
        (frame, port)
    }

    /// The frame the last call left in its buffer.
    pub fn last_output(&self) -> &[u8] {
        &self.buf[self.last.0..self.last.0 + self.last.1]
    }

    /// Runs `frame` through target `t` on `port`, checks what comes out, and learns from it. None: it
    /// panicked.
    pub fn run(&mut self, t: usize, port: u16, frame: &[u8], input_ok: bool) -> Option<Verdict> {
        let (headroom, tailroom) = self.room.unwrap_or_else(|| {
            (
                *self.rng.pick(&[128, 128, 128, 0, 14, 33, 34, 54, 60]),
                *self.rng.pick(&[64, 64, 0, 1, 31, 2048usize.saturating_sub(frame.len())]),
            )
        });
        let end = headroom + frame.len();
        self.buf.clear();
        self.buf.resize(end + tailroom, CANARY);
        self.buf[headroom..end].copy_from_slice(frame);
        let (now, catch) = (self.now, self.catch_panics);
        let Fuzzer { targets, buf, .. } = self;
        let target = &mut targets[t];
        let before = (target.st.keys, target.st.resets.counters);
        let mut call = || {
            let mut f = FrameBuf::new(buf, headroom, frame.len());
            let v = process(&target.ctx, port, &mut f, &mut target.st, now);
            (v, f.start(), f.len())
        };
        let result = if catch { std::panic::catch_unwind(AssertUnwindSafe(call)) } else { Ok(call()) };
        self.frames += 1;
        let finding = |what: String| Finding {
            target: self.targets[t].name,
            port,
            headroom,
            tailroom,
            at: self.frames,
            what,
            frame: frame.to_vec(),
        };
        let (v, start, len) = match result {
            Ok(r) => r,
            Err(panic) => {
                let msg =
                    panic.downcast_ref::<String>().cloned().or(panic.downcast_ref::<&str>().map(|s| s.to_string()));
                let f = finding(format!("panic: {}", msg.unwrap_or_default()));
                self.findings.push(f);
                self.targets[t].reset_state();
                return None;
            }
        };
        self.last = (start, len);
        self.verdicts[t][slot(v)] += 1;
        let (lo, hi) = (headroom.min(start), end.max(start + len));
        let mut problem = None;
        if start + len > self.buf.len() || self.buf[..lo].iter().chain(&self.buf[hi..]).any(|&b| b != CANARY) {
            problem = Some("wrote outside the frame".to_string());
        } else {
            match verify::output(&self.targets[t].ctx, port, frame, input_ok, v, &self.buf[start..start + len]) {
                Ok(verified) => self.verified += verified as u64,
                Err(e) => problem = Some(format!("{v:?}: {e}")),
            }
        }
        self.forwarded += (slot(v) < 3) as u64;
        if let Some(p) = problem {
            let f = finding(p);
            self.findings.push(f);
            return Some(v);
        }
        // Something new: this target, port and verdict, with these counters moved, for this layout.
        let st = &self.targets[t].st;
        let moved = (0..KeyCounter::COUNT).filter(|&i| st.keys[i] != before.0[i]).fold(0u64, |m, i| m | 1 << i)
            | (0..ResetCounter::COUNT)
                .filter(|&i| st.resets.counters[i] != before.1[i])
                .fold(0u64, |m, i| m | 1 << (16 + i));
        let l = layout::scan(frame);
        let kind = [0x0800, 0x86dd, 0x0806, 0x88b5].iter().position(|&e| e == l.ethertype);
        let proto = |p: u8| [1, 4, 6, 17, 41, 58].iter().position(|&x| x == p);
        let shape = (l.tags, kind, l.ip.map(|i| (proto(i.proto), i.fragment)), l.inner.map(|i| proto(i.proto)));
        if self.seen.insert(self.sig.hash_one((t, port, slot(v), moved, shape))) {
            self.add(frame.to_vec(), port);
            if let Verdict::Node { .. } = v {
                // What a spine sends down is what a chassis appliance takes in on its spine side.
                let out = self.buf[start..start + len].to_vec();
                self.add(out, 0);
            }
        }
        Some(v)
    }

    fn add(&mut self, frame: Vec<u8>, port: u16) {
        let s = Seed { frame, port };
        if self.corpus.len() < self.seeds + CORPUS_MAX {
            self.corpus.push(s);
        } else {
            let i = self.seeds + self.rng.below(CORPUS_MAX);
            self.corpus[i] = s;
        }
    }

    /// What a worker does between bursts: send the fan-outs its frames started (every frame it writes
    /// checked, peer and fan-out frames added to the corpus), hand over health answers and affinity
    /// reports, sweep; and now and then adopt a new snapshot whose prior is the last change.
    pub fn maintain(&mut self) {
        let now = self.now;
        let rejudge = now - self.retired > 4 * targets::TICKS_PER_SEC;
        for t in 0..self.targets.len() {
            let mut pending = std::mem::take(&mut self.pending);
            self.targets[t].st.resets.take_pending(&mut pending);
            for f in pending.drain(..) {
                self.written_for(t, &f);
            }
            self.pending = pending;
            let tg = &mut self.targets[t];
            tg.st.health.drain().for_each(drop);
            let accept = self.rng.one_in(2);
            tg.st.learn.flush(tg.ctx.topology_id, |_| accept);
            tg.st.resets.sweep(now);
            tg.st.flows.sweep(&tg.ctx, now, 64);
            if rejudge {
                // A new snapshot: the change undone (or done again), the one before it its prior.
                std::mem::swap(&mut tg.ctx, &mut tg.before);
                tg.retire_prior(now);
                tg.st.resets.rejudge(&tg.ctx, now);
            }
        }
        if rejudge {
            self.retired = now;
        }
    }

    /// The frames a worker writes for fan-out `f` of target `t`, as the worker writes them, checked.
    fn written_for(&mut self, t: usize, f: &Fanout) {
        let ctx = &self.targets[t].ctx;
        let mut buf = [0u8; 256];
        let mut out: Vec<(Vec<u8>, u16)> = Vec::new();
        let mut problems = Vec::new();
        if ctx.role == Role::Spine {
            for (mac, port) in ctx.chassis_links.iter().flatten() {
                let n = write_fanout_frame(&mut buf, &f.conn, *mac, ctx.ports[*port as usize].mac).expect("room");
                out.push((buf[..n].to_vec(), 0));
            }
        } else {
            let cookie = ctx.cookie.of(&f.conn);
            for &(mac, port) in &ctx.peers {
                let src = ctx.ports[port as usize].mac;
                let n = write_peer_frame(&mut buf, &f.conn, cookie, f.owner, mac, src).expect("room");
                out.push((buf[..n].to_vec(), 1));
            }
            for (n, node) in ctx.topology.nodes.iter().enumerate() {
                let outside = ctx.role == Role::Chassis && Some(node.chassis) != ctx.this_chassis;
                if node.state == NodeState::Down || f.owner == Some(ctx.nodes[n].ip) || outside {
                    continue;
                }
                let len = write_probe(&mut buf[64..], &f.conn, cookie).expect("room");
                let mut fr = FrameBuf::new(&mut buf, 64, len);
                let v = probe_to(ctx, &mut fr, n as u16, &f.conn);
                let (s, l) = (fr.start(), fr.len());
                let want = Verdict::Node { node: n as u16, port: ctx.nodes[n].port };
                if v != want {
                    problems.push(format!("probe to node {n}: {v:?}"));
                } else if let Err(e) = verify::verifies(&buf[s..s + l]) {
                    problems.push(format!("probe to node {n}: {e}"));
                }
                self.written += 1;
            }
        }
        // The probe a fan-out or peer frame carries, behind an Ethernet header of its own, verifies.
        let skip = if ctx.role == Role::Spine { 4 } else { 21 };
        for (frame, port) in out {
            let ty: &[u8] = if frame[14 + skip] >> 4 == 6 { &[0x86, 0xdd] } else { &[0x08, 0x00] };
            if let Err(e) = verify::verifies(&[&frame[..12], ty, &frame[14 + skip..]].concat()) {
                problems.push(format!("fan-out frame: {e}"));
            }
            self.written += 1;
            // A few: there are many, and they are much alike.
            if self.written_kept < WRITTEN_KEPT && self.rng.one_in(32) {
                self.written_kept += 1;
                self.add(frame, port);
            }
        }
        for what in problems {
            let frame = Vec::new();
            self.findings.push(Finding {
                target: self.targets[t].name,
                port: 0,
                headroom: 64,
                tailroom: 0,
                at: self.frames,
                what,
                frame,
            });
        }
    }

    /// Verdicts summed over targets.
    pub fn totals(&self) -> [u64; SLOTS] {
        let mut s = [0; SLOTS];
        for v in &self.verdicts {
            for (a, b) in s.iter_mut().zip(v) {
                *a += b;
            }
        }
        s
    }

    /// A reset counter summed over targets.
    pub fn reset_counter(&self, c: ResetCounter) -> u64 {
        self.targets.iter().map(|t| t.st.resets.counters[c as usize]).sum()
    }

    /// The verdict mix and the reset path's depth, as text.
    pub fn report(&self) -> String {
        let totals = self.totals();
        let mut s = format!(
            "{} frames, {} verdicts, {} findings, corpus {} ({} seeds)\n",
            self.frames,
            totals.iter().sum::<u64>(),
            self.findings.len(),
            self.corpus.len(),
            self.seeds
        );
        for (i, n) in totals.iter().enumerate().filter(|(_, n)| **n > 0) {
            s += &format!("  {:<22} {:>12}  {:6.3}%\n", slot_name(i), n, *n as f64 * 100.0 / self.frames.max(1) as f64);
        }
        s += "  reset path:";
        for c in [
            ResetCounter::Fanouts,
            ResetCounter::PeerEntries,
            ResetCounter::Completions,
            ResetCounter::Refusals,
            ResetCounter::Deferred,
            ResetCounter::Rejudged,
        ] {
            s += &format!(" {} {}", c.as_str(), self.reset_counter(c));
        }
        s += &format!("; frames written for fan-outs {}\n", self.written);
        s += &format!("  forwarded {}, checksums verified on {}\n", self.forwarded, self.verified);
        s
    }
}
