#!/usr/bin/env bash
# The demo appliance on DPDK virtual devices: no NIC and no hugepages needed.
#
# Installs what is missing, builds release, synthesises client traffic (thousands of TCP and UDP flows to
# an IPv4 and an IPv6 VIP, with some ARP and ICMP) and the nodes' return traffic into pcaps, and runs
# sluice on net_pcap devices that replay them endlessly (infinite_rx) for DURATION seconds, printing Mpps
# per worker, share per chassis and node, and drops by reason once a second, then a summary.
#
#   DURATION=10 FLOWS=4000 FRAME_SIZE=128 scripts/demo.sh
# CAPTURE=1 also writes what sluice sends to demo-out/{client,node}-out.pcap (a short run: the files grow
# by hundreds of MB per second).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
FLOWS=${FLOWS:-4000}
FRAME_SIZE=${FRAME_SIZE:-128}
out=demo-out
bash scripts/install-deps.sh
cargo build --release --quiet
mkdir -p "$out"
target/release/sluice-perf synth --client "$out/client-in.pcap" --node "$out/node-in.pcap" \
  --flows "$FLOWS" --frame-size "$FRAME_SIZE"
client_dev="$PWD/$out/client-in.pcap"
node_dev="$PWD/$out/node-in.pcap"
if [ "${CAPTURE:-0}" = 1 ]; then
  client_dev="$client_dev,tx_pcap=$PWD/$out/client-out.pcap"
  node_dev="$node_dev,tx_pcap=$PWD/$out/node-out.pcap"
fi
sed -e "s|@CLIENT_IN@|$client_dev|" -e "s|@NODE_IN@|$node_dev|" examples/demo.toml > "$out/demo.toml"
echo "== sluice demo: $FLOWS flows, $FRAME_SIZE B frames, no hugepages, ${DURATION}s; config $out/demo.toml =="
exec target/release/sluice --config "$out/demo.toml" --duration "$DURATION" --stats-json "$out/summary.json"
