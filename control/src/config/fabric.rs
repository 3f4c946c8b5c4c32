//! What the appliance serves and where: `[[ports]]`, `[[vips]]`, `[[chassis]]` and `[[nodes]]`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::MacAddr;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum PortRole {
    /// Faces the clients: VIP traffic arrives here, return traffic leaves here.
    Client,
    /// Faces the storage nodes.
    Node,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// A name for logs and stats.
    pub name: String,
    /// A DPDK virtual device (`net_pcap0,rx_pcap=in.pcap`) or a PCI address (`0000:01:00.0`).
    pub device: String,
    pub role: PortRole,
    /// The port's MAC as sluice writes it into frames; defaults to the device's own.
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// The appliance's own addresses on this port (ARP/ND and ping are answered for them; the source of
    /// IP-in-IP toward nodes).
    #[serde(default)]
    pub addresses: Vec<IpAddr>,
    /// Next hop on this port's segment for traffic toward clients (client ports).
    #[serde(default)]
    pub gateway_mac: Option<MacAddr>,
    /// Largest IP packet the segment carries (set on the device). A client packet that does not fit a
    /// node port's MTU once encapsulated gets an ICMP fragmentation-needed or packet-too-big answer.
    #[serde(default = "default_mtu")]
    pub mtu: u16,
}

fn default_mtu() -> u16 {
    1500
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct VipConfig {
    pub address: IpAddr,
    /// What picks the node: `flow` (the connection), `client` (the source address), `nfs3` (the file
    /// handle and offset region of NFSv3 calls over UDP) or `payload` (a field of the UDP payload).
    #[serde(default)]
    pub key: KeyKind,
    /// `key = "nfs3"`: READ/WRITE/COMMIT offsets in the same region of this many bytes (a power of two)
    /// stay on one node; different regions of a file spread.
    #[serde(default = "default_region")]
    pub nfs3_region_bytes: u64,
    /// `key = "payload"`: where the key field starts in the UDP payload.
    #[serde(default)]
    pub payload_offset: u16,
    /// `key = "payload"`: its length in bytes (1..=64).
    #[serde(default)]
    pub payload_length: u16,
    /// Protocols served; default both.
    #[serde(default = "default_protocols")]
    pub protocols: Vec<Protocol>,
    /// Destination ports served; empty means every port.
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Honour controller-VM affinity (needs `[affinity] enabled`): a client VM with an entry goes to its
    /// CVM whatever the key says; the key picks for clients without one, and that choice is learned.
    #[serde(default)]
    pub affinity: bool,
    /// `iscsi`: the appliance answers iSCSI discovery and login on this VIP's `[portal] port` itself and
    /// sends each login to its CVM; the VIP's other ports are balanced as usual.
    #[serde(default)]
    pub portal: super::PortalKind,
}

/// How a VIP's traffic is keyed.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    #[default]
    Flow,
    Client,
    Nfs3,
    Payload,
}

fn default_region() -> u64 {
    1 << 20
}

fn default_protocols() -> Vec<Protocol> {
    vec![Protocol::Tcp, Protocol::Udp]
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ChassisConfig {
    pub name: String,
    /// For a spine: the MAC of this chassis's appliance (its spine-side port).
    #[serde(default)]
    pub mac: Option<MacAddr>,
    /// For a spine: the spine's port (role = "node") toward this chassis's appliance.
    #[serde(default)]
    pub port: Option<String>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Takes new and existing traffic in proportion to its weight.
    #[default]
    Active,
    /// Out of every selection; still reachable for resets and its return traffic is still carried.
    Draining,
    /// Out of every selection and treated as unreachable.
    Down,
}

impl NodeState {
    /// Its name, as configuration files and console answers write it.
    pub fn name(self) -> &'static str {
        match self {
            NodeState::Active => "active",
            NodeState::Draining => "draining",
            NodeState::Down => "down",
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum ForwardMode {
    /// Rewrite the destination MAC: the node is on the node port's L2 and owns the VIP on a loopback.
    #[default]
    Mac,
    /// Encapsulate in IP-in-IP (outer: node port address → node ip), sent to `mac` as the next hop.
    Ipip,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unique identity; Maglev tables are built from it, so two appliances agree whatever the file order.
    /// Like every name (chassis, peers, ports): 1..=64 characters of `A-Za-z0-9._-`, the first a letter
    /// or digit.
    pub name: String,
    pub chassis: String,
    /// The node's MAC (Mac mode) or the next hop toward it (Ipip mode).
    pub mac: MacAddr,
    pub ip: IpAddr,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default)]
    pub state: NodeState,
    #[serde(default)]
    pub forward: ForwardMode,
    /// The node-role port it is reached through; may be left out when there is one.
    #[serde(default)]
    pub port: Option<String>,
}

fn default_weight() -> u32 {
    100
}

impl PortConfig {
    /// The ethdev name DPDK gives this port: the vdev name before its arguments, or the full PCI address.
    pub fn dev_name(&self) -> String {
        pci_address(&self.device).unwrap_or_else(|| self.device.split(',').next().unwrap_or("").trim().to_string())
    }
}

/// The canonical `dddd:bb:dd.f` form of a PCI address (`01:00.0` gets domain 0000), or None.
pub fn pci_address(s: &str) -> Option<String> {
    let s = s.trim();
    let full = if s.matches(':').count() == 1 { format!("0000:{s}") } else { s.to_string() };
    let b = full.as_bytes();
    let hex = |r: std::ops::Range<usize>| b.get(r.clone()).is_some_and(|x| x.iter().all(u8::is_ascii_hexdigit));
    let ok = b.len() == 12
        && hex(0..4)
        && b[4] == b':'
        && hex(5..7)
        && b[7] == b':'
        && hex(8..10)
        && b[10] == b'.'
        && (b'0'..=b'7').contains(&b[11]);
    ok.then(|| full.to_ascii_lowercase())
}
