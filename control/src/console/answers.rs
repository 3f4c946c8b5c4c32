//! What the appliance answers, one type per request: the `data` of a [`super::Response`]. The appliance
//! builds them and `sluicectl` reads them back, so both sides agree on the JSON by construction; the
//! names, nesting and value types are those shell scripts and `sluicectl ... --json` users read.
//!
//! A reader is lenient where an older appliance may leave a field out (it reads as its default, or
//! `None`); the fields a decision rests on (an announcement's `announce` and `vips`, whether health
//! checks run) are required.

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::affinity::{AffinityCounters, MoveReason};
use crate::config::{HealthCheck, HealthScope, NodeState, Role};
use crate::report::Summary;

/// The `status` answer: the appliance's standing and what it runs on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusAnswer {
    pub role: Role,
    /// The configuration generation the workers run on.
    pub generation: u64,
    /// The digest of what the appliance decides from (see [`crate::digest`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `ready`, `draining` or `stopping`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<String>,
    #[serde(default)]
    pub uptime_s: f64,
    /// The workers' lcores.
    #[serde(default)]
    pub workers: Vec<u32>,
    /// The ports' names.
    #[serde(default)]
    pub ports: Vec<String>,
    #[serde(default)]
    pub vips: Vec<IpAddr>,
    /// Nodes in the topology.
    pub nodes: usize,
    /// Nodes whose operator state is active.
    pub active_nodes: usize,
}

/// The `stats` answer: the run's summary so far (its fields at the top level) and the control core's
/// own figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatsAnswer {
    #[serde(flatten)]
    pub summary: Summary,
    pub role: Role,
    pub generation: u64,
    pub affinity: AffinitySummary,
    pub health: HealthAnswer,
    pub adoption: AdoptionSummary,
}

/// The `nodes` answer: one row per node, in topology order.
pub type NodesAnswer = Vec<NodeRow>;

/// A node as `nodes` shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRow {
    pub name: String,
    #[serde(default)]
    pub chassis: String,
    /// The state the operator set (health is [`NodeRow::health`]).
    pub state: NodeState,
    #[serde(default)]
    pub weight: u32,
    pub ip: IpAddr,
    /// Its share of the selection table's slots, percent.
    #[serde(default)]
    pub table_share_pct: f64,
    /// Packets selected for it since the last topology change.
    #[serde(default)]
    pub selected: u64,
    /// This appliance's health checks' result; `None` (`"-"` on the wire) when checks are off.
    #[serde(default, with = "up_down_or_dash")]
    pub health: Option<Health>,
    /// Connections the flow table tracks to it now.
    #[serde(default)]
    pub tracked: u64,
    /// Seconds a draining node still keeps its tracked connections (`null` unless it drains with the flow
    /// table on).
    #[serde(default)]
    pub drain_left_s: Option<f64>,
}

/// The `resets` answer: the latest reset fan-outs, newest first.
pub type ResetsAnswer = Vec<ResetRow>;

/// One reset fan-out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResetRow {
    /// When, in seconds since the Unix epoch.
    pub at: f64,
    pub client: SocketAddr,
    pub vip: SocketAddr,
    /// The worker that started it.
    pub worker: u16,
    /// What started it, in words (`node RST`, ...).
    #[serde(default)]
    pub started_by: String,
}

/// The `affinity` answer: the entries a filter selects (heaviest first), the table's size and counters,
/// and its latest moves (newest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinityAnswer {
    pub entries: Vec<AffinityEntry>,
    /// Entries in the table (the filter aside).
    pub total: usize,
    #[serde(default)]
    pub counters: AffinityCounters,
    #[serde(default)]
    pub recent_moves: Vec<AffinityMove>,
}

/// One client VM's affinity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinityEntry {
    /// Its IP or MAC, as `affinity.client_id` says.
    pub client: String,
    /// Its CVM.
    pub node: String,
    #[serde(default)]
    pub pinned: bool,
    #[serde(default)]
    pub packets: u64,
    #[serde(default)]
    pub bytes: u64,
    /// Times the control core moved it.
    #[serde(default)]
    pub moves: u32,
    /// Seconds since it was last seen, and since it was learned.
    #[serde(default)]
    pub idle_s: f64,
    #[serde(default)]
    pub age_s: f64,
}

/// A move of a client VM to another CVM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinityMove {
    /// When, in seconds since the Unix epoch.
    pub at: f64,
    pub client: String,
    pub from: String,
    pub to: String,
    pub reason: MoveReason,
}

/// The affinity table in the `stats` answer: `{"enabled": false}` when affinity is off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinitySummary {
    pub enabled: bool,
    /// The table's figures (absent when affinity is off).
    #[serde(flatten)]
    pub table: Option<AffinityTableSummary>,
}

/// The figures of an affinity table that runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffinityTableSummary {
    /// Client VMs with a CVM, and those of them pinned.
    pub entries: usize,
    pub pinned: usize,
    /// Entries the workers' current map holds, and those it had no slot for.
    pub honoured: usize,
    pub unplaced: usize,
    pub counters: AffinityCounters,
}

/// The `health` answer (also part of `stats`): the checks' settings and every node's state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthAnswer {
    /// The checks run (otherwise the appliance does not vote in a fleet).
    pub enabled: bool,
    /// Who acts on the results.
    #[serde(default)]
    pub scope: HealthScope,
    #[serde(default)]
    pub nodes: Vec<HealthNode>,
    /// The checks' settings and latest changes (absent when checks are off).
    #[serde(flatten)]
    pub checks: Option<HealthChecks>,
}

/// The settings and recent history of health checks that run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthChecks {
    pub check: HealthCheck,
    pub port: u16,
    pub interval_ms: u64,
    pub timeout_ms: u64,
    pub rise: u32,
    pub fall: u32,
    /// Latest state changes, newest first.
    #[serde(default)]
    pub recent_changes: Vec<HealthChange>,
    /// Probes the workers' queues had no room for.
    #[serde(default)]
    pub probes_unqueued: u64,
}

/// Up or down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Up,
    Down,
}

impl Health {
    pub fn of(up: bool) -> Health {
        if up {
            Health::Up
        } else {
            Health::Down
        }
    }
    pub fn is_up(self) -> bool {
        self == Health::Up
    }
    /// `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// One node's health checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthNode {
    pub name: String,
    /// What this appliance's own checks say.
    pub health: Health,
    /// What its tables use (its own checks, or the fleet's verdict with `health.scope = "fleet"`).
    pub applied: Health,
    #[serde(default)]
    pub successes: u64,
    #[serde(default)]
    pub failures: u64,
    /// Consecutive successes / failures so far.
    #[serde(default)]
    pub ok_streak: u32,
    #[serde(default)]
    pub fail_streak: u32,
    #[serde(default)]
    pub went_down: u64,
    #[serde(default)]
    pub came_up: u64,
    /// The latest result, in words.
    #[serde(default)]
    pub last: String,
}

/// A node's health changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthChange {
    /// When, in seconds since the Unix epoch.
    pub at: f64,
    pub node: String,
    pub up: bool,
    #[serde(default)]
    pub why: String,
}

/// Snapshot adoption in the `stats` answer: publications so far and how long the workers took to run
/// on each (microseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdoptionSummary {
    pub publications: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

/// The `announce` answer: what this appliance's BGP speaker should announce now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Announcement {
    /// `ready`, `draining` or `stopping`.
    #[serde(default)]
    pub state: String,
    /// At least one VIP is announced.
    pub announce: bool,
    pub vips: Vec<VipAnnouncement>,
    /// The digest of what the appliance decides from (see [`crate::digest`]).
    #[serde(default)]
    pub digest: String,
    #[serde(default)]
    pub generation: u64,
}

/// One VIP in an [`Announcement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VipAnnouncement {
    pub address: IpAddr,
    pub announce: bool,
    /// Why it is (not) announced, for the operator.
    #[serde(default)]
    pub why: String,
}

/// The answer to a change (nodes, affinity, a node's health, a reload, the appliance's standing): what
/// was done, and the generation or standing it left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedAnswer {
    /// What was done, in words.
    pub applied: String,
    /// The configuration generation after the change (node, affinity and health changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<u64>,
    /// The appliance's standing after the change (`appliance drain` and `undrain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appliance: Option<String>,
}

/// The answer to `reload` with `diff`: what a reload would do, nothing applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ReloadPlan {
    /// What would change in the running configuration, one line each (`node a1: Active -> Draining`).
    pub changes: Vec<String>,
    /// Why the reload would be refused (a section that cannot change while running), if it would.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<String>,
    /// Runtime changes kept over the file (`drain n2`).
    #[serde(default)]
    pub kept: Vec<String>,
    /// Runtime changes the reload would drop, each with why.
    #[serde(default)]
    pub dropped: Vec<String>,
}

impl AppliedAnswer {
    /// A change that left `generation`.
    pub fn at(applied: impl Into<String>, generation: u64) -> AppliedAnswer {
        AppliedAnswer { applied: applied.into(), generation: Some(generation), appliance: None }
    }
}

/// [`NodeRow::health`] on the wire: `"up"`, `"down"`, or `"-"` for none (anything else reads as none).
mod up_down_or_dash {
    use super::*;

    pub fn serialize<S: Serializer>(h: &Option<Health>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(h.map_or("-", Health::name))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Health>, D::Error> {
        Ok(match String::deserialize(d)?.as_str() {
            "up" => Some(Health::Up),
            "down" => Some(Health::Down),
            _ => None,
        })
    }
}

/// `portal`: what the iSCSI portal has done since the appliance started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PortalAnswer {
    /// A portal VIP is configured.
    pub enabled: bool,
    /// The portal's addresses (`ip:port`).
    pub portals: Vec<String>,
    /// Connections open now, and the most it takes at once.
    pub connections_open: u64,
    pub connections_max: u64,
    /// Connections accepted since start.
    pub accepted: u64,
    /// Discovery logins completed, and SendTargets answered.
    pub discoveries: u64,
    pub send_targets: u64,
    /// Normal-session logins sent to a CVM, per CVM (by name), with why that CVM.
    pub placements: Vec<PortalPlacement>,
    /// Logins and connections refused or cut, by reason (`bad_pdu`, `pdu_too_big`, `unknown_target`,
    /// `no_cvm`, `idle_timeout`, `session_timeout`, `syn_refused`, ...).
    pub refused: std::collections::BTreeMap<String, u64>,
    /// IP packets between the workers and the portal's TCP stack, and those a full queue dropped.
    pub packets_in: u64,
    pub packets_out: u64,
    pub queue_drops: u64,
}

/// Logins the portal sent to one CVM.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalPlacement {
    pub node: String,
    /// Placed by the initiator's affinity entry (the CVM that served it before, or its pin).
    pub by_affinity: u64,
    /// Placed by the hash of the target's name (or group) over the active CVMs.
    pub by_target: u64,
}
