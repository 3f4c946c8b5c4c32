//! Semantic checks that serde cannot express. The first problem found is reported, naming its field.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use super::{Config, ConfigError, ForwardMode, KeyKind, NodeState, PortRole, Protocol, Role, MAX_MTU};

pub(super) type R = Result<(), ConfigError>;

fn is_prime(n: u32) -> bool {
    n >= 2 && (2..).take_while(|d: &u32| (*d as u64) * (*d as u64) <= n as u64).all(|d| !n.is_multiple_of(d))
}

pub(super) fn err(field: impl Into<String>, problem: impl Into<String>) -> R {
    Err(ConfigError::new(field, problem))
}

/// Longest node, chassis, peer and port name.
pub const MAX_NAME: usize = 64;
/// Longest `eal.file_prefix`: DPDK's runtime directory and its sockets' paths are built from it, and a
/// Unix socket's path has at most 107 bytes.
pub const MAX_FILE_PREFIX: usize = 32;
/// Most chassis declared (each gets a tier-2 table; chassis are indexed with 16 bits).
pub const MAX_CHASSIS: usize = 4096;
/// Most tier-2 table slots over every chassis (`chassis` × `chassis_table_size`): 512 MiB of tables.
pub const MAX_CHASSIS_SLOTS: u64 = 1 << 28;
/// Longest `dataplane.idle_sleep_us`: a sleeping worker notices a stop only when it wakes.
pub const MAX_IDLE_SLEEP_US: u32 = 10_000;

/// Names (nodes, chassis, peers, ports) and the EAL file prefix go into logs, Prometheus labels, console
/// answers, file names and the launcher's line-based facts: 1..=`max` characters of `A-Za-z0-9._-`,
/// the first a letter or digit.
fn check_name(field: impl Into<String>, value: &str, max: usize) -> R {
    let rule = format!("must be 1..={max} characters of A-Z a-z 0-9 . _ -, the first a letter or digit");
    let shown = super::types::shown(value);
    if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return err(field, format!("{shown} contains {c:?}: {rule}"));
    }
    if value.is_empty() || value.len() > max {
        return err(field, format!("{shown} has {} characters: {rule}", value.len()));
    }
    if !value.as_bytes()[0].is_ascii_alphanumeric() {
        return err(field, format!("{shown} starts with {:?}: {rule}", &value[..1]));
    }
    Ok(())
}

/// Free text that ends up on one line of the launcher's facts (devices, EAL arguments, the console
/// socket): no control characters (newlines, tabs, ...).
fn check_one_line(field: impl Into<String>, value: &str) -> R {
    match value.chars().find(|c| c.is_control()) {
        Some(c) => err(field, format!("{} contains the control character {c:?}", super::types::shown(value))),
        None => Ok(()),
    }
}

impl Config {
    /// Checks everything serde cannot; the first problem found names its field.
    pub fn validate(&self) -> R {
        self.validate_eal()?;
        self.validate_dataplane()?;
        self.validate_resets()?;
        self.validate_affinity()?;
        self.flows.validate()?;
        self.validate_health()?;
        self.validate_ports()?;
        self.validate_vips()?;
        self.validate_topology()?;
        self.validate_role()?;
        self.portal.validate(&self.vips, self.role)?;
        self.validate_fleet()
    }

    fn validate_fleet(&self) -> R {
        let a = &self.announce;
        if a.settle_ms > 60_000 {
            return err("announce.settle_ms", format!("{} is above 60000", a.settle_ms));
        }
        if a.stop_wait_ms < a.settle_ms || a.stop_wait_ms > 120_000 {
            return err(
                "announce.stop_wait_ms",
                format!("{} must be in settle_ms ({})..=120000", a.stop_wait_ms, a.settle_ms),
            );
        }
        let node_ports: Vec<&str> =
            self.ports.iter().filter(|p| p.role == PortRole::Node).map(|p| p.name.as_str()).collect();
        let mut names = BTreeSet::new();
        for (i, p) in self.peers.iter().enumerate() {
            if self.role == Role::Spine {
                return err(
                    format!("peers[{i}]"),
                    "a spine sends no probes: peers share fan-outs between appliances that probe nodes",
                );
            }
            check_name(format!("peers[{i}].name"), &p.name, MAX_NAME)?;
            if !names.insert(p.name.as_str()) {
                return err(format!("peers[{i}].name"), format!("{:?} is declared twice", p.name));
            }
            if p.mac.is_multicast() || p.mac.is_zero() {
                return err(format!("peers[{i}].mac"), format!("{} is not a unicast address", p.mac));
            }
            if self.ports.iter().any(|q| q.mac == Some(p.mac)) {
                return err(format!("peers[{i}].mac"), format!("{} is this appliance's own port", p.mac));
            }
            if let Some(n) = self.nodes.iter().find(|n| n.mac == p.mac) {
                return err(format!("peers[{i}].mac"), format!("{} is node {:?}'s", p.mac, n.name));
            }
            if self.peers[..i].iter().any(|q| q.mac == p.mac) {
                return err(format!("peers[{i}].mac"), format!("{} is another peer's", p.mac));
            }
            match &p.port {
                Some(x) if node_ports.contains(&x.as_str()) => {}
                Some(x) => return err(format!("peers[{i}].port"), format!("{x:?} is not a port with role = \"node\"")),
                None if node_ports.len() == 1 => {}
                None => {
                    return err(format!("peers[{i}].port"), "several node ports exist: name the one the peer is on")
                }
            }
        }
        Ok(())
    }

    fn validate_role(&self) -> R {
        let node_ports: Vec<&str> =
            self.ports.iter().filter(|p| p.role == PortRole::Node).map(|p| p.name.as_str()).collect();
        match self.role {
            Role::Single => {
                if self.this_chassis.is_some() {
                    return err("this_chassis", "only a role = \"chassis\" appliance serves one chassis");
                }
            }
            Role::Chassis => match &self.this_chassis {
                None => return err("this_chassis", "a role = \"chassis\" appliance must name the chassis it serves"),
                Some(c) if !self.chassis.iter().any(|x| &x.name == c) => {
                    return err("this_chassis", format!("unknown chassis {c:?} (declare it under [[chassis]])"));
                }
                Some(c) if !self.nodes.iter().any(|n| &n.chassis == c) => {
                    return err("this_chassis", format!("chassis {c:?} has no nodes"));
                }
                Some(_) => {}
            },
            Role::Spine => {
                if self.this_chassis.is_some() {
                    return err("this_chassis", "only a role = \"chassis\" appliance serves one chassis");
                }
                for (i, c) in self.chassis.iter().enumerate() {
                    match c.mac {
                        None => return err(format!("chassis[{i}].mac"), "a spine needs each chassis appliance's MAC"),
                        Some(m) if m.is_multicast() || m.is_zero() => {
                            return err(format!("chassis[{i}].mac"), format!("{m} is not a unicast address"));
                        }
                        Some(_) => {}
                    }
                    match &c.port {
                        Some(p) if node_ports.contains(&p.as_str()) => {}
                        Some(p) => {
                            return err(
                                format!("chassis[{i}].port"),
                                format!("{p:?} is not a port with role = \"node\""),
                            )
                        }
                        None if node_ports.len() == 1 => {}
                        None => {
                            return err(
                                format!("chassis[{i}].port"),
                                "several node ports exist: name the one toward this chassis",
                            )
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn validate_eal(&self) -> R {
        let l = &self.eal.lcores.0;
        if l.len() < 2 {
            return err("eal.lcores", "needs at least two lcores: the first runs control, the rest run workers");
        }
        if let Some(c) = &self.eal.cpus {
            if c.0.len() != l.len() {
                return err("eal.cpus", format!("names {} CPUs for {} lcores", c.0.len(), l.len()));
            }
        }
        check_name("eal.file_prefix", &self.eal.file_prefix, MAX_FILE_PREFIX)?;
        for (i, a) in self.eal.extra_args.iter().enumerate() {
            check_one_line(format!("eal.extra_args[{i}]"), a)?;
        }
        if let Some(s) = &self.console.socket {
            check_one_line("console.socket", &s.to_string_lossy())?;
            if s.as_os_str().len() > 107 {
                return err("console.socket", "a Unix socket's path has at most 107 bytes");
            }
        }
        if self.eal.no_huge && self.eal.memory_mb == 0 {
            return err("eal.memory_mb", "must be set (e.g. 1024) when no_huge = true");
        }
        Ok(())
    }

    fn validate_dataplane(&self) -> R {
        let d = &self.dataplane;
        if d.burst == 0 || d.burst > 64 {
            return err("dataplane.burst", format!("{} is outside 1..=64", d.burst));
        }
        if d.mbufs < 1024 {
            return err("dataplane.mbufs", format!("{} is too few (at least 1024)", d.mbufs));
        }
        if !(1..=1_000_000).contains(&d.too_big_per_sec) {
            return err("dataplane.too_big_per_sec", format!("{} is outside 1..=1000000", d.too_big_per_sec));
        }
        if d.mbuf_size < 128 + 1518 {
            return err(
                "dataplane.mbuf_size",
                format!("{} cannot hold 128 B headroom and a 1518 B frame", d.mbuf_size),
            );
        }
        for (f, v) in [("dataplane.rx_desc", d.rx_desc), ("dataplane.tx_desc", d.tx_desc)] {
            if v < 32 || !v.is_power_of_two() {
                return err(f, format!("{v} must be a power of two ≥ 32"));
            }
        }
        for (f, v) in [("dataplane.table_size", d.table_size), ("dataplane.chassis_table_size", d.chassis_table_size)] {
            if !is_prime(v) || !(251..=16_777_213).contains(&v) {
                return err(f, format!("{v} must be a prime between 251 and 16777213 (e.g. 65537)"));
            }
        }
        if d.idle_sleep_us > MAX_IDLE_SLEEP_US {
            return err("dataplane.idle_sleep_us", format!("{} is above {MAX_IDLE_SLEEP_US}", d.idle_sleep_us));
        }
        if !(1.0..=2.0).contains(&d.load_bound) {
            return err("dataplane.load_bound", format!("{} is outside 1.0..=2.0", d.load_bound));
        }
        Ok(())
    }

    fn validate_resets(&self) -> R {
        let r = &self.resets;
        if !(10..=60_000).contains(&r.window_ms) {
            return err("resets.window_ms", format!("{} is outside 10..=60000", r.window_ms));
        }
        if r.rate_per_sec == 0 || r.burst == 0 {
            return err("resets.rate_per_sec", "rate_per_sec and burst must be at least 1");
        }
        if !r.table_entries.is_power_of_two() || !(64..=1 << 20).contains(&r.table_entries) {
            return err("resets.table_entries", format!("{} must be a power of two in 64..=1048576", r.table_entries));
        }
        if !(100..=600_000).contains(&r.moved_window_ms) {
            return err("resets.moved_window_ms", format!("{} is outside 100..=600000", r.moved_window_ms));
        }
        if r.prefix_rate_per_sec == 0 || r.prefix_burst == 0 {
            return err("resets.prefix_rate_per_sec", "prefix_rate_per_sec and prefix_burst must be at least 1");
        }
        if r.reprobe_ms != 0 && r.reprobe_ms >= r.window_ms {
            return err(
                "resets.reprobe_ms",
                format!(
                    "{} must be below resets.window_ms ({}): the second round's answers must find the fan-out live; 0 turns it off",
                    r.reprobe_ms, r.window_ms
                ),
            );
        }
        Ok(())
    }

    fn validate_affinity(&self) -> R {
        let a = &self.affinity;
        if a.enabled && self.role != Role::Single {
            return err(
                "affinity.enabled",
                "affinity is kept by a role = \"single\" appliance (it picks the node itself)",
            );
        }
        if a.idle_timeout_ms == 0 {
            return err("affinity.idle_timeout_ms", "must be at least 1");
        }
        if !(1..=1 << 22).contains(&a.max_entries) {
            return err("affinity.max_entries", format!("{} is outside 1..=4194304", a.max_entries));
        }
        if !(1..=1 << 22).contains(&a.max_entries_per_prefix) {
            return err(
                "affinity.max_entries_per_prefix",
                format!("{} is outside 1..=4194304", a.max_entries_per_prefix),
            );
        }
        if !a.rebalance_margin.is_finite() {
            return err("affinity.rebalance_margin", "must be a number (negative disables rebalancing)");
        }
        if a.rebalance_interval_ms < 100 {
            return err("affinity.rebalance_interval_ms", format!("{} is below 100", a.rebalance_interval_ms));
        }
        if !(10..=60_000).contains(&a.publish_interval_ms) {
            return err("affinity.publish_interval_ms", format!("{} is outside 10..=60000", a.publish_interval_ms));
        }
        if !(64..=1 << 20).contains(&a.report_queue) {
            return err("affinity.report_queue", format!("{} is outside 64..=1048576", a.report_queue));
        }
        for (i, v) in self.vips.iter().enumerate() {
            if v.affinity && !a.enabled {
                return err(format!("vips[{i}].affinity"), "needs [affinity] enabled = true");
            }
        }
        Ok(())
    }

    fn validate_health(&self) -> R {
        let h = &self.health;
        if h.interval_ms < 10 || h.interval_ms > 600_000 {
            return err("health.interval_ms", format!("{} is outside 10..=600000", h.interval_ms));
        }
        if h.timeout_ms == 0 || h.timeout_ms > h.interval_ms {
            return err(
                "health.timeout_ms",
                format!("{} must be in 1..=interval_ms ({})", h.timeout_ms, h.interval_ms),
            );
        }
        if !(1..=100).contains(&h.rise) {
            return err("health.rise", format!("{} is outside 1..=100", h.rise));
        }
        if !(1..=100).contains(&h.fall) {
            return err("health.fall", format!("{} is outside 1..=100", h.fall));
        }
        if h.scope == super::HealthScope::Fleet && !h.enabled {
            return err(
                "health.scope",
                "\"fleet\" needs enabled = true: the fleet's verdict counts this appliance's checks",
            );
        }
        if h.check == super::HealthCheck::Tcp && h.port == 0 {
            return err("health.port", "port 0 cannot be checked");
        }
        if h.enabled {
            for (i, n) in self.nodes.iter().enumerate() {
                let port = match &n.port {
                    Some(p) => self.ports.iter().find(|q| &q.name == p),
                    None => self.ports.iter().find(|q| q.role == PortRole::Node),
                };
                let Some(port) = port else { continue };
                if !port.addresses.iter().any(|a| a.is_ipv4() == n.ip.is_ipv4()) {
                    return err(
                        format!("nodes[{i}].ip"),
                        format!("health checks need an address of the same family as {} on port {:?}", n.ip, port.name),
                    );
                }
                if h.check == super::HealthCheck::Arp && (n.ip.is_ipv6() || n.forward == ForwardMode::Ipip) {
                    return err(
                        "health.check",
                        format!("node {:?} is not an IPv4 neighbour: ARP checks only MAC-mode IPv4 nodes", n.name),
                    );
                }
                if self.role == Role::Spine {
                    return err(
                        "health.enabled",
                        "a spine reaches chassis appliances, not nodes: check on the chassis appliances",
                    );
                }
            }
        }
        Ok(())
    }

    fn validate_ports(&self) -> R {
        let mut names = BTreeSet::new();
        let mut devices = BTreeSet::new();
        for (i, p) in self.ports.iter().enumerate() {
            let f = |k: &str| format!("ports[{i}].{k}");
            check_name(f("name"), &p.name, MAX_NAME)?;
            if !names.insert(p.name.as_str()) {
                return err(f("name"), format!("{:?} is used by another port", p.name));
            }
            check_one_line(f("device"), &p.device)?;
            if p.dev_name().is_empty() || !devices.insert(p.dev_name()) {
                return err(f("device"), format!("{:?} is empty or used by another port", p.device));
            }
            if let Some(m) = p.mac {
                if m.is_multicast() || m.is_zero() {
                    return err(f("mac"), format!("{m} is not a unicast address"));
                }
            }
            if p.role == PortRole::Client && p.gateway_mac.is_none() {
                return err(f("gateway_mac"), "a client port needs the next hop toward clients (gateway_mac)");
            }
            if p.mtu < 576 || p.mtu > MAX_MTU {
                return err(f("mtu"), format!("{} is outside 576..={MAX_MTU}", p.mtu));
            }
        }
        for role in [PortRole::Client, PortRole::Node] {
            if !self.ports.iter().any(|p| p.role == role) {
                return err(
                    "ports",
                    format!("needs at least one port with role = \"{}\"", format!("{role:?}").to_lowercase()),
                );
            }
        }
        Ok(())
    }

    fn own_addresses(&self) -> BTreeMap<IpAddr, String> {
        let mut m = BTreeMap::new();
        for (i, p) in self.ports.iter().enumerate() {
            for (j, a) in p.addresses.iter().enumerate() {
                m.insert(*a, format!("ports[{i}].addresses[{j}]"));
            }
        }
        m
    }

    fn validate_vips(&self) -> R {
        if self.vips.is_empty() {
            return err("vips", "at least one VIP is needed");
        }
        let own = self.own_addresses();
        let mut seen = BTreeSet::new();
        for (i, v) in self.vips.iter().enumerate() {
            let f = |k: &str| format!("vips[{i}].{k}");
            if !seen.insert(v.address) {
                return err(f("address"), format!("{} is listed twice", v.address));
            }
            if let Some(o) = own.get(&v.address) {
                return err(f("address"), format!("{} is also the appliance's own address {o}", v.address));
            }
            if v.address.is_unspecified() || v.address.is_multicast() || v.address.is_loopback() {
                return err(f("address"), format!("{} is not a unicast address", v.address));
            }
            if v.protocols.is_empty() {
                return err(f("protocols"), "empty: list tcp and/or udp");
            }
            if v.ports.contains(&0) {
                return err(f("ports"), "port 0 cannot be served");
            }
            let content = matches!(v.key, KeyKind::Nfs3 | KeyKind::Payload);
            if content && !v.protocols.contains(&Protocol::Udp) {
                return err(f("key"), "content keys apply to UDP requests: list udp in protocols");
            }
            if v.key == KeyKind::Nfs3 && (!v.nfs3_region_bytes.is_power_of_two() || v.nfs3_region_bytes < 4096) {
                return err(
                    f("nfs3_region_bytes"),
                    format!("{} must be a power of two of at least 4096", v.nfs3_region_bytes),
                );
            }
            if v.key == KeyKind::Payload {
                if !(1..=64).contains(&v.payload_length) {
                    return err(f("payload_length"), format!("{} is outside 1..=64", v.payload_length));
                }
                if v.payload_offset as u32 + v.payload_length as u32 > 1472 {
                    return err(f("payload_offset"), "the field must end within 1472 bytes of payload");
                }
            } else if v.payload_length != 0 || v.payload_offset != 0 {
                return err(f("payload_length"), "payload_offset/payload_length apply only to key = \"payload\"");
            }
        }
        Ok(())
    }

    fn validate_topology(&self) -> R {
        let mut chassis = BTreeSet::new();
        if self.chassis.len() > MAX_CHASSIS {
            return err("chassis", format!("{} chassis; at most {MAX_CHASSIS}", self.chassis.len()));
        }
        for (i, c) in self.chassis.iter().enumerate() {
            check_name(format!("chassis[{i}].name"), &c.name, MAX_NAME)?;
            if !chassis.insert(c.name.as_str()) {
                return err(format!("chassis[{i}].name"), format!("{:?} is a duplicate chassis", c.name));
            }
        }
        let slots = self.chassis.len() as u64 * u64::from(self.dataplane.chassis_table_size);
        if slots > MAX_CHASSIS_SLOTS {
            return err(
                "dataplane.chassis_table_size",
                format!(
                    "{} slots for each of {} chassis is {slots} in all; at most {MAX_CHASSIS_SLOTS}",
                    self.dataplane.chassis_table_size,
                    self.chassis.len()
                ),
            );
        }
        if self.nodes.is_empty() {
            return err("nodes", "at least one node is needed");
        }
        let vips: BTreeSet<IpAddr> = self.vips.iter().map(|v| v.address).collect();
        let own = self.own_addresses();
        let node_ports: Vec<&str> =
            self.ports.iter().filter(|p| p.role == PortRole::Node).map(|p| p.name.as_str()).collect();
        let mut names = BTreeSet::new();
        let mut ips = BTreeSet::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let f = |k: &str| format!("nodes[{i}].{k}");
            check_name(f("name"), &n.name, MAX_NAME)?;
            if !names.insert(n.name.as_str()) {
                return err(f("name"), format!("duplicate node {:?}", n.name));
            }
            if !chassis.contains(n.chassis.as_str()) {
                return err(f("chassis"), format!("unknown chassis {:?} (declare it under [[chassis]])", n.chassis));
            }
            if n.mac.is_multicast() || n.mac.is_zero() {
                return err(f("mac"), format!("{} is not a unicast address", n.mac));
            }
            if vips.contains(&n.ip) {
                return err(f("ip"), format!("{} is also a VIP", n.ip));
            }
            if let Some(o) = own.get(&n.ip) {
                return err(f("ip"), format!("{} is also the appliance's own address {o}", n.ip));
            }
            if !ips.insert(n.ip) {
                return err(f("ip"), format!("{} is used by another node", n.ip));
            }
            if n.weight > 1_000_000 {
                return err(f("weight"), format!("{} exceeds 1000000", n.weight));
            }
            let port = match &n.port {
                Some(p) if !node_ports.contains(&p.as_str()) => {
                    return err(f("port"), format!("{p:?} is not a port with role = \"node\""));
                }
                Some(p) => p.as_str(),
                None if node_ports.len() == 1 || self.role == Role::Spine => node_ports[0],
                None => return err(f("port"), "several node ports exist: name the one this node is reached through"),
            };
            if n.forward == ForwardMode::Ipip && self.role != Role::Spine {
                let p = self.ports.iter().find(|p| p.name == port).expect("checked above");
                if !p.addresses.iter().any(|a| a.is_ipv4() == n.ip.is_ipv4()) {
                    return err(
                        f("forward"),
                        format!("ipip needs an address of the node's family on port {port:?} (the tunnel source)"),
                    );
                }
            }
        }
        if !self.nodes.iter().any(|n| n.weight > 0 && n.state == NodeState::Active) {
            return err("nodes", "no node is active with a weight above 0: nothing could take traffic");
        }
        if self.nodes.len() as u64 * 20 > self.dataplane.table_size as u64 {
            return err(
                "dataplane.table_size",
                format!(
                    "{} slots are too few for {} nodes (at least 20 per node; 100 per node balances well)",
                    self.dataplane.table_size,
                    self.nodes.len()
                ),
            );
        }
        if self.nodes.len() > 4096 {
            return err("nodes", format!("{} nodes; at most 4096", self.nodes.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::is_prime;

    #[test]
    fn primes() {
        assert!(is_prime(65537) && is_prime(251) && is_prime(2) && !is_prime(65535) && !is_prime(1) && !is_prime(0));
    }
}
