//! The features' sections: `[resets]` (the fan-out's limits), `[affinity]` and `[health]`.

use serde::{Deserialize, Serialize};

/// The reset fan-out's limits (per worker).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ResetConfig {
    /// Lifetime of a fan-out's soft state: within it, identical retransmissions of a forwarded RST are
    /// collapsed and segments from a node still holding the connection are answered with the exact RST.
    pub window_ms: u64,
    /// Fan-outs a worker may start per second (token bucket rate).
    pub rate_per_sec: u32,
    /// Token bucket depth.
    pub burst: u32,
    /// Soft-state entries per worker (a power of two); the oldest is evicted when full.
    pub table_entries: u32,
    /// A node's RST starts a fan-out only if a snapshot in force within this long picked another node for
    /// the connection (it moved); otherwise the RST is only forwarded.
    pub moved_window_ms: u64,
    /// Fan-outs per second one client prefix (IPv4 /24, IPv6 /64) may start on one worker, so that one
    /// client cannot spend everyone's budget.
    pub prefix_rate_per_sec: u32,
    /// Depth of each prefix's token bucket.
    pub prefix_burst: u32,
    /// A fan-out's probes go out a second time this long after the first (0: never), while its soft state
    /// still lives: a lost probe or a lost challenge ACK, or an answer that reached a peer appliance before
    /// it had the entry, still clears its holder. Linux answers at most one challenge ACK per connection
    /// every `net.ipv4.tcp_invalid_ratelimit` (500 ms), so a shorter delay cannot replace a lost one.
    pub reprobe_ms: u64,
}

impl Default for ResetConfig {
    fn default() -> Self {
        ResetConfig {
            window_ms: 2000,
            rate_per_sec: 1000,
            burst: 100,
            table_entries: 4096,
            moved_window_ms: 10_000,
            prefix_rate_per_sec: 200,
            prefix_burst: 64,
            reprobe_ms: 600,
        }
    }
}

/// Controller-VM affinity: the control core remembers which CVM served each client VM and workers send
/// the client's traffic to it (for VIPs with `affinity = true`) while that CVM is active.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AffinityConfig {
    pub enabled: bool,
    /// What identifies a client VM: its source `ip`, or its source `mac` (clients on the client port's L2).
    pub client_id: ClientIdKind,
    /// An unpinned entry with no traffic for this long is forgotten.
    pub idle_timeout_ms: u64,
    /// Most entries kept; clients beyond it are balanced by their key and counted (`table_full`).
    pub max_entries: u32,
    /// Most learned entries per client prefix (an IPv4 /24, an IPv6 /64), so one source cannot fill the
    /// table; clients beyond it are balanced by their key and counted (`prefix_full`). Pins are not
    /// capped. MAC client ids have no prefix: only `max_entries` bounds them.
    pub max_entries_per_prefix: u32,
    /// A CVM whose share of affinity traffic exceeds its weight share by more than this fraction sheds
    /// affinities to the least loaded CVMs (0.25: more than 125% of its share). Negative disables.
    pub rebalance_margin: f64,
    /// How often load is compared (the window the shares are measured over).
    pub rebalance_interval_ms: u64,
    /// A window with fewer affinity packets than this is too thin to rebalance on.
    pub rebalance_min_packets: u64,
    /// Changes are published to workers at most this often.
    pub publish_interval_ms: u64,
    /// Capacity of the workers' report queue (full: the report is dropped and counted).
    pub report_queue: u32,
}

impl Default for AffinityConfig {
    fn default() -> Self {
        AffinityConfig {
            enabled: false,
            client_id: ClientIdKind::Ip,
            idle_timeout_ms: 300_000,
            max_entries: 65536,
            max_entries_per_prefix: 256,
            rebalance_margin: 0.25,
            rebalance_interval_ms: 5000,
            rebalance_min_packets: 10_000,
            publish_interval_ms: 100,
            report_queue: 8192,
        }
    }
}

/// How a client VM is identified for affinity.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientIdKind {
    #[default]
    Ip,
    Mac,
}

/// Active health checks of every node, sent by the appliance through its own node ports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct HealthConfig {
    pub enabled: bool,
    /// `tcp` (a SYN to `port`: SYN-ACK is healthy, RST or silence is not), `icmp` (echo) or `arp`.
    pub check: HealthCheck,
    /// The service port TCP checks connect to.
    pub port: u16,
    pub interval_ms: u64,
    /// A probe unanswered this long failed (at most `interval_ms`).
    pub timeout_ms: u64,
    /// Consecutive successes that bring a down node back.
    pub rise: u32,
    /// Consecutive failures that take an up node down.
    pub fall: u32,
    /// Who acts on the results: `appliance` (this appliance's own checks change its tables) or `fleet`
    /// (its checks are only reported; a node's health in the tables is what `sluicectl fleet health`
    /// sets on every appliance from a majority of the fleet's checks).
    pub scope: HealthScope,
}

/// Whose health results change the tables.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthScope {
    #[default]
    Appliance,
    Fleet,
}

impl HealthScope {
    /// Its name, as configuration files and console answers write it.
    pub fn name(self) -> &'static str {
        match self {
            HealthScope::Appliance => "appliance",
            HealthScope::Fleet => "fleet",
        }
    }
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            enabled: false,
            check: HealthCheck::Tcp,
            port: 2049,
            interval_ms: 1000,
            timeout_ms: 500,
            rise: 2,
            fall: 3,
            scope: HealthScope::Appliance,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthCheck {
    #[default]
    Tcp,
    Icmp,
    Arp,
}

impl HealthCheck {
    /// Its name, as configuration files and console answers write it.
    pub fn name(self) -> &'static str {
        match self {
            HealthCheck::Tcp => "tcp",
            HealthCheck::Icmp => "icmp",
            HealthCheck::Arp => "arp",
        }
    }
}
