//! Jumbo frames through the real binary on pcap devices: with both ports at MTU 9000 (and the default
//! mbuf size, which the pool raises to hold a 9000-byte frame), 9000-byte TCP segments reach MAC-mode
//! nodes whole, while those whose flow goes to the IP-in-IP node, which no longer fit once encapsulated,
//! are answered with ICMP fragmentation-needed carrying MTU 8980; an NFSv3 WRITE of 8 KB arrives as one
//! datagram and is keyed on its file handle and region (no fragment fallback); every mbuf comes back and
//! the counters balance. Needs root (EAL).

mod support;

use std::process::Command;

use serde_json::Value;
use support::*;

/// A client TCP segment of `ip_len` bytes of IP with DF set.
fn segment(sport: u16, ip_len: usize) -> Vec<u8> {
    let mut f = tcp4([192, 0, 2, 7], sport, VIP4, 2049, &vec![0x6b; ip_len - 40]);
    f[14 + 6] |= 0x40;
    f[24..26].fill(0);
    let mut s = ones_sum(&f[14..34]);
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    f[24..26].copy_from_slice(&(!(s as u16)).to_be_bytes());
    f
}

/// An NFSv3 WRITE call (RFC 1813, ONC RPC with AUTH_UNIX) of `data` bytes at `offset` to handle `fh`.
fn nfs3_write(xid: u32, fh: &[u8], offset: u64, data: usize) -> Vec<u8> {
    fn opaque(v: &mut Vec<u8>, b: &[u8]) {
        v.extend((b.len() as u32).to_be_bytes());
        v.extend(b);
        v.resize(v.len() + (4 - b.len() % 4) % 4, 0);
    }
    let mut v = Vec::new();
    for w in [xid, 0, 2, 100_003, 3, 7, 1] {
        v.extend(w.to_be_bytes());
    }
    let mut cred = Vec::new();
    cred.extend(0x5eedu32.to_be_bytes());
    opaque(&mut cred, b"client-vm");
    for w in [1000u32, 1000, 0] {
        cred.extend(w.to_be_bytes());
    }
    opaque(&mut v, &cred);
    v.extend([0u8; 8]); // AUTH_NONE verifier
    opaque(&mut v, fh);
    v.extend(offset.to_be_bytes());
    v.extend((data as u32).to_be_bytes());
    v.extend(2u32.to_be_bytes()); // FILE_SYNC
    opaque(&mut v, &vec![0x77; data]);
    v
}

#[test]
fn nine_thousand_byte_frames_reach_mac_nodes_whole_and_ipip_ones_get_fragmentation_needed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut client: Vec<Vec<u8>> = (3000..3064).map(|s| segment(s, 9000)).collect();
    // Two 8 KB WRITEs to an NFSv3 VIP, one datagram each (about 8.3 KB of IP).
    let writes: Vec<Vec<u8>> = [(1u64 << 20), (5u64 << 20)]
        .iter()
        .enumerate()
        .map(|(i, off)| {
            udp4([192, 0, 2, 8], 800 + i as u16, [10, 10, 0, 2], 2049, &nfs3_write(i as u32, &[0xab; 32], *off, 8192))
        })
        .collect();
    assert!(writes.iter().all(|w| w.len() > 8192 + 14 + 28 && w.len() <= 9014));
    client.extend(writes.iter().cloned());
    write_pcap(&d.join("client-in.pcap"), &client);
    write_pcap(&d.join("node-in.pcap"), &[]);
    let prefix = format!("sluice-jumbo-{}", std::process::id());
    let cfg = example_toml("X", "Y")
        .replace(
            "net_pcap0,rx_pcap=X,infinite_rx=1",
            &format!("net_pcap0,rx_pcap={0}/client-in.pcap,tx_pcap={0}/client-out.pcap", d.display()),
        )
        .replace(
            "net_pcap1,rx_pcap=Y,infinite_rx=1",
            &format!("net_pcap1,rx_pcap={0}/node-in.pcap,tx_pcap={0}/node-out.pcap", d.display()),
        )
        .replace("file_prefix = \"sluice-demo\"", &format!("file_prefix = \"{prefix}\""))
        .replace("mbufs = 65535", "mbufs = 4095")
        .replacen(
            "[[chassis]]",
            "[[vips]]\naddress = \"10.10.0.2\"\nprotocols = [\"udp\"]\nkey = \"nfs3\"\n\n[[chassis]]",
            1,
        )
        .replace("gateway_mac = \"02:00:00:00:00:fe\"", "gateway_mac = \"02:00:00:00:00:fe\"\nmtu = 9000")
        .replace(
            "addresses = [\"198.51.100.1\", \"2001:db8:100::1\"]",
            "addresses = [\"198.51.100.1\", \"2001:db8:100::1\"]\nmtu = 9000",
        );
    let path = d.join("sluice.toml");
    std::fs::write(&path, console_in(cfg, d)).unwrap();
    let json = d.join("summary.json");
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["--config", path.to_str().unwrap(), "--exit-idle-ms", "700", "--stats-interval-ms", "0", "--stats-json"])
        .arg(&json)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        (s["counters_balance"].clone(), s["mempool_in_use_at_exit"].clone()),
        (Value::Bool(true), Value::from(0))
    );
    assert_eq!(s["rx"], client.len(), "{stdout}");
    assert_eq!(s["drops"]["multi_segment"], 0, "the pool holds 9000-byte frames in one mbuf: {stdout}");

    let to_nodes = read_pcap(&d.join("node-out.pcap"));
    let answers = read_pcap(&d.join("client-out.pcap"));
    assert!(!to_nodes.is_empty() && !answers.is_empty(), "{} to nodes, {} answers", to_nodes.len(), answers.len());
    assert_eq!(to_nodes.len() + answers.len(), client.len(), "each frame forwarded or answered");
    let (nfs, tcp): (Vec<&Vec<u8>>, Vec<&Vec<u8>>) = to_nodes.iter().partition(|f| f.ends_with(&[0x77; 64]));
    assert_eq!(nfs.len(), writes.len(), "the WRITEs reached nodes whole (MAC mode or IP-in-IP)");
    for f in tcp {
        assert_eq!(f.len(), 14 + 9000, "forwarded whole, MAC mode");
        assert_eq!(&f[14..34], &client.iter().find(|c| c[34..38] == f[34..38]).unwrap()[14..34]);
    }
    assert_eq!((s["keys"]["nfs3"].clone(), s["keys"]["fallback_fragment"].clone()), (Value::from(2), Value::from(0)));
    for a in &answers {
        assert_eq!((a[23], a[34], a[35]), (1, 3, 4), "ICMP fragmentation needed");
        assert_eq!(u16::from_be_bytes([a[40], a[41]]), 8980, "9000 less the 20-byte outer header");
    }
    assert_eq!(s["keys"]["too_big_sent"], answers.len(), "{stdout}");
}
