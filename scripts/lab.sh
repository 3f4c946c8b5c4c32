#!/usr/bin/env bash
# The reset lab: real Linux TCP peers in network namespaces around sluice.
#
#   scripts/lab.sh up [NODES]   create namespaces: sl-cli (client) and sl-n1..sl-nN (nodes, default 5)
#   scripts/lab.sh down         remove everything it created
#   scripts/lab.sh config FILE  write a single-role sluice config for the lab to FILE (stdout if absent):
#                               nodes n1..n$LAB_NODES (default 4), n1-n2 in chassis-a, the rest in
#                               chassis-b; nodes named in LAB_DRAIN (space-separated) are draining
#
# Client side: sl-cli's eth0 (192.0.2.100/24, MAC 02:00:00:00:c1:01) ↔ slc0 in the root namespace,
# where sluice attaches with net_af_packet. Node side: each sl-nI's eth0 (198.51.100.1I/24, MAC
# 02:00:00:00:0a:0I, the VIP 10.10.0.1/32 on lo, default route via sluice at 198.51.100.1) ↔ slnI on
# bridge slbr, and sln0 ↔ sln0b on the bridge, where sluice attaches. Checksum offload is off in every
# namespace (veth would otherwise hand sluice partial checksums).
set -euo pipefail

VIP=10.10.0.1
cmd=${1:-}
nodes=${2:-5}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^sl-(cli|n[0-9]+)$' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for l in slc0 sln0 sln0b slbr $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^sln[0-9]+$' || true); do
    ip link del "$l" 2>/dev/null || true
  done
}

quiet_root_if() { # no IPv6 chatter or addresses from the root namespace on a port sluice owns
  sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true
  ip link set "$1" up
}

up() {
  down
  ip netns add sl-cli
  ip link add slc0 type veth peer name eth0 netns sl-cli
  ip -n sl-cli link set eth0 address 02:00:00:00:c1:01
  ip -n sl-cli addr add 192.0.2.100/24 dev eth0
  ip -n sl-cli link set lo up
  ip -n sl-cli link set eth0 up
  ip -n sl-cli route add "$VIP/32" via 192.0.2.1
  ip netns exec sl-cli ethtool -K eth0 tx off >/dev/null
  quiet_root_if slc0

  ip link add slbr type bridge
  sysctl -qw net.ipv6.conf.slbr.disable_ipv6=1 2>/dev/null || true
  ip link set slbr up
  ip link add sln0 type veth peer name sln0b
  ip link set sln0b master slbr
  quiet_root_if sln0b
  quiet_root_if sln0
  for i in $(seq 1 "$nodes"); do
    ns=sl-n$i
    ip netns add "$ns"
    ip link add "sln$i" type veth peer name eth0 netns "$ns"
    ip link set "sln$i" master slbr
    quiet_root_if "sln$i"
    ip -n "$ns" link set eth0 address "02:00:00:00:0a:0$i"
    ip -n "$ns" addr add "198.51.100.1$i/24" dev eth0
    ip -n "$ns" addr add "$VIP/32" dev lo
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via 198.51.100.1
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    # The VIP is on lo: never answer ARP for it on eth0 (sluice does, on the client side).
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  done
}

config() {
  local prefix=${LAB_PREFIX:-sluice-lab}
  cat <<EOT
[eal]
lcores = "0,1"
no_huge = true
memory_mb = 512
file_prefix = "$prefix"

[dataplane]
mbufs = 8191
table_size = 65537
chassis_table_size = 16381

[[ports]]
name = "client"
device = "net_af_packet0,iface=slc0,qpairs=1"
role = "client"
mac = "02:00:00:00:00:01"
addresses = ["192.0.2.1"]
gateway_mac = "02:00:00:00:c1:01"

[[ports]]
name = "nodes"
device = "net_af_packet1,iface=sln0,qpairs=1"
role = "node"
mac = "02:00:00:00:01:01"
addresses = ["198.51.100.1"]

[[vips]]
address = "$VIP"
protocols = ["tcp", "udp"]

[[chassis]]
name = "chassis-a"

[[chassis]]
name = "chassis-b"
EOT
  for i in $(seq 1 "${LAB_NODES:-4}"); do
    local c=chassis-a
    [ "$i" -gt 2 ] && c=chassis-b
    cat <<EOT

[[nodes]]
name = "n$i"
chassis = "$c"
mac = "02:00:00:00:0a:0$i"
ip = "198.51.100.1$i"
EOT
    case " ${LAB_DRAIN:-} " in *" n$i "*) echo 'state = "draining"' ;; esac
  done
}

case "$cmd" in
  up) up ;;
  down) down ;;
  config) if [ -n "${2:-}" ]; then config > "$2"; else config; fi ;;
  *) echo "usage: $0 up [NODES] | down | config [FILE]" >&2; exit 2 ;;
esac
