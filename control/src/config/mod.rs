//! The appliance's configuration: one TOML file, parsed and validated before EAL starts.
//!
//! `Config::from_toml` either returns a configuration every later stage can trust, or a [`ConfigError`]
//! naming the field (`nodes[2].mac`) and the problem.

mod flows;
mod launch;
mod mtu;
mod types;
mod validate;

use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use validate::{err, R};

pub use flows::FlowsConfig;
pub use launch::{LaunchFacts, LcoreFacts, PortFacts};
pub use mtu::{FRAME_OVERHEAD, MAX_MTU, MBUF_HEADROOM};
pub use types::{CpuList, HashKey, LcoreList, MacAddr, MAX_CPU, MAX_LCORE, MICROSOFT_KEY};

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config field `{field}`: {problem}")]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> ConfigError {
        ConfigError { field: field.into(), problem: problem.into() }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `single` (both tiers), `spine` (tier 1: picks the chassis appliance) or `chassis` (tier 2).
    #[serde(default)]
    pub role: Role,
    /// For `role = "chassis"`: which declared chassis this appliance serves.
    #[serde(default)]
    pub this_chassis: Option<String>,
    pub eal: EalConfig,
    #[serde(default)]
    pub dataplane: DataplaneConfig,
    #[serde(default)]
    pub resets: ResetConfig,
    #[serde(default)]
    pub console: ConsoleConfig,
    #[serde(default)]
    pub metrics: MetricsConfig,
    #[serde(default)]
    pub affinity: AffinityConfig,
    #[serde(default)]
    pub flows: FlowsConfig,
    #[serde(default)]
    pub health: HealthConfig,
    #[serde(default)]
    pub announce: AnnounceConfig,
    #[serde(default)]
    pub ports: Vec<PortConfig>,
    #[serde(default)]
    pub vips: Vec<VipConfig>,
    #[serde(default)]
    pub chassis: Vec<ChassisConfig>,
    #[serde(default)]
    pub nodes: Vec<NodeConfig>,
    /// The other appliances of a fleet behind the same router (ECMP): they get this appliance's reset
    /// fan-outs, and it takes theirs.
    #[serde(default)]
    pub peers: Vec<PeerConfig>,
}

/// Announcing the VIPs through a BGP speaker that `sluicectl speaker` drives from this appliance's state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AnnounceConfig {
    /// A speaker announces this appliance's VIPs: a stop first withdraws them and keeps forwarding until
    /// the speaker has withdrawn and the routers have moved the traffic away.
    pub enabled: bool,
    /// After the speaker has confirmed that BIRD withdrew everything, keep forwarding this long (routers
    /// converging).
    pub settle_ms: u64,
    /// A stop waits at most this long for the speaker to ask and withdraw.
    pub stop_wait_ms: u64,
}

impl Default for AnnounceConfig {
    fn default() -> Self {
        AnnounceConfig { enabled: false, settle_ms: 1000, stop_wait_ms: 5000 }
    }
}

/// Another appliance of the fleet, reached on the node side.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    pub name: String,
    /// Its node-side port's MAC: fan-out frames go to it, and are taken only from it.
    pub mac: MacAddr,
    /// This appliance's port (role = "node") on which the peer is reached; default the only node port.
    #[serde(default)]
    pub port: Option<String>,
}

/// EAL settings. sluice builds the EAL argument list from these and the ports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EalConfig {
    /// Lcores; the first is the main (control) lcore, each further one runs a worker.
    pub lcores: LcoreList,
    /// Optional CPU for each lcore, in the same order (`--lcores=l@cpu`): lets several lcores share a
    /// CPU on small machines. Default: lcore n runs on CPU n.
    #[serde(default)]
    pub cpus: Option<CpuList>,
    /// Run without hugepages (`--no-huge`): fine for virtual devices and tests, slower.
    #[serde(default)]
    pub no_huge: bool,
    /// Memory to reserve in MiB (`-m`); 0 lets EAL decide (needs hugepages).
    #[serde(default)]
    pub memory_mb: u32,
    /// `--file-prefix`: distinct per process on one host; 1..=32 characters of `A-Za-z0-9._-`, the first a
    /// letter or digit.
    #[serde(default = "default_prefix")]
    pub file_prefix: String,
    /// Further EAL arguments, passed verbatim after the derived ones.
    #[serde(default)]
    pub extra_args: Vec<String>,
}

fn default_prefix() -> String {
    "sluice".into()
}

/// [`DataplaneConfig::load_bound`]'s default.
pub const DEFAULT_LOAD_BOUND: f64 = 1.02;

/// How selection tables are built (see [`crate::maglev`] and [`crate::rendezvous`]).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum TableAlgorithm {
    #[default]
    Maglev,
    Rendezvous,
    /// Rendezvous with every node capped at its weighted share of the slots, rounded up: Maglev's
    /// balance with less collateral movement (see [`crate::rendezvous::bounded`]).
    #[serde(rename = "bounded-rendezvous")]
    BoundedRendezvous,
}

impl TableAlgorithm {
    /// The configuration's spelling.
    pub fn name(self) -> &'static str {
        match self {
            TableAlgorithm::Maglev => "maglev",
            TableAlgorithm::Rendezvous => "rendezvous",
            TableAlgorithm::BoundedRendezvous => "bounded-rendezvous",
        }
    }
}

/// What an appliance does in a tiered deployment.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Both tiers: picks the node itself.
    #[default]
    Single,
    /// Tier 1 only: balances client traffic across chassis appliances and carries return traffic and
    /// reset fan-outs back and forth.
    Spine,
    /// Tier 2 only: balances what its spine sends across the nodes of `this_chassis`.
    Chassis,
}

/// Worker and table settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DataplaneConfig {
    /// Mbufs in the packet pool (with `net_pcap` `infinite_rx`, at least the packets in the file per queue).
    pub mbufs: u32,
    /// Data room per mbuf, headroom included (at least; raised to hold the largest port MTU, see
    /// [`Config::mbuf_data_room`]).
    pub mbuf_size: u16,
    pub mbuf_cache: u32,
    /// Packets per rx burst (1..=64).
    pub burst: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// Toeplitz key for flow hashing (and programmed into NICs that do RSS).
    pub hash_key: HashKey,
    /// Tier-1 Maglev table size (over every node): a prime, ideally ≥ 100 × nodes.
    pub table_size: u32,
    /// Tier-2 Maglev table size (per chassis, over its nodes): a prime.
    pub chassis_table_size: u32,
    /// How both tiers' tables are built: `maglev` (balance within a slot of exact; a membership change
    /// moves somewhat more than the ideal share of flows, more so for many nodes in a small table) or
    /// `rendezvous` (a change moves exactly the ideal share; balance within sampling noise) or
    /// `bounded-rendezvous` (rendezvous with each node held to `load_bound` × its share).
    pub table_algorithm: TableAlgorithm,
    /// For `bounded-rendezvous`: no node holds more than this times its weighted share of a table's slots
    /// (rounded up). 1.0 balances like Maglev; a little slack (the default, 1.02) cuts the flows a
    /// membership change moves between the other nodes several times over. 1.0..=2.0.
    pub load_bound: f64,
    /// When a worker's poll finds nothing 64 times running, sleep this long (0: pure polling, the
    /// default; at most 10000). For labs and small shared machines; never on the per-packet path.
    pub idle_sleep_us: u32,
    /// ICMP fragmentation-needed / packet-too-big answers a worker may send per second, to clients whose
    /// packets do not fit an IP-in-IP node's port once encapsulated (1..=1000000).
    pub too_big_per_sec: u32,
    /// Lower the MSS option in IP-in-IP nodes' SYN-ACKs to what fits their port once encapsulated, so that
    /// clients send segments that fit.
    pub mss_clamp: bool,
}

/// The default of `dataplane.too_big_per_sec`.
pub const DEFAULT_TOO_BIG_PER_SEC: u32 = 100;

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            mbufs: 16383,
            mbuf_size: 2048 + 128,
            mbuf_cache: 256,
            burst: 32,
            rx_desc: 1024,
            tx_desc: 1024,
            hash_key: HashKey::default(),
            table_size: 65537,
            chassis_table_size: 16381,
            table_algorithm: TableAlgorithm::Maglev,
            load_bound: DEFAULT_LOAD_BOUND,
            idle_sleep_us: 0,
            too_big_per_sec: DEFAULT_TOO_BIG_PER_SEC,
            mss_clamp: false,
        }
    }
}

/// The operator console: a Unix socket `sluicectl` talks to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    pub enabled: bool,
    /// The socket's path; default `/run/sluice/<file_prefix>.sock`.
    pub socket: Option<std::path::PathBuf>,
    /// Its permission bits (owner-only by default).
    pub mode: u32,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true, socket: None, mode: 0o600 }
    }
}

impl Config {
    /// Where the console socket is.
    pub fn console_socket(&self) -> std::path::PathBuf {
        self.console.socket.clone().unwrap_or_else(|| format!("/run/sluice/{}.sock", self.eal.file_prefix).into())
    }
}

/// The Prometheus text endpoint (opt-in).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub prometheus: bool,
    /// Where it listens; loopback by default.
    pub listen: std::net::SocketAddr,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { prometheus: false, listen: "127.0.0.1:9377".parse().expect("literal") }
    }
}

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

impl Config {
    /// Parses and validates TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let msg = e.message().to_string();
            let field = e
                .span()
                .map(|s| {
                    let start = s.start.min(text.len());
                    let line_no = text[..start].matches('\n').count() + 1;
                    let line = text.lines().nth(line_no - 1).unwrap_or("");
                    match line.split_once('=') {
                        Some((key, _)) => format!("{} (line {line_no})", key.trim()),
                        None => format!("line {line_no}"),
                    }
                })
                .unwrap_or_else(|| "toml".into());
            ConfigError::new(field, msg)
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads, parses and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(path.display().to_string(), format!("cannot read: {e}")))?;
        Config::from_toml(&text)
    }

    /// Worker lcores (every configured lcore but the first).
    pub fn worker_lcores(&self) -> &[u32] {
        &self.eal.lcores.0[1..]
    }

    /// The EAL argument list derived from this configuration (program name first).
    pub fn eal_args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["sluice".into()];
        match &self.eal.cpus {
            Some(cpus) => {
                let map: Vec<String> = self.eal.lcores.0.iter().zip(&cpus.0).map(|(l, c)| format!("{l}@{c}")).collect();
                a.push(format!("--lcores={}", map.join(",")));
            }
            None => a.extend(["-l".into(), self.eal.lcores.to_string()]),
        }
        a.push(format!("--main-lcore={}", self.eal.lcores.0[0]));
        a.extend(["--file-prefix".into(), self.eal.file_prefix.clone()]);
        if self.eal.no_huge {
            a.push("--no-huge".into());
        }
        if self.eal.memory_mb > 0 {
            a.extend(["-m".into(), self.eal.memory_mb.to_string()]);
        }
        let mut any_pci = false;
        for p in &self.ports {
            match pci_address(&p.device) {
                Some(pci) => {
                    any_pci = true;
                    a.extend(["-a".into(), pci]);
                }
                None => a.extend(["--vdev".into(), p.device.clone()]),
            }
        }
        if !any_pci {
            a.push("--no-pci".into());
        }
        a.extend(self.eal.extra_args.iter().cloned());
        a
    }
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
