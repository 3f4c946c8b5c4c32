//! The appliances frames are fuzzed against: every role, with the features that have their own
//! per-packet paths switched on (affinity by address and by MAC, NFSv3, payload and client keys, ARP
//! health checks, peers), each one change after an earlier snapshot so that the reset judgement runs.

use std::sync::Arc;

use sluice_control::affinity::ClientId;
use sluice_control::config::{Config, FlowsConfig, HealthCheck, MacAddr, PeerConfig, ResetConfig};
use sluice_control::Topology;
use sluice_dataplane::affinity::AffinityMap;
use sluice_dataplane::flows::FlowTable;
use sluice_dataplane::pipeline::{Context, WorkerState};
use sluice_dataplane::reset::Prior;

use super::mutate::Known;
use crate::support::{draining, example_toml, CLIENT_MAC, CLIENT_PORT_MAC, NODE_PORT_MAC};

/// A peer appliance's MAC on the node port.
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 1, 2];
/// Clients the affinity maps bind.
pub const BOUND_CLIENT: [u8; 4] = [192, 0, 2, 60];
/// A clock rate for the worker state: a tick is a microsecond.
pub const TICKS_PER_SEC: u64 = 1_000_000;

/// One appliance: its current context (carrying `before` as its prior) and one worker's state, kept
/// across frames so that soft state accumulates.
pub struct Target {
    pub name: &'static str,
    pub ctx: Context,
    pub before: Context,
    pub st: WorkerState,
}

impl Target {
    /// A fresh worker state (after a panic left the old one in an unknown state).
    pub fn reset_state(&mut self) {
        self.st = WorkerState::new(&ResetConfig::default(), TICKS_PER_SEC);
        // A small flow table, so that frames fill it, evict, expire and renew entries.
        let flows = FlowsConfig { entries_per_worker: 1024, new_per_sec: 100_000, ..FlowsConfig::default() };
        self.st.flows = FlowTable::new(&flows, TICKS_PER_SEC);
        self.st.resets.defer_not_owners(!self.ctx.peers.is_empty());
    }

    /// The change from `before` happened at tick `at`: what the control lcore publishes after it.
    pub fn retire_prior(&mut self, at: u64) {
        let p = Prior { topology: self.before.topology.clone(), affinity: self.before.affinity.clone(), retired: at };
        self.ctx.history = vec![p].into();
    }
}

const CONTENT_VIPS: &str = r#"[[vips]]
address = "10.10.0.2"
protocols = ["udp", "tcp"]
key = "nfs3"
nfs3_region_bytes = 1048576

[[vips]]
address = "10.10.0.3"
protocols = ["udp"]
ports = [7000]
key = "payload"
payload_offset = 4
payload_length = 8

[[vips]]
address = "10.10.0.4"
protocols = ["tcp", "udp"]
key = "client"

[[chassis]]
"#;

/// A node reached by IPv6-in-IPv6.
const V6_NODE: &str = r#"
[[nodes]]
name = "b3"
chassis = "chassis-b"
mac = "02:00:00:00:0b:03"
ip = "2001:db8:200::33"
forward = "ipip"
"#;

fn config(role: &str) -> Config {
    let mut t = example_toml("in.pcap", "ret.pcap");
    match role {
        "single" | "single-mac" => {
            let id = if role == "single" { "ip" } else { "mac" };
            let affinity = format!("[affinity]\nenabled = true\nclient_id = \"{id}\"\n\n[[vips]]\naffinity = true\n");
            t = t.replacen("[[vips]]\n", &affinity, 1).replacen("[[chassis]]\n", CONTENT_VIPS, 1);
            // The first VIP's port 3260 is an iSCSI portal: segments to it go to the portal, and
            // clients reach the nodes' own portals by address.
            t = t.replacen("ports = [2049, 3260]", "ports = [2049]\nportal = \"iscsi\"", 1);
            t += "\n[portal]\n\n[[portal.targets]]\nname = \"iqn.2026-12.org.example:vol1\"\n";
        }
        "spine" => {
            t = format!("role = \"spine\"\n{t}")
                .replace("name = \"chassis-a\"\n", "name = \"chassis-a\"\nmac = \"02:00:00:00:ca:00\"\n")
                .replace("name = \"chassis-b\"\n", "name = \"chassis-b\"\nmac = \"02:00:00:00:cb:00\"\n");
        }
        "chassis-a" => t = format!("role = \"chassis\"\nthis_chassis = \"chassis-a\"\n{t}"),
        "peers" => t += V6_NODE,
        _ => {}
    }
    let mut cfg = Config::from_toml(&t).unwrap_or_else(|e| panic!("{role}: {e}"));
    if role == "peers" {
        cfg.peers.push(PeerConfig { name: "a2".into(), mac: MacAddr(PEER_MAC), port: None });
        cfg.validate().expect("peer config");
    }
    if role == "single" {
        // ARP health checks (validation refuses them for the example's IP-in-IP node; the pipeline
        // does not care).
        cfg.health.enabled = true;
        cfg.health.check = HealthCheck::Arp;
    }
    cfg
}

fn context(cfg: &Config, generation: u64) -> Context {
    Context::new(cfg, Topology::build(cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], generation)
}

fn bind(ctx: &mut Context, client: ClientId, node: &str) {
    let n = ctx.topology.node_index(node).expect("node") as u16;
    ctx.affinity = Arc::new(AffinityMap::build(&[(client, n)]));
}

/// A client bound to one node before the change and to another after it.
type Rebind = Option<(ClientId, &'static str, &'static str)>;

/// Every target, each after one change: a node draining and, with affinity, a client rebound.
pub fn all() -> Vec<Target> {
    let ip = ClientId::from_ip(std::net::IpAddr::from(BOUND_CLIENT));
    let mac = ClientId::from_mac(CLIENT_MAC);
    // Name, the nodes drained, and with affinity the client rebound (from one node to another).
    let spec: [(&'static str, &[&str], Rebind); 6] = [
        ("single", &["b1"], Some((ip, "a1", "b1"))),
        ("single-mac", &["a2"], Some((mac, "b1", "a2"))),
        ("spine", &["b1"], None),
        ("chassis-a", &["a2"], None),
        ("peers", &["b1"], None),
        // No node left to take new traffic.
        ("drained", &["a1", "a2", "b1", "b2"], None),
    ];
    spec.into_iter()
        .map(|(name, drained, bound)| {
            let cfg = config(name);
            let mut before = context(&cfg, 1);
            let after = drained.iter().fold(cfg.clone(), |c, n| draining(&c, n));
            let mut ctx = context(&after, 2);
            if let Some((client, was, is)) = bound {
                bind(&mut before, client, was);
                bind(&mut ctx, client, is);
            }
            let st = WorkerState::new(&ResetConfig::default(), TICKS_PER_SEC);
            let mut t = Target { name, ctx, before, st };
            t.reset_state();
            t.retire_prior(0);
            t
        })
        .collect()
}

/// The MACs, addresses and ports the targets' configurations know.
pub fn known(targets: &[Target]) -> Known {
    let mut k = Known {
        macs: vec![CLIENT_MAC, PEER_MAC],
        ports: vec![2049, 3260, 7000, 61000, 61001, 0, 65535, 111],
        ..Known::default()
    };
    let mut addr = |a: &sluice_dataplane::wire::parse::Addr| match a.v6 {
        true => k.v6.push(a.bytes),
        false => k.v4.push(a.v4_bytes()),
    };
    for t in targets {
        let c = &t.ctx;
        c.ports.iter().flat_map(|p| &p.addresses).for_each(&mut addr);
        c.vips.iter().for_each(|v| addr(&v.addr));
        c.nodes.iter().for_each(|n| addr(&n.ip));
    }
    for t in targets {
        let c = &t.ctx;
        k.macs.extend(c.ports.iter().flat_map(|p| [p.mac, p.gateway_mac]));
        k.macs.extend(c.nodes.iter().map(|n| n.mac));
        k.macs.extend(c.peers.iter().map(|p| p.0));
        k.macs.extend(c.chassis_links.iter().flatten().map(|l| l.0));
    }
    k.v4.extend([BOUND_CLIENT, [192, 0, 2, 50], [0, 0, 0, 0], [255, 255, 255, 255]]);
    k.macs.sort_unstable();
    k.macs.dedup();
    k.v4.sort_unstable();
    k.v4.dedup();
    k.v6.sort_unstable();
    k.v6.dedup();
    k
}
