//! Forged input against the reset path, end to end through real Linux TCP stacks (scripts/lab.sh, one
//! appliance, four nodes). The client port runs on net_pcap over the interface (libpcap hands over frames
//! as they are), not net_af_packet, whose PACKET_FANOUT group asks the kernel to reassemble IP fragments
//! before sluice sees them. Needs root (namespaces, EAL).

mod support;

use std::io::Read;
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use sluice_control::{Config, Topology};
use sluice_dataplane::hash::Toeplitz;
use support::lab::{self, Lab, Layout, CLIENT, VIP, VIP_PORT};

static ONE_LAB: Mutex<()> = Mutex::new(());

/// An off-path host knows a live connection's addresses and ports and sends a bare ACK for it as two IPv4
/// fragments. sluice hashes fragments on their addresses alone (later ones carry no ports), so they reach
/// a node that does not hold the connection, and that node answers with a RST. The RST must start no
/// fan-out (it does not come from the connection's node), so the real connection on its real node
/// survives and keeps echoing.
#[test]
fn a_bare_ack_sent_as_ip_fragments_cannot_reset_a_connection_on_another_node() {
    if support::skip_unless_root("network namespaces") {
        return;
    }
    let _g = ONE_LAB.lock().unwrap_or_else(|e| e.into_inner());
    let mut lab = Lab::up(4, Layout::Single);
    let cfg = lab.write_config("single", 4, &[]);
    let text = std::fs::read_to_string(&cfg).unwrap();
    let raw = text.replace("net_af_packet0,iface=slc0", "net_pcap0,rx_iface_in=slc0,tx_iface=slc0");
    assert_ne!(raw, text, "the client port's device is replaced");
    std::fs::write(&cfg, raw).unwrap();
    let appliance = lab.start_appliance("single", &cfg, "single");
    lab::wait_for_vip();

    // A victim whose flow goes to another node than its fragments do.
    let c = Config::load(&cfg).unwrap();
    let (topo, t) = (Topology::build(&c), Toeplitz::new(&c.dataplane.hash_key.bytes));
    let frags_go_to = topo.lookup(t.hash_v4(CLIENT, VIP, None)).unwrap();
    let sport = (47000..48000u16)
        .find(|p| topo.lookup(t.hash_v4(CLIENT, VIP, Some((*p, VIP_PORT)))) != Some(frags_go_to))
        .unwrap();
    let victim = lab.spawn(
        lab::lab_tcp("sl-cli", &["client", "10.10.0.1", "2049", "1", "5", &sport.to_string()]).stdout(Stdio::piped()),
    );
    std::thread::sleep(Duration::from_millis(1500));
    let attack = lab::lab_tcp("sl-cli", &["frag-acks", "192.0.2.100", "10.10.0.1", "2049", &sport.to_string(), "20"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(attack.success());
    let mut out = String::new();
    lab.children[victim].stdout.take().unwrap().read_to_string(&mut out).unwrap();
    let _ = lab.children[victim].wait();
    let done: serde_json::Value = out
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["ev"] == "done")
        .unwrap_or_else(|| panic!("the victim connection did not run to the end: {out}"));
    assert!(done["echoes"].as_u64().unwrap() >= 80, "the victim kept echoing: {out}");

    let (ok, err, s) = lab.stop_appliance(&appliance);
    assert!(ok, "{err}");
    assert_eq!(s["counters_balance"], true);
    assert_eq!(s["mempool_in_use_at_exit"], 0);
    let r = &s["resets"];
    // The fragments reached another node (the PMD passed them raw), which refused them with RSTs.
    assert!(r["not_owner"].as_u64().unwrap() >= 10, "{r}");
    assert_eq!(r["fanouts_started"], 0, "{r}");
    assert_eq!(r["frames_tier2"], 0, "{r}");
}
