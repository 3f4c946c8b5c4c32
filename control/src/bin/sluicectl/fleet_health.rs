//! `sluicectl fleet health`: node health decided by the fleet, so that one appliance's failed probes do
//! not make it pick differently from the others. Every reachable appliance whose checks run votes with
//! its own result for each node; a node is up (or down) when strictly more than half of all the fleet's
//! appliances (reachable or not) say so, and without such a majority each appliance keeps what it applies.
//! With `--apply` the verdict is set (`node_health`) on every appliance with `health.scope = "fleet"`
//! that applies something else; `--watch MS` does that every MS milliseconds and prints what changed.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Serialize;
use sluice_control::config::HealthScope;
use sluice_control::console::{AppliedAnswer, HealthAnswer, Request};

use crate::client::ask_all;
use crate::fleet::Fleet;
use crate::watch::{timestamp, Stop};

/// One node as one appliance reports it: its own checks' result and what its tables use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct NodeView {
    pub(crate) own: Option<bool>,
    pub(crate) applied: Option<bool>,
}

/// One appliance's `health` answer.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct HealthView {
    /// Its checks run (otherwise it does not vote).
    pub(crate) enabled: bool,
    /// `health.scope = "fleet"`: it takes the fleet's verdicts.
    pub(crate) fleet_scope: bool,
    pub(crate) nodes: BTreeMap<String, NodeView>,
}

/// What an appliance's `health` answer says for the vote.
pub(crate) fn view_of(a: &HealthAnswer) -> HealthView {
    let nodes = a
        .nodes
        .iter()
        .map(|n| (n.name.clone(), NodeView { own: Some(n.health.is_up()), applied: Some(n.applied.is_up()) }))
        .collect();
    HealthView { enabled: a.enabled, fleet_scope: a.scope == HealthScope::Fleet, nodes }
}

/// One node's votes and the fleet's verdict on it (None: no majority either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Tally {
    pub(crate) up: usize,
    pub(crate) down: usize,
    pub(crate) verdict: Option<bool>,
}

/// The verdict in a fleet of `fleet_size` appliances: up or down when strictly more than half of them
/// say so; None otherwise.
pub(crate) fn verdict(fleet_size: usize, up: usize, down: usize) -> Option<bool> {
    if 2 * up > fleet_size {
        Some(true)
    } else if 2 * down > fleet_size {
        Some(false)
    } else {
        None
    }
}

/// Every node some reachable appliance reports, with its votes: one per reachable appliance (`Some`)
/// whose checks run and that has a result for the node. The fleet is every entry of `views`.
pub(crate) fn tally(views: &[Option<HealthView>]) -> BTreeMap<String, Tally> {
    let mut votes: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for v in views.iter().flatten() {
        for (name, n) in &v.nodes {
            let e = votes.entry(name.clone()).or_default();
            match (v.enabled, n.own) {
                (true, Some(true)) => e.0 += 1,
                (true, Some(false)) => e.1 += 1,
                _ => {}
            }
        }
    }
    votes.into_iter().map(|(k, (up, down))| (k, Tally { up, down, verdict: verdict(views.len(), up, down) })).collect()
}

/// A verdict an appliance does not apply yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Action {
    /// Index into the fleet.
    pub(crate) appliance: usize,
    pub(crate) node: String,
    pub(crate) up: bool,
    /// The appliance takes the fleet's verdicts (`health.scope = "fleet"`); otherwise it is skipped.
    pub(crate) takes_verdicts: bool,
}

/// For each node with a verdict, every reachable appliance that applies the opposite.
pub(crate) fn actions(views: &[Option<HealthView>], tallies: &BTreeMap<String, Tally>) -> Vec<Action> {
    let mut out = Vec::new();
    for (node, t) in tallies {
        let Some(want) = t.verdict else { continue };
        for (i, v) in views.iter().enumerate() {
            let Some(v) = v else { continue };
            if v.nodes.get(node).and_then(|n| n.applied) == Some(!want) {
                out.push(Action { appliance: i, node: node.clone(), up: want, takes_verdicts: v.fleet_scope });
            }
        }
    }
    out
}

fn word(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct ApplianceRow {
    name: String,
    reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// Its checks run.
    checks: bool,
    fleet_scope: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct NodeRow {
    name: String,
    up: usize,
    down: usize,
    verdict: Option<&'static str>,
    /// Appliance → what it applies: "up", "down", "?" (not reported) or "-" (unreachable).
    applied: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct ActionRow {
    appliance: String,
    node: String,
    set: &'static str,
    /// "ok", "failed", "skipped" (the appliance acts on its own checks) or "not applied" (no --apply).
    result: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ms: Option<u64>,
}

/// One look at the fleet (and what was done about it).
#[derive(Debug, Clone, Serialize)]
struct Round {
    fleet_size: usize,
    appliances: Vec<ApplianceRow>,
    nodes: Vec<NodeRow>,
    actions: Vec<ActionRow>,
}

impl Round {
    /// Every appliance answered and applies every verdict.
    fn settled(&self) -> bool {
        self.appliances.iter().all(|a| a.reachable) && self.actions.iter().all(|a| a.result == "ok")
    }
}

/// Sets each allowed action's verdict, one request per appliance at a time, appliances concurrently.
fn execute(fleet: &mut Fleet, acts: &[Action]) -> Vec<ActionRow> {
    let names: Vec<String> = fleet.names().map(str::to_string).collect();
    let row = |a: &Action, result, detail: String, ms| ActionRow {
        appliance: names[a.appliance].clone(),
        node: a.node.clone(),
        set: word(a.up),
        result,
        detail,
        ms,
    };
    let mut rows = Vec::new();
    let mut queues: Vec<Vec<&Action>> = vec![Vec::new(); names.len()];
    for a in acts {
        match a.takes_verdicts {
            true => queues[a.appliance].push(a),
            false => rows.push(row(
                a,
                "skipped",
                "health.scope is \"appliance\" there: it acts on its own checks".into(),
                None,
            )),
        }
    }
    for k in 0..queues.iter().map(Vec::len).max().unwrap_or(0) {
        let reqs: Vec<Option<Request>> =
            queues.iter().map(|q| q.get(k).map(|a| Request::NodeHealth { name: a.node.clone(), up: a.up })).collect();
        for (o, q) in ask_all(&mut fleet.askers, &reqs).into_iter().zip(&queues) {
            let (Some(o), Some(a)) = (o, q.get(k)) else { continue };
            rows.push(match o.answer_as::<AppliedAnswer>() {
                Ok(d) => {
                    let generation = d.generation.map_or("?".to_string(), |g| g.to_string());
                    row(a, "ok", format!("generation {generation}"), Some(o.ms()))
                }
                Err(e) => row(a, "failed", e, Some(o.ms())),
            });
        }
    }
    rows
}

fn round(fleet: &mut Fleet, apply: bool) -> Round {
    let outcomes = fleet.ask_every(&Request::Health);
    let mut appliances = Vec::new();
    let mut views = Vec::new();
    for (name, o) in fleet.names().zip(&outcomes) {
        let view = o.answer_as::<HealthAnswer>().map(|a| view_of(&a));
        appliances.push(ApplianceRow {
            name: name.to_string(),
            reachable: view.is_ok(),
            error: view.as_ref().err().cloned(),
            checks: view.as_ref().is_ok_and(|v| v.enabled),
            fleet_scope: view.as_ref().is_ok_and(|v| v.fleet_scope),
        });
        views.push(view.ok());
    }
    let tallies = tally(&views);
    let nodes = tallies
        .iter()
        .map(|(node, t)| NodeRow {
            name: node.clone(),
            up: t.up,
            down: t.down,
            verdict: t.verdict.map(word),
            applied: appliances
                .iter()
                .zip(&views)
                .map(|(a, v)| {
                    let s = match v {
                        None => "-",
                        Some(v) => v.nodes.get(node).and_then(|n| n.applied).map_or("?", word),
                    };
                    (a.name.clone(), s.to_string())
                })
                .collect(),
        })
        .collect();
    let acts = actions(&views, &tallies);
    let actions = match apply {
        true => execute(fleet, &acts),
        false => acts
            .iter()
            .map(|a| ActionRow {
                appliance: appliances[a.appliance].name.clone(),
                node: a.node.clone(),
                set: word(a.up),
                result: "not applied",
                detail: "run with --apply".into(),
                ms: None,
            })
            .collect(),
    };
    Round { fleet_size: views.len(), appliances, nodes, actions }
}

fn appliance_line(a: &ApplianceRow) -> Option<String> {
    match (&a.error, a.checks) {
        (Some(e), _) => Some(format!("{:<12} UNREACHABLE: {e}", a.name)),
        (None, false) => Some(format!("{:<12} health checks disabled: no vote", a.name)),
        (None, true) => None,
    }
}

fn header(names: &[String]) -> String {
    let mut s = format!("{:<16} {:>4} {:>5}  {:<7}", "node", "up", "down", "verdict");
    for n in names {
        s += &format!(" {n:<8}");
    }
    s
}

fn node_line(n: &NodeRow, names: &[String]) -> String {
    let mut s = format!("{:<16} {:>4} {:>5}  {:<7}", n.name, n.up, n.down, n.verdict.unwrap_or("none"));
    for a in names {
        s += &format!(" {:<8}", n.applied.get(a).map_or("?", String::as_str));
    }
    s
}

fn action_line(a: &ActionRow) -> String {
    let ms = a.ms.map_or(String::new(), |m| format!(" ({m} ms)"));
    format!("{} {} {} on {}: {}{ms}", a.result, a.node, a.set, a.appliance, a.detail)
}

fn print_round(r: &Round, names: &[String]) {
    out!("fleet of {}: a verdict takes {} votes", r.fleet_size, r.fleet_size / 2 + 1);
    for line in r.appliances.iter().filter_map(appliance_line) {
        out!("{line}");
    }
    out!("{}", header(names));
    for n in &r.nodes {
        out!("{}", node_line(n, names));
    }
    for a in &r.actions {
        out!("{}", action_line(a));
    }
}

/// Prints what differs from the previous round, each line with a timestamp; true when anything did.
fn print_changes(prev: &Round, r: &Round, names: &[String], json: bool) -> bool {
    let mut lines = Vec::new();
    for a in &r.appliances {
        if prev.appliances.iter().find(|p| p.name == a.name) != Some(a) {
            lines.push(appliance_line(a).unwrap_or_else(|| format!("{:<12} answering, checks running", a.name)));
        }
    }
    for n in &r.nodes {
        if prev.nodes.iter().find(|p| p.name == n.name) != Some(n) {
            lines.push(node_line(n, names));
        }
    }
    for p in &prev.nodes {
        if !r.nodes.iter().any(|n| n.name == p.name) {
            lines.push(format!("{:<16} no longer reported", p.name));
        }
    }
    lines.extend(r.actions.iter().map(action_line));
    if lines.is_empty() {
        return false;
    }
    let at = timestamp();
    match json {
        true => out!("{}", serde_json::json!({ "at": at, "round": r })),
        false => lines.iter().for_each(|l| out!("{at} {l}")),
    }
    true
}

/// Runs `fleet health`.
pub(crate) fn run(fleet: &mut Fleet, apply: bool, watch: Option<u64>, json: bool) -> ExitCode {
    let names: Vec<String> = fleet.names().map(str::to_string).collect();
    let Some(every) = watch else {
        let r = round(fleet, apply);
        match json {
            true => out!("{}", serde_json::to_string_pretty(&r).expect("json")),
            false => print_round(&r, &names),
        }
        return if r.settled() { ExitCode::SUCCESS } else { crate::exit::REFUSED.into() };
    };
    if !(10..=86_400_000).contains(&every) {
        eprintln!("sluicectl: --watch: 10 to 86400000 ms");
        return crate::exit::USAGE.into();
    }
    let stop = match Stop::on_signals() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return crate::exit::USAGE.into();
        }
    };
    let mut prev: Option<Round> = None;
    loop {
        let start = Instant::now();
        let r = round(fleet, true);
        match &prev {
            None if json => out!("{}", serde_json::json!({ "at": timestamp(), "round": r })),
            None => print_round(&r, &names),
            Some(p) => {
                print_changes(p, &r, &names, json);
            }
        }
        prev = Some(r);
        if stop.sleep_until(start + Duration::from_millis(every)) {
            return ExitCode::SUCCESS;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An appliance's view: checks on or off, scope, and per node (own result, applied), "u"/"d".
    fn view(enabled: bool, fleet: bool, nodes: &[(&str, &str, &str)]) -> Option<HealthView> {
        let ud = |s: &str| match s {
            "u" => Some(true),
            "d" => Some(false),
            _ => None,
        };
        Some(HealthView {
            enabled,
            fleet_scope: fleet,
            nodes: nodes.iter().map(|(n, o, a)| (n.to_string(), NodeView { own: ud(o), applied: ud(a) })).collect(),
        })
    }

    #[test]
    fn a_verdict_needs_more_than_half_of_the_whole_fleet() {
        assert_eq!(verdict(3, 2, 1), Some(true));
        assert_eq!(verdict(3, 1, 2), Some(false));
        assert_eq!(verdict(3, 1, 1), None, "one unreachable, a tie among the rest");
        assert_eq!(verdict(4, 2, 2), None, "a tie");
        assert_eq!(verdict(4, 2, 0), None, "half is not a majority");
        assert_eq!(verdict(4, 3, 1), Some(true));
        assert_eq!(verdict(1, 1, 0), Some(true));
        assert_eq!(verdict(1, 0, 0), None);
        assert_eq!(verdict(0, 0, 0), None);
    }

    #[test]
    fn unreachable_and_unchecking_appliances_count_but_do_not_vote() {
        // a1 and a2 see n2 down; a3 is unreachable; a4's checks are off (it reports n2 up).
        let views = vec![
            view(true, true, &[("n1", "u", "u"), ("n2", "d", "u")]),
            view(true, true, &[("n1", "u", "u"), ("n2", "d", "d")]),
            None,
            view(false, true, &[("n1", "u", "u"), ("n2", "u", "u")]),
        ];
        let t = tally(&views);
        assert_eq!(t["n1"], Tally { up: 2, down: 0, verdict: None }, "2 of 4 is not a majority");
        assert_eq!(t["n2"], Tally { up: 0, down: 2, verdict: None });
        assert!(actions(&views, &t).is_empty(), "without a verdict everyone keeps what it applies");
        // a3 comes back and sees n2 down: 3 of 4.
        let mut views = views;
        views[2] = view(true, false, &[("n1", "u", "u"), ("n2", "d", "u")]);
        let t = tally(&views);
        assert_eq!(t["n2"], Tally { up: 0, down: 3, verdict: Some(false) });
        assert_eq!(t["n1"].verdict, Some(true));
        let acts = actions(&views, &t);
        let who: Vec<(usize, bool)> = acts.iter().map(|a| (a.appliance, a.takes_verdicts)).collect();
        // a1 and a4 apply it up and take verdicts; a3 acts on its own checks (skipped); a2 has it down.
        assert_eq!(who, vec![(0, true), (2, false), (3, true)]);
        assert!(acts.iter().all(|a| a.node == "n2" && !a.up));
    }

    #[test]
    fn nodes_one_appliance_lacks_are_voted_on_and_left_alone_there() {
        let views =
            vec![view(true, true, &[("n1", "d", "u"), ("n9", "d", "u")]), view(true, true, &[("n1", "d", "u")])];
        let t = tally(&views);
        assert_eq!(t["n9"], Tally { up: 0, down: 1, verdict: None });
        assert_eq!(t["n1"].verdict, Some(false));
        assert_eq!(actions(&views, &t).len(), 2);
    }

    #[test]
    fn health_answers_parse() {
        use sluice_control::console::Response;
        let read = |d: serde_json::Value| Response::ok(d).data_as::<HealthAnswer>().map(|a| view_of(&a));
        let v = read(serde_json::json!({ "enabled": true, "scope": "fleet", "check": "tcp",
            "nodes": [{ "name": "n1", "health": "down", "applied": "up", "successes": 3 }] }))
        .unwrap();
        assert!(v.enabled && v.fleet_scope);
        assert_eq!(v.nodes["n1"], NodeView { own: Some(false), applied: Some(true) });
        let v = read(serde_json::json!({ "enabled": false, "scope": "appliance", "nodes": [] })).unwrap();
        assert!(!v.enabled && !v.fleet_scope && v.nodes.is_empty());
        assert!(read(serde_json::json!({ "nodes": [] })).unwrap_err().to_string().contains("enabled"));
    }
}
