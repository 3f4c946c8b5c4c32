//! Per-VIP keys on crafted frames: NFSv3 calls built by an independent encoder (Python's xdrlib, in
//! nfs3_calls.py) keep each file region on one node whichever client sends them; payload and client keys;
//! and every request without a readable key falls back to the flow key and is counted.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use sluice_control::config::{Config, ResetConfig};
use sluice_control::Topology;
use sluice_dataplane::pipeline::{process, Context, FrameBuf, KeyCounter, Verdict, WorkerState};
use support::*;

fn ctx(vip_key: &str) -> Context {
    let t = example_toml("in.pcap", "ret.pcap").replacen(
        "address = \"10.10.0.1\"\nprotocols = [\"tcp\", \"udp\"]\nports = [2049, 3260]",
        &format!("address = \"10.10.0.1\"\nprotocols = [\"tcp\", \"udp\"]\nports = [2049, 3260]\n{vip_key}"),
        1,
    );
    let cfg = Config::from_toml(&t).unwrap();
    Context::new(&cfg, Topology::build(&cfg), &[CLIENT_PORT_MAC, NODE_PORT_MAC], 1)
}

fn node(ctx: &Context, st: &mut WorkerState, frame: &[u8]) -> u16 {
    let mut buf = vec![0u8; 128 + frame.len() + 64];
    buf[128..128 + frame.len()].copy_from_slice(frame);
    let mut f = FrameBuf::new(&mut buf, 128, frame.len());
    match process(ctx, 0, &mut f, st, 1) {
        Verdict::Node { node, .. } => node,
        v => panic!("{v:?}"),
    }
}

fn state() -> WorkerState {
    WorkerState::new(&ResetConfig::default(), 1_000_000)
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

struct Call {
    name: String,
    fh: String,
    offset: u64,
    bytes: Vec<u8>,
}

fn calls() -> Vec<Call> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/nfs3_calls.py");
    let out = std::process::Command::new("python3").arg(script).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            Call {
                name: v["name"].as_str().unwrap().into(),
                fh: v["fh"].as_str().unwrap().into(),
                offset: v["offset"].as_u64().unwrap(),
                bytes: hex(v["call"].as_str().unwrap()),
            }
        })
        .collect()
}

#[test]
fn nfs3_calls_keep_each_file_region_on_one_node() {
    let ctx = ctx("key = \"nfs3\"\nnfs3_region_bytes = 1048576");
    let mut st = state();
    let all = calls();
    let keyed: Vec<&Call> =
        all.iter().filter(|c| matches!(c.name.as_str(), "getattr" | "read" | "write" | "commit")).collect();
    assert_eq!(keyed.len(), 16 * 25);
    // (handle, region) → node, whichever client and port sent it.
    let mut region_node: BTreeMap<(String, u64), u16> = BTreeMap::new();
    let mut file_nodes: BTreeMap<String, BTreeSet<u16>> = BTreeMap::new();
    for (i, c) in keyed.iter().enumerate() {
        for client in 0..4u8 {
            let f = udp4([172, 16, client, 1 + i as u8 % 200], 700 + i as u16 + client as u16, VIP4, 2049, &c.bytes);
            let n = node(&ctx, &mut st, &f);
            let region = if c.name == "getattr" { u64::MAX } else { c.offset >> 20 };
            let want = *region_node.entry((c.fh.clone(), region)).or_insert(n);
            assert_eq!(n, want, "{} of {} region {region} moved between clients", c.name, c.fh);
            file_nodes.entry(c.fh.clone()).or_default().insert(n);
        }
    }
    assert!(file_nodes.values().all(|n| n.len() > 1), "a file's regions spread over nodes: {file_nodes:?}");
    assert_eq!(st.keys[KeyCounter::Nfs3 as usize], 4 * keyed.len() as u64);
    assert_eq!(st.keys[KeyCounter::FallbackUnparsed], 0);
}

#[test]
fn unkeyed_and_truncated_calls_fall_back_to_the_flow_key() {
    let nfs = ctx("key = \"nfs3\"");
    let flow = ctx("");
    let mut st = state();
    let all = calls();
    let mut fallbacks = 0;
    for c in all.iter().filter(|c| matches!(c.name.as_str(), "lookup" | "mount" | "nfs4" | "fh65")) {
        let f = udp4([172, 16, 0, 9], 999, VIP4, 2049, &c.bytes);
        assert_eq!(node(&nfs, &mut st, &f), node(&flow, &mut state(), &f), "{} uses the flow key", c.name);
        fallbacks += 1;
    }
    // Every truncation of a READ call: never a panic, always the flow key, always counted.
    let read = &all.iter().find(|c| c.name == "read").unwrap().bytes;
    for len in 0..read.len() {
        let f = udp4([172, 16, 0, 9], 999, VIP4, 2049, &read[..len]);
        assert_eq!(node(&nfs, &mut st, &f), node(&flow, &mut state(), &f), "len {len}");
        fallbacks += 1;
    }
    assert_eq!(st.keys[KeyCounter::FallbackUnparsed], fallbacks);
    assert_eq!(st.keys[KeyCounter::Nfs3 as usize], 0);
    // A first fragment carries the RPC header but its later fragments do not: all use the flow key.
    let mut frag = udp4([172, 16, 0, 9], 999, VIP4, 2049, read);
    frag[20] = 0x20; // more fragments
    assert_eq!(node(&nfs, &mut st, &frag), node(&flow, &mut state(), &frag));
    assert_eq!(st.keys[KeyCounter::FallbackFragment], 1);
    fallbacks += 1;
    // TCP to an nfs3 VIP is keyed by flow (a per-segment key would split the connection), uncounted.
    let t = tcp4([172, 16, 0, 9], 999, VIP4, 2049, read);
    assert_eq!(node(&nfs, &mut st, &t), node(&flow, &mut state(), &t));
    assert_eq!(st.keys.iter().sum::<u64>(), fallbacks);
}

#[test]
fn payload_and_client_keys() {
    let p = ctx("key = \"payload\"\npayload_offset = 4\npayload_length = 8");
    let mut st = state();
    let mut nodes = BTreeSet::new();
    for vol in 0..64u64 {
        let mut body = vec![0xeeu8; 4];
        body.extend_from_slice(&vol.to_be_bytes());
        body.extend_from_slice(b"block request");
        let first = node(&p, &mut st, &udp4([172, 16, 1, 1], 5000, VIP4, 3260, &body));
        for client in 2..6u8 {
            body[0] = client; // bytes outside the field do not matter
            assert_eq!(node(&p, &mut st, &udp4([172, 16, 1, client], 6000 + client as u16, VIP4, 3260, &body)), first);
        }
        nodes.insert(first);
    }
    assert!(nodes.len() > 1);
    node(&p, &mut st, &udp4([172, 16, 1, 1], 5000, VIP4, 3260, b"short"));
    assert_eq!(st.keys[KeyCounter::Payload], 64 * 5);
    assert_eq!(st.keys[KeyCounter::FallbackUnparsed], 1);

    let c = ctx("key = \"client\"");
    for host in 1..50u8 {
        let a = node(&c, &mut st, &tcp4([172, 16, 2, host], 1000, VIP4, 2049, b""));
        for port in 1001..1010u16 {
            assert_eq!(node(&c, &mut st, &tcp4([172, 16, 2, host], port, VIP4, 2049, b"")), a);
            assert_eq!(node(&c, &mut st, &udp4([172, 16, 2, host], port, VIP4, 3260, b"x")), a);
        }
    }
}

#[test]
fn content_keys_are_validated() {
    let bad = |k: &str| {
        let t = example_toml("a", "b").replacen("ports = [2049, 3260]", &format!("ports = [2049, 3260]\n{k}"), 1);
        Config::from_toml(&t).unwrap_err().field
    };
    assert_eq!(bad("key = \"payload\""), "vips[0].payload_length");
    assert_eq!(bad("key = \"payload\"\npayload_length = 65"), "vips[0].payload_length");
    assert_eq!(bad("key = \"payload\"\npayload_length = 8\npayload_offset = 1470"), "vips[0].payload_offset");
    assert_eq!(bad("key = \"nfs3\"\nnfs3_region_bytes = 1000"), "vips[0].nfs3_region_bytes");
    assert_eq!(bad("payload_length = 4"), "vips[0].payload_length");
    assert!(bad("key = \"md5\"").contains("key"));
}
