//! The console protocol between `sluicectl` and a running appliance: one JSON request per line on a
//! Unix socket, one JSON response per line back. Changes to nodes are applied to a copy of the running
//! configuration and validated whole before anything is published: a refused change changes nothing.
//! Each request's answer is a type of [`answers`], shared by the appliance and `sluicectl`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::config::{Config, ConfigError, NodeConfig, NodeState};

pub mod answers;

pub use answers::*;

/// What an operator asks. The answers: `status` a [`StatusAnswer`], `stats` a [`StatsAnswer`], `nodes` a
/// [`NodesAnswer`], `resets` a [`ResetsAnswer`], `affinity` an [`AffinityAnswer`], `health` a
/// [`HealthAnswer`], `announce` an [`Announcement`]; every change (nodes, affinity, `node_health`,
/// `reload`, `appliance_drain` and `appliance_undrain`) an [`AppliedAnswer`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum Request {
    /// Role, generation, uptime, workers, ports, nodes.
    Status,
    /// Every counter (the summary format).
    Stats,
    /// The nodes and their shares.
    Nodes,
    NodeAdd {
        node: NodeConfig,
    },
    NodeRemove {
        name: String,
    },
    NodeWeight {
        name: String,
        weight: u32,
    },
    NodeDrain {
        name: String,
    },
    NodeUndrain {
        name: String,
    },
    NodeDown {
        name: String,
    },
    /// The latest reset fan-outs, newest first.
    Resets,
    /// Re-read the configuration file and apply it with the runtime changes kept over it (as SIGHUP
    /// does). `diff`: only say what that would change. `discard_runtime`: forget the runtime changes and
    /// apply the file alone.
    Reload {
        #[serde(default)]
        diff: bool,
        #[serde(default)]
        discard_runtime: bool,
    },
    /// Affinity entries matching a filter, heaviest first, and the table's counters.
    Affinity {
        #[serde(default)]
        filter: crate::affinity::Filter,
    },
    /// Pin a client VM (an IP or MAC, as `affinity.client_id` says) to an active CVM.
    AffinityPin {
        client: String,
        node: String,
    },
    /// Turn a pin back into a learned entry.
    AffinityUnpin {
        client: String,
    },
    /// Forget learned entries (of one CVM, or all); pins stay.
    AffinityFlush {
        #[serde(default)]
        node: Option<String>,
    },
    /// Health-check state of every node.
    Health,
    /// What this appliance's BGP speaker should announce now (asked by `sluicectl speaker`, which
    /// withdraws everything when the appliance does not answer). `withdrawn`: the speaker confirms that
    /// BIRD has withdrawn everything for this appliance (what a stop waits for); `sluicectl appliance
    /// status` leaves it false.
    Announce {
        #[serde(default)]
        withdrawn: bool,
    },
    /// Leave the fabric gracefully: withdraw every VIP, keep forwarding what still arrives.
    ApplianceDrain,
    /// Announce again (when ready).
    ApplianceUndrain,
    /// The iSCSI portal: its connections, logins, placements per CVM and refusals.
    Portal,
    /// The fleet's verdict on a node's health (`health.scope = "fleet"`), set by `sluicectl fleet health`.
    NodeHealth {
        name: String,
        up: bool,
    },
}

/// The answer: `ok` with `data` (one of the [`answers`] types, by request), or an `error` that says
/// what was wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

/// Why a [`Response`] holds no answer of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerError {
    /// The appliance refused; its reason.
    Refused(String),
    /// The data is not an answer of that type; what is wrong with it.
    Unreadable(String),
}

impl std::fmt::Display for AnswerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AnswerError::Refused(e) => f.write_str(e),
            AnswerError::Unreadable(e) => write!(f, "unreadable answer: {e}"),
        }
    }
}

impl std::error::Error for AnswerError {}

impl Response {
    /// `ok` with `data` (an answer that cannot be written as JSON becomes an error).
    pub fn ok(data: impl Serialize) -> Response {
        match serde_json::to_value(data) {
            Ok(v) => Response { ok: true, error: None, data: Some(v) },
            Err(e) => Response::err(format!("the answer cannot be written: {e}")),
        }
    }

    pub fn err(e: impl std::fmt::Display) -> Response {
        Response { ok: false, error: Some(e.to_string()), data: None }
    }

    /// The answer as `T` when the appliance said `ok`; its error otherwise.
    pub fn data_as<T: DeserializeOwned>(&self) -> Result<T, AnswerError> {
        if !self.ok {
            return Err(AnswerError::Refused(self.error.clone().unwrap_or_else(|| "refused without a reason".into())));
        }
        T::deserialize(self.data.as_ref().unwrap_or(&serde_json::Value::Null))
            .map_err(|e| AnswerError::Unreadable(e.to_string()))
    }
}

/// Parses one request line; the error says what is wrong with it.
pub fn parse_request(line: &str) -> Result<Request, String> {
    serde_json::from_str(line.trim()).map_err(|e| format!("malformed request: {e}"))
}

fn find(cfg: &Config, name: &str) -> Result<usize, ConfigError> {
    cfg.nodes.iter().position(|n| n.name == name).ok_or_else(|| ConfigError::new("name", format!("no node {name:?}")))
}

/// The configuration a node request would leave, validated; None for requests that change nothing.
pub fn apply(cfg: &Config, req: &Request) -> Result<Option<Config>, ConfigError> {
    let mut new = cfg.clone();
    match req {
        Request::NodeAdd { node } => {
            if cfg.nodes.iter().any(|n| n.name == node.name) {
                return Err(ConfigError::new("node.name", format!("node {:?} already exists", node.name)));
            }
            new.nodes.push(node.clone());
        }
        Request::NodeRemove { name } => {
            let i = find(cfg, name)?;
            new.nodes.remove(i);
        }
        Request::NodeWeight { name, weight } => new.nodes[find(cfg, name)?].weight = *weight,
        Request::NodeDrain { name } => new.nodes[find(cfg, name)?].state = NodeState::Draining,
        Request::NodeUndrain { name } => new.nodes[find(cfg, name)?].state = NodeState::Active,
        Request::NodeDown { name } => new.nodes[find(cfg, name)?].state = NodeState::Down,
        _ => return Ok(None),
    }
    new.validate()?;
    Ok(Some(new))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> Config {
        let t = include_str!("../../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
        Config::from_toml(&t).unwrap()
    }

    #[test]
    fn requests_parse_and_malformed_ones_are_named() {
        assert_eq!(parse_request(r#"{"cmd":"status"}"#), Ok(Request::Status));
        assert_eq!(parse_request(r#"{"cmd":"node_drain","name":"a1"}"#), Ok(Request::NodeDrain { name: "a1".into() }));
        assert!(parse_request("status").unwrap_err().starts_with("malformed request"));
        assert!(parse_request(r#"{"cmd":"explode"}"#).unwrap_err().contains("explode"));
        assert!(parse_request(r#"{"cmd":"node_weight","name":"a1"}"#).unwrap_err().contains("weight"));
        assert_eq!(
            parse_request(r#"{"cmd":"affinity","filter":{"node":"a1","limit":3}}"#),
            Ok(Request::Affinity {
                filter: crate::affinity::Filter { node: Some("a1".into()), limit: 3, ..Default::default() }
            })
        );
        assert!(parse_request(r#"{"cmd":"affinity","filter":{"nod":"a1"}}"#).unwrap_err().contains("nod"));
        assert!(parse_request(r#"{"cmd":"affinity_pin","client":"10.0.0.1"}"#).unwrap_err().contains("node"));
    }

    #[test]
    fn node_changes_are_validated_whole() {
        let c = cfg();
        let d = apply(&c, &Request::NodeDrain { name: "a1".into() }).unwrap().unwrap();
        assert_eq!(d.nodes[0].state, NodeState::Draining);
        assert_eq!(apply(&c, &Request::NodeDrain { name: "zz".into() }).unwrap_err().problem, "no node \"zz\"");
        // Removing every node, or weighing them all to 0, is refused.
        let mut x = c.clone();
        for n in ["a1", "a2", "b1"] {
            x = apply(&x, &Request::NodeRemove { name: n.into() }).unwrap().unwrap();
        }
        assert_eq!(apply(&x, &Request::NodeRemove { name: "b2".into() }).unwrap_err().field, "nodes");
        assert_eq!(apply(&x, &Request::NodeWeight { name: "b2".into(), weight: 0 }).unwrap_err().field, "nodes");
        let mut n = c.nodes[0].clone();
        assert_eq!(apply(&c, &Request::NodeAdd { node: n.clone() }).unwrap_err().field, "node.name");
        n.name = "a9".into();
        n.chassis = "nowhere".into();
        assert!(apply(&c, &Request::NodeAdd { node: n }).unwrap_err().field.ends_with(".chassis"));
        assert_eq!(apply(&c, &Request::Status).unwrap(), None);
    }
}
