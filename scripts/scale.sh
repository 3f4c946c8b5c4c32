#!/usr/bin/env bash
# Mpps vs workers: runs sluice with 1..MAX workers, each polling its own queue of two net_pcap ports
# that replay CLIENT.pcap and NODE.pcap endlessly (infinite_rx; transmit goes to the pcap PMD's drop path),
# and prints one line per worker count: total Mpps, Mpps per worker, efficiency vs linear.
#
#   scripts/scale.sh CLIENT.pcap NODE.pcap MAX_WORKERS [SECONDS] [STEP]
# Environment: SLUICE (the binary, default target/release/sluice), EAL_EXTRA (further EAL arguments, e.g.
# "-d /path/librte_net_pcap.so.23" where DPDK is not installed), HUGE=1 (hugepages instead of --no-huge).
set -euo pipefail
client=$(realpath "$1") node=$(realpath "$2") max=$3 secs=${4:-4} step=${5:-1}
sluice=${SLUICE:-target/release/sluice}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
pkts=$(( ($(stat -c %s "$client") + $(stat -c %s "$node")) / 60 ))   # an upper bound on frames per queue pair
base=""
printf '%-8s %-12s %-14s %s\n' workers total_Mpps Mpps_per_worker efficiency
for w in $(seq 1 "$step" "$max"); do
  [ "$w" -ne 1 ] && [ "$step" -ne 1 ] && [ $(( (w - 1) % step )) -ne 0 ] && continue
  rxc="" rxn=""
  for _ in $(seq 1 "$w"); do rxc="$rxc,rx_pcap=$client"; rxn="$rxn,rx_pcap=$node"; done
  extra=""
  for a in ${EAL_EXTRA:-}; do extra="$extra\"$a\", "; done
  huge='no_huge = true'
  mem=$(( (w * pkts * 3) / 1000 + 512 ))
  [ "${HUGE:-0}" = 1 ] && huge='no_huge = false'
  sed -e "s|net_pcap0,rx_pcap=@CLIENT_IN@,infinite_rx=1|net_pcap0${rxc},infinite_rx=1|" \
      -e "s|net_pcap1,rx_pcap=@NODE_IN@,infinite_rx=1|net_pcap1${rxn},infinite_rx=1|" \
      -e "s|^lcores = .*|lcores = \"0-$w\"|" \
      -e "s|^no_huge = .*|$huge|" \
      -e "s|^memory_mb = .*|memory_mb = $mem\nextra_args = [${extra%, }]|" \
      -e "s|^mbufs = .*|mbufs = $(( w * pkts + 8192 ))|" \
      -e "s|^file_prefix = .*|file_prefix = \"sluice-scale-$$\"|" \
      "$(dirname "$0")/../examples/demo.toml" > "$dir/w$w.toml"
  out=$("$sluice" --config "$dir/w$w.toml" --duration "$secs" --stats-interval-ms 0 2>"$dir/err") || { cat "$dir/err" >&2; exit 1; }
  total=$(echo "$out" | awk '/^worker on lcore/ {s += $5} END {printf "%.2f", s}')
  [ -z "$base" ] && base=$total
  awk -v w="$w" -v t="$total" -v b="$base" 'BEGIN {printf "%-8d %-12.2f %-14.2f %.2f\n", w, t, t / w, t / (w * b)}'
done
