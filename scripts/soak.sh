#!/usr/bin/env bash
# A soak of the real sluice in the namespace lab (scripts/lab.sh, single layout, 4 nodes running echo
# servers) under hostile traffic mixed with real TCP:
#   - both ports take a stream of hostile frames: the client pcap is sent from the client namespace's
#     eth0 (into sluice's client port), the node pcap from the node bridge's end of sluice's node link
#     (into its node port), each over and over at PPS frames a second (lab_tcp.py replay);
#   - 64 real TCP connections through the VIP each write 2 KB every 100 ms and check every echoed byte;
#   - health checks (TCP, every 200 ms) and controller-VM affinity are on.
# Every 10 s it records sluice's resident memory, how long the console took to answer `stats`, and the
# packets received. At the end it stops sluice with SIGTERM, which must exit 0 (every mbuf back in its
# pool, counters balanced) within 5 s.
#
#   scripts/soak.sh CLIENT_PCAP NODE_PCAP [SECONDS] [PPS]      (default 600 s, 2000 frames/s per port)
#
# The pcaps come from the pipeline fuzzer (`fuzz_pipeline --pcap-out`): truncations, spoofed RSTs,
# fragments, ARP, fan-out and peer frames and their mutations. Prints one line per sample, then a summary
# line "soak: N s, ... rss first/last/max KiB ..., console max ms ..., tcp ..., exit ..." and exits
# non-zero when memory grew by more than 10 % after the first minute, the console missed a sample, a TCP
# connection saw a wrong byte or an error other than a reset, or sluice did not stop cleanly. Needs root
# (namespaces); it uses the lab's names, so no other lab may run at the same time.
set -euo pipefail
cd "$(dirname "$0")/.."
client=$(realpath "${1:?client pcap}")
node=$(realpath "${2:?node pcap}")
secs=${3:-600}
pps=${4:-2000}
bin=target/release
[ -x "$bin/sluice" ] && [ -x "$bin/sluicectl" ] || { echo "soak.sh: build release first (cargo build --release)" >&2; exit 2; }
dir=$(mktemp -d /tmp/sluice-soak.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -n "${pid:-}" ] && kill -9 "$pid" 2>/dev/null || true
  scripts/lab.sh down >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
pid=
scripts/lab.sh up 4 single >/dev/null
for i in 1 2 3 4; do
  ip netns exec "sl-n$i" python3 scripts/lab_tcp.py server 2049 >/dev/null 2>&1 &
  pids+=($!)
done
LAB_NODES=4 LAB_HEALTH=tcp LAB_AFFINITY=1 LAB_PREFIX="sluice-soak-$$" scripts/lab.sh config "$dir/soak.toml" single
printf '\n[console]\nsocket = "%s"\n' "$dir/console.sock" >> "$dir/soak.toml"
"$bin/sluice" --config "$dir/soak.toml" --stats-interval-ms 0 --stats-json "$dir/summary.json" \
  > /dev/null 2> "$dir/stderr" &
pid=$!
ctl() { timeout 5 "$bin/sluicectl" "$@" --socket "$dir/console.sock"; }
up=0
for _ in $(seq 1 100); do
  if [ -S "$dir/console.sock" ] && [ "$(ctl health --json 2>/dev/null | grep -o '"health": *"up"' | wc -l)" -ge 4 ]; then
    up=1
    break
  fi
  sleep 0.2
done
[ "$up" = 1 ] || { echo "soak.sh: sluice did not come up with 4 healthy nodes" >&2; tail -20 "$dir/stderr" >&2; exit 1; }
# Affinity binds the client to the CVM that serves it first (the table learns from that node's return
# traffic): open one connection and let the binding publish, so the bulk connections start where they stay.
ip netns exec sl-cli python3 scripts/lab_tcp.py connect 10.10.0.1 2049
sleep 1
ip netns exec sl-cli python3 scripts/lab_tcp.py bulk 10.10.0.1 2049 64 100000 40000 2048 100 > "$dir/tcp.jsonl" &
bulk=$!
pids+=("$bulk")
ip netns exec sl-cli python3 scripts/lab_tcp.py replay eth0 "$client" "$pps" 0 > "$dir/replay-client.jsonl" &
pids+=($!)
python3 scripts/lab_tcp.py replay sln0b "$node" "$pps" 0 > "$dir/replay-node.jsonl" &
pids+=($!)
first=0 last=0 max=0 worst=0 missed=0 samples=0 base=0
t0=$(date +%s)
while [ $(($(date +%s) - t0)) -lt "$secs" ]; do
  sleep 10
  kill -0 "$pid" 2>/dev/null || break
  rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
  a=$(date +%s%N)
  if out=$(ctl stats --json 2>/dev/null); then
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
# Stop the traffic (the TCP client reports every connection still open), then sluice.
for p in "${pids[@]:4}"; do kill -TERM "$p" 2>/dev/null || true; done
wait "${pids[@]:4}" 2>/dev/null || true
set +e
kill -TERM "$pid" 2>/dev/null
t=$(date +%s%N)
for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
stop_ms=$((($(date +%s%N) - t) / 1000000))
kill -9 "$pid" 2>/dev/null
wait "$pid"
rc=$?
set -e
pid=
verdict=$(python3 - "$dir/summary.json" "$dir/tcp.jsonl" "$dir/replay-client.jsonl" "$dir/replay-node.jsonl" <<'EOF'
import json, sys
out = []
try:
    s = json.load(open(sys.argv[1]))
    out.append(f"rx {s['rx']} tx {s['tx']} dropped {s['dropped']} balanced {str(s['counters_balance']).lower()} "
               f"mbufs in use {s['mempool_in_use_at_exit']}")
except Exception as e:
    out.append(f"no summary ({e})")
ev = [json.loads(l) for l in open(sys.argv[2]) if l.startswith("{")]
kinds = {}
for e in ev:
    kinds[e["ev"]] = kinds.get(e["ev"], 0) + 1
echoes = sum(e.get("echoes", 0) for e in ev if e["ev"] in ("done", "reset", "error"))
out.append(f"tcp up {kinds.get('up', 0)} done {kinds.get('done', 0)} reset {kinds.get('reset', 0)} "
           f"error {kinds.get('error', 0)} echoes {echoes}")
for side, path in (("client", sys.argv[3]), ("node", sys.argv[4])):
    r = [json.loads(l) for l in open(path) if l.startswith("{")]
    out.append(f"hostile {side} {r[-1]['sent'] if r else '?'}")
print(", ".join(out))
EOF
)
echo "soak: ${secs} s, ${samples} samples, rss first/last/max ${first}/${last}/${max} KiB, console max ${worst} ms, missed ${missed}, ${verdict}, stop ${stop_ms} ms, exit ${rc}"
grow=0
[ "$base" -gt 0 ] && [ "$last" -gt $((base + base / 10)) ] && grow=1
bad=0
case "$verdict" in *" error 0 "*) ;; *) bad=1 ;; esac
case "$verdict" in *"balanced true mbufs in use 0"*) ;; *) bad=1 ;; esac
if [ "$rc" != 0 ] || [ "$missed" != 0 ] || [ "$grow" = 1 ] || [ "$bad" = 1 ] || [ "$stop_ms" -gt 5000 ]; then
  tail -20 "$dir/stderr" >&2
  grep -m5 '"error"' "$dir/tcp.jsonl" >&2 || true
  exit 1
fi
