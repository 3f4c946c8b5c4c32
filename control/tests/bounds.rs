//! Bounds and character sets: lcore and CPU lists are bounded before anything is expanded, names and the
//! EAL file prefix are limited to a safe character set, free text that reaches the launcher's line-based
//! facts has no control characters, and sizes that multiply are capped. Each bad input is refused with
//! the field named, never a panic; the console's `node_add` goes through the same checks.

use sluice_control::config::Config;
use sluice_control::console::{apply, Request};

const EXAMPLE: &str = include_str!("../../examples/demo.toml");

fn example() -> String {
    EXAMPLE.replace("@CLIENT_IN@", "in.pcap").replace("@NODE_IN@", "ret.pcap")
}

fn reject(text: &str) -> (String, String) {
    let e = Config::from_toml(text).expect_err("config should be rejected");
    (e.field, e.problem)
}

/// The example with `section` inserted before the first port.
fn with(section: &str) -> String {
    example().replacen("[[ports]]", &format!("{section}\n\n[[ports]]"), 1)
}

/// TOML basic-string spellings of bad names, and what the problem must mention.
const BAD_NAMES: &[(&str, &str)] = &[
    ("a\\nb", "'\\n'"),
    ("a b", "' '"),
    ("a/b", "'/'"),
    ("n\\u0153ud", "'œ'"),
    ("nœud", "'œ'"),
    ("a\\tb", "'\\t'"),
    ("a\\\"b", "'\"'"),
    ("a=b", "'='"),
    ("", "0 characters"),
    ("-a", "starts with \"-\""),
    (".", "starts with \".\""),
    ("..", "starts with \".\""),
];

#[test]
fn lcore_ranges_are_bounded_before_they_are_expanded() {
    for (lcores, expect) in [
        ("0-4294967295", "RTE_MAX_LCORE"),
        ("4294967295", "RTE_MAX_LCORE"),
        ("0-128", "RTE_MAX_LCORE"),
        ("0,1,200", "RTE_MAX_LCORE"),
        ("4294967296", "not a number"),
        ("0-99999999999999999999", "not a number"),
        ("0,1,1", "appears twice"),
        ("0-5,3", "appears twice"),
    ] {
        let t = example().replace("lcores = \"0,1\"", &format!("lcores = \"{lcores}\""));
        let (field, problem) = reject(&t);
        assert!(field.starts_with("lcores (line "), "{lcores}: {field}");
        assert!(problem.contains(expect), "{lcores}: {problem}");
    }
    // The largest list DPDK can take is fine (and then needs as many CPUs, if cpus is given).
    let all = Config::from_toml(&example().replace("lcores = \"0,1\"", "lcores = \"0-127\"")).unwrap();
    assert_eq!(all.worker_lcores().len(), 127);
}

#[test]
fn cpu_lists_are_bounded() {
    let cpus = |c: &str| example().replace("lcores = \"0,1\"", &format!("lcores = \"0,1\"\ncpus = \"{c}\""));
    assert!(Config::from_toml(&cpus("0,4095")).is_ok());
    for (c, expect) in [
        ("0,4294967295", "beyond"),
        ("0,4096", "beyond"),
        ("0,4294967296", "not a CPU number"),
        ("0,-1", "not a CPU number"),
        (&"1,".repeat(50_000), "more than 128"),
    ] {
        let (field, problem) = reject(&cpus(c));
        assert!(field.starts_with("cpus (line "), "{field}");
        assert!(problem.contains(expect), "{problem}");
        assert!(problem.len() < 300, "the message quotes a long list cut short: {problem}");
    }
}

#[test]
fn node_chassis_peer_and_port_names_use_a_safe_character_set() {
    let cases: Vec<(String, &str)> = vec![
        (example().replace("name = \"a2\"", "name = \"@\""), "nodes[1].name"),
        (example().replace("name = \"chassis-b\"", "name = \"@\""), "chassis[1].name"),
        (example().replace("name = \"nodes\"", "name = \"@\""), "ports[1].name"),
        (with("[[peers]]\nname = \"@\"\nmac = \"02:00:00:00:01:09\""), "peers[0].name"),
    ];
    for (template, field) in &cases {
        for (bad, expect) in BAD_NAMES {
            let t = template.replace("\"@\"", &format!("\"{bad}\""));
            let (f, problem) = reject(&t);
            assert_eq!(&f, field, "{bad}: {problem}");
            assert!(problem.contains(expect), "{field} = {bad:?}: {problem}");
            assert!(problem.contains("A-Z a-z 0-9 . _ -"), "{problem}");
        }
        let long = template.replace("\"@\"", &format!("\"{}\"", "n".repeat(65)));
        let (f, problem) = reject(&long);
        assert_eq!(&f, field);
        assert!(problem.contains("65 characters") && problem.contains("1..=64"), "{problem}");
    }
    // The longest name, and every allowed character, are accepted.
    let ok = format!("N0.d_e-{}", "x".repeat(57));
    assert_eq!(ok.len(), 64);
    let t = example().replace("name = \"a2\"", &format!("name = \"{ok}\"")).replace("chassis-b", "9.chassis_B");
    let t = t.replacen("[[ports]]", "[[peers]]\nname = \"a-9.x_y\"\nmac = \"02:00:00:00:01:09\"\n\n[[ports]]", 1);
    let c = Config::from_toml(&t).unwrap();
    assert_eq!(
        (c.nodes[1].name.as_str(), c.chassis[1].name.as_str(), c.peers[0].name.as_str()),
        (ok.as_str(), "9.chassis_B", "a-9.x_y")
    );
}

#[test]
fn file_prefix_is_a_short_safe_name() {
    let prefix = |p: &str| example().replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{p}\""));
    for (bad, expect) in BAD_NAMES {
        let (field, problem) = reject(&prefix(bad));
        assert_eq!(field, "eal.file_prefix", "{bad}");
        assert!(problem.contains(expect), "{bad:?}: {problem}");
    }
    let (field, problem) = reject(&prefix(&"p".repeat(33)));
    assert_eq!(field, "eal.file_prefix");
    assert!(problem.contains("1..=32"), "{problem}");
    let c = Config::from_toml(&prefix(&"p".repeat(32))).unwrap();
    assert_eq!(c.console_socket().to_str().unwrap(), format!("/run/sluice/{}.sock", "p".repeat(32)));
}

#[test]
fn text_on_the_launchers_lines_has_no_control_characters() {
    let t = example().replace("file_prefix = ", "extra_args = [\"--log-level\", \"a\\nb\"]\nfile_prefix = ");
    let (field, problem) = reject(&t);
    assert_eq!(field, "eal.extra_args[1]", "{problem}");
    assert!(problem.contains("control character '\\n'"), "{problem}");
    let t = example().replace("net_pcap1,rx_pcap=", "net_pcap1,\\nrx_pcap=");
    let (field, problem) = reject(&t);
    assert_eq!(field, "ports[1].device", "{problem}");
    assert!(problem.contains("control character '\\n'"), "{problem}");
    let (field, problem) = reject(&with("[console]\nsocket = \"/run/a\\nb.sock\""));
    assert_eq!(field, "console.socket", "{problem}");
    let (field, problem) = reject(&with(&format!("[console]\nsocket = \"/run/{}.sock\"", "s".repeat(100))));
    assert_eq!(field, "console.socket");
    assert!(problem.contains("107 bytes"), "{problem}");
}

#[test]
fn sizes_that_multiply_are_capped() {
    // Every declared chassis gets a tier-2 table: their slots together are capped.
    let mut many = String::new();
    for i in 0..20 {
        many += &format!("[[chassis]]\nname = \"x{i}\"\n\n");
    }
    let t = example().replace("chassis_table_size = 16381", "chassis_table_size = 16777213").replacen(
        "[[chassis]]",
        &format!("{many}[[chassis]]"),
        1,
    );
    let (field, problem) = reject(&t);
    assert_eq!(field, "dataplane.chassis_table_size", "{problem}");
    assert!(problem.contains("at most 268435456"), "{problem}");
    let mut lots = String::new();
    for i in 0..4097 {
        lots += &format!("[[chassis]]\nname = \"x{i}\"\n");
    }
    let (field, problem) = reject(&example().replacen("[[chassis]]", &format!("{lots}[[chassis]]"), 1));
    assert_eq!(field, "chassis", "{problem}");
    // A worker sleeps at most 10 ms when idle (it notices a stop only when it wakes).
    let idle = |us: u32| example().replace("burst = 32", &format!("burst = 32\nidle_sleep_us = {us}"));
    assert!(Config::from_toml(&idle(10_000)).is_ok());
    assert_eq!(reject(&idle(4_294_967_295)).0, "dataplane.idle_sleep_us");
}

#[test]
fn console_node_add_is_held_to_the_same_names() {
    let c = Config::from_toml(&example()).unwrap();
    let mut n = c.nodes[0].clone();
    n.ip = "198.51.100.99".parse().unwrap();
    for bad in ["bad name", "a\nb", "a/b", "nœud", "", "-x", &"n".repeat(65)] {
        n.name = bad.into();
        let e = apply(&c, &Request::NodeAdd { node: n.clone() }).expect_err(bad);
        assert_eq!(e.field, "nodes[4].name", "{bad:?}: {}", e.problem);
    }
    n.name = "a9".into();
    n.chassis = "chassis a".into();
    assert_eq!(apply(&c, &Request::NodeAdd { node: n.clone() }).unwrap_err().field, "nodes[4].chassis");
    n.chassis = "chassis-a".into();
    let added = apply(&c, &Request::NodeAdd { node: n }).unwrap().unwrap();
    assert_eq!(added.nodes[4].name, "a9");
}

#[test]
fn a_port_mtu_up_to_sixteen_thousand_raises_the_mbuf_data_room_and_beyond_is_refused() {
    let at = |mtu: u32| {
        example().replace(
            "gateway_mac = \"02:00:00:00:00:fe\"",
            &format!("gateway_mac = \"02:00:00:00:00:fe\"\nmtu = {mtu}"),
        )
    };
    let c = Config::from_toml(&example()).unwrap();
    assert_eq!(c.mbuf_data_room(), c.dataplane.mbuf_size, "1500 fits the default mbuf");
    let c = Config::from_toml(&at(9216)).unwrap();
    assert!(c.mbuf_data_room() >= 128 + 9216 + 26 && c.mbuf_data_room().is_multiple_of(64), "{}", c.mbuf_data_room());
    assert_eq!(reject(&at(16_001)), ("ports[0].mtu".into(), "16001 is outside 576..=16000".into()));
    assert_eq!(reject(&at(575)).0, "ports[0].mtu");
    let zero = example().replacen("burst = 32", "burst = 32\ntoo_big_per_sec = 0", 1);
    assert_eq!(reject(&zero).0, "dataplane.too_big_per_sec");
}
