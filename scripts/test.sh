#!/usr/bin/env bash
# Runs every check and test: installs what is missing, then format, lints, unit and property tests,
# DPDK integration tests (the real sluice on virtual devices), and a smoke run of the demo and harness.
# Needs root for the DPDK tests (EAL) and for installing packages.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace --quiet
echo "== demo smoke run (2 s)"
DURATION=2 FLOWS=500 bash scripts/demo.sh | tee /tmp/sluice-demo-smoke.log
grep -q "balanced" /tmp/sluice-demo-smoke.log
grep -q "0 of .* mbufs in use at exit" /tmp/sluice-demo-smoke.log
echo "== harness smoke run (sluice vs testpmd: 1 round of 1 s, no hugepages; micro-benchmarks once each)"
target/release/sluice-perf compare --client demo-out/client-in.pcap --node demo-out/node-in.pcap \
  --rounds 1 --seconds 1 --huge no --out /tmp/sluice-perf-smoke | tee /tmp/sluice-perf-smoke.log
grep -q "sluice / macswap" /tmp/sluice-perf-smoke.log
test -s /tmp/sluice-perf-smoke/compare.svg
timeout 120 target/release/sluice-perf latency --loads 50 --seconds 0.5 --no-baseline --out /tmp/sluice-perf-smoke \
  | tee -a /tmp/sluice-perf-smoke.log
grep -q "| sluice (max" /tmp/sluice-perf-smoke.log
cargo test --quiet --release -p sluice-perf --bench micro
echo "== all tests passed"
