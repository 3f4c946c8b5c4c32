//! Operator changes made at run time (`sluicectl nodes drain|undrain|down|weight|add|remove`, affinity
//! pins), kept in a state file so that they survive a reload and a restart. The state is the list of
//! those console requests in the order they were applied; at start and at every reload they are applied
//! again over the configuration file. A change the file now makes itself is dropped from the list, and
//! so is one that no longer applies (its node is gone from the file), with the reason.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::console::{self, Request};

/// The state file's format version.
const VERSION: u32 = 1;
/// Most changes kept: a later change to the same thing replaces an earlier one, so this bounds only a
/// fleet of distinct nodes and pinned clients.
pub const MAX_CHANGES: usize = 4096;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeState {
    version: u32,
    changes: Vec<Request>,
}

/// Where a configuration's state file is by default: beside it, `NAME.toml` → `NAME.state.json`.
pub fn default_path(config: &Path) -> PathBuf {
    let stem = config.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "sluice".into());
    config.with_file_name(format!("{stem}.state.json"))
}

/// What [`RuntimeState::replay`] made of the kept changes.
#[derive(Debug, Default)]
pub struct Replayed {
    /// The configuration file with the kept node changes applied.
    pub config: Option<Config>,
    /// The changes still in force, described (`drain n2`).
    pub kept: Vec<String>,
    /// Changes dropped, each with why.
    pub dropped: Vec<String>,
}

impl RuntimeState {
    /// The state in `path`; none (empty) when the file does not exist.
    pub fn load(path: &Path) -> Result<RuntimeState, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let s: RuntimeState =
                    serde_json::from_str(&text).map_err(|e| format!("{}: unreadable state: {e}", path.display()))?;
                if s.version != VERSION {
                    return Err(format!(
                        "{}: state version {} (this sluice reads {VERSION})",
                        path.display(),
                        s.version
                    ));
                }
                Ok(s)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(RuntimeState::default()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    /// Writes the state to `path` whole or not at all (a temporary file renamed over it).
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let s = RuntimeState { version: VERSION, changes: self.changes.clone() };
        let text = serde_json::to_string_pretty(&s).expect("requests serialise");
        let tmp = path.with_extension("json.tmp");
        // Durable before it replaces the old file, and the rename durable too: a power cut leaves the
        // old state or the new, never an empty file.
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            std::io::Write::write_all(&mut f, (text + "\n").as_bytes())?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)?;
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            std::fs::File::open(dir)?.sync_all()
        };
        write().map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn changes(&self) -> &[Request] {
        &self.changes
    }

    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    pub fn clear(&mut self) {
        self.changes.clear();
    }

    /// Forgets `req` (a pin that no longer applies).
    pub fn forget(&mut self, req: &Request) {
        self.changes.retain(|c| c != req);
    }

    /// Whether `req` is a change this state keeps.
    pub fn keeps(req: &Request) -> bool {
        matches!(
            req,
            Request::NodeAdd { .. }
                | Request::NodeRemove { .. }
                | Request::NodeWeight { .. }
                | Request::NodeDrain { .. }
                | Request::NodeUndrain { .. }
                | Request::NodeDown { .. }
                | Request::AffinityPin { .. }
                | Request::AffinityUnpin { .. }
        )
    }

    /// Records an applied change. An earlier change to the same thing (a node's state, its weight, its
    /// existence, a client's pin) is replaced by it.
    pub fn record(&mut self, req: &Request) {
        if !Self::keeps(req) {
            return;
        }
        let (what, name) = slot(req);
        match req {
            // Everything about the node before goes, but a removal of the file's node stays: remove then
            // add replaces the file's node with this one.
            Request::NodeAdd { .. } => self.changes.retain(|c| {
                let (w, n) = slot(c);
                n != name || w == "pin" || matches!(c, Request::NodeRemove { .. })
            }),
            Request::NodeRemove { .. } => {
                let added_here =
                    self.changes.iter().any(|c| matches!(c, Request::NodeAdd { node } if node.name == name));
                self.changes.retain(|c| {
                    let (w, n) = slot(c);
                    n != name || w == "pin" || matches!(c, Request::NodeRemove { .. })
                });
                // A node added at run time and removed again: nothing of it is left to keep.
                if added_here {
                    return;
                }
            }
            // An unpin undoes a pin made at run time: the pin is forgotten, nothing is kept for it.
            Request::AffinityUnpin { .. } => {
                self.changes.retain(|c| slot(c) != ("pin", name.clone()));
                return;
            }
            _ => self.changes.retain(|c| slot(c) != (what, name.clone())),
        }
        if self.changes.len() == MAX_CHANGES {
            self.changes.remove(0);
        }
        self.changes.push(req.clone());
    }

    /// Applies the kept node changes over `file` in order. Each is validated with the rest, as it was
    /// when first applied: one that is refused now (its node is gone) or that changes nothing (the file
    /// says the same now) is dropped from the state. Pins are kept as they are (the affinity table
    /// applies them).
    pub fn replay(&mut self, file: &Config) -> Replayed {
        let mut cfg = file.clone();
        let mut out = Replayed::default();
        self.changes.retain(|req| match req {
            Request::AffinityPin { .. } | Request::AffinityUnpin { .. } => {
                out.kept.push(describe(req));
                true
            }
            _ => match console::apply(&cfg, req) {
                Ok(Some(new)) if new == cfg => {
                    out.dropped.push(format!("{}: the configuration file says so now", describe(req)));
                    false
                }
                Ok(Some(new)) => {
                    cfg = new;
                    out.kept.push(describe(req));
                    true
                }
                Ok(None) => false,
                Err(e) => {
                    out.dropped.push(format!("{}: no longer applies: {e}", describe(req)));
                    false
                }
            },
        });
        out.config = Some(cfg);
        out
    }
}

/// What a change sets: (what, name). A drain, an undrain and a down all set a node's state.
fn slot(req: &Request) -> (&'static str, String) {
    match req {
        Request::NodeAdd { node } => ("exists", node.name.clone()),
        Request::NodeRemove { name } => ("exists", name.clone()),
        Request::NodeWeight { name, .. } => ("weight", name.clone()),
        Request::NodeDrain { name } | Request::NodeUndrain { name } | Request::NodeDown { name } => {
            ("state", name.clone())
        }
        Request::AffinityPin { client, .. } | Request::AffinityUnpin { client } => ("pin", client.clone()),
        _ => ("", String::new()),
    }
}

/// A change in a few words: `drain n2`, `weight a1 300`, `pin 10.0.0.5 a2`.
pub fn describe(req: &Request) -> String {
    match req {
        Request::NodeAdd { node } => format!("add {}", node.name),
        Request::NodeRemove { name } => format!("remove {name}"),
        Request::NodeWeight { name, weight } => format!("weight {name} {weight}"),
        Request::NodeDrain { name } => format!("drain {name}"),
        Request::NodeUndrain { name } => format!("undrain {name}"),
        Request::NodeDown { name } => format!("down {name}"),
        Request::AffinityPin { client, node } => format!("pin {client} {node}"),
        Request::AffinityUnpin { client } => format!("unpin {client}"),
        other => format!("{other:?}"),
    }
}

/// What applying `new` over `running` would change, one line each: nodes added or removed, node states
/// and weights, VIPs, chassis, and any other section (by name).
pub fn diff(running: &Config, new: &Config) -> Vec<String> {
    let mut out = Vec::new();
    for n in &new.nodes {
        match running.nodes.iter().find(|r| r.name == n.name) {
            None => out.push(format!("node {}: added ({:?}, weight {})", n.name, n.state, n.weight)),
            Some(r) => {
                if r.state != n.state {
                    out.push(format!("node {}: {:?} -> {:?}", n.name, r.state, n.state));
                }
                if r.weight != n.weight {
                    out.push(format!("node {}: weight {} -> {}", n.name, r.weight, n.weight));
                }
                if r != n && r.state == n.state && r.weight == n.weight {
                    out.push(format!("node {}: address, chassis or forwarding changed", n.name));
                }
            }
        }
    }
    for r in running.nodes.iter().filter(|r| !new.nodes.iter().any(|n| n.name == r.name)) {
        out.push(format!("node {}: removed", r.name));
    }
    for v in new.vips.iter().filter(|v| !running.vips.contains(v)) {
        out.push(format!("vip {}: added or changed", v.address));
    }
    for v in running.vips.iter().filter(|v| !new.vips.iter().any(|n| n.address == v.address)) {
        out.push(format!("vip {}: removed", v.address));
    }
    let (a, b) = (serde_json::to_value(running).expect("config"), serde_json::to_value(new).expect("config"));
    if let (Some(a), Some(b)) = (a.as_object(), b.as_object()) {
        let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
        keys.sort();
        keys.dedup();
        for k in keys.into_iter().filter(|k| !matches!(k.as_str(), "nodes" | "vips")) {
            if a.get(k) != b.get(k) {
                out.push(format!("[{k}] changed"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> Config {
        let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
        Config::from_toml(&t).unwrap()
    }

    fn drain(n: &str) -> Request {
        Request::NodeDrain { name: n.into() }
    }

    #[test]
    fn later_changes_replace_earlier_ones_to_the_same_thing() {
        let mut s = RuntimeState::default();
        s.record(&drain("a1"));
        s.record(&Request::NodeWeight { name: "a1".into(), weight: 300 });
        s.record(&Request::NodeUndrain { name: "a1".into() });
        s.record(&drain("b1"));
        s.record(&Request::Stats);
        let d: Vec<String> = s.changes().iter().map(describe).collect();
        assert_eq!(d, ["weight a1 300", "undrain a1", "drain b1"]);
        s.record(&Request::NodeRemove { name: "a1".into() });
        let d: Vec<String> = s.changes().iter().map(describe).collect();
        assert_eq!(d, ["drain b1", "remove a1"], "removing a node replaces everything about it");
        // Removed, then added back (another address): both are kept, so the file's node is replaced.
        let mut n = file().nodes[0].clone();
        n.weight = 7;
        s.record(&Request::NodeAdd { node: n.clone() });
        s.record(&drain("a1"));
        let d: Vec<String> = s.changes().iter().map(describe).collect();
        assert_eq!(d, ["drain b1", "remove a1", "add a1", "drain a1"]);
        let r = s.clone().replay(&file());
        let a1 = r.config.unwrap().nodes.into_iter().find(|x| x.name == "a1").unwrap();
        assert_eq!((a1.weight, a1.state), (7, crate::config::NodeState::Draining), "{:?}", r.dropped);
        // Removed again: only the first removal is left.
        s.record(&Request::NodeRemove { name: "a1".into() });
        let d: Vec<String> = s.changes().iter().map(describe).collect();
        assert_eq!(d, ["drain b1", "remove a1"]);
        // A node added at run time and removed again leaves nothing.
        let mut x = n;
        x.name = "x9".into();
        s.record(&Request::NodeAdd { node: x });
        s.record(&Request::NodeRemove { name: "x9".into() });
        assert_eq!(s.changes().len(), 2);
        // An unpin forgets the pin.
        s.record(&Request::AffinityPin { client: "10.0.0.5".into(), node: "b1".into() });
        s.record(&Request::AffinityUnpin { client: "10.0.0.5".into() });
        assert_eq!(s.changes().len(), 2);
    }

    #[test]
    fn replay_keeps_what_still_applies_and_drops_what_the_file_says_or_no_longer_has() {
        let mut s = RuntimeState::default();
        for r in [drain("a1"), Request::NodeWeight { name: "b2".into(), weight: 300 }, drain("zz")] {
            s.record(&r);
        }
        let r = s.replay(&file());
        let cfg = r.config.unwrap();
        assert_eq!(cfg.nodes.iter().find(|n| n.name == "a1").unwrap().state, crate::config::NodeState::Draining);
        assert_eq!(cfg.nodes.iter().find(|n| n.name == "b2").unwrap().weight, 300);
        assert_eq!(r.kept, ["drain a1", "weight b2 300"]);
        assert_eq!(r.dropped.len(), 1);
        assert!(r.dropped[0].starts_with("drain zz: no longer applies"), "{:?}", r.dropped);
        assert_eq!(s.changes().len(), 2, "the dropped change is gone from the state");
        // The file now drains a1 itself: that change is folded into it.
        let mut f = file();
        f.nodes.iter_mut().find(|n| n.name == "a1").unwrap().state = crate::config::NodeState::Draining;
        let r = s.replay(&f);
        assert_eq!(r.kept, ["weight b2 300"]);
        assert!(r.dropped[0].contains("the configuration file says so now"), "{:?}", r.dropped);
        let lines = diff(&f, &r.config.unwrap());
        assert_eq!(lines, ["node b2: weight 100 -> 300"]);
    }

    #[test]
    fn the_state_file_round_trips_and_a_missing_one_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        let p = default_path(&dir.path().join("prod.toml"));
        assert_eq!(p.file_name().unwrap(), "prod.state.json");
        assert!(RuntimeState::load(&p).unwrap().is_empty());
        let mut s = RuntimeState::default();
        s.record(&drain("a1"));
        s.record(&Request::AffinityPin { client: "10.0.0.5".into(), node: "a2".into() });
        s.save(&p).unwrap();
        let back = RuntimeState::load(&p).unwrap();
        assert_eq!(back.changes(), s.changes());
        std::fs::write(&p, "{\"version\": 9, \"changes\": []}").unwrap();
        assert!(RuntimeState::load(&p).unwrap_err().contains("state version 9"));
        std::fs::write(&p, "not json").unwrap();
        assert!(RuntimeState::load(&p).unwrap_err().contains("unreadable state"));
    }
}
