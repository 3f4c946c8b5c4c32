#!/usr/bin/env bash
# Control-path costs under full load: the demo traffic (net_pcap infinite_rx) through a release sluice
# with controller-VM affinity on the IPv4 VIP, while sluicectl drives PUBLICATIONS snapshot publications
# (affinity pins/unpins, and node drains/undrains that rebuild the tables). Prints the adoption-time
# percentiles (publication → every worker runs on it) and the Mpps with and without affinity.
#
#   PUBLICATIONS=200 FLOWS=4000 FRAME_SIZE=128 scripts/bench-control.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${PUBLICATIONS:-200}
FLOWS=${FLOWS:-4000}
FRAME_SIZE=${FRAME_SIZE:-128}
out=bench-out
mkdir -p "$out"
cargo build --release --quiet
target/release/sluice-perf synth --client "$out/client-in.pcap" --node "$out/node-in.pcap" \
  --flows "$FLOWS" --frame-size "$FRAME_SIZE" >/dev/null
sock="$PWD/$out/console.sock"
config() { # AFFINITY(true|false)
  sed -e "s|@CLIENT_IN@|$PWD/$out/client-in.pcap|" -e "s|@NODE_IN@|$PWD/$out/node-in.pcap|" \
    -e "s|file_prefix = \"sluice-demo\"|file_prefix = \"sluice-bench-control\"|" examples/demo.toml |
    awk -v aff="$1" -v sock="$sock" '
      /^\[\[ports\]\]/ && !done { print "[console]\nsocket = \"" sock "\"\n\n[affinity]\nenabled = " aff "\n"; done = 1 }
      /^address = "10.10.0.1"/ { print; print "affinity = " aff; next }
      { print }'
}
run() { # AFFINITY SECONDS: starts sluice in the background ($! is its pid)
  config "$1" > "$out/control.toml"
  target/release/sluice --config "$out/control.toml" --duration "$2" --stats-interval-ms 0 \
    --stats-json "$out/control-$1.json" >"$out/control-$1.out" 2>"$out/control-$1.err" &
}
mpps() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('%.2f' % (s['rx']/s['seconds']/1e6))" "$1"; }

run false 5
wait $!
base=$(mpps "$out/control-false.json")
run true 30
pid=$!
until target/release/sluicectl status --socket "$sock" >/dev/null 2>&1; do sleep 0.2; done
sleep 1
ctl() { target/release/sluicectl "$@" --socket "$sock" >/dev/null; }
client=$(target/release/sluicectl affinity show --limit 1 --socket "$sock" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["entries"][0]["client"])')
for i in $(seq 1 "$N"); do
  case $((i % 4)) in
    1) ctl affinity pin "$client" a1 ;;
    2) ctl affinity unpin "$client" ;;
    3) ctl nodes drain b1 ;;
    0) ctl nodes undrain b1 ;;
  esac
done
target/release/sluicectl stats --socket "$sock" --json > "$out/control-stats.json"
kill -INT "$pid"; wait "$pid" || true
with=$(mpps "$out/control-true.json")
python3 - "$out/control-stats.json" "$base" "$with" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
a = s["adoption"]
print(f"publications {a['publications']}: adoption p50 {a['p50_us']} us, p99 {a['p99_us']} us, max {a['max_us']} us")
print(f"affinity entries {s['affinity']['entries']}, hits {s['keys']['affinity_hit']}, reports dropped {s['keys']['affinity_reports_dropped']}")
print(f"Mpps without affinity {sys.argv[2]}, with affinity on the IPv4 VIP {sys.argv[3]} (this run; 1 worker, no hugepages)")
PY
