//! `sluicectl fleet`: every appliance behind the same router at once. `status` compares their digests
//! (appliances with the same digest pick the same node for every packet), `node ...` makes one change on
//! all of them concurrently and checks that they still agree, `health` votes on node health (see
//! [`crate::fleet_health`]).
//!
//! The appliances come from repeated `--appliance SOCKET` (named by the socket file's stem) or from
//! `--fleet FILE`, a TOML file of `[[appliance]]` tables with `name` and `socket`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args as ClapArgs, Subcommand};
use serde::Serialize;
use sluice_control::console::{AppliedAnswer, Request, StatusAnswer};
use sluice_control::ConfigError;

use crate::client::{ask_all, Asker, Outcome};
use crate::{change_request, NodeChange};

/// How long each appliance has to answer one request (connect and read together).
pub(crate) const TIMEOUT: Duration = Duration::from_secs(2);

/// The fleet and what to do with it.
#[derive(ClapArgs, Debug)]
pub(crate) struct FleetArgs {
    /// An appliance's console socket (the appliance is named by the file's stem); repeat for each.
    #[arg(long = "appliance", value_name = "SOCKET", global = true)]
    appliances: Vec<PathBuf>,
    /// A TOML file listing the appliances: `[[appliance]]` tables with `name` and `socket`.
    #[arg(long, value_name = "FILE", global = true)]
    fleet: Option<PathBuf>,
    /// Print JSON.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: FleetCmd,
}

#[derive(Subcommand, Debug)]
enum FleetCmd {
    /// Each appliance's state, generation, digest and active nodes; whether the digests agree.
    /// Exits 1 unless every appliance answered and all digests are equal.
    Status,
    /// Make one node change on every appliance at once, then compare their digests. Exits 1 when an
    /// appliance refused or did not answer, or the digests differ afterwards.
    Node {
        #[command(subcommand)]
        change: NodeChange,
    },
    /// Each node's health by a majority of the fleet's own checks, next to what each appliance applies.
    /// Exits 1 when an appliance did not answer or applies something other than a verdict afterwards.
    Health {
        /// Set the verdict on every appliance (with `health.scope = "fleet"`) that applies otherwise.
        #[arg(long)]
        apply: bool,
        /// Repeat every MS milliseconds until SIGINT or SIGTERM, applying verdicts and printing changes.
        #[arg(long, value_name = "MS")]
        watch: Option<u64>,
    },
}

/// One appliance of the fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) socket: PathBuf,
}

/// Checks a list of appliances: at least one, each named (no spaces, `=` or `,`: they separate names in
/// reports) and with a socket, no name or socket twice.
pub(crate) fn validate(members: &[Member]) -> Result<(), ConfigError> {
    if members.is_empty() {
        return Err(ConfigError::new("appliance", "no appliances listed"));
    }
    for (i, m) in members.iter().enumerate() {
        if m.name.is_empty() {
            return Err(ConfigError::new(format!("appliance[{i}].name"), "empty"));
        }
        if m.name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '=' || c == ',') {
            return Err(ConfigError::new(
                format!("appliance[{i}].name"),
                format!("{:?} holds a space, control character, '=' or ','", m.name),
            ));
        }
        if m.socket.as_os_str().is_empty() {
            return Err(ConfigError::new(format!("appliance[{i}].socket"), "empty"));
        }
        if let Some(j) = members[..i].iter().position(|o| o.name == m.name) {
            return Err(ConfigError::new(
                format!("appliance[{i}].name"),
                format!("{:?} is also appliance[{j}]'s name", m.name),
            ));
        }
        if let Some(j) = members[..i].iter().position(|o| o.socket == m.socket) {
            return Err(ConfigError::new(
                format!("appliance[{i}].socket"),
                format!("{} is also appliance[{j}]'s socket", m.socket.display()),
            ));
        }
    }
    Ok(())
}

/// Reads and validates a fleet file: `[[appliance]]` tables, each with a `name` and a `socket` string.
pub(crate) fn parse_fleet(text: &str) -> Result<Vec<Member>, String> {
    let bad = |field: String, problem: &str| ConfigError::new(field, problem).to_string();
    let top: toml::Table = text.parse().map_err(|e: toml::de::Error| e.message().to_string())?;
    if let Some(k) = top.keys().find(|k| *k != "appliance") {
        return Err(bad(k.clone(), "unknown field (a fleet file holds `[[appliance]]` tables)"));
    }
    let list = match top.get("appliance") {
        None => &Vec::new(),
        Some(toml::Value::Array(a)) => a,
        Some(_) => return Err(bad("appliance".into(), "must be `[[appliance]]` tables")),
    };
    let mut members = Vec::new();
    for (i, v) in list.iter().enumerate() {
        let Some(t) = v.as_table() else { return Err(bad(format!("appliance[{i}]"), "must be a table")) };
        if let Some(k) = t.keys().find(|k| *k != "name" && *k != "socket") {
            return Err(bad(format!("appliance[{i}].{k}"), "unknown field (expected `name` and `socket`)"));
        }
        let field = |k: &str| match t.get(k) {
            Some(toml::Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(bad(format!("appliance[{i}].{k}"), "must be a string")),
            None => Err(bad(format!("appliance[{i}].{k}"), "missing")),
        };
        members.push(Member { name: field("name")?, socket: PathBuf::from(field("socket")?) });
    }
    validate(&members).map_err(|e| e.to_string())?;
    Ok(members)
}

/// The appliances named by `--appliance` sockets.
fn from_sockets(sockets: &[PathBuf]) -> Result<Vec<Member>, String> {
    let members: Vec<Member> = sockets
        .iter()
        .map(|s| Member {
            name: s.file_stem().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            socket: s.clone(),
        })
        .collect();
    validate(&members).map_err(|e| format!("--appliance: {e}"))?;
    Ok(members)
}

fn members(args: &FleetArgs) -> Result<Vec<Member>, String> {
    match (&args.fleet, args.appliances.is_empty()) {
        (Some(_), false) => Err("give the appliances either as --appliance SOCKET or in --fleet FILE, not both".into()),
        (Some(f), true) => {
            let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
            parse_fleet(&text).map_err(|e| format!("{}: {e}", f.display()))
        }
        (None, false) => from_sockets(&args.appliances),
        (None, true) => Err("say which appliances: --appliance SOCKET (repeated) or --fleet FILE".into()),
    }
}

/// The appliances and one [`Asker`] for each.
pub(crate) struct Fleet {
    pub(crate) members: Vec<Member>,
    pub(crate) askers: Vec<Asker>,
}

impl Fleet {
    fn new(members: Vec<Member>) -> Fleet {
        let askers = members.iter().map(|m| Asker::new(m.socket.clone(), TIMEOUT)).collect();
        Fleet { members, askers }
    }

    /// The same request to every appliance, concurrently.
    pub(crate) fn ask_every(&mut self, req: &Request) -> Vec<Outcome> {
        let reqs = vec![Some(req.clone()); self.members.len()];
        ask_all(&mut self.askers, &reqs).into_iter().map(|o| o.expect("every appliance was asked")).collect()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|m| m.name.as_str())
    }
}

/// One appliance's answer to `status`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Standing {
    pub(crate) name: String,
    pub(crate) reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    pub(crate) state: Option<String>,
    pub(crate) generation: Option<u64>,
    pub(crate) digest: Option<String>,
    pub(crate) active_nodes: Option<u64>,
    pub(crate) ms: u64,
}

impl Standing {
    fn from_outcome(name: &str, o: &Outcome) -> Standing {
        let (status, error) = match o.answer_as::<StatusAnswer>() {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e)),
        };
        Standing {
            name: name.to_string(),
            reachable: status.is_some(),
            error,
            state: status.as_ref().and_then(|s| s.appliance.clone()),
            generation: status.as_ref().map(|s| s.generation),
            digest: status.as_ref().and_then(|s| s.digest.clone()),
            active_nodes: status.as_ref().map(|s| s.active_nodes as u64),
            ms: o.ms(),
        }
    }

    fn line(&self) -> String {
        match &self.error {
            Some(e) => format!("{:<12} UNREACHABLE: {e} ({} ms)", self.name, self.ms),
            None => format!(
                "{:<12} reachable  {:<9} generation {:<6} digest {:<16} active nodes {:<4} ({} ms)",
                self.name,
                self.state.as_deref().unwrap_or("unknown"),
                self.generation.map_or("?".into(), |g| g.to_string()),
                self.digest.as_deref().unwrap_or("?"),
                self.active_nodes.map_or("?".into(), |n| n.to_string()),
                self.ms
            ),
        }
    }
}

/// Whether the reachable appliances' digests agree, and who did not answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Agreement {
    /// Every appliance answered and all reported the same digest.
    pub(crate) agree: bool,
    /// Digest → the appliances reporting it, the largest group first ("?" for none reported).
    pub(crate) groups: Vec<(String, Vec<String>)>,
    pub(crate) unreachable: Vec<String>,
}

/// Groups the reachable appliances by digest.
pub(crate) fn agreement(standings: &[Standing]) -> Agreement {
    let mut by: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unreachable = Vec::new();
    for s in standings {
        match s.reachable {
            true => by.entry(s.digest.clone().unwrap_or_else(|| "?".into())).or_default().push(s.name.clone()),
            false => unreachable.push(s.name.clone()),
        }
    }
    let mut groups: Vec<(String, Vec<String>)> = by.into_iter().collect();
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let agree = unreachable.is_empty() && groups.len() == 1 && groups[0].0 != "?";
    Agreement { agree, groups, unreachable }
}

impl Agreement {
    /// `digests agree: D`, or `DIVERGED: a1,a2=D1 a3=D2`, and who did not answer.
    pub(crate) fn line(&self) -> String {
        let groups: Vec<String> = self.groups.iter().map(|(d, names)| format!("{}={d}", names.join(","))).collect();
        let mut line = match self.groups.len() {
            0 => "no appliance answered".to_string(),
            1 if self.groups[0].0 != "?" && self.unreachable.is_empty() => {
                format!("digests agree: {}", self.groups[0].0)
            }
            1 if self.groups[0].0 != "?" => format!("digests agree among those reachable: {}", self.groups[0].0),
            _ => format!("DIVERGED: {}", groups.join(" ")),
        };
        if !self.unreachable.is_empty() {
            line += &format!("; unreachable: {}", self.unreachable.join(","));
        }
        line
    }
}

/// Asks every appliance's status.
fn standings(fleet: &mut Fleet) -> Vec<Standing> {
    let outcomes = fleet.ask_every(&Request::Status);
    fleet.members.iter().zip(&outcomes).map(|(m, o)| Standing::from_outcome(&m.name, o)).collect()
}

fn status(fleet: &mut Fleet, json: bool) -> ExitCode {
    let st = standings(fleet);
    let a = agreement(&st);
    if json {
        out!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "appliances": st, "agreement": a })).expect("json")
        );
    } else {
        for s in &st {
            out!("{}", s.line());
        }
        out!("{}", a.line());
    }
    if a.agree {
        ExitCode::SUCCESS
    } else {
        crate::exit::REFUSED.into()
    }
}

/// One appliance's answer to a change.
#[derive(Debug, Serialize)]
struct ChangeResult {
    name: String,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    generation: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    ms: u64,
}

fn node(fleet: &mut Fleet, change: NodeChange, json: bool) -> ExitCode {
    let req = match change_request(change) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return crate::exit::USAGE.into();
        }
    };
    let results: Vec<ChangeResult> = fleet
        .ask_every(&req)
        .iter()
        .zip(fleet.names())
        .map(|(o, name)| match o.answer_as::<AppliedAnswer>() {
            Ok(a) => ChangeResult {
                name: name.into(),
                ok: true,
                generation: a.generation,
                applied: Some(a.applied),
                error: None,
                ms: o.ms(),
            },
            Err(e) => ChangeResult {
                name: name.into(),
                ok: false,
                generation: None,
                applied: None,
                error: Some(e),
                ms: o.ms(),
            },
        })
        .collect();
    let after = standings(fleet);
    let a = agreement(&after);
    if json {
        let v = serde_json::json!({ "request": req, "results": results, "after": after, "agreement": a });
        out!("{}", serde_json::to_string_pretty(&v).expect("json"));
    } else {
        for r in &results {
            match &r.error {
                None => out!(
                    "{:<12} ok      generation {} ({} ms)",
                    r.name,
                    r.generation.map_or("?".into(), |g| g.to_string()),
                    r.ms
                ),
                Some(e) => out!("{:<12} FAILED  {e} ({} ms)", r.name, r.ms),
            }
        }
        out!("after: {}", a.line());
    }
    if results.iter().all(|r| r.ok) && a.agree {
        ExitCode::SUCCESS
    } else {
        crate::exit::REFUSED.into()
    }
}

/// Runs a `fleet` command.
pub(crate) fn run(args: FleetArgs) -> ExitCode {
    let members = match members(&args) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("sluicectl: {e}");
            return crate::exit::USAGE.into();
        }
    };
    let mut fleet = Fleet::new(members);
    match args.cmd {
        FleetCmd::Status => status(&mut fleet, args.json),
        FleetCmd::Node { change } => node(&mut fleet, change, args.json),
        FleetCmd::Health { apply, watch } => crate::fleet_health::run(&mut fleet, apply, watch, args.json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(name: &str, digest: Option<&str>) -> Standing {
        Standing {
            name: name.into(),
            reachable: digest.is_some(),
            error: digest.is_none().then(|| "cannot reach".into()),
            state: Some("ready".into()),
            generation: Some(1),
            digest: digest.map(str::to_string),
            active_nodes: Some(3),
            ms: 1,
        }
    }

    #[test]
    fn fleet_files_are_validated_and_errors_name_the_field() {
        let ok = "[[appliance]]\nname = \"a1\"\nsocket = \"/run/a1.sock\"\n[[appliance]]\nname = \"a2\"\nsocket = \"/run/a2.sock\"\n";
        assert_eq!(parse_fleet(ok).unwrap().len(), 2);
        let e = parse_fleet(&format!("{ok}[[appliance]]\nname = \"a3\"\n")).unwrap_err();
        assert!(e.contains("`appliance[2].socket`: missing"), "{e}");
        let e = parse_fleet("[[appliance]]\nname = \"a1\"\nsocket = \"/s\"\nport = 1\n").unwrap_err();
        assert!(e.contains("`appliance[0].port`: unknown field"), "{e}");
        let e = parse_fleet("[[appliance]]\nname = 1\nsocket = \"/s\"\n").unwrap_err();
        assert!(e.contains("`appliance[0].name`: must be a string"), "{e}");
        let e = parse_fleet("appliances = []\n").unwrap_err();
        assert!(e.contains("`appliances`: unknown field"), "{e}");
        assert!(parse_fleet("[[appliance]\n").is_err());
        let e = parse_fleet("").unwrap_err();
        assert!(e.contains("`appliance`"), "{e}");
        let e = parse_fleet(&ok.replace("a2\"", "a1\"")).unwrap_err();
        assert!(e.contains("appliance[1].name") && e.contains("appliance[0]"), "{e}");
        let e = parse_fleet(&ok.replace("/run/a2.sock", "/run/a1.sock")).unwrap_err();
        assert!(e.contains("appliance[1].socket"), "{e}");
        let e = parse_fleet(&ok.replace("\"a2\"", "\"a 2\"")).unwrap_err();
        assert!(e.contains("appliance[1].name"), "{e}");
        let e = parse_fleet(&ok.replace("\"a2\"", "\"\"")).unwrap_err();
        assert!(e.contains("appliance[1].name") && e.contains("empty"), "{e}");
        assert_eq!(from_sockets(&["/run/sluice-lab/a1.sock".into()]).unwrap()[0].name, "a1");
        let e = from_sockets(&["/x/a1.sock".into(), "/y/a1.sock".into()]).unwrap_err();
        assert!(e.contains("appliance[1].name"), "{e}");
    }

    #[test]
    fn digests_group_and_unreachable_appliances_spoil_agreement() {
        let a = agreement(&[st("a1", Some("d1")), st("a2", Some("d1"))]);
        assert!(a.agree);
        assert_eq!(a.line(), "digests agree: d1");
        let a = agreement(&[st("a1", Some("d2")), st("a2", Some("d1")), st("a3", Some("d2"))]);
        assert!(!a.agree);
        assert_eq!(a.line(), "DIVERGED: a1,a3=d2 a2=d1");
        let a = agreement(&[st("a1", Some("d1")), st("a2", None)]);
        assert!(!a.agree);
        assert_eq!(a.line(), "digests agree among those reachable: d1; unreachable: a2");
        let a = agreement(&[st("a1", None)]);
        assert_eq!(a.line(), "no appliance answered; unreachable: a1");
        let mut old = st("a1", Some("x"));
        old.digest = None;
        assert!(!agreement(&[old]).agree);
    }
}
