//! The immutable snapshot the pipeline decides from: ports, VIPs, nodes, tables and the hash key.

use std::collections::HashMap;
use std::sync::Arc;

use sluice_control::config::{
    ClientIdKind, Config, ForwardMode, HealthCheck, KeyKind, NodeState, PortRole, PortalConfig, PortalKind, Protocol,
    Role,
};
use sluice_control::topology::Topology;

use crate::affinity::AffinityMap;
use crate::hash::{ContentHasher, Toeplitz};
use crate::reset::{Prior, ProbeCookie};
use crate::wire::parse::{Addr, PROTO_TCP, PROTO_UDP};
use crate::wire::{ipv4, ipv6};

/// A port as the pipeline sees it. Ports are numbered in configuration order.
#[derive(Debug, Clone)]
pub struct PortCtx {
    pub role: PortRole,
    pub mac: [u8; 6],
    pub addresses: Vec<Addr>,
    pub gateway_mac: [u8; 6],
    pub mtu: u16,
}

/// How a VIP's traffic is keyed (see [`KeyKind`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VipKey {
    Flow,
    Client,
    /// NFSv3 over UDP: file handle and `offset >> region_shift`.
    Nfs3 {
        region_shift: u32,
    },
    /// `length` bytes at `offset` of the UDP payload.
    Payload {
        offset: u16,
        length: u16,
    },
}

/// A served VIP.
#[derive(Clone)]
pub struct Vip {
    pub addr: Addr,
    pub key: VipKey,
    pub tcp: bool,
    pub udp: bool,
    /// Controller-VM affinity is honoured and learned for this VIP.
    pub affinity: bool,
    /// The VIP's part of every client → VIP Toeplitz hash (see [`Toeplitz::dst_part_v4`] and
    /// [`Toeplitz::dst_part_v6`]).
    pub toeplitz_dst: u32,
    /// The appliance answers iSCSI on the portal port of this VIP itself ([`PortalCtx`]).
    pub portal: bool,
    /// Served destination ports as a bitmap; None serves every port.
    ports: Option<Box<[u64; 1024]>>,
}

/// The iSCSI portal, when a VIP has one: its port (also every CVM's own portal port, which clients
/// reach through the appliance), whether connections to the CVMs' portals are learned as affinity, and
/// the configuration the portal answers from.
#[derive(Debug, Clone)]
pub struct PortalCtx {
    pub port: u16,
    pub learn: bool,
    pub config: Arc<PortalConfig>,
}

impl Vip {
    /// Serves `protocol` (TCP/UDP) on `port` (None: unknown, as for a later fragment).
    #[inline]
    pub fn serves(&self, protocol: u8, port: Option<u16>) -> bool {
        let proto = match protocol {
            PROTO_TCP => self.tcp,
            PROTO_UDP => self.udp,
            _ => false,
        };
        proto
            && match (&self.ports, port) {
                (Some(bits), Some(p)) => bits[p as usize / 64] >> (p % 64) & 1 == 1,
                _ => true,
            }
    }
}

/// A node as the pipeline needs it.
#[derive(Debug, Clone)]
pub struct NodeCtx {
    pub mac: [u8; 6],
    pub ip: Addr,
    pub port: u16,
    pub forward: ForwardMode,
    /// Outer source for IP-in-IP: the node port's first address of the node's family.
    pub tunnel_src: Addr,
    /// IP-in-IP: the largest client packet that fits the node's port once encapsulated (0: MAC mode).
    pub inner_mtu: u16,
    /// The node's stable id in flow entries (see [`crate::flows::FlowIds`]).
    pub flow_id: u16,
    /// Its tracked connections stay with it until this time (worker clock): never for an active node,
    /// the end of the drain timeout for a draining one, 0 for one that is down.
    pub keep_until: u64,
}

/// Everything a worker needs to decide about a packet. Built by the control side, shared read-only.
#[derive(Clone)]
pub struct Context {
    /// Bumped by every publication; workers report the generation they run on.
    pub generation: u64,
    /// Changes only when the nodes or tables change (node indices are valid within one topology id).
    pub topology_id: u64,
    pub role: Role,
    /// A chassis appliance's chassis (index into the topology's chassis).
    pub this_chassis: Option<u16>,
    /// A spine's way to each chassis appliance: its MAC and the port toward it.
    pub chassis_links: Vec<Option<([u8; 6], u16)>>,
    pub ports: Vec<PortCtx>,
    /// Peer appliances (fleet): MAC and the node port they are on. Fan-out frames go to them, and are
    /// taken only from them.
    pub peers: Vec<([u8; 6], u16)>,
    /// The port return traffic leaves by (the first client port).
    pub client_port: u16,
    pub vips: Vec<Vip>,
    pub nodes: Vec<NodeCtx>,
    pub topology: Arc<Topology>,
    /// Earlier snapshots' tables and affinity maps, newest last (see [`crate::reset::moved`]); set by the
    /// control lcore when it publishes.
    pub history: Arc<[Prior]>,
    /// The reset probes' cookie (keyed with the hash key).
    pub cookie: ProbeCookie,
    /// Health checks are ARP requests: ARP replies from nodes are health answers (else they are refused).
    pub health_arp: bool,
    pub toeplitz: Toeplitz,
    pub content: ContentHasher,
    /// Client VM → CVM (node index) for affinity VIPs, published by the control core.
    pub affinity: Arc<AffinityMap>,
    pub client_id: ClientIdKind,
    /// MAC-mode nodes by MAC, and every node by address (the first of any duplicates), for the reset and
    /// health paths: constant time whatever the cluster's size.
    by_mac: HashMap<[u8; 6], u16, ahash::RandomState>,
    by_ip: HashMap<Addr, u16, ahash::RandomState>,
    /// Node slot (the low bits of a flow id) → node index, or [`crate::flows::NO_SLOT`].
    flow_slots: Arc<[u16]>,
    /// The MTU "too big" answers give clients: the smallest IP-in-IP node's `inner_mtu`.
    pub encap_mtu: u16,
    /// Clamp the MSS of SYNs toward IP-in-IP nodes (`dataplane.mss_clamp`).
    pub mss_clamp: bool,
    /// The iSCSI portal (None: no VIP has one).
    pub portal: Option<PortalCtx>,
}

impl Context {
    /// Builds the context of a validated configuration. `port_macs[i]` is port i's MAC (configured or the
    /// device's own).
    pub fn new(cfg: &Config, topology: Topology, port_macs: &[[u8; 6]], generation: u64) -> Context {
        let ports: Vec<PortCtx> = cfg
            .ports
            .iter()
            .zip(port_macs)
            .map(|(p, mac)| PortCtx {
                role: p.role,
                mac: *mac,
                addresses: p.addresses.iter().map(|a| Addr::from(*a)).collect(),
                gateway_mac: p.gateway_mac.map_or([0; 6], |m| m.0),
                mtu: p.mtu,
            })
            .collect();
        let client_port =
            ports.iter().position(|p| p.role == PortRole::Client).expect("validated: a client port") as u16;
        let toeplitz = Toeplitz::new(&cfg.dataplane.hash_key.bytes);
        let vips = cfg
            .vips
            .iter()
            .map(|v| Vip {
                toeplitz_dst: match v.address {
                    std::net::IpAddr::V4(a) => toeplitz.dst_part_v4(a.octets()),
                    std::net::IpAddr::V6(a) => toeplitz.dst_part_v6(&a.octets()),
                },
                addr: v.address.into(),
                key: match v.key {
                    KeyKind::Flow => VipKey::Flow,
                    KeyKind::Client => VipKey::Client,
                    KeyKind::Nfs3 => VipKey::Nfs3 { region_shift: v.nfs3_region_bytes.trailing_zeros() },
                    KeyKind::Payload => VipKey::Payload { offset: v.payload_offset, length: v.payload_length },
                },
                affinity: v.affinity,
                portal: v.portal == PortalKind::Iscsi,
                tcp: v.protocols.contains(&Protocol::Tcp),
                udp: v.protocols.contains(&Protocol::Udp),
                ports: (!v.ports.is_empty()).then(|| {
                    let mut bits = Box::new([0u64; 1024]);
                    for p in &v.ports {
                        bits[*p as usize / 64] |= 1 << (p % 64);
                    }
                    bits
                }),
            })
            .collect();
        let nodes: Vec<NodeCtx> = topology
            .nodes
            .iter()
            .map(|n| {
                let ip = Addr::from(n.ip);
                let tunnel_src = ports[n.port].addresses.iter().find(|a| a.v6 == ip.v6).copied().unwrap_or_default();
                // Until the control lcore assigns stable ids and drain deadlines: ids are indices, and a
                // draining node keeps its connections.
                let keep_until = if n.state == NodeState::Down { 0 } else { u64::MAX };
                let outer = if ip.v6 { ipv6::HEADER_LEN } else { ipv4::MIN_HEADER_LEN } as u16;
                let inner_mtu = match n.forward {
                    ForwardMode::Ipip => ports[n.port].mtu.saturating_sub(outer),
                    ForwardMode::Mac => 0,
                };
                NodeCtx {
                    mac: n.mac.0,
                    ip,
                    port: n.port as u16,
                    forward: n.forward,
                    tunnel_src,
                    inner_mtu,
                    flow_id: 0,
                    keep_until,
                }
            })
            .collect();
        let nodes_len = nodes.len();
        let encap_mtu = nodes.iter().filter(|n| n.inner_mtu != 0).map(|n| n.inner_mtu).min().unwrap_or(u16::MAX);
        let mut by_mac = HashMap::with_hasher(ahash::RandomState::new());
        let mut by_ip = HashMap::with_hasher(ahash::RandomState::new());
        for (i, n) in nodes.iter().enumerate() {
            if n.forward == ForwardMode::Mac {
                by_mac.entry(n.mac).or_insert(i as u16);
            }
            by_ip.entry(n.ip).or_insert(i as u16);
        }
        let only_node_port = ports.iter().position(|p| p.role == PortRole::Node);
        let chassis_links = topology
            .chassis
            .iter()
            .map(|c| {
                let cc = cfg.chassis.iter().find(|x| x.name == c.name)?;
                let port = match &cc.port {
                    Some(p) => cfg.ports.iter().position(|q| &q.name == p)?,
                    None => only_node_port?,
                };
                Some((cc.mac?.0, port as u16))
            })
            .collect();
        let this_chassis = cfg
            .this_chassis
            .as_ref()
            .and_then(|n| topology.chassis.iter().position(|c| &c.name == n))
            .map(|i| i as u16);
        let peers = cfg
            .peers
            .iter()
            .filter_map(|p| {
                let port = match &p.port {
                    Some(n) => cfg.ports.iter().position(|q| &q.name == n)?,
                    None => only_node_port?,
                };
                Some((p.mac.0, port as u16))
            })
            .collect();
        Context {
            generation,
            topology_id: generation,
            role: cfg.role,
            this_chassis,
            chassis_links,
            peers,
            ports,
            client_port,
            vips,
            nodes,
            topology: Arc::new(topology),
            history: Arc::from(Vec::new()),
            cookie: ProbeCookie::new(&cfg.dataplane.hash_key.bytes),
            health_arp: cfg.health.enabled && cfg.health.check == HealthCheck::Arp,
            toeplitz,
            content: ContentHasher::default(),
            affinity: Arc::new(AffinityMap::default()),
            client_id: cfg.affinity.client_id,
            by_mac,
            by_ip,
            flow_slots: Arc::from(Vec::new()),
            encap_mtu,
            mss_clamp: cfg.dataplane.mss_clamp,
            portal: cfg.vips.iter().any(|v| v.portal == PortalKind::Iscsi).then(|| PortalCtx {
                port: cfg.portal.port,
                learn: cfg.affinity.enabled && cfg.vips.iter().any(|v| v.portal == PortalKind::Iscsi && v.affinity),
                config: Arc::new(cfg.portal.clone()),
            }),
        }
        .with_flow_ids(&(0..nodes_len).map(|i| i as u16).collect::<Vec<_>>())
    }

    /// Gives the nodes (in index order) their stable flow ids.
    pub fn with_flow_ids(mut self, ids: &[u16]) -> Context {
        let mut slots = vec![crate::flows::NO_SLOT; crate::flows::SLOTS];
        for (i, (n, id)) in self.nodes.iter_mut().zip(ids).enumerate() {
            n.flow_id = *id;
            slots[*id as usize % crate::flows::SLOTS] = i as u16;
        }
        self.flow_slots = Arc::from(slots);
        self
    }

    /// The node (index) whose stable flow id is `id`, if it exists and still keeps its tracked
    /// connections at `now`.
    #[inline]
    pub fn flow_node(&self, id: u16, now: u64) -> Option<u16> {
        let i = *self.flow_slots.get(id as usize % crate::flows::SLOTS)?;
        let n = self.nodes.get(i as usize)?;
        (n.flow_id == id && now < n.keep_until).then_some(i)
    }

    /// The VIP at `addr`, if any.
    #[inline]
    pub fn vip(&self, addr: &Addr) -> Option<&Vip> {
        self.vips.iter().find(|v| v.addr == *addr)
    }

    /// The MAC-mode node whose MAC is `mac` (the sender of a frame on a node port).
    pub fn node_by_mac(&self, mac: [u8; 6]) -> Option<u16> {
        self.by_mac.get(&mac).copied()
    }

    /// The chassis whose appliance has MAC `mac` behind port `port` (a spine's view of a return frame).
    pub fn chassis_by_mac(&self, port: u16, mac: [u8; 6]) -> Option<u16> {
        self.chassis_links.iter().position(|l| *l == Some((mac, port))).map(|c| c as u16)
    }

    /// The node whose address is `ip` (the outer source of a tunnelled frame).
    pub fn node_by_ip(&self, ip: &Addr) -> Option<u16> {
        self.by_ip.get(ip).copied()
    }

    /// `addr` is one of port `port`'s own addresses.
    #[inline]
    pub fn is_own(&self, port: u16, addr: &Addr) -> bool {
        self.ports[port as usize].addresses.iter().any(|a| a == addr)
    }
}
