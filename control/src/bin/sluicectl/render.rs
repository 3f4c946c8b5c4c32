//! How `sluicectl` prints an appliance's answers: JSON with `--json` (the answer as the appliance sent
//! it), otherwise a readable rendering per request (tables for nodes, affinity, health and resets; the
//! appliance's standing first for `status`; each VIP's announcement for `announce`; the summary for
//! `stats`). An answer that does not read as its request's type is printed field by field.

use std::io::Write;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use serde_json::Value;
use sluice_control::console::{
    AffinityAnswer, Announcement, AppliedAnswer, HealthAnswer, NodesAnswer, PortalAnswer, ReloadPlan, Request,
    ResetsAnswer, Response, StatsAnswer, StatusAnswer,
};

use crate::Target;

/// Prints an answer: JSON, or a readable rendering.
pub(crate) fn show(target: &Target, req: &Request, resp: Response) -> ExitCode {
    if !resp.ok {
        eprintln!("sluicectl: {}", resp.error.unwrap_or_default());
        return crate::exit::REFUSED.into();
    }
    if target.json {
        out!("{}", serde_json::to_string_pretty(resp.data.as_ref().unwrap_or(&Value::Null)).expect("json"));
        return ExitCode::SUCCESS;
    }
    let shown = match req {
        Request::Status => with(&resp, status),
        Request::Stats => with(&resp, stats),
        Request::Nodes => with(&resp, nodes),
        Request::Resets => with(&resp, resets),
        Request::Affinity { .. } => with(&resp, affinity),
        Request::Health => with(&resp, health),
        Request::Portal => with(&resp, portal),
        Request::Announce { .. } => with(&resp, announcement),
        Request::Reload { diff: true, .. } => with(&resp, plan),
        _ => with(&resp, applied),
    };
    if !shown {
        match resp.data.unwrap_or_default() {
            Value::Object(m) => m.iter().for_each(|(k, v)| field(k, v)),
            v => out!("{v}"),
        }
    }
    ExitCode::SUCCESS
}

/// Renders the answer as `T` with `render`; false when it does not read as one.
fn with<T: DeserializeOwned>(resp: &Response, render: fn(&T)) -> bool {
    match resp.data_as::<T>() {
        Ok(a) => {
            render(&a);
            true
        }
        Err(_) => false,
    }
}

/// One `key: value` line (strings without their quotes).
fn field(k: &str, v: &Value) {
    match v {
        Value::String(s) => out!("{k}: {s}"),
        v => out!("{k}: {v}"),
    }
}

/// A list as `a, b, c`.
fn list<T: ToString>(items: &[T]) -> String {
    items.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

fn status(s: &StatusAnswer) {
    // The standing and the digest first: what a fleet compares.
    out!("appliance: {}", s.appliance.as_deref().unwrap_or("unknown (not reported)"));
    out!("digest: {}", s.digest.as_deref().unwrap_or("unknown (not reported)"));
    out!("role: {}", s.role.name());
    out!("generation: {}", s.generation);
    out!("uptime_s: {:.1}", s.uptime_s);
    out!("workers: {}", list(&s.workers));
    out!("ports: {}", list(&s.ports));
    out!("vips: {}", list(&s.vips));
    out!("nodes: {}", s.nodes);
    out!("active_nodes: {}", s.active_nodes);
}

fn stats(s: &StatsAnswer) {
    out!("role {}  generation {}", s.role.name(), s.generation);
    out!("{}", s.summary.render().trim_end());
    let a = &s.adoption;
    out!("adoption: {} publications, p50 {} us, p99 {} us, max {} us", a.publications, a.p50_us, a.p99_us, a.max_us);
    match &s.affinity.table {
        Some(t) => out!(
            "affinity: {} entries ({} pinned), {} honoured, {} unplaced; {} learned, {} aged, {} moved",
            t.entries,
            t.pinned,
            t.honoured,
            t.unplaced,
            t.counters.learned,
            t.counters.aged,
            t.counters.moved_unavailable + t.counters.moved_overload
        ),
        None => out!("affinity: off"),
    }
    match s.health.enabled {
        true => {
            let down: Vec<&str> =
                s.health.nodes.iter().filter(|n| !n.health.is_up()).map(|n| n.name.as_str()).collect();
            out!(
                "health: {} nodes checked, down: {}",
                s.health.nodes.len(),
                if down.is_empty() { "none".to_string() } else { down.join(", ") }
            );
        }
        false => out!("health: checks off"),
    }
}

fn nodes(nodes: &NodesAnswer) {
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
        let left = n.drain_left_s.map_or(String::new(), |s| format!("{s:.0} s"));
        out!(
            "{:<14} {:<14} {:<9} {:<6} {:>7} {:>8.2} {:>12} {:>8} {:>11}",
            n.name,
            n.chassis,
            n.state.name(),
            n.health.map_or("-", |h| h.name()),
            n.weight,
            n.table_share_pct,
            n.selected,
            n.tracked,
            left
        );
    }
}

fn affinity(a: &AffinityAnswer) {
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
    for e in &a.entries {
        out!(
            "{:<40} {:<14} {:<7} {:>12} {:>14} {:>6} {:>10.1}",
            e.client,
            e.node,
            if e.pinned { "yes" } else { "" },
            e.packets,
            e.bytes,
            e.moves,
            e.idle_s
        );
    }
    out!(
        "{} of {} entries shown; counters: {}",
        a.entries.len(),
        a.total,
        serde_json::to_string(&a.counters).expect("counters serialise")
    );
}

fn portal(p: &PortalAnswer) {
    if !p.enabled {
        out!("no iSCSI portal (no VIP has portal = \"iscsi\")");
        return;
    }
    out!("portals: {}", p.portals.join(" "));
    out!(
        "connections: {} open of {}, {} accepted; discoveries {}, SendTargets {}",
        p.connections_open,
        p.connections_max,
        p.accepted,
        p.discoveries,
        p.send_targets
    );
    out!("packets: {} in, {} out, {} dropped (queue full)", p.packets_in, p.packets_out, p.queue_drops);
    out!("{:<14} {:>10} {:>10} {:>10}", "logins to", "affinity", "target", "total");
    for r in &p.placements {
        out!("{:<14} {:>10} {:>10} {:>10}", r.node, r.by_affinity, r.by_target, r.by_affinity + r.by_target);
    }
    if !p.refused.is_empty() {
        let parts: Vec<String> = p.refused.iter().map(|(k, v)| format!("{k} {v}")).collect();
        out!("refused: {}", parts.join(", "));
    }
}

fn health(h: &HealthAnswer) {
    let scope = h.scope.name();
    match (&h.checks, h.enabled) {
        (_, false) => out!("health checks disabled (scope: {scope})"),
        (Some(c), true) => out!("check: {}  scope: {scope}", c.check.name()),
        (None, true) => out!("check: ?  scope: {scope}"),
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
    for n in &h.nodes {
        out!(
            "{:<14} {:<6} {:<7} {:>6} {:>6} {:>10} {:>10}  {}",
            n.name,
            n.health.name(),
            n.applied.name(),
            n.successes,
            n.failures,
            n.went_down,
            n.came_up,
            n.last
        );
    }
}

fn announcement(a: &Announcement) {
    out!(
        "appliance: {}  announcing: {}  generation: {}  digest: {}",
        if a.state.is_empty() { "unknown" } else { &a.state },
        if a.announce { "yes" } else { "no" },
        a.generation,
        if a.digest.is_empty() { "unknown" } else { &a.digest }
    );
    for v in &a.vips {
        out!("vip {:<40} {:<10} {}", v.address.to_string(), if v.announce { "announced" } else { "withdrawn" }, v.why);
    }
}

fn resets(list: &ResetsAnswer) {
    out!("{:<18} {:<44} {:<28} {:>6}  started by", "at (unix s)", "client", "vip", "worker");
    for e in list {
        out!("{:<18.3} {:<44} {:<28} {:>6}  {}", e.at, e.client.to_string(), e.vip.to_string(), e.worker, e.started_by);
    }
}

fn plan(p: &ReloadPlan) {
    match (&p.refused, p.changes.is_empty()) {
        (Some(why), _) => out!("a reload would be refused, nothing would change: {why}"),
        (None, true) => out!("a reload would change nothing"),
        (None, false) => out!("a reload would change:"),
    }
    for c in &p.changes {
        out!("  {c}");
    }
    for k in &p.kept {
        out!("runtime change kept over the file: {k}");
    }
    for d in &p.dropped {
        out!("runtime change dropped: {d}");
    }
}

fn applied(a: &AppliedAnswer) {
    out!("applied: {}", a.applied);
    if let Some(s) = &a.appliance {
        out!("appliance: {s}");
    }
    if let Some(g) = a.generation {
        out!("generation: {g}");
    }
}
