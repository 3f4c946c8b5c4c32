//! sluice as a service, for real: systemd's notification protocol over a datagram socket the test binds
//! where systemd would (`NOTIFY_SOCKET`), no per-second stats line when standard output is the journal
//! (`JOURNAL_STREAM`), and the man page and completions the binary prints. The appliance runs on net_pcap
//! devices that replay a capture endlessly.

mod support;

use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn config(d: &Path) -> PathBuf {
    write_pcap(&d.join("c.pcap"), &[tcp4([192, 0, 2, 10], 40_000, VIP4, 2049, b"x")]);
    write_pcap(&d.join("n.pcap"), &[tcp4(VIP4, 2049, [192, 0, 2, 10], 40_000, b"r")]);
    let prefix = format!("sluice-svc-{}-{}", std::process::id(), d.file_name().unwrap().to_string_lossy());
    let t = example_toml(&format!("{}/c.pcap", d.display()), &format!("{}/n.pcap", d.display()))
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{prefix}\""))
        .replace("mbufs = 65535", "mbufs = 8191");
    let p = d.join("sluice.toml");
    std::fs::write(&p, console_in(t, d)).unwrap();
    p
}

fn kill(sig: &str, pid: u32) {
    assert!(Command::new("kill").args([sig, &pid.to_string()]).status().unwrap().success());
}

/// The next notification that contains `want`, and every one read on the way.
fn until(sock: &UnixDatagram, want: &str, within: Duration, seen: &mut Vec<String>) -> String {
    let t0 = Instant::now();
    let mut buf = [0u8; 4096];
    while t0.elapsed() < within {
        let Ok(n) = sock.recv(&mut buf) else { continue };
        let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
        seen.push(msg.clone());
        if msg.contains(want) {
            return msg;
        }
    }
    panic!("no notification with {want:?} within {within:?}; seen {seen:?}");
}

#[test]
fn under_a_notify_unit_it_says_ready_then_keeps_its_status_current_and_says_stopping() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", cfg.to_str().unwrap()])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let ready = until(&sock, "READY=1", Duration::from_secs(30), &mut seen);
    assert!(ready.contains("STATUS=forwarding: generation 1, 1 workers, 2 ports, 4 nodes"), "{ready}");
    // Every 5 s: the generation and the packet rate.
    let status = until(&sock, "Mpps received", Duration::from_secs(8), &mut seen);
    assert!(status.contains("STATUS=generation 1: ") && status.contains("4 of 4 nodes active"), "{status}");
    let mpps: f64 = status.split("generation 1: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(mpps > 0.0, "{status}");
    kill("-HUP", child.id());
    let reloaded = until(&sock, "reloaded", Duration::from_secs(5), &mut seen);
    assert!(reloaded.starts_with("STATUS=generation "), "{reloaded}");
    kill("-TERM", child.id());
    until(&sock, "STOPPING=1", Duration::from_secs(5), &mut seen);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(seen.iter().filter(|m| m.contains("READY=1")).count(), 1, "{seen:?}");
}

/// sluice for `secs` seconds with `args`, its standard output in a file; `journal`: that file is what
/// `JOURNAL_STREAM` names, as when systemd connects a service's output to the journal.
fn run_to_file(d: &Path, secs: &str, journal: Option<bool>, args: &[&str]) -> (Output, String) {
    let cfg = config(d);
    let path = d.join("stdout");
    let file = std::fs::File::create(&path).unwrap();
    let meta = file.metadata().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["--config", cfg.to_str().unwrap(), "--duration", secs]).args(args).stdout(file);
    match journal {
        Some(true) => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
        // A journal stream that is not this output (the variable leaked from a parent): lines as usual.
        Some(false) => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino() + 1)),
        None => cmd.env_remove("JOURNAL_STREAM"),
    };
    let out = cmd.output().unwrap();
    (out, std::fs::read_to_string(&path).unwrap())
}

#[test]
fn with_standard_output_the_journal_there_is_no_stats_line_unless_asked_for() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let lines = |text: &str| text.lines().filter(|l| l.starts_with('[') && l.contains("Mpps")).count();
    for (journal, args, want_lines) in [
        (Some(true), &[][..], false),
        (Some(true), &["--stats-interval-ms", "500"][..], true),
        (Some(false), &[][..], true),
        (None, &[][..], true),
    ] {
        let (out, text) = run_to_file(dir.path(), "2.5", journal, args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("== sluice summary"), "the summary is printed either way: {text}");
        assert_eq!(lines(&text) > 0, want_lines, "journal {journal:?} {args:?}:\n{text}");
    }
}

#[test]
fn it_prints_its_man_page_and_completions_and_needs_a_config_otherwise() {
    let sluice = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_sluice")).args(args).output().unwrap();
    let man = sluice(&["--man"]);
    assert!(man.status.success());
    let page = String::from_utf8_lossy(&man.stdout);
    for want in [".TH sluice 1", "\\-\\-stats\\-interval\\-ms", ".SH \"EXIT STATUS\"", ".SH \"SYSTEMD\"", "READY=1"] {
        assert!(page.contains(want), "{want} missing from the page:\n{page}");
    }
    let bash = sluice(&["--completions", "bash"]);
    assert!(bash.status.success() && String::from_utf8_lossy(&bash.stdout).contains("--stats-interval-ms"));
    assert_eq!(sluice(&["--man", "--config", "x.toml"]).status.code(), Some(2), "--man takes nothing else");
    assert_eq!(sluice(&["--completions", "tcsh"]).status.code(), Some(2), "an unknown shell");
    let none = sluice(&[]);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("--config"), "{}", String::from_utf8_lossy(&none.stderr));
}

/// Runs sluice with standard error in a file (named by `JOURNAL_STREAM` when `journal`), refuses it a
/// reload (the file made invalid) and stops it; returns what it logged.
fn logged(d: &Path, journal: bool) -> String {
    let cfg = config(d);
    let err_path = d.join("stderr");
    let err = std::fs::File::create(&err_path).unwrap();
    let meta = err.metadata().unwrap();
    let sock_path = d.join("notify.sock");
    let _ = std::fs::remove_file(&sock_path);
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sluice"));
    cmd.args(["--config", cfg.to_str().unwrap()]).env("NOTIFY_SOCKET", &sock_path).stdout(Stdio::null()).stderr(err);
    match journal {
        true => cmd.env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino())),
        false => cmd.env_remove("JOURNAL_STREAM"),
    };
    let mut child = cmd.spawn().unwrap();
    let mut seen = Vec::new();
    until(&sock, "READY=1", Duration::from_secs(30), &mut seen);
    std::fs::write(&cfg, "[eal]\nlcores = \"zero\"\n").unwrap();
    kill("-HUP", child.id());
    until(&sock, "the last reload was refused", Duration::from_secs(5), &mut seen);
    kill("-TERM", child.id());
    assert!(child.wait().unwrap().success());
    std::fs::read_to_string(&err_path).unwrap()
}

#[test]
fn log_lines_carry_their_fields_and_under_the_journal_their_syslog_priority() {
    let _g = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let text = logged(dir.path(), true);
    let refused = text.lines().find(|l| l.contains("reload refused")).unwrap_or_else(|| panic!("{text}"));
    assert!(refused.starts_with("<4>sluice: warning: reload refused, nothing changed: "), "{refused}");
    assert!(refused.contains(" generation=1 ") && refused.contains(" reason="), "fields: {refused}");
    assert!(text.lines().any(|l| l == "<6>sluice: signal received, stopping"), "{text}");
    let text = logged(dir.path(), false);
    assert!(text.lines().any(|l| l.starts_with("sluice: warning: reload refused")), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("<")), "no priorities outside the journal: {text}");
}
