//! Long runs of the pipeline fuzzer (`tests/support/fuzz`): frames per second, the verdict mix, and
//! every finding with the frame that caused it, in hex. A panic is caught, reported and the run goes on
//! (build with the `fuzz` profile: release code, panics unwind, overflow checked).
//!
//!   cargo run --profile fuzz -p sluice-dataplane --example fuzz_pipeline -- --frames 100000000 --seed 1
//!   cargo run --profile fuzz -p sluice-dataplane --example fuzz_pipeline -- \
//!       --replay TARGET PORT HEX [HEADROOM TAILROOM]
//!
//!   cargo run --profile fuzz -p sluice-dataplane --example fuzz_pipeline -- \
//!       --frames 2000000 --pcap-out DIR [COUNT]
//!
//! `--frames` counts pipeline calls (each generated frame goes through every target). `--replay` runs
//! one frame on a fresh target and prints the verdict, the output and any finding; a finding it does not
//! reproduce depended on soft state that earlier frames built, which a rerun with the same seed rebuilds
//! (nearly: the soft-state tables are keyed per process). `--pcap-out` fuzzes first, so that the corpus
//! drifts toward the deeper paths, then draws COUNT (32768) more frames the same way and writes them to
//! DIR/client.pcap and DIR/node.pcap by the port they arrive on, for `scripts/soak.sh` to replay through
//! the real binary (frames over 2048 bytes, more than one default mbuf holds, are left out). The exit
//! status is 1 when anything was found.

#[path = "../tests/support/fuzz/mod.rs"]
mod fuzz;
#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::time::Instant;

use fuzz::Fuzzer;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2).map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex")).collect()
}

fn replay(args: &[String]) -> bool {
    let mut fz = Fuzzer::new(0);
    let t = fz.targets.iter().position(|t| t.name == args[0]).unwrap_or_else(|| {
        let names: Vec<&str> = fz.targets.iter().map(|t| t.name).collect();
        panic!("no target {}: {names:?}", args[0])
    });
    let (port, frame) = (args[1].parse().expect("port"), hex(&args[2]));
    let room = |i: usize, d: usize| args.get(i).map_or(d, |a| a.parse().expect("a number"));
    fz.room = Some((room(3, 128), room(4, 64)));
    fz.catch_panics = true;
    let ok = fuzz::verify::verifies(&frame).is_ok();
    let v = fz.run(t, port, &frame, ok);
    println!("verdict {v:?} (input verifies: {ok})");
    if v.is_some() {
        println!("output {}", fz.last_output().iter().map(|b| format!("{b:02x}")).collect::<String>());
    }
    fz.findings.iter().for_each(|f| println!("{f}"));
    fz.findings.is_empty()
}

/// Draws `count` frames and writes them to `dir`/client.pcap and `dir`/node.pcap by port.
fn write_pcaps(fz: &mut Fuzzer, dir: &std::path::Path, count: usize) {
    use pcap_file::pcap::{PcapPacket, PcapWriter};
    std::fs::create_dir_all(dir).expect("pcap directory");
    let open = |name: &str| PcapWriter::new(std::fs::File::create(dir.join(name)).expect(name)).expect("pcap");
    let mut out = [open("client.pcap"), open("node.pcap")];
    let mut n = [0usize; 2];
    while n[0] + n[1] < count {
        let (frame, port) = fz.draw();
        if frame.is_empty() || frame.len() > 2048 {
            continue;
        }
        let p = usize::from(port & 1);
        let at = std::time::Duration::from_micros((n[0] + n[1]) as u64);
        out[p].write_packet(&PcapPacket::new(at, frame.len() as u32, &frame)).expect("pcap write");
        n[p] += 1;
    }
    println!("wrote {} frames to {}/client.pcap and {} to {}/node.pcap", n[0], dir.display(), n[1], dir.display());
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if cfg!(panic = "abort") {
        eprintln!("built with panic = \"abort\": a panic ends the run (build with --profile fuzz)");
    }
    // Findings carry the panic's message; print the first few where they happen, with their location.
    let panics = std::sync::atomic::AtomicU32::new(0);
    std::panic::set_hook(Box::new(move |info| {
        if panics.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < 5 {
            eprintln!("panic: {info}");
        }
    }));
    if args.first().map(String::as_str) == Some("--replay") {
        std::process::exit(if replay(&args[1..]) { 0 } else { 1 });
    }
    let flag = |name: &str, default: u64| {
        args.iter().position(|a| a == name).map_or(default, |i| args[i + 1].parse().expect("a number"))
    };
    let (frames, seed) = (flag("--frames", 10_000_000), flag("--seed", 1));
    let mut fz = Fuzzer::new(seed);
    fz.catch_panics = true;
    let t0 = Instant::now();
    let mut last = (t0, 0u64);
    println!("fuzzing {frames} frames, seed {seed}, {} targets, {} seeds", fz.targets.len(), fz.corpus.len());
    while fz.frames < frames {
        fz.step();
        if fz.frames % 65_536 < fz.targets.len() as u64 && last.0.elapsed().as_secs() >= 10 {
            let rate = (fz.frames - last.1) as f64 / last.0.elapsed().as_secs_f64();
            println!(
                "{:>12} frames  {:>9.0} frames/s  {} findings  corpus {}",
                fz.frames,
                rate,
                fz.findings.len(),
                fz.corpus.len()
            );
            last = (Instant::now(), fz.frames);
        }
    }
    fz.maintain();
    if let Some(i) = args.iter().position(|a| a == "--pcap-out") {
        let count = args.get(i + 2).map_or(32_768, |c| c.parse().expect("a count"));
        write_pcaps(&mut fz, std::path::Path::new(&args[i + 1]), count);
    }
    let secs = t0.elapsed().as_secs_f64();
    println!("{} frames in {secs:.1} s: {:.0} frames/s", fz.frames, fz.frames as f64 / secs);
    print!("{}", fz.report());
    // One finding of each kind, with how often it happened.
    let mut kinds: BTreeMap<String, (usize, &fuzz::Finding)> = BTreeMap::new();
    for f in &fz.findings {
        kinds.entry(f.what.clone()).or_insert((0, f)).0 += 1;
    }
    for (n, f) in kinds.values() {
        println!("{n} x {f}");
    }
    std::process::exit(if fz.findings.is_empty() { 0 } else { 1 });
}
