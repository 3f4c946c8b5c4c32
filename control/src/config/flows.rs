//! `[flows]`: the per-worker flow table that keeps established TCP connections on their node across
//! membership changes (see the dataplane's `flows` module and docs/flows.md).

use serde::{Deserialize, Serialize};

use super::{err, R};

/// The flow table: which node each tracked TCP connection went to, per worker.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    /// Track TCP connections (off: sluice is a stateless balancer, every packet follows the tables).
    pub enabled: bool,
    /// Entries per worker, rounded up to a power of two (16 bytes each).
    pub entries_per_worker: u32,
    /// New flows a worker may start tracking per second; above it new flows go untracked (they follow
    /// the tables, as with the table off) and are counted (`flood`).
    pub new_per_sec: u32,
    /// A draining node keeps its tracked connections this long after its drain began; then they follow
    /// the tables, and the reset path clears them where they were. 0: a drain moves everything at once.
    pub drain_timeout_s: u32,
    /// A tracked connection with no packet from its client for this long is forgotten.
    pub idle_timeout_s: u32,
    /// A connection that has not completed its handshake, or whose client has sent a FIN, is forgotten
    /// after this long without a packet.
    pub closing_timeout_s: u32,
}

impl Default for FlowsConfig {
    fn default() -> Self {
        FlowsConfig {
            enabled: true,
            entries_per_worker: 262_144,
            new_per_sec: 250_000,
            drain_timeout_s: 300,
            idle_timeout_s: 3600,
            closing_timeout_s: 30,
        }
    }
}

impl FlowsConfig {
    pub(super) fn validate(&self) -> R {
        if !(1024..=1 << 24).contains(&self.entries_per_worker) {
            return err("flows.entries_per_worker", format!("{} is outside 1024..=16777216", self.entries_per_worker));
        }
        if !(1..=100_000_000).contains(&self.new_per_sec) {
            return err("flows.new_per_sec", format!("{} is outside 1..=100000000", self.new_per_sec));
        }
        if self.drain_timeout_s > 86_400 {
            return err("flows.drain_timeout_s", format!("{} is above 86400", self.drain_timeout_s));
        }
        if !(1..=604_800).contains(&self.idle_timeout_s) {
            return err("flows.idle_timeout_s", format!("{} is outside 1..=604800", self.idle_timeout_s));
        }
        if !(1..=3600).contains(&self.closing_timeout_s) {
            return err("flows.closing_timeout_s", format!("{} is outside 1..=3600", self.closing_timeout_s));
        }
        if self.closing_timeout_s > self.idle_timeout_s {
            return err("flows.closing_timeout_s", "must not exceed flows.idle_timeout_s");
        }
        Ok(())
    }
}
