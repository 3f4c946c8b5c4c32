//! The appliance's configuration: one TOML file, parsed and validated before EAL starts.
//!
//! `Config::from_toml` either returns a configuration every later stage can trust, or a [`ConfigError`]
//! naming the field (`nodes[2].mac`) and the problem.

mod fabric;
mod features;
mod flows;
mod launch;
mod mtu;
mod portal;
mod types;
mod validate;

use std::path::Path;

use serde::{Deserialize, Serialize};
use validate::{err, R};

pub use fabric::{
    pci_address, ChassisConfig, ForwardMode, KeyKind, NodeConfig, NodeState, PortConfig, PortRole, Protocol, VipConfig,
};
pub use features::{AffinityConfig, ClientIdKind, HealthCheck, HealthConfig, HealthScope, ResetConfig};
pub use flows::FlowsConfig;
pub use launch::{LaunchFacts, LcoreFacts, PortFacts};
pub use mtu::{FRAME_OVERHEAD, MAX_MTU, MBUF_HEADROOM};
pub use portal::{check_iscsi_name, PortalConfig, PortalKind, PortalTarget, MAX_ISCSI_NAME};
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
    pub portal: PortalConfig,
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

impl Role {
    /// Its name, as configuration files and console answers write it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Single => "single",
            Role::Spine => "spine",
            Role::Chassis => "chassis",
        }
    }
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
    /// Where the changes made at run time (node changes, pins) are kept across reloads and restarts;
    /// default: beside the configuration file, `NAME.toml` → `NAME.state.json`.
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig { enabled: true, socket: None, mode: 0o600, state_file: None }
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
