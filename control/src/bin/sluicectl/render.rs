//! How `sluicectl` prints an appliance's answers: JSON with `--json`, otherwise a readable rendering per
//! request (tables for nodes, affinity, health and resets; the appliance's standing first for `status`;
//! each VIP's announcement for `announce`).

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;
use sluice_control::console::{Request, Response};

use crate::Target;

/// Prints an answer: JSON, or a readable rendering.
pub(crate) fn show(target: &Target, req: &Request, resp: Response) -> ExitCode {
    if !resp.ok {
        eprintln!("sluicectl: {}", resp.error.unwrap_or_default());
        return ExitCode::from(1);
    }
    let data = resp.data.unwrap_or_default();
    if target.json {
        out!("{}", serde_json::to_string_pretty(&data).expect("json"));
        return ExitCode::SUCCESS;
    }
    match (req, &data) {
        (Request::Nodes, Value::Array(nodes)) => {
            out!(
                "{:<14} {:<14} {:<9} {:<6} {:>7} {:>8} {:>12} {:>8} {:>11}",
                "node",
                "chassis",
                "state",
                "health",
                "weight",
                "share%",
                "packets",
                "tracked",
                "drain left"
            );
            for n in nodes {
                // Seconds a draining node still keeps its tracked connections.
                let left = n["drain_left_s"].as_f64().map_or(String::new(), |s| format!("{s:.0} s"));
                out!(
                    "{:<14} {:<14} {:<9} {:<6} {:>7} {:>8.2} {:>12} {:>8} {:>11}",
                    n["name"].as_str().unwrap_or(""),
                    n["chassis"].as_str().unwrap_or(""),
                    n["state"].as_str().unwrap_or(""),
                    n["health"].as_str().unwrap_or(""),
                    n["weight"].as_u64().unwrap_or(0),
                    n["table_share_pct"].as_f64().unwrap_or(0.0),
                    n["selected"].as_u64().unwrap_or(0),
                    n["tracked"].as_u64().unwrap_or(0),
                    left
                );
            }
        }
        (Request::Affinity { .. }, Value::Object(m)) => {
            let empty = vec![];
            let list = m.get("entries").and_then(|e| e.as_array()).unwrap_or(&empty);
            out!(
                "{:<40} {:<14} {:<7} {:>12} {:>14} {:>6} {:>10}",
                "client",
                "cvm",
                "pinned",
                "packets",
                "bytes",
                "moves",
                "idle s"
            );
            for e in list {
                out!(
                    "{:<40} {:<14} {:<7} {:>12} {:>14} {:>6} {:>10.1}",
                    e["client"].as_str().unwrap_or(""),
                    e["node"].as_str().unwrap_or(""),
                    if e["pinned"] == true { "yes" } else { "" },
                    e["packets"],
                    e["bytes"],
                    e["moves"],
                    e["idle_s"].as_f64().unwrap_or(0.0)
                );
            }
            out!("{} of {} entries shown; counters: {}", list.len(), m["total"], m["counters"]);
        }
        (Request::Health, Value::Object(m)) => {
            let scope = m.get("scope").and_then(Value::as_str).unwrap_or("appliance");
            match m.get("enabled").and_then(Value::as_bool) {
                Some(false) => out!("health checks disabled (scope: {scope})"),
                _ => out!("check: {}  scope: {scope}", m["check"].as_str().unwrap_or("?")),
            }
            out!(
                "{:<14} {:<6} {:<7} {:>6} {:>6} {:>10} {:>10}  last",
                "node",
                "health",
                "applied",
                "ok",
                "fail",
                "up->down",
                "down->up"
            );
            for n in m["nodes"].as_array().unwrap_or(&vec![]) {
                out!(
                    "{:<14} {:<6} {:<7} {:>6} {:>6} {:>10} {:>10}  {}",
                    n["name"].as_str().unwrap_or(""),
                    n["health"].as_str().unwrap_or(""),
                    n["applied"].as_str().unwrap_or(""),
                    n["successes"],
                    n["failures"],
                    n["went_down"],
                    n["came_up"],
                    n["last"].as_str().unwrap_or("")
                );
            }
        }
        (Request::Announce { .. }, Value::Object(m)) => {
            out!(
                "appliance: {}  announcing: {}  generation: {}  digest: {}",
                m.get("state").and_then(Value::as_str).unwrap_or("unknown"),
                if m.get("announce") == Some(&Value::Bool(true)) { "yes" } else { "no" },
                m.get("generation").unwrap_or(&Value::Null),
                m.get("digest").and_then(Value::as_str).unwrap_or("unknown")
            );
            for v in m.get("vips").and_then(Value::as_array).unwrap_or(&vec![]) {
                out!(
                    "vip {:<40} {:<10} {}",
                    v["address"].as_str().unwrap_or("?"),
                    if v["announce"] == true { "announced" } else { "withdrawn" },
                    v["why"].as_str().unwrap_or("")
                );
            }
        }
        (Request::Status, Value::Object(m)) => {
            // The standing and the digest first: what a fleet compares.
            out!("appliance: {}", m.get("appliance").and_then(Value::as_str).unwrap_or("unknown (not reported)"));
            out!("digest: {}", m.get("digest").and_then(Value::as_str).unwrap_or("unknown (not reported)"));
            for (k, v) in m.iter().filter(|(k, _)| *k != "appliance" && *k != "digest") {
                field(k, v);
            }
        }
        (Request::Resets, Value::Array(list)) => {
            out!("{:<18} {:<44} {:<28} {:>6}  started by", "at (unix s)", "client", "vip", "worker");
            for e in list {
                out!(
                    "{:<18.3} {:<44} {:<28} {:>6}  {}",
                    e["at"].as_f64().unwrap_or(0.0),
                    e["client"].as_str().unwrap_or(""),
                    e["vip"].as_str().unwrap_or(""),
                    e["worker"],
                    e["started_by"].as_str().unwrap_or("")
                );
            }
        }
        (_, Value::Object(m)) => {
            for (k, v) in m {
                field(k, v);
            }
        }
        (_, v) => out!("{v}"),
    }
    ExitCode::SUCCESS
}

/// One `key: value` line (strings without their quotes).
fn field(k: &str, v: &Value) {
    match v {
        Value::String(s) => out!("{k}: {s}"),
        v => out!("{k}: {v}"),
    }
}
