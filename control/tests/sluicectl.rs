//! `sluicectl check` on the example configuration and on a broken one.

use std::process::Command;

fn example(dir: &std::path::Path, edit: (&str, &str)) -> std::path::PathBuf {
    let t = include_str!("../../examples/demo.toml").replace(edit.0, edit.1);
    let p = dir.join("c.toml");
    std::fs::write(&p, t).unwrap();
    p
}

#[test]
fn check_reports_shares_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = example(dir.path(), ("state = \"x\"", ""));
    let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).args(["check", "--json"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shares: Vec<f64> = v["nodes"].as_array().unwrap().iter().map(|n| n["share_pct"].as_f64().unwrap()).collect();
    assert_eq!(shares.len(), 4);
    assert!(shares.iter().all(|s| (s - 25.0).abs() < 0.1), "{shares:?}");
    let p = example(dir.path(), ("weight = 100\nforward", "weight = 300\nforward"));
    let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).args(["check", "--json"]).arg(&p).output().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let b2 = v["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "b2").unwrap()["share_pct"].as_f64().unwrap();
    assert!((b2 - 50.0).abs() < 0.1, "b2 carries 300 of 600: {b2}");
    let p = example(
        dir.path(),
        ("chassis = \"chassis-b\"\nmac = \"02:00:00:00:0b:01\"", "chassis = \"nope\"\nmac = \"02:00:00:00:0b:01\""),
    );
    let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).arg("check").arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nodes[2].chassis") && err.contains("\"nope\""), "{err}");
}

/// `sluicectl ARGS`, its exit status and standard error.
fn sluicectl(args: &[&str]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).args(args).output().unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn exit_statuses_tell_a_usage_error_from_an_unreachable_appliance_and_a_refusal() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("console.sock");
    let s = sock.to_str().unwrap();
    // 2: usage. clap's own errors, a missing target, an option out of range, an unreadable configuration.
    assert_eq!(sluicectl(&["status", "--no-such-flag"]).0, Some(2));
    let (code, err) = sluicectl(&["status"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("--socket PATH or --config FILE"), "{err}");
    assert_eq!(sluicectl(&["top", "--socket", s, "--interval", "0"]).0, Some(2));
    let none = dir.path().join("none.toml");
    assert_eq!(sluicectl(&["status", "--config", none.to_str().unwrap()]).0, Some(2));
    assert_eq!(sluicectl(&["top", "--count", "1", "--config", none.to_str().unwrap()]).0, Some(2));
    // 3: nobody answers at the socket.
    for cmd in [&["status", "--socket", s][..], &["reload", "--socket", s], &["top", "--socket", s, "--count", "1"]] {
        let (code, err) = sluicectl(cmd);
        assert_eq!(code, Some(3), "{cmd:?}: {err}");
        assert!(err.contains("cannot reach the appliance"), "{err}");
    }
    // 1: an appliance that answers and refuses (a console that refuses everything).
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    let server = std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        let mut line = String::new();
        BufReader::new(&conn).read_line(&mut line).unwrap();
        let answer = serde_json::json!({ "ok": false, "error": "reload refused: [flows] enabled cannot change" });
        writeln!(&conn, "{answer}").unwrap();
        line
    });
    let (code, err) = sluicectl(&["reload", "--socket", s]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("reload refused"), "{err}");
    assert!(server.join().unwrap().contains("reload"), "the request was a reload");
}

#[test]
fn it_prints_its_man_page_and_completions() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).arg("man").output().unwrap();
    assert!(out.status.success());
    let page = String::from_utf8_lossy(&out.stdout);
    for want in [".TH sluicectl 1", "fleet", "reload", ".SH \"EXIT STATUS\"", "\\fB3\\fR", "No answer"] {
        assert!(page.contains(want), "{want} missing from the page:\n{page}");
    }
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_sluicectl")).args(["completions", shell]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("fleet") && text.contains("socket"), "{shell}: {text}");
    }
}
