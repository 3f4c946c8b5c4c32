#!/usr/bin/env bash
# Installs what building and running sluice needs on Debian bookworm, only where missing:
# DPDK 22.11 (runtime, tools, headers), libclang (bindgen), pkg-config, and the tools the tests use
# (valgrind: sluice-perf instructions; nftables: a lab test drops a node's probes; tgt and libiscsi-bin: the
# iSCSI portal lab's targets and initiator; lintian: the package
# test), and the routing software of the ECMP lab (scripts/ecmp_lab.sh: FRR, BIRD 2, socat). The lab runs
# FRR and BIRD inside its own namespaces only: their packaged services are kept from starting while they
# install (a policy-rc.d for the time of the install, where none exists) and disabled afterwards, so that
# no routing daemon runs in the root namespace; so are tgt's (the iSCSI lab runs tgtd in its node namespaces).
# Needs root (or sudo) when something is missing. Safe to run again.
set -euo pipefail

pkgs=(dpdk dpdk-dev libdpdk-dev libclang-dev pkg-config iproute2 ethtool tcpdump python3 systemd kmod pciutils util-linux shellcheck valgrind frr bird2 socat nftables lintian tgt libiscsi-bin)
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
  # The routing daemons must not start in the root namespace: forbid service starts while installing.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    trap '$sudo rm -f "$policy"' EXIT
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 755 "$policy"
  fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  for unit in frr bird tgt; do
    pkg=$unit
    [ "$unit" = bird ] && pkg=bird2
    case " ${missing[*]} " in *" $pkg "*) ;; *) continue ;; esac
    if [ -d /run/systemd/system ]; then
      $sudo systemctl disable --now "$unit.service" >/dev/null 2>&1 || true
    else
      # No systemd running: the install started nothing; keep the unit from starting at a later boot.
      $sudo systemctl disable "$unit.service" >/dev/null 2>&1 || true
    fi
  done
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
