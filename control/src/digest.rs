//! The fleet digest: one short hash of everything a forwarding decision depends on. Appliances behind the
//! same router (ECMP) must decide the same way for a connection not to notice moving between them; two
//! appliances with the same digest build the same tables and pick the same node for every packet.
//!
//! What it covers: role and served chassis, the hash key, the table algorithm, sizes and load bound,
//! chassis, nodes (sorted by name: chassis, MAC, address, weight, state as the tables see it, forwarding,
//! port), and VIPs (sorted: key type and its parameters, protocols, ports, affinity). Content keys
//! (`nfs3`, `payload`) are hashed with ahash, whose output may differ between builds, so where a VIP uses
//! one the build identity ([`build`]) is covered too; where a VIP honours affinity, how client VMs are
//! identified is; with the flow table on, the drain timeout is; with an iSCSI portal, its port, portal
//! group tag and targets with their groups are (and the build, since targets are hashed with ahash). Learned affinity entries and tracked
//! connections are per appliance and are not: two appliances with the same digest pick the same node
//! for every client VM that has no entry and every connection that is not tracked.
//! The hash is SipHash-1-3 (128 bits) under a fixed key over a canonical JSON form: stable across
//! machines, builds and configuration order.

use std::hash::Hasher;

use serde::Serialize;
use siphasher::sip128::{Hasher128, SipHasher13};

use crate::config::{Config, KeyKind, NodeState, PortalKind};

/// The build identity content keys depend on: the version, the target, and whether ahash runs on AES.
pub fn build() -> String {
    let aes = if cfg!(target_feature = "aes") { "aes" } else { "no-aes" };
    format!("sluice {} {} {aes}", env!("CARGO_PKG_VERSION"), std::env::consts::ARCH)
}

#[derive(Serialize)]
struct Canonical<'a> {
    role: String,
    this_chassis: Option<&'a str>,
    hash_key: &'a [u8],
    algorithm: &'static str,
    table_size: u32,
    chassis_table_size: u32,
    load_bound: String,
    chassis: Vec<&'a str>,
    nodes: Vec<CanonicalNode<'a>>,
    vips: Vec<String>,
    build: Option<String>,
    /// Where a VIP honours affinity: whether the table is on and how a client VM is told.
    affinity: Option<String>,
    /// With the flow table on: how long a draining node keeps its connections.
    flows: Option<u32>,
    /// With an iSCSI portal: its port, portal group tag, and the targets with their groups.
    #[serde(skip_serializing_if = "Option::is_none")]
    portal: Option<String>,
}

#[derive(Serialize)]
struct CanonicalNode<'a> {
    name: &'a str,
    chassis: &'a str,
    mac: String,
    ip: String,
    weight: u32,
    state: String,
    forward: String,
    port: Option<&'a str>,
}

/// The digest of `cfg` (as the tables are built from it: pass the configuration with health applied),
/// 16 hex digits.
pub fn digest(cfg: &Config) -> String {
    let d = &cfg.dataplane;
    let mut chassis: Vec<&str> = cfg.chassis.iter().map(|c| c.name.as_str()).collect();
    chassis.sort_unstable();
    let node_ports: Vec<&str> =
        cfg.ports.iter().filter(|p| p.role == crate::config::PortRole::Node).map(|p| p.name.as_str()).collect();
    let only_node_port = if node_ports.len() == 1 { Some(node_ports[0]) } else { None };
    let mut nodes: Vec<CanonicalNode> = cfg
        .nodes
        .iter()
        .map(|n| CanonicalNode {
            name: &n.name,
            chassis: &n.chassis,
            mac: n.mac.to_string(),
            ip: n.ip.to_string(),
            // A node that takes no traffic decides nothing: how it got there does not matter.
            weight: if n.state == NodeState::Active { n.weight } else { 0 },
            state: format!("{:?}", n.state).to_lowercase(),
            forward: format!("{:?}", n.forward).to_lowercase(),
            // The port the node is behind, named even where the configuration leaves it out.
            port: n.port.as_deref().or(only_node_port),
        })
        .collect();
    nodes.sort_by(|a, b| a.name.cmp(b.name));
    let mut vips: Vec<String> = cfg
        .vips
        .iter()
        .map(|v| {
            let mut protocols = v.protocols.clone();
            protocols.sort_unstable();
            protocols.dedup();
            let mut ports = v.ports.clone();
            ports.sort_unstable();
            ports.dedup();
            let key = match v.key {
                KeyKind::Nfs3 => format!("nfs3/{}", v.nfs3_region_bytes),
                KeyKind::Payload => format!("payload/{}+{}", v.payload_offset, v.payload_length),
                k => format!("{k:?}").to_lowercase(),
            };
            let portal = if v.portal == PortalKind::Iscsi { " portal=iscsi" } else { "" };
            format!("{} {key} {protocols:?} {ports:?} affinity={}{portal}", v.address, v.affinity)
        })
        .collect();
    vips.sort_unstable();
    // The portal places logins by an ahash of the target's group or name, like a content key.
    let has_portal = cfg.vips.iter().any(|v| v.portal == PortalKind::Iscsi);
    let content = has_portal || cfg.vips.iter().any(|v| matches!(v.key, KeyKind::Nfs3 | KeyKind::Payload));
    let portal = has_portal.then(|| {
        let mut targets: Vec<String> =
            cfg.portal.targets.iter().map(|t| format!("{} {}", t.name, t.group.as_deref().unwrap_or(""))).collect();
        targets.sort_unstable();
        format!("port={} group_tag={} targets={targets:?}", cfg.portal.port, cfg.portal.portal_group)
    });
    let c =
        Canonical {
            role: format!("{:?}", cfg.role).to_lowercase(),
            this_chassis: cfg.this_chassis.as_deref(),
            hash_key: &d.hash_key.bytes,
            algorithm: d.table_algorithm.name(),
            table_size: d.table_size,
            chassis_table_size: d.chassis_table_size,
            load_bound: format!("{:.6}", d.load_bound),
            chassis,
            nodes,
            vips,
            build: content.then(build),
            affinity: cfg.vips.iter().any(|v| v.affinity).then(|| {
                format!("enabled={} client_id={:?}", cfg.affinity.enabled, cfg.affinity.client_id).to_lowercase()
            }),
            flows: cfg.flows.enabled.then_some(cfg.flows.drain_timeout_s),
            portal,
        };
    let mut h = SipHasher13::new_with_keys(0x736c_7569_6365_6469, 0x6765_7374_2d76_3031);
    h.write(serde_json::to_string(&c).expect("canonical form serialises").as_bytes());
    let v = h.finish128();
    format!("{:016x}", v.h1 ^ v.h2.rotate_left(17))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeState;

    fn cfg() -> Config {
        let t = include_str!("../../examples/demo.toml").replace("@CLIENT_IN@", "a").replace("@NODE_IN@", "b");
        Config::from_toml(&t).unwrap()
    }

    #[test]
    fn same_decisions_same_digest_whatever_the_order() {
        let a = cfg();
        let mut b = a.clone();
        b.nodes.reverse();
        b.chassis.reverse();
        b.vips.reverse();
        // Things no decision depends on.
        b.eal.file_prefix = "elsewhere".into();
        b.dataplane.mbufs += 2;
        b.resets.moved_window_ms += 1;
        // The only node port, named or left out.
        for n in b.nodes.iter_mut() {
            n.port = Some("nodes".into());
        }
        assert_eq!(digest(&a), digest(&b));
        assert_eq!(digest(&a).len(), 16);
    }

    #[test]
    fn every_decision_input_changes_it() {
        let a = cfg();
        let base = digest(&a);
        let mut changes: Vec<Config> = Vec::new();
        let mut c = a.clone();
        c.nodes[0].state = NodeState::Draining;
        changes.push(c);
        let mut c = a.clone();
        c.nodes[1].weight += 1;
        changes.push(c);
        let mut c = a.clone();
        c.nodes.pop();
        changes.push(c);
        let mut c = a.clone();
        c.dataplane.hash_key.bytes[0] ^= 1;
        changes.push(c);
        let mut c = a.clone();
        c.dataplane.table_size = 65521;
        changes.push(c);
        let mut c = a.clone();
        c.dataplane.table_algorithm = crate::config::TableAlgorithm::Rendezvous;
        changes.push(c);
        let mut c = a.clone();
        c.vips[0].key = KeyKind::Client;
        changes.push(c);
        let mut c = a.clone();
        c.vips[0].ports.push(9);
        changes.push(c);
        let mut c = a.clone();
        c.affinity.enabled = true;
        c.vips[0].affinity = true;
        changes.push(c);
        for (i, c) in changes.iter().enumerate() {
            assert_ne!(digest(c), base, "change {i} left the digest as it was");
        }
    }

    #[test]
    fn a_portals_targets_and_groups_are_covered_in_any_order() {
        use crate::config::{PortalKind, PortalTarget};
        let mut a = cfg();
        a.vips[0].portal = PortalKind::Iscsi;
        let t = |n: &str, g: Option<&str>| PortalTarget { name: n.into(), group: g.map(Into::into) };
        a.portal.targets = vec![t("iqn.2026-12.org.example:a", None), t("iqn.2026-12.org.example:b", Some("g"))];
        let mut b = a.clone();
        b.portal.targets.reverse();
        assert_eq!(digest(&a), digest(&b), "target order decides nothing");
        assert_ne!(digest(&a), digest(&cfg()), "a portal changes it");
        b.portal.targets[0].group = None;
        assert_ne!(digest(&a), digest(&b), "a group decides placement");
        let mut c = a.clone();
        c.portal.idle_timeout_ms += 1;
        assert_eq!(digest(&a), digest(&c), "timeouts decide nothing");
    }
}
