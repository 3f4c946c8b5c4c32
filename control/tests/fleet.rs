//! `sluicectl fleet` against fake appliances: digest comparison and exit codes, one change sent to every
//! appliance (some refusing, one hung), and health verdicts set from a majority.

mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sluice_control::console::{Request, Response};
use support::{sluicectl, status, text, FakeAppliance};

const D1: &str = "00000000000000d1";
const D2: &str = "00000000000000d2";

fn fixed(dir: &Path, name: &str, digest: &'static str) -> FakeAppliance {
    FakeAppliance::start(
        &dir.join(format!("{name}.sock")),
        Box::new(move |r| match r {
            Request::Status => Some(status(digest, 7)),
            _ => Some(Response::err("unexpected request")),
        }),
    )
}

fn sock(dir: &Path, name: &str) -> String {
    dir.join(format!("{name}.sock")).display().to_string()
}

#[test]
fn fleet_status_compares_digests() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let _a = [fixed(d, "a1", D1), fixed(d, "a2", D1), fixed(d, "a3", D2)];
    let (s1, s2, s3) = (sock(d, "a1"), sock(d, "a2"), sock(d, "a3"));

    let o = sluicectl(&["fleet", "status", "--appliance", &s1, "--appliance", &s2]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.contains(&format!("digests agree: {D1}")), "{out}");
    assert!(out.lines().any(|l| l.starts_with("a1") && l.contains("reachable") && l.contains("ready")), "{out}");

    let o = sluicectl(&["fleet", "--appliance", &s1, "--appliance", &s2, "--appliance", &s3, "status"]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    assert!(out.contains(&format!("DIVERGED: a1,a2={D1} a3={D2}")), "{out}");

    let o = sluicectl(&["fleet", "status", "--json", "--appliance", &s1, "--appliance", &s3]);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["agreement"]["agree"], false);
    assert_eq!(v["appliances"][1]["digest"], D2);
    assert_eq!(v["appliances"][0]["active_nodes"], 4);

    // An appliance that is not there spoils agreement.
    let gone = sock(d, "gone");
    let o = sluicectl(&["fleet", "status", "--appliance", &s1, "--appliance", &gone]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(1));
    assert!(out.contains("gone") && out.contains("UNREACHABLE"), "{out}");
    assert!(out.contains("unreachable: gone"), "{out}");

    // The same from a fleet file; a broken one is refused with the field named.
    let f = d.join("fleet.toml");
    std::fs::write(
        &f,
        format!("[[appliance]]\nname = \"x\"\nsocket = \"{s1}\"\n[[appliance]]\nname = \"y\"\nsocket = \"{s2}\"\n"),
    )
    .unwrap();
    let o = sluicectl(&["fleet", "status", "--fleet", f.to_str().unwrap()]);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    assert!(out.lines().next().unwrap().starts_with("x "), "{out}");
    std::fs::write(&f, format!("[[appliance]]\nname = \"x\"\nsocket = \"{s1}\"\n[[appliance]]\nname = \"y\"\n"))
        .unwrap();
    let o = sluicectl(&["fleet", "status", "--fleet", f.to_str().unwrap()]);
    let (_, err) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(err.contains("appliance[1].socket"), "{err}");
    let o = sluicectl(&["fleet", "status"]);
    assert_eq!(o.status.code(), Some(2));
}

/// An appliance that applies node changes: its digest follows the drained set.
fn applying(dir: &Path, name: &str, refuse: bool) -> FakeAppliance {
    let mut generation = 7;
    let mut drained = false;
    FakeAppliance::start(
        &dir.join(format!("{name}.sock")),
        Box::new(move |r| match r {
            Request::Status => Some(status(if drained { D2 } else { D1 }, generation)),
            Request::NodeDrain { name } if refuse => {
                Some(Response::err(format!("refused, nothing changed: config field `name`: no node {name:?}")))
            }
            Request::NodeDrain { .. } => {
                drained = true;
                generation += 1;
                Some(Response::ok(serde_json::json!({ "applied": "drained", "generation": generation })))
            }
            _ => Some(Response::err("unexpected request")),
        }),
    )
}

#[test]
fn fleet_node_drain_reaches_every_appliance() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The refusing appliance comes first: the others still get the change.
    let a1 = applying(d, "a1", true);
    let a2 = applying(d, "a2", false);
    let a3 = applying(d, "a3", false);
    let hung = FakeAppliance::start(&d.join("a4.sock"), Box::new(|_| None));
    let socks: Vec<String> = ["a1", "a2", "a3", "a4"].iter().map(|n| sock(d, n)).collect();
    let mut args = vec!["fleet", "node", "drain", "n1"];
    for s in &socks {
        args.extend(["--appliance", s.as_str()]);
    }
    let t = Instant::now();
    let o = sluicectl(&args);
    let took = t.elapsed();
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    for a in [&a1, &a2, &a3, &hung] {
        assert_eq!(a.requests().first(), Some(&Request::NodeDrain { name: "n1".into() }), "{out}");
    }
    let line = |n: &str| out.lines().find(|l| l.starts_with(n)).unwrap_or_default().to_string();
    assert!(line("a1").contains("FAILED") && line("a1").contains("no node \"n1\""), "{out}");
    assert!(line("a2").contains("ok") && line("a2").contains("generation 8"), "{out}");
    assert!(line("a3").contains("ok"), "{out}");
    assert!(line("a4").contains("no answer within 2000 ms"), "{out}");
    assert!(out.contains(&format!("after: DIVERGED: a2,a3={D2} a1={D1}; unreachable: a4")), "{out}");
    // One timeout for the hung appliance, not one per request, not one after another.
    assert!(took < Duration::from_millis(3500), "{took:?}");

    // Every appliance accepting: agreement, exit 0, and JSON says so.
    drop(hung);
    let a4 = applying(d, "a4", false);
    let a1 = {
        drop(a1);
        applying(d, "a1", false)
    };
    let o = sluicectl(&[&args[..], &["--json"]].concat());
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{err}");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["agreement"]["agree"], true);
    assert_eq!(v["request"], serde_json::json!({ "cmd": "node_drain", "name": "n1" }));
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["ok"] == true), "{v}");
    drop((a1, a4));
}

/// A health-checking appliance: `own` is what its checks say of n2, `applied` what its tables use;
/// with `fleet` scope it takes `node_health`.
fn checking(
    dir: &Path,
    name: &str,
    fleet: bool,
    own: Arc<Mutex<&'static str>>,
    applied: &'static str,
) -> FakeAppliance {
    let applied = Arc::new(Mutex::new(applied));
    FakeAppliance::start(
        &dir.join(format!("{name}.sock")),
        Box::new(move |r| match r {
            Request::Health => Some(Response::ok(serde_json::json!({
                "enabled": true, "scope": if fleet { "fleet" } else { "appliance" }, "check": "tcp",
                "nodes": [
                    { "name": "n1", "health": "up", "applied": "up" },
                    { "name": "n2", "health": *own.lock().unwrap(), "applied": *applied.lock().unwrap() },
                ],
            }))),
            Request::NodeHealth { name, up } if fleet && name == "n2" => {
                *applied.lock().unwrap() = if *up { "up" } else { "down" };
                Some(Response::ok(serde_json::json!({ "applied": "set", "generation": 9 })))
            }
            _ => Some(Response::err("refused")),
        }),
    )
}

#[test]
fn fleet_health_sets_the_majority_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let down = || Arc::new(Mutex::new("down"));
    let up = || Arc::new(Mutex::new("up"));
    // n2: down by a1, a2, a3's checks, up by a4's and a5's; a5 acts on its own checks.
    let fakes = [
        checking(d, "a1", true, down(), "up"),
        checking(d, "a2", true, down(), "up"),
        checking(d, "a3", true, down(), "down"),
        checking(d, "a4", true, up(), "up"),
        checking(d, "a5", false, up(), "up"),
    ];
    let socks: Vec<String> = ["a1", "a2", "a3", "a4", "a5"].iter().map(|n| sock(d, n)).collect();
    let mut args = vec!["fleet", "health"];
    for s in &socks {
        args.extend(["--appliance", s.as_str()]);
    }
    // Without --apply: the table, and what differs.
    let o = sluicectl(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{err}");
    let n2 = out.lines().find(|l| l.starts_with("n2")).unwrap();
    assert_eq!(
        n2.split_whitespace().collect::<Vec<_>>(),
        ["n2", "2", "3", "down", "up", "up", "down", "up", "up"],
        "{out}"
    );
    assert!(out.contains("not applied n2 down on a1"), "{out}");
    assert!(fakes.iter().all(|f| !f.requests().iter().any(|r| matches!(r, Request::NodeHealth { .. }))));

    args.push("--apply");
    let o = sluicectl(&args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(1), "a5 keeps its own view: {out}{err}");
    for (i, f) in fakes.iter().enumerate() {
        let set = f.requests().contains(&Request::NodeHealth { name: "n2".into(), up: false });
        assert_eq!(set, [true, true, false, true, false][i], "a{}: {out}", i + 1);
    }
    assert!(out.contains("ok n2 down on a4: generation 9"), "{out}");
    assert!(out.contains("skipped n2 down on a5: health.scope is \"appliance\""), "{out}");

    args.push("--json");
    let o = sluicectl(&args);
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let n2 = v["nodes"].as_array().unwrap().iter().find(|n| n["name"] == "n2").unwrap();
    assert_eq!(n2["verdict"], "down");
    assert_eq!(n2["applied"]["a4"], "down");
    assert_eq!(v["actions"].as_array().unwrap().len(), 1, "only a5 left: {v}");
}

#[test]
fn fleet_health_watch_follows_the_checks_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let own: Vec<Arc<Mutex<&'static str>>> = (0..3).map(|_| Arc::new(Mutex::new("up"))).collect();
    let _fakes: Vec<FakeAppliance> =
        (0..3).map(|i| checking(d, &format!("a{}", i + 1), true, Arc::clone(&own[i]), "up")).collect();
    let socks: Vec<String> = ["a1", "a2", "a3"].iter().map(|n| sock(d, n)).collect();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_sluicectl"));
    cmd.args(["fleet", "health", "--watch", "100"]);
    for s in &socks {
        cmd.args(["--appliance", s]);
    }
    let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
    // Collect its output as it comes.
    let seen = Arc::new(Mutex::new(String::new()));
    let reader = {
        let (seen, stdout) = (Arc::clone(&seen), child.stdout.take().unwrap());
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                let mut s = seen.lock().unwrap();
                s.push_str(&line.unwrap());
                s.push('\n');
            }
        })
    };
    let wait_for = |what: &str| {
        let t = Instant::now();
        while !seen.lock().unwrap().contains(what) {
            assert!(t.elapsed() < Duration::from_secs(10), "no {what:?} in {}", seen.lock().unwrap());
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    wait_for("\nn2 ");
    *own[0].lock().unwrap() = "down";
    *own[1].lock().unwrap() = "down";
    wait_for("ok n2 down on a3");
    std::thread::sleep(Duration::from_millis(300));
    let kill = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let out = seen.lock().unwrap().clone();
    assert!(status.success(), "{status:?} {out}");
    for a in ["a1", "a2", "a3"] {
        assert_eq!(out.matches(&format!("ok n2 down on {a}")).count(), 1, "{out}");
    }
    // After the first round only changes: n2's votes, then its applied states; n1 never again.
    let rows = |n: &str| out.lines().filter(|l| l.contains(&format!("{n} ")) && !l.contains(" on ")).count();
    assert_eq!((rows("n1"), rows("n2")), (1, 3), "{out}");
}
