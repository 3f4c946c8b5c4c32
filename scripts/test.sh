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
echo "== all tests passed"
