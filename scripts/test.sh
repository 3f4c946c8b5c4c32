#!/usr/bin/env bash
# Runs every check and test: installs what is missing, then format, lints, unit and property tests,
# DPDK integration tests (the real sluice on virtual devices), and a smoke run of the demo and harness.
# Needs root for the DPDK tests (EAL) and for installing packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# The hugepage and launch tests change nr_hugepages and hugetlbfs mounts; another DPDK run doing the same
# at the same time makes them fail in ways that point nowhere near the cause, so refuse to start instead.
others=$(for p in sluice sluice-perf dpdk-testpmd; do pgrep -a -x "$p"; done || true)
if [ -n "$others" ]; then
  echo "test.sh: other DPDK runs are in progress; stop them first (they would race the hugepage tests):" >&2
  echo "$others" >&2
  exit 1
fi
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== shellcheck"
shellcheck -S warning scripts/*.sh .ci/run
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --quiet
echo "== demo smoke run (2 s)"
DURATION=2 FLOWS=500 bash scripts/demo.sh | tee /tmp/sluice-demo-smoke.log
grep -q "balanced" /tmp/sluice-demo-smoke.log
grep -q "0 of .* mbufs in use at exit" /tmp/sluice-demo-smoke.log
echo "== harness smoke run (sluice vs testpmd: 1 round of 1 s, no hugepages; latency; synth mix; tables; scaling; instruction counts; micro-benchmarks once each)"
target/release/sluice-perf compare --client demo-out/client-in.pcap --node demo-out/node-in.pcap \
  --rounds 1 --seconds 1 --huge no --out /tmp/sluice-perf-smoke | tee /tmp/sluice-perf-smoke.log
grep -q "sluice / macswap" /tmp/sluice-perf-smoke.log
test -s /tmp/sluice-perf-smoke/compare.svg
timeout 120 target/release/sluice-perf latency --loads 50 --seconds 0.5 --no-baseline --out /tmp/sluice-perf-smoke \
  | tee -a /tmp/sluice-perf-smoke.log
grep -q "| sluice (max" /tmp/sluice-perf-smoke.log
target/release/sluice-perf synth --client /tmp/sluice-perf-smoke/mix-c.pcap --node /tmp/sluice-perf-smoke/mix-n.pcap \
  --flows 300 --frame-mix 64:7,576:4,1514:1 --nfs3-pct 50 --rst-pct 10 | tee -a /tmp/sluice-perf-smoke.log
grep -q "NFSv3" /tmp/sluice-perf-smoke.log
# The mix through sluice: node RSTs judged under load (nothing moved, so no fan-out); counters must add up and every mbuf return.
target/release/sluice-perf compare --client /tmp/sluice-perf-smoke/mix-c.pcap --node /tmp/sluice-perf-smoke/mix-n.pcap \
  --rounds 1 --seconds 1 --huge no --out /tmp/sluice-perf-smoke/mix | tee -a /tmp/sluice-perf-smoke.log
target/release/sluice-perf tables --nodes 4,16 --table-sizes 4099,65537 --out /tmp/sluice-perf-smoke \
  | tee -a /tmp/sluice-perf-smoke.log
test -s /tmp/sluice-perf-smoke/tables.json
# Mpps against workers, 1 up to this machine's CPUs (the last count shares CPU 0 with the control lcore).
target/release/sluice-perf scale --client demo-out/client-in.pcap --node demo-out/node-in.pcap \
  --rounds 1 --seconds 1 --out /tmp/sluice-perf-smoke | tee -a /tmp/sluice-perf-smoke.log
grep -q "vs linear" /tmp/sluice-perf-smoke.log
test -s /tmp/sluice-perf-smoke/scale.svg
# Instructions per packet under callgrind (1 s of forwarding each, on the demo pcaps).
timeout 900 target/release/sluice-perf instructions --client demo-out/client-in.pcap --node demo-out/node-in.pcap \
  --seconds 1 --out /tmp/sluice-perf-smoke | tee -a /tmp/sluice-perf-smoke.log
grep -q "macswap / sluice, per packet" /tmp/sluice-perf-smoke.log
cargo test --quiet --release -p sluice-perf --bench micro
echo "== interrupted harness runs leave nothing behind (SIGTERM and SIGKILL to sluice-perf alone)"
bash scripts/test-interrupt.sh demo-out/client-in.pcap demo-out/node-in.pcap
echo "== the Debian package: built, inspected, installed, verified, purged"
bash scripts/test-package.sh
echo "== all tests passed"
