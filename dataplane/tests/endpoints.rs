//! No client of the console or metrics endpoints can wedge the control loop: with 40 slow clients on the
//! metrics port (a byte every 100 ms, never ending the request), 10 console clients that never send, and
//! one that asks and never reads, the real sluice still answers the console within 1 s, applies a SIGHUP
//! within 1 s, takes a failing node down within its health checks' fall time, and stops within 2 s of a
//! SIGTERM. Oversized and endless requests get an error. Needs root (EAL).

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapWriter};
use support::*;

/// One console request with the time it took; None if no answer came within 5 s.
fn ask(socket: &Path, req: &str) -> Option<(serde_json::Value, Duration)> {
    let t0 = Instant::now();
    let s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    (&s).write_all(format!("{req}\n").as_bytes()).ok()?;
    let mut line = String::new();
    BufReader::new(&s).read_line(&mut line).ok()?;
    Some((serde_json::from_str(&line).ok()?, t0.elapsed()))
}

#[test]
fn slow_silent_and_unread_clients_do_not_delay_the_control_loop() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let frames: Vec<Vec<u8>> =
        (0..500u16).map(|i| tcp4([172, 16, (i >> 8) as u8, i as u8], 10_000 + i, VIP4, 2049, b"data")).collect();
    let mut w = PcapWriter::new(std::fs::File::create(d.join("c.pcap")).unwrap()).unwrap();
    for f in &frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f)).unwrap();
    }
    drop(w);
    let socket = d.join("console.sock");
    let metrics_port = 20_000 + ((std::process::id() + 7) % 20_000) as u16;
    let pcap = format!("{}/c.pcap", d.display());
    // Health checks every 100 ms, down after 3 failures; the nodes never answer (pcap ports). a1 starts
    // operator-down, so it is not checked until the test makes it active.
    let cfg_text = example_toml(&pcap, &pcap)
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"sluice-endpoints-{}\"", std::process::id()))
        .replace("mbufs = 65535", "mbufs = 8191\nidle_sleep_us = 50")
        .replacen(
            "[[ports]]",
            &format!(
                "[console]\nsocket = \"{}\"\n\n[metrics]\nprometheus = true\nlisten = \"127.0.0.1:{metrics_port}\"\n\n\
                 [health]\nenabled = true\ncheck = \"tcp\"\nport = 2049\ninterval_ms = 100\ntimeout_ms = 50\nrise = 2\nfall = 3\n\n[[ports]]",
                socket.display()
            ),
            1,
        )
        .replacen("name = \"a1\"", "name = \"a1\"\nstate = \"down\"", 1);
    let cfg = d.join("sluice.toml");
    std::fs::write(&cfg, &cfg_text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", cfg.to_str().unwrap(), "--stats-interval-ms", "0", "--stats-json"])
        .arg(d.join("s.json"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while ask(&socket, r#"{"cmd":"status"}"#).is_none() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no console");
        std::thread::sleep(Duration::from_millis(100));
    }

    // The attack.
    let stop = Arc::new(AtomicBool::new(false));
    let mut attackers = Vec::new();
    for _ in 0..40 {
        let stop = stop.clone();
        attackers.push(std::thread::spawn(move || {
            let Ok(mut s) = TcpStream::connect(("127.0.0.1", metrics_port)) else { return };
            let mut i = 0usize;
            while !stop.load(Relaxed) {
                if s.write_all(&[b"GET /metrics HTTP/1.1"[i % 21]]).is_err() {
                    // Cut off at the deadline: come back, as a persistent attacker would.
                    match TcpStream::connect(("127.0.0.1", metrics_port)) {
                        Ok(n) => s = n,
                        Err(_) => return,
                    }
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
        }));
    }
    let silent: Vec<UnixStream> = (0..10).filter_map(|_| UnixStream::connect(&socket).ok()).collect();
    let unread = UnixStream::connect(&socket).unwrap();
    (&unread).write_all(b"{\"cmd\":\"stats\"}\n").unwrap();
    std::thread::sleep(Duration::from_millis(500));

    // The console answers within 1 s, again and again.
    for _ in 0..5 {
        let (v, took) = ask(&socket, r#"{"cmd":"status"}"#).expect("the console answers");
        assert!(v["ok"] == true && took < Duration::from_secs(1), "status took {took:?}: {v}");
    }
    // Oversized and endless requests get an error, and change nothing.
    let big = UnixStream::connect(&socket).unwrap();
    let _ = (&big).write_all(&vec![b'x'; 100 * 1024]);
    let mut line = String::new();
    BufReader::new(&big).read_line(&mut line).unwrap();
    assert!(line.contains("too long"), "{line}");
    // SIGHUP applies within 1 s: a weight change in the file.
    let gen0 = ask(&socket, r#"{"cmd":"status"}"#).unwrap().0["data"]["generation"].as_u64().unwrap();
    std::fs::write(&cfg, cfg_text.replacen("weight = 100", "weight = 300", 1)).unwrap();
    let t = Instant::now();
    Command::new("kill").args(["-HUP", &child.id().to_string()]).status().unwrap();
    loop {
        let g = ask(&socket, r#"{"cmd":"status"}"#).unwrap().0["data"]["generation"].as_u64().unwrap();
        if g > gen0 {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(1), "SIGHUP not applied within 1 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A failing node goes down within its fall time: a1 made active, never answers its checks.
    let t = Instant::now();
    let (v, _) = ask(&socket, r#"{"cmd":"node_undrain","name":"a1"}"#).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    loop {
        let h = ask(&socket, r#"{"cmd":"health"}"#).unwrap().0;
        let a1 = h["data"]["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "a1").cloned().unwrap();
        if a1["health"] == "down" {
            break;
        }
        // 3 failures 100 ms apart, each found 50 ms after its probe, plus a loop turn or two.
        assert!(t.elapsed() < Duration::from_millis(800), "a1 not down after {:?}: {a1}", t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("a1 went down {:?} after it was made active", t.elapsed());
    // The metrics endpoint still serves an honest client.
    let mut m = TcpStream::connect(("127.0.0.1", metrics_port)).unwrap();
    m.write_all(b"GET /metrics HTTP/1.1\r\n\r\n").unwrap();
    m.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut text = String::new();
    let _ = m.read_to_string(&mut text);
    assert!(
        text.starts_with("HTTP/1.1 200") || text.contains("busy"),
        "metrics answered: {}",
        &text[..text.len().min(200)]
    );
    // SIGTERM stops it within 2 s, cleanly, with every client still there.
    let t = Instant::now();
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > Duration::from_secs(2) {
            let _ = child.kill();
            panic!("sluice did not stop within 2 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut err);
    assert!(status.success(), "{err}");
    stop.store(true, Relaxed);
    for a in attackers {
        let _ = a.join();
    }
    drop((silent, unread));
    let s: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(d.join("s.json")).unwrap()).unwrap();
    assert_eq!((s["mempool_in_use_at_exit"].as_u64(), s["counters_balance"].as_bool()), (Some(0), Some(true)));
}
