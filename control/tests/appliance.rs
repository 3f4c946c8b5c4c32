//! `sluicectl status`, `appliance` and `check` show the appliance's standing and the fleet digest.

mod support;

use sluice_control::console::{Request, Response};
use support::{sluicectl, status, text, FakeAppliance};

#[test]
fn status_and_appliance_commands_show_the_standing() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("a1.sock");
    let a = FakeAppliance::start(
        &socket,
        Box::new(|r| match r {
            Request::Status => Some(status("0123456789abcdef", 3)),
            Request::Announce { .. } => Some(Response::ok(serde_json::json!({
                "state": "draining", "announce": false, "digest": "0123456789abcdef", "generation": 3,
                "vips": [{ "address": "10.10.0.1", "announce": false, "why": "the appliance is drained" }],
            }))),
            Request::ApplianceDrain => {
                Some(Response::ok(serde_json::json!({ "applied": "draining", "appliance": "draining" })))
            }
            Request::ApplianceUndrain => Some(Response::err("refused: the appliance is stopping")),
            _ => Some(Response::err("unexpected request")),
        }),
    );
    let s = socket.to_str().unwrap();
    let o = sluicectl(&["status", "--socket", s]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..2], ["appliance: ready", "digest: 0123456789abcdef"], "{out}");
    assert!(out.contains("generation: 3"), "{out}");
    let o = sluicectl(&["status", "--socket", s, "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!((v["digest"].as_str(), v["appliance"].as_str()), (Some("0123456789abcdef"), Some("ready")));

    let o = sluicectl(&["appliance", "status", "--socket", s]);
    let (out, _) = text(&o);
    assert!(o.status.success());
    assert!(out.starts_with("appliance: draining  announcing: no  generation: 3"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("vip 10.10.0.1") && l.contains("withdrawn") && l.ends_with("drained")));
    let o = sluicectl(&["appliance", "drain", "--socket", s]);
    assert!(o.status.success() && text(&o).0.contains("applied: draining"));
    let o = sluicectl(&["appliance", "undrain", "--socket", s]);
    assert_eq!(o.status.code(), Some(1));
    assert!(text(&o).1.contains("stopping"));
    assert_eq!(
        a.requests(),
        [
            Request::Status,
            Request::Status,
            Request::Announce { withdrawn: false },
            Request::ApplianceDrain,
            Request::ApplianceUndrain
        ]
    );
}

#[test]
fn check_prints_the_digest() {
    let dir = tempfile::tempdir().unwrap();
    let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
    let p = dir.path().join("c.toml");
    std::fs::write(&p, &t).unwrap();
    let want = sluice_control::digest::digest(&sluice_control::Config::from_toml(&t).unwrap());
    let o = sluicectl(&["check", p.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert!(o.status.success(), "{err}");
    assert!(out.lines().any(|l| l == format!("digest: {want}")), "{out}");
    let o = sluicectl(&["check", "--json", p.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["digest"], want);
}
