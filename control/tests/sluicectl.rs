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
