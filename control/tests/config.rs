//! Configuration parsing and validation: the example parses, and each kind of bad input is rejected
//! with an error naming the field.

use sluice_control::config::{Config, ForwardMode, NodeState};

const EXAMPLE: &str = include_str!("../../examples/demo.toml");

fn example() -> String {
    EXAMPLE.replace("@CLIENT_IN@", "in.pcap").replace("@NODE_IN@", "ret.pcap")
}

fn reject(text: &str) -> (String, String) {
    let e = Config::from_toml(text).expect_err("config should be rejected");
    (e.field, e.problem)
}

#[test]
fn example_parses() {
    let c = Config::from_toml(&example()).unwrap();
    assert_eq!(c.worker_lcores(), &[1]);
    assert_eq!(c.nodes.len(), 4);
    assert_eq!(c.nodes[3].forward, ForwardMode::Ipip);
    assert_eq!(c.nodes[0].state, NodeState::Active);
    let args = c.eal_args();
    assert!(args.windows(2).any(|w| w[0] == "--vdev" && w[1].starts_with("net_pcap0,")));
    assert!(args.contains(&"--no-pci".to_string()) && args.contains(&"--no-huge".to_string()));
    assert_eq!(c.ports[0].dev_name(), "net_pcap0");
}

#[test]
fn duplicate_node() {
    let t = example().replace("name = \"a2\"", "name = \"a1\"");
    let (field, problem) = reject(&t);
    assert_eq!(field, "nodes[1].name");
    assert!(problem.contains("duplicate node \"a1\""), "{problem}");
}

#[test]
fn unknown_chassis() {
    let t = example().replacen("chassis = \"chassis-b\"", "chassis = \"chassis-z\"", 1);
    let (field, problem) = reject(&t);
    assert_eq!(field, "nodes[2].chassis");
    assert!(problem.contains("chassis-z"), "{problem}");
}

#[test]
fn every_weight_zero() {
    let t = example().replace("weight = 100", "weight = 0");
    let (field, problem) = reject(&t);
    assert_eq!(field, "nodes");
    assert!(problem.contains("weight above 0"), "{problem}");
}

#[test]
fn vip_that_is_a_node_address() {
    let t = example().replace("ip = \"198.51.100.11\"", "ip = \"10.10.0.1\"");
    let (field, problem) = reject(&t);
    assert_eq!(field, "nodes[0].ip");
    assert!(problem.contains("also a VIP"), "{problem}");
}

#[test]
fn vip_that_is_an_own_address() {
    let t = example().replace("address = \"10.10.0.1\"", "address = \"192.0.2.1\"");
    let (field, _) = reject(&t);
    assert_eq!(field, "vips[0].address");
}

#[test]
fn malformed_mac() {
    let t = example().replace("mac = \"02:00:00:00:0a:02\"", "mac = \"02:00:00:00:0a\"");
    let (field, problem) = reject(&t);
    assert!(field.starts_with("mac (line "), "{field}");
    assert!(problem.contains("malformed MAC address \"02:00:00:00:0a\""), "{problem}");
}

#[test]
fn multicast_node_mac() {
    let t = example().replace("mac = \"02:00:00:00:0a:02\"", "mac = \"01:00:5e:00:00:01\"");
    assert_eq!(reject(&t).0, "nodes[1].mac");
}

#[test]
fn unknown_field_and_bad_values() {
    let (field, problem) = reject(&example().replace("weight = 100\n", "wieght = 100\n"));
    assert!(field.contains("wieght"), "{field}: {problem}");
    assert_eq!(reject(&example().replace("table_size = 65537", "table_size = 65536")).0, "dataplane.table_size");
    assert_eq!(reject(&example().replace("lcores = \"0,1\"", "lcores = \"0\"")).0, "eal.lcores");
    assert_eq!(reject(&example().replace("burst = 32", "burst = 0")).0, "dataplane.burst");
    assert_eq!(reject(&example().replace("hash_key = \"microsoft\"", "hash_key = \"abcd\"")).0, "hash_key (line 12)");
    assert_eq!(reject(&example().replace("gateway_mac = \"02:00:00:00:00:fe\"\n", "")).0, "ports[0].gateway_mac");
}

#[test]
fn ipip_needs_a_tunnel_source() {
    let t =
        example().replace("addresses = [\"198.51.100.1\", \"2001:db8:100::1\"]", "addresses = [\"2001:db8:100::1\"]");
    assert_eq!(reject(&t).0, "nodes[3].forward");
}

#[test]
fn cpu_map_becomes_lcores_argument() {
    let c = Config::from_toml(&example().replace("lcores = \"0,1\"", "lcores = \"0-2\"\ncpus = \"0,1,1\"")).unwrap();
    assert!(c.eal_args().contains(&"--lcores=0@0,1@1,2@1".to_string()));
    assert_eq!(c.worker_lcores(), &[1, 2]);
    assert_eq!(reject(&example().replace("lcores = \"0,1\"", "lcores = \"0,1\"\ncpus = \"0\"")).0, "eal.cpus");
}

#[test]
fn node_ip_duplicate() {
    let t = example().replace("ip = \"198.51.100.12\"", "ip = \"198.51.100.11\"");
    assert_eq!(reject(&t).0, "nodes[1].ip");
}

/// The example with `section` inserted before the first port.
fn with(section: &str) -> String {
    example().replacen("[[ports]]", &format!("{section}\n\n[[ports]]"), 1)
}

#[test]
fn affinity_settings_are_checked() {
    let ok = with("[affinity]\nenabled = true\nclient_id = \"mac\"").replacen(
        "[[vips]]\naddress = \"10.10.0.1\"",
        "[[vips]]\naffinity = true\naddress = \"10.10.0.1\"",
        1,
    );
    let c = Config::from_toml(&ok).unwrap();
    assert!(c.affinity.enabled && c.vips[0].affinity && !c.vips[1].affinity);
    let off = example().replacen(
        "[[vips]]\naddress = \"10.10.0.1\"",
        "[[vips]]\naffinity = true\naddress = \"10.10.0.1\"",
        1,
    );
    assert_eq!(reject(&off), ("vips[0].affinity".into(), "needs [affinity] enabled = true".into()));
    for (bad, field) in [
        ("[affinity]\nidle_timeout_ms = 0", "affinity.idle_timeout_ms"),
        ("[affinity]\nmax_entries = 0", "affinity.max_entries"),
        ("[affinity]\nmax_entries_per_prefix = 0", "affinity.max_entries_per_prefix"),
        ("[affinity]\nrebalance_interval_ms = 5", "affinity.rebalance_interval_ms"),
        ("[affinity]\npublish_interval_ms = 1", "affinity.publish_interval_ms"),
        ("[affinity]\nreport_queue = 1", "affinity.report_queue"),
        ("[affinity]\nrebalance_margin = nan", "affinity.rebalance_margin"),
    ] {
        assert_eq!(reject(&with(bad)).0, field, "{bad}");
    }
    assert!(reject(&with("[affinity]\nclient_id = \"vm\"")).1.contains("unknown variant"));
}

#[test]
fn health_settings_are_checked() {
    let c = Config::from_toml(&with("[health]\nenabled = true\ncheck = \"icmp\"\ninterval_ms = 200\ntimeout_ms = 100"))
        .unwrap();
    assert_eq!(c.health.interval_ms, 200);
    for (bad, field) in [
        ("[health]\ninterval_ms = 5", "health.interval_ms"),
        ("[health]\ntimeout_ms = 2000", "health.timeout_ms"),
        ("[health]\nrise = 0", "health.rise"),
        ("[health]\nfall = 101", "health.fall"),
        ("[health]\nport = 0", "health.port"),
        // b2 is reached by IP-in-IP: not an ARP neighbour.
        ("[health]\nenabled = true\ncheck = \"arp\"", "health.check"),
    ] {
        assert_eq!(reject(&with(bad)).0, field, "{bad}");
    }
    // A node whose family the node port has no address of cannot be checked.
    let no_v4 = with("[health]\nenabled = true")
        .replace("addresses = [\"198.51.100.1\", \"2001:db8:100::1\"]", "addresses = [\"2001:db8:100::1\"]");
    let (field, problem) = reject(&no_v4);
    assert!(field.starts_with("nodes[") && field.ends_with("].ip"), "{field}: {problem}");
}

#[test]
fn reset_settings_are_checked() {
    let c = Config::from_toml(&with("[resets]\nmoved_window_ms = 3000\nprefix_rate_per_sec = 5\nprefix_burst = 2"))
        .unwrap();
    assert_eq!((c.resets.moved_window_ms, c.resets.prefix_rate_per_sec, c.resets.prefix_burst), (3000, 5, 2));
    let d = Config::from_toml(&example()).unwrap().resets;
    assert_eq!((d.moved_window_ms, d.prefix_rate_per_sec, d.prefix_burst), (10_000, 200, 64));
    assert_eq!(d.reprobe_ms, 600);
    let off = Config::from_toml(&with("[resets]\nwindow_ms = 500\nreprobe_ms = 0")).unwrap().resets;
    assert_eq!((off.window_ms, off.reprobe_ms), (500, 0), "a short window with no second round");
    for (bad, field) in [
        ("[resets]\nwindow_ms = 5", "resets.window_ms"),
        ("[resets]\nburst = 0", "resets.rate_per_sec"),
        ("[resets]\ntable_entries = 100", "resets.table_entries"),
        ("[resets]\nmoved_window_ms = 50", "resets.moved_window_ms"),
        ("[resets]\nmoved_window_ms = 700000", "resets.moved_window_ms"),
        ("[resets]\nreprobe_ms = 2000", "resets.reprobe_ms"),
        ("[resets]\nwindow_ms = 500", "resets.reprobe_ms"),
        ("[resets]\nprefix_rate_per_sec = 0", "resets.prefix_rate_per_sec"),
        ("[resets]\nprefix_burst = 0", "resets.prefix_rate_per_sec"),
    ] {
        assert_eq!(reject(&with(bad)).0, field, "{bad}");
    }
}

/// The example with its first VIP a portal VIP (2049 balanced, 3260 the portal's) and `portal` appended.
fn with_portal(portal: &str) -> String {
    let t = example().replacen("ports = [2049, 3260]", "ports = [2049]\nportal = \"iscsi\"", 1);
    format!("{t}\n{portal}\n")
}

const TARGETS: &str = "[[portal.targets]]\nname = \"iqn.2026-12.org.example:vol1\"\n\n[[portal.targets]]\nname = \
                       \"iqn.2026-12.org.example:vol2\"\ngroup = \"db\"";

#[test]
fn portal_settings_are_checked() {
    let c = Config::from_toml(&with_portal(TARGETS)).unwrap();
    assert_eq!(c.vips[0].portal, sluice_control::config::PortalKind::Iscsi);
    assert_eq!((c.portal.port, c.portal.connections, c.portal.targets.len()), (3260, 64, 2));
    assert_eq!(c.portal.targets[1].group.as_deref(), Some("db"));
    assert_eq!(reject(&with_portal("")).0, "portal.targets");
    let listed = example().replacen("ports = [2049, 3260]", "ports = [2049, 3260]\nportal = \"iscsi\"", 1);
    assert_eq!(reject(&format!("{listed}\n{TARGETS}\n")).0, "vips[0].ports");
    let udp = with_portal(TARGETS).replacen(
        "protocols = [\"tcp\", \"udp\"]\nports = [2049]",
        "protocols = [\"udp\"]\nports = [2049]",
        1,
    );
    assert_eq!(reject(&udp).0, "vips[0].protocols");
    for (bad, field) in [
        ("[portal]\nconnections = 0", "portal.connections"),
        ("[portal]\nconnections = 5000", "portal.connections"),
        ("[portal]\nconnections = 4\nconnections_per_client = 5", "portal.connections_per_client"),
        ("[portal]\nconnections_per_client = 0", "portal.connections_per_client"),
        ("[portal]\nidle_timeout_ms = 10", "portal.idle_timeout_ms"),
        ("[portal]\nidle_timeout_ms = 5000\nsession_timeout_ms = 1000", "portal.session_timeout_ms"),
        ("[portal]\nmax_pdu_bytes = 100", "portal.max_pdu_bytes"),
        ("[portal]\nport = 0", "portal.port"),
    ] {
        assert_eq!(reject(&with_portal(&format!("{bad}\n\n{TARGETS}"))).0, field, "{bad}");
    }
    for (name, problem) in [
        ("IQN.2026-12.org.example:x", "does not start with"),
        ("iqn.2026-12.org.example:Vol", "lower-case"),
        ("iqn.2026-12.org.example:a b", "lower-case"),
    ] {
        let t = format!("[[portal.targets]]\nname = \"{name}\"");
        let (field, why) = reject(&with_portal(&t));
        assert_eq!(field, "portal.targets[0].name");
        assert!(why.contains(problem), "{name}: {why}");
    }
    let twice = format!("{TARGETS}\n\n[[portal.targets]]\nname = \"iqn.2026-12.org.example:vol1\"");
    assert_eq!(reject(&with_portal(&twice)).0, "portal.targets[2].name");
    let long = format!("[[portal.targets]]\nname = \"iqn.2026-12.org.example:{}\"", "a".repeat(200));
    assert_eq!(reject(&with_portal(&long)).0, "portal.targets[0].name");
    let chassis =
        with_portal(TARGETS).replacen("[eal]", "role = \"chassis\"\nthis_chassis = \"chassis-a\"\n\n[eal]", 1);
    assert_eq!(reject(&chassis).0, "vips[0].portal");
}
