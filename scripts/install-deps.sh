#!/usr/bin/env bash
# Installs what building and running sluice needs on Debian bookworm, only where missing:
# DPDK 22.11 (runtime, tools, headers), libclang (bindgen), pkg-config, and the tools the tests use
# (valgrind: sluice-perf instructions).
# Needs root (or sudo) when something is missing. Safe to run again.
set -euo pipefail

pkgs=(dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config iproute2 ethtool tcpdump python3 systemd kmod pciutils util-linux shellcheck valgrind)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
  else
    echo "install-deps: no Rust toolchain; install one with rustup (https://rustup.rs)" >&2
    exit 1
  fi
fi
rustup component add clippy rustfmt >/dev/null 2>&1 || true
pkg-config --atleast-version=22.11 libdpdk || { echo "install-deps: DPDK >= 22.11 not found by pkg-config" >&2; exit 1; }
