//! `sluicectl speaker` against a fake appliance and a fake `birdc` (a script first in PATH that writes
//! down its arguments): each VIP's protocol follows the announcement, a vanished appliance is withdrawn
//! within about two intervals, and a stopped speaker withdraws everything.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use sluice_control::console::{Request, Response};
use support::FakeAppliance;

const INTERVAL_MS: u64 = 200;

/// An appliance announcing what `vips` holds: (address, announced).
fn appliance(socket: &Path, vips: Arc<Mutex<Vec<(&'static str, bool)>>>) -> FakeAppliance {
    FakeAppliance::start(
        socket,
        Box::new(move |r| match r {
            Request::Announce { .. } => {
                let v = vips.lock().unwrap();
                let list: Vec<_> =
                    v.iter().map(|(a, on)| json!({ "address": a, "announce": on, "why": "test" })).collect();
                Some(Response::ok(json!({
                    "state": "ready", "announce": v.iter().any(|(_, on)| *on), "vips": list,
                    "digest": "0000000000000001", "generation": 1,
                })))
            }
            _ => Some(Response::err("unexpected request")),
        }),
    )
}

/// The calls the fake birdc got, as "enable NAME" / "disable NAME".
fn calls(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_whitespace().skip(2).collect::<Vec<_>>().join(" "))
        .collect()
}

fn wait_for(log: &Path, want: &[&str], within: Duration) -> Duration {
    let t = Instant::now();
    loop {
        let c = calls(log);
        if want.iter().all(|w| c.iter().any(|x| x == w)) {
            return t.elapsed();
        }
        assert!(t.elapsed() < within, "waited {within:?} for {want:?}; birdc got {c:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until birdc got `n` calls after the first `before`; returns how long that took and those calls.
fn wait_new(log: &Path, before: usize, n: usize, within: Duration) -> (Duration, Vec<String>) {
    let t = Instant::now();
    loop {
        let c = calls(log);
        if c.len() >= before + n {
            let mut new = c[before..].to_vec();
            new.sort();
            return (t.elapsed(), new);
        }
        assert!(t.elapsed() < within, "waited {within:?} for {n} more calls; birdc got {c:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The speaker process, killed if the test fails before stopping it.
struct Speaker(Child);

impl Drop for Speaker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn speaker(dir: &Path, socket: &Path, log: &Path) -> Speaker {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let birdc = bin.join("birdc");
    std::fs::write(&birdc, "#!/bin/sh\necho \"$@\" >> \"$BIRDC_LOG\"\necho 'BIRD 2.0.12 ready.'\n").unwrap();
    std::fs::set_permissions(&birdc, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    Command::new(env!("CARGO_BIN_EXE_sluicectl"))
        .args(["speaker", "--socket"])
        .arg(socket)
        .args(["--bird-socket", "/run/bird/bird.ctl", "--interval-ms", &INTERVAL_MS.to_string(), "--also", "ret"])
        .env("PATH", path)
        .env("BIRDC_LOG", log)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map(Speaker)
        .unwrap()
}

#[test]
fn the_speaker_follows_the_appliance_and_withdraws_when_it_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (socket, log) = (d.join("a1.sock"), d.join("birdc.log"));
    let vips = Arc::new(Mutex::new(vec![("10.10.0.1", true), ("10.10.0.2", false)]));
    let a = appliance(&socket, Arc::clone(&vips));
    let mut sp = speaker(d, &socket, &log);

    // At start every protocol is set explicitly, and then only changes are sent.
    wait_for(&log, &["enable vip_10_10_0_1", "disable vip_10_10_0_2", "enable ret"], Duration::from_secs(10));
    let raw = std::fs::read_to_string(&log).unwrap();
    assert!(raw.lines().all(|l| l.starts_with("-s /run/bird/bird.ctl ")), "{raw}");
    std::thread::sleep(Duration::from_millis(3 * INTERVAL_MS));
    assert_eq!(calls(&log).len(), 3, "{:?}", calls(&log));
    vips.lock().unwrap()[1].1 = true;
    wait_for(&log, &["enable vip_10_10_0_2"], Duration::from_secs(5));

    // The appliance dies: its socket vanishes, and every route goes within about two intervals.
    let before = calls(&log).len();
    a.vanish();
    let (took, new) = wait_new(&log, before, 3, Duration::from_secs(5));
    assert_eq!(new, ["disable ret", "disable vip_10_10_0_1", "disable vip_10_10_0_2"]);
    assert!(took <= Duration::from_millis(2 * INTERVAL_MS + 300), "withdrawn after {took:?}");

    // It comes back; then the speaker is stopped and withdraws everything on its way out.
    let _a = appliance(&socket, Arc::clone(&vips));
    let (_, new) = wait_new(&log, before + 3, 3, Duration::from_secs(5));
    assert_eq!(new, ["enable ret", "enable vip_10_10_0_1", "enable vip_10_10_0_2"]);
    let n = calls(&log).len();
    let pid = sp.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = sp.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut sp.0.stderr.take().unwrap(), &mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    let (_, last) = wait_new(&log, n, 3, Duration::from_secs(1));
    assert_eq!(last, ["disable ret", "disable vip_10_10_0_1", "disable vip_10_10_0_2"], "{err}");
    assert!(
        err.contains("speaker: withdraw vip_10_10_0_1 (appliance not answering: cannot reach the appliance"),
        "{err}"
    );
    assert!(err.contains("speaker: withdraw ret (the speaker is stopping)"), "{err}");
    // Each log line starts with a timestamp.
    assert!(err.lines().all(|l| l.as_bytes().get(4) == Some(&b'-') && l.contains("Z speaker: ")), "{err}");
}
