#!/usr/bin/env bash
# A soak of the real sluice under hostile traffic: both ports replay pcaps in a loop (net_pcap
# infinite_rx), health checks (every 200 ms) and controller-VM affinity are on, and every 10 s the script
# records the process's resident memory, how long the console took to answer `status`, and the packets
# received. At the end sluice must stop cleanly (exit 0: every mbuf back, counters balanced).
#
#   sudo scripts/soak.sh CLIENT_PCAP NODE_PCAP [SECONDS]      (default 600)
#
# The pcaps come from the pipeline fuzzer (`fuzz_pipeline --pcap-out`): truncations, spoofed RSTs,
# fragments, ARP, fan-out frames and their mutations. Prints one line per sample, then a summary line
# "soak: N s, rss first/last/max KiB ..., console max ms ..., rx ..., exit ..." and exits non-zero when
# memory grew by more than 10 % after the first minute, the console missed a sample, or sluice failed.
set -euo pipefail
cd "$(dirname "$0")/.."
client=${1:?client pcap}
node=${2:?node pcap}
secs=${3:-600}
bin=target/release
[ -x "$bin/sluice" ] && [ -x "$bin/sluicectl" ] || { echo "soak.sh: build release first (cargo build --release)" >&2; exit 2; }
dir=$(mktemp -d /tmp/sluice-soak.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
frames=$(($(stat -c %s "$client") / 60 + $(stat -c %s "$node") / 60 + 4096))
mbufs=$(( (frames < 65535 ? 65535 : frames) | 1 ))
sed -e "s|@CLIENT_IN@|$(realpath "$client")|" -e "s|@NODE_IN@|$(realpath "$node")|" \
  -e "s|file_prefix = \"sluice-demo\"|file_prefix = \"sluice-soak-$$\"|" \
  -e "s|mbufs = 65535|mbufs = $mbufs|" examples/demo.toml > "$dir/soak.toml"
cat >> "$dir/soak.toml" <<EOT

[console]
socket = "$dir/console.sock"

[health]
enabled = true
check = "tcp"
port = 2049
interval_ms = 200
timeout_ms = 100
rise = 2
fall = 3

[affinity]
enabled = true
EOT
# Affinity for the IPv4 VIP.
python3 - "$dir/soak.toml" <<'EOF'
import sys
p = sys.argv[1]
s = open(p).read()
s = s.replace('[[vips]]\naddress = "10.10.0.1"', '[[vips]]\naffinity = true\naddress = "10.10.0.1"', 1)
open(p, "w").write(s)
EOF
"$bin/sluice" --config "$dir/soak.toml" --duration "$secs" --stats-interval-ms 0 --stats-json "$dir/summary.json" \
  > /dev/null 2> "$dir/stderr" &
pid=$!
for _ in $(seq 1 100); do [ -S "$dir/console.sock" ] && break; sleep 0.2; done
first=0 last=0 max=0 worst=0 missed=0 samples=0 base=0
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  sleep 10
  kill -0 "$pid" 2>/dev/null || break
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  a=$(date +%s%N)
  if out=$(timeout 5 "$bin/sluicectl" stats --socket "$dir/console.sock" --json 2>/dev/null); then
    ms=$((($(date +%s%N) - a) / 1000000))
    rx=$(printf '%s' "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rx"])')
  else
    ms=-1 rx="?"
    missed=$((missed + 1))
  fi
  t=$(($(date +%s) - t0))
  samples=$((samples + 1))
  [ "$first" = 0 ] && first=$rss
  [ "$t" -ge 60 ] && [ "$base" = 0 ] && base=$rss
  last=$rss
  [ "$rss" -gt "$max" ] && max=$rss
  [ "$ms" -gt "$worst" ] && worst=$ms
  echo "soak: t=${t}s rss=${rss} KiB console=${ms} ms rx=${rx}"
done
set +e
wait "$pid"
rc=$?
set -e
verdict=$(python3 - "$dir/summary.json" <<'EOF'
import json, sys
try:
    s = json.load(open(sys.argv[1]))
    print(f"rx {s['rx']} tx {s['tx']} dropped {s['dropped']} balanced {s['counters_balance']} mbufs in use {s['mempool_in_use_at_exit']}")
except Exception as e:
    print(f"no summary ({e})")
EOF
)
echo "soak: ${secs} s, ${samples} samples, rss first/last/max ${first}/${last}/${max} KiB, console max ${worst} ms, missed ${missed}, ${verdict}, exit ${rc}"
grow=0
[ "$base" -gt 0 ] && [ "$last" -gt $((base + base / 10)) ] && grow=1
if [ "$rc" != 0 ] || [ "$missed" != 0 ] || [ "$grow" = 1 ]; then
  tail -20 "$dir/stderr" >&2
  exit 1
fi
