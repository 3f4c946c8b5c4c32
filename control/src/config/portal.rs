//! `[portal]` and `portal = "iscsi"` on a VIP: the iSCSI portal the appliance answers itself on a VIP's
//! portal port, which sends each login to the controller VM that should serve it (see the dataplane's
//! `portal` module and docs/portal.md).

use serde::{Deserialize, Serialize};

use super::{err, Protocol, Role, VipConfig, R};

/// What a VIP's portal answers.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum PortalKind {
    /// No portal: the VIP's traffic is balanced like any other.
    #[default]
    None,
    /// iSCSI discovery and login on `[portal] port`.
    Iscsi,
}

/// A target the portal advertises and places.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortalTarget {
    /// The target's iSCSI name (`iqn.…`, `eui.…` or `naa.…`), as every CVM exports it.
    pub name: String,
    /// Targets of one group are placed together: the group's name is hashed instead of the target's.
    #[serde(default)]
    pub group: Option<String>,
}

/// The iSCSI portal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PortalConfig {
    /// The portal's TCP port on portal VIPs, and the port of every CVM's own portal (its node address)
    /// that logins are sent to.
    pub port: u16,
    /// Portal connections at once (each a TCP socket with its buffers); a SYN beyond them is answered
    /// with a RST and counted.
    pub connections: u16,
    /// Connections one client address may hold at once; more are cut (counted: `client_limit`).
    pub connections_per_client: u16,
    /// A connection that sends nothing for this long is aborted.
    pub idle_timeout_ms: u64,
    /// A connection is aborted this long after it opened, whatever it sends (a slow client's limit).
    pub session_timeout_ms: u64,
    /// The largest PDU (48-byte header, additional headers and data) the portal reads; a larger one is
    /// refused and the connection closed.
    pub max_pdu_bytes: u32,
    /// The target portal group tag in the addresses the portal gives.
    pub portal_group: u16,
    /// The targets discovery lists and logins may name.
    pub targets: Vec<PortalTarget>,
}

impl Default for PortalConfig {
    fn default() -> Self {
        PortalConfig {
            port: 3260,
            connections: 64,
            connections_per_client: 8,
            idle_timeout_ms: 10_000,
            session_timeout_ms: 30_000,
            max_pdu_bytes: 8192,
            portal_group: 1,
            targets: Vec::new(),
        }
    }
}

/// The longest iSCSI name (RFC 7143 section 4.2.7.1).
pub const MAX_ISCSI_NAME: usize = 223;

/// An iSCSI name: `iqn.`, `eui.` or `naa.`, then letters, digits and `-.:`, at most 223 bytes.
pub fn check_iscsi_name(field: &str, name: &str) -> R {
    if name.len() > MAX_ISCSI_NAME {
        return err(field, format!("{} bytes is above {MAX_ISCSI_NAME}", name.len()));
    }
    if !["iqn.", "eui.", "naa."].iter().any(|p| name.starts_with(p)) {
        return err(field, format!("{name:?} does not start with iqn., eui. or naa."));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "-.:".contains(*c))) {
        return err(field, format!("{name:?} has {c:?}: lower-case letters, digits and -.: only"));
    }
    Ok(())
}

impl PortalConfig {
    /// Checks `[portal]` against the portal VIPs of `vips` for an appliance of role `role`.
    pub(super) fn validate(&self, vips: &[VipConfig], role: Role) -> R {
        let portals: Vec<(usize, &VipConfig)> =
            vips.iter().enumerate().filter(|(_, v)| v.portal == PortalKind::Iscsi).collect();
        for (i, v) in &portals {
            let f = |k: &str| format!("vips[{i}].{k}");
            if role != Role::Single {
                return err(f("portal"), "a portal answers on a single appliance (role = \"single\")");
            }
            if !v.protocols.contains(&Protocol::Tcp) {
                return err(f("protocols"), "a portal VIP serves TCP: list tcp");
            }
            if v.ports.contains(&self.port) {
                return err(
                    f("ports"),
                    format!("{} is the portal's port (portal.port): the appliance answers it", self.port),
                );
            }
            if portals.iter().filter(|(_, w)| w.address.is_ipv4() == v.address.is_ipv4()).count() > 1 {
                return err(f("portal"), "one portal VIP per address family");
            }
        }
        if self.port == 0 {
            return err("portal.port", "port 0 cannot be served");
        }
        if !(1..=1024).contains(&self.connections) {
            return err("portal.connections", format!("{} is outside 1..=1024", self.connections));
        }
        if !(1..=self.connections).contains(&self.connections_per_client) {
            return err(
                "portal.connections_per_client",
                format!("{} is outside 1..=connections ({})", self.connections_per_client, self.connections),
            );
        }
        if !(100..=600_000).contains(&self.idle_timeout_ms) {
            return err("portal.idle_timeout_ms", format!("{} is outside 100..=600000", self.idle_timeout_ms));
        }
        if self.session_timeout_ms < self.idle_timeout_ms || self.session_timeout_ms > 3_600_000 {
            return err(
                "portal.session_timeout_ms",
                format!("{} must be in idle_timeout_ms ({})..=3600000", self.session_timeout_ms, self.idle_timeout_ms),
            );
        }
        if !(1024..=65_536).contains(&self.max_pdu_bytes) {
            return err("portal.max_pdu_bytes", format!("{} is outside 1024..=65536", self.max_pdu_bytes));
        }
        if !portals.is_empty() && self.targets.is_empty() {
            return err("portal.targets", "a portal VIP needs at least one target to list and place");
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, t) in self.targets.iter().enumerate() {
            check_iscsi_name(&format!("portal.targets[{i}].name"), &t.name)?;
            if !seen.insert(t.name.as_str()) {
                return err(format!("portal.targets[{i}].name"), format!("{:?} is listed twice", t.name));
            }
            if let Some(g) = &t.group {
                if g.is_empty() || g.len() > 64 || g.chars().any(|c| c.is_control()) {
                    return err(format!("portal.targets[{i}].group"), "1..=64 printable characters");
                }
            }
        }
        Ok(())
    }
}
