//! What a launcher needs to know about a configuration before it starts sluice on a host: the lcores and
//! the CPUs they run on, the devices behind the ports (PCI NICs, kernel interfaces), the hugepage memory
//! it will use, and the EAL arguments. `sluice --check --json` prints it; `scripts/launch-appliance.sh`
//! runs its preflight checks from it, so the script never parses TOML itself.

use serde::Serialize;

use super::{pci_address, Config};

/// Bytes a mempool element costs beyond its data room: `struct rte_mbuf` (two cache lines), the
/// mempool's object header and private area, rounded up.
const MBUF_OVERHEAD: u64 = 192;
/// EAL's own memory (memzones, rings, per-lcore caches, telemetry, pdump), measured at ~24 MiB with two
/// ports and doubled for headroom.
const EAL_BASELINE_MB: u64 = 48;

/// The launch-relevant facts of a validated configuration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LaunchFacts {
    /// The full EAL argument list, program name first.
    pub eal_args: Vec<String>,
    pub file_prefix: String,
    pub no_huge: bool,
    pub memory_mb: u32,
    /// Hugepage memory sluice needs: `memory_mb` or the estimate for its pools, whichever is larger.
    pub hugepage_mb: u64,
    pub lcores: Vec<LcoreFacts>,
    pub ports: Vec<PortFacts>,
    pub console_socket: String,
}

/// One lcore and the CPU it runs on.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LcoreFacts {
    pub lcore: u32,
    pub cpu: u32,
    /// `control` (the main lcore) or `worker`.
    pub role: &'static str,
}

/// One port's device as the host sees it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PortFacts {
    pub name: String,
    pub device: String,
    /// The canonical PCI address of a physical NIC.
    pub pci: Option<String>,
    /// Existing kernel interfaces a virtual device attaches to: `iface=` of net_af_packet and net_af_xdp,
    /// `iface=`, `rx_iface=`, `rx_iface_in=` and `tx_iface=` of net_pcap, `remote=` of net_tap. (A
    /// net_tap's own `iface=` is the interface it creates, so it is not listed.)
    pub ifaces: Vec<String>,
}

impl Config {
    /// The facts a launcher checks the host against (see [`LaunchFacts`]).
    pub fn launch_facts(&self) -> LaunchFacts {
        let cpus: Vec<u32> = match &self.eal.cpus {
            Some(c) => c.0.clone(),
            None => self.eal.lcores.0.clone(),
        };
        let lcores = self
            .eal
            .lcores
            .0
            .iter()
            .zip(cpus)
            .enumerate()
            .map(|(i, (&lcore, cpu))| LcoreFacts { lcore, cpu, role: if i == 0 { "control" } else { "worker" } })
            .collect();
        let ports = self
            .ports
            .iter()
            .map(|p| {
                let pci = pci_address(&p.device);
                let ifaces = match pci {
                    Some(_) => Vec::new(),
                    None => existing_ifaces(&p.device),
                };
                PortFacts { name: p.name.clone(), device: p.device.clone(), pci, ifaces }
            })
            .collect();
        let d = &self.dataplane;
        let pool_bytes = u64::from(d.mbufs) * (u64::from(self.mbuf_data_room()) + MBUF_OVERHEAD);
        let estimate = pool_bytes.div_ceil(1 << 20) + EAL_BASELINE_MB;
        LaunchFacts {
            eal_args: self.eal_args(),
            file_prefix: self.eal.file_prefix.clone(),
            no_huge: self.eal.no_huge,
            memory_mb: self.eal.memory_mb,
            hugepage_mb: estimate.max(u64::from(self.eal.memory_mb)),
            lcores,
            ports,
            console_socket: self.console_socket().display().to_string(),
        }
    }
}

/// See [`PortFacts::ifaces`].
fn existing_ifaces(device: &str) -> Vec<String> {
    let mut parts = device.split(',');
    let name = parts.next().unwrap_or("").trim();
    let driver = name.trim_end_matches(|c: char| c.is_ascii_digit()).replacen("eth_", "net_", 1);
    let keys: &[&str] = match driver.as_str() {
        "net_af_packet" | "net_af_xdp" => &["iface"],
        "net_pcap" => &["iface", "rx_iface", "rx_iface_in", "tx_iface"],
        "net_tap" => &["remote"],
        _ => &[],
    };
    parts
        .filter_map(|kv| kv.split_once('='))
        .filter(|(k, _)| keys.contains(&k.trim()))
        .map(|(_, v)| v.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    const BASE: &str = r#"
[eal]
lcores = "2,4-5"
memory_mb = 64
file_prefix = "t"
[dataplane]
mbufs = 65535
[[ports]]
name = "client"
device = "0000:3b:00.0"
role = "client"
gateway_mac = "02:00:00:00:00:fe"
[[ports]]
name = "nodes"
device = "net_af_packet0,iface=veth1,qpairs=1"
role = "node"
[[vips]]
address = "10.0.0.1"
protocols = ["tcp"]
[[chassis]]
name = "a"
[[nodes]]
name = "n1"
chassis = "a"
mac = "02:00:00:00:00:01"
ip = "10.1.0.1"
"#;

    #[test]
    fn lcores_cpus_devices_and_memory() {
        let f = Config::from_toml(BASE).unwrap().launch_facts();
        let l: Vec<(u32, u32, &str)> = f.lcores.iter().map(|l| (l.lcore, l.cpu, l.role)).collect();
        assert_eq!(l, vec![(2, 2, "control"), (4, 4, "worker"), (5, 5, "worker")]);
        assert_eq!(f.ports[0].pci.as_deref(), Some("0000:3b:00.0"));
        assert!(f.ports[0].ifaces.is_empty());
        assert_eq!(f.ports[1].pci, None);
        assert_eq!(f.ports[1].ifaces, vec!["veth1"]);
        // 65535 mbufs of 2176 + 192 bytes is 148 MiB, plus EAL's baseline; more than memory_mb.
        assert_eq!(f.hugepage_mb, 148 + 48);
        assert_eq!(f.eal_args[0], "sluice");
        assert!(f.eal_args.windows(2).any(|w| w == ["-a", "0000:3b:00.0"]));
    }

    #[test]
    fn only_interfaces_that_must_exist_are_listed() {
        use super::existing_ifaces;
        assert_eq!(existing_ifaces("net_af_packet0,iface=veth1,qpairs=2"), vec!["veth1"]);
        assert_eq!(existing_ifaces("eth_af_xdp1,iface=ens1"), vec!["ens1"]);
        assert_eq!(existing_ifaces("net_pcap0,rx_iface=a,tx_iface=b"), vec!["a", "b"]);
        assert!(existing_ifaces("net_tap0,iface=dtap0").is_empty());
        assert_eq!(existing_ifaces("net_tap0,iface=dtap0,remote=eth3"), vec!["eth3"]);
        assert!(existing_ifaces("net_pcap0,rx_pcap=in.pcap,infinite_rx=1").is_empty());
        assert!(existing_ifaces("net_null0,no-rx=1").is_empty());
    }

    #[test]
    fn cpus_map_lcores_and_memory_mb_wins_when_larger() {
        let toml = BASE
            .replace("lcores = \"2,4-5\"", "lcores = \"0-2\"\ncpus = \"0,1,1\"")
            .replace("memory_mb = 64", "memory_mb = 4096");
        let f = Config::from_toml(&toml).unwrap().launch_facts();
        let cpus: Vec<u32> = f.lcores.iter().map(|l| l.cpu).collect();
        assert_eq!(cpus, vec![0, 1, 1]);
        assert_eq!(f.hugepage_mb, 4096);
    }
}
