#!/usr/bin/env bash
# The reset lab: real Linux TCP peers in network namespaces around sluice.
#
#   scripts/lab.sh up [NODES] [single|tiered]   create the namespaces (default 5 nodes, single)
#   scripts/lab.sh down                         remove everything it created
#   scripts/lab.sh config FILE [single|spine|chassis-a|chassis-b]
#                                               write that appliance's configuration to FILE
#
# Client side (both layouts): sl-cli's eth0 (192.0.2.100/24, MAC 02:00:00:00:c1:01) ↔ slc0 in the root
# namespace, where sluice (single) or the spine attaches with net_af_packet; the VIP 10.10.0.1 is routed
# via 192.0.2.1. Nodes (1..99 of them): sl-nI has eth0 with MAC 02:00:00:00:0a:XX (XX: I in two hex
# digits) and address 198.51.100.1I/24 for I <= 9, 198.51.100.(100 + I)/24 above (n10: .110, n99: .199),
# the VIP on lo, and a default route via 198.51.100.1 (the appliance in front of it); n1-n2 are
# chassis-a, the rest chassis-b.
#   single: every node on bridge slbr; sluice's node port is sln0 (↔ sln0b on the bridge).
#   tiered: chassis-a's nodes on bridge slbra (appliance port sla0 ↔ sla0b), chassis-b's on slbrb (slb0 ↔
#           slb0b); the spine reaches chassis-a's appliance over ssa0 ↔ ssa1 and chassis-b's over ssb0 ↔ ssb1.
# Configuration knobs: LAB_NODES (nodes configured, default 4), LAB_DRAIN (space-separated names that are
# draining), LAB_PREFIX (EAL file prefix), LAB_HEALTH (tcp|icmp|arp: health-check the nodes every 200 ms,
# rise 2, fall 2), LAB_AFFINITY (non-empty: the single appliance keeps controller-VM affinity for the VIP),
# LAB_WORKERS (worker lcores per appliance, 1 or 2, default 1), LAB_FLOWS ("off", or the [flows] settings
# separated by ';'), LAB_MTU (every port's mtu, and ring frames for jumbo frames; give it to `up` too, which
# sets every link's MTU), LAB_IPIP (space-separated names reached by IP-in-IP: their namespace decapsulates
# in user space, `lab_tcp.py ipip-decap`, since the lab's kernel has no ipip module), LAB_PORTAL (the single
# appliance answers iSCSI on the VIP for these targets; LAB_PORTAL_OPTS: more [portal] settings, separated
# by ';'). Checksum offload is off in every namespace.
#
# Workers and CPUs (the lab machine has two): the control lcore is always the first lcore. With one
# worker, single pins control to CPU 0 and its worker to CPU 1 and polls without sleeping; the tiered
# appliances alternate their lcores over the two CPUs and sleep when idle (idle_sleep_us = 50). With
# LAB_WORKERS=2 every appliance gets lcores "0,1,2": single puts both workers on CPU 1 (cpus "0,1,1"),
# leaving CPU 0 to the control lcore and the TCP endpoints; the tiered appliances spread their two
# workers over both CPUs (spine and chassis-b "0,1,0", chassis-a "1,0,1"). Workers that share a CPU
# always sleep when idle. Every net_af_packet device then gets qpairs=2, so that each worker has its own
# rx queue (the kernel's PACKET_FANOUT hash spreads flows over them) and its own tx queue.
#
# Interfaces sluice attaches to get interface indexes in a range per appliance (single/spine 1001+,
# chassis-a 2001+, chassis-b 3001+): DPDK 22.11's af_packet PMD names its PACKET_FANOUT group
# (pid ^ ifindex), and two processes whose values collide cannot both start. Every root-namespace interface
# created before the node links has a fixed index (bridges and veth peers too): the kernel's own index
# counter passes these ranges on a long-lived machine, and an interface it numbered 1002 a moment earlier
# would make `ip link add ... index 1002` fail.
set -euo pipefail

VIP=10.10.0.1
cmd=${1:-}

down() {
  for ns in $(ip netns list | awk '{print $1}' | grep -E '^sl-(cli|n[0-9]+)$' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
  for l in slc0 sln0 sln0b slbr slbra slbrb sla0 sla0b slb0 slb0b ssa0 ssa1 ssb0 ssb1 \
    $(ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^sln[0-9]+$' || true); do
    ip link del "$l" 2>/dev/null || true
  done
  # Namespaces are torn down asynchronously by the kernel: wait until their veth ends (and the interface
  # indexes the lab reuses) are really gone, or the next `up` finds them still there.
  for _ in $(seq 1 100); do
    if ! ip -o link show | awk -F': ' '{print $1, $2}' | cut -d@ -f1 |
      grep -qE '^([123][01]0[1-4]) |^[0-9]+ (slc0|sln[0-9]*b?|slbr[ab]?|sl[ab]0b?|ss[ab][01])$'; then
      return 0
    fi
    sleep 0.1
  done
  echo "lab.sh: interfaces of an earlier lab are still there after 10 s" >&2
  return 1
}

check_nodes() { # COUNT WHAT: refuse a node count the addressing below cannot serve
  case "$1" in
    [1-9] | [1-9][0-9]) ;;
    *) echo "lab.sh: $2 must be a node count in 1..99, not '$1'" >&2; return 2 ;;
  esac
}

node_mac() { printf '02:00:00:00:0a:%02x' "$1"; }

node_ip() { # 198.51.100.11-19 for nodes 1-9, 198.51.100.110-199 for nodes 10-99
  if [ "$1" -le 9 ]; then echo "198.51.100.1$1"; else echo "198.51.100.$((100 + $1))"; fi
}

quiet_if() { # an interface only sluice uses: up, no IPv6 chatter from the root namespace
  sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true
  ip link set "$1" up
}

bridge() { # NAME APPLIANCE_END IFINDEX: a bridge with a veth pair whose other end sluice attaches to.
  # The veth end gets IFINDEX, its peer IFINDEX+100 and the bridge IFINDEX+102: every root-namespace
  # interface the lab creates before the node links has a fixed index, so that none of them can be
  # given, by the kernel's counter, an index the lab asks for next.
  ip link add "$2" index "$3" type veth peer name "${2}b" index "$(($3 + 100))"
  ip link add "$1" index "$(($3 + 102))" type bridge
  sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1" 2>/dev/null || true
  ip link set "$1" up
  ip link set "${2}b" master "$1"
  quiet_if "${2}b"
  quiet_if "$2"
}

up() {
  local nodes=$1 layout=$2
  check_nodes "$nodes" NODES || return 2
  down
  ip netns add sl-cli
  ip link add slc0 index 1001 type veth peer name eth0 netns sl-cli
  ip -n sl-cli link set eth0 address 02:00:00:00:c1:01
  ip -n sl-cli addr add 192.0.2.100/24 dev eth0
  ip -n sl-cli link set lo up
  ip -n sl-cli link set eth0 up
  ip -n sl-cli route add "$VIP/32" via 192.0.2.1
  ip netns exec sl-cli ethtool -K eth0 tx off >/dev/null
  # The tests' clients bind source ports below 60000; ephemeral ports (and their TIME_WAIT) stay above.
  ip netns exec sl-cli sysctl -qw net.ipv4.ip_local_port_range="60000 64999"
  quiet_if slc0
  if [ "$layout" = tiered ]; then
    bridge slbra sla0 2002
    bridge slbrb slb0 3002
    ip link add ssa0 index 1002 type veth peer name ssa1 index 2001
    ip link add ssb0 index 1003 type veth peer name ssb1 index 3001
    for l in ssa0 ssa1 ssb0 ssb1; do quiet_if "$l"; done
  else
    bridge slbr sln0 1002
  fi
  for i in $(seq 1 "$nodes"); do
    local ns=sl-n$i br=slbr
    if [ "$layout" = tiered ]; then br=slbrb; [ "$i" -le 2 ] && br=slbra; fi
    ip netns add "$ns"
    ip link add "sln$i" type veth peer name eth0 netns "$ns"
    ip link set "sln$i" master "$br"
    quiet_if "sln$i"
    ip -n "$ns" link set eth0 address "$(node_mac "$i")"
    ip -n "$ns" addr add "$(node_ip "$i")/24" dev eth0
    ip -n "$ns" addr add "$VIP/32" dev lo
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via 198.51.100.1
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null
    # The VIP is on lo: never answer ARP for it on eth0.
    ip netns exec "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
  done
  # Jumbo frames: every link of the lab at LAB_MTU (the bridge takes its ports' smallest).
  if [ -n "${LAB_MTU:-}" ]; then
    ip -n sl-cli link set eth0 mtu "$LAB_MTU"
    for l in slc0 sln0 sln0b sla0 sla0b slb0 slb0b ssa0 ssa1 ssb0 ssb1 $(seq -f 'sln%g' 1 "$nodes"); do
      ip link set "$l" mtu "$LAB_MTU" 2>/dev/null || true
    done
    for i in $(seq 1 "$nodes"); do ip -n "sl-n$i" link set eth0 mtu "$LAB_MTU"; done
  fi
}

port() { # NAME DEVICE ROLE MAC [ADDRESS] [GATEWAY]
  local device=$2
  # One queue pair per worker (LAB_WORKERS): each worker polls its own rx queue and sends on its own tx queue.
  [ "${LAB_WORKERS:-1}" != 1 ] && device="$device,qpairs=${LAB_WORKERS}"
  # Jumbo frames: ring frames that hold them. The PMD steps through its ring a frame size at a time, so a
  # frame must divide the kernel's block (power-of-two pages): 16 KiB, which the mbufs must then hold
  # (dataplane.mbuf_size below).
  [ -n "${LAB_MTU:-}" ] && device="$device,blocksz=16384,framesz=16384"
  printf '\n[[ports]]\nname = "%s"\ndevice = "%s"\nrole = "%s"\nmac = "%s"\n' "$1" "$device" "$3" "$4"
  [ -n "${LAB_MTU:-}" ] && printf 'mtu = %s\n' "$LAB_MTU"
  [ -n "${5:-}" ] && printf 'addresses = ["%s"]\n' "$5"
  [ -n "${6:-}" ] && printf 'gateway_mac = "%s"\n' "$6"
  return 0
}

config() {
  local who=${1:-single} prefix=${LAB_PREFIX:-sluice-lab} workers=${LAB_WORKERS:-1} lcores="0,1" cpus="0,1" idle=0
  case "$workers" in
    1 | 2) ;;
    *) echo "lab.sh: LAB_WORKERS must be 1 or 2, not '$workers'" >&2; return 2 ;;
  esac
  check_nodes "${LAB_NODES:-4}" LAB_NODES || return 2
  case "$who" in
    spine) printf 'role = "spine"\n' ;;
    chassis-a | chassis-b) printf 'role = "chassis"\nthis_chassis = "%s"\n' "$who"; [ "$who" = chassis-a ] && cpus="1,0" ;;
  esac
  # Three appliances share two CPUs in the tiered lab: let idle workers sleep.
  [ "$who" != single ] && idle=50
  if [ "$workers" = 2 ]; then
    lcores="0,1,2"
    case "$who" in
      single) cpus="0,1,1" ;;
      chassis-a) cpus="1,0,1" ;;
      *) cpus="0,1,0" ;;
    esac
    # Two workers share a CPU (with each other or with the control lcore): let idle ones sleep.
    idle=50
  fi
  cat <<EOT
[eal]
lcores = "$lcores"
cpus = "$cpus"
no_huge = true
memory_mb = 512
file_prefix = "$prefix-$who"

[dataplane]
mbufs = 8191
table_size = 65537
chassis_table_size = 16381
idle_sleep_us = $idle
EOT
  [ -n "${LAB_MTU:-}" ] && printf 'mbuf_size = 16512\n'
  if [ -n "${LAB_AFFINITY:-}" ] && [ "$who" = single ]; then
    printf '\n[affinity]\nenabled = true\npublish_interval_ms = 20\n'
  fi
  # LAB_FLOWS: "off" turns the flow table off (a stateless balancer); otherwise its ';'-separated
  # settings, e.g. "drain_timeout_s = 6;new_per_sec = 2000" (empty: the defaults).
  case "${LAB_FLOWS:-}" in
    "") ;;
    off) printf '\n[flows]\nenabled = false\n' ;;
    *) printf '\n[flows]\n%s\n' "${LAB_FLOWS//;/$'\n'}" ;;
  esac
  if [ -n "${LAB_HEALTH:-}" ] && [ "$who" != spine ]; then
    printf '\n[health]\nenabled = true\ncheck = "%s"\nport = 2049\ninterval_ms = 200\ntimeout_ms = 150\nrise = 2\nfall = 2\n' "$LAB_HEALTH"
  fi
  case "$who" in
    single)
      port client net_af_packet0,iface=slc0 client 02:00:00:00:00:01 192.0.2.1 02:00:00:00:c1:01
      port nodes net_af_packet1,iface=sln0 node 02:00:00:00:01:01 198.51.100.1 ;;
    spine)
      port client net_af_packet0,iface=slc0 client 02:00:00:00:00:01 192.0.2.1 02:00:00:00:c1:01
      port to-a net_af_packet1,iface=ssa0 node 02:00:00:00:5a:00
      port to-b net_af_packet2,iface=ssb0 node 02:00:00:00:5b:00 ;;
    chassis-a)
      port spine net_af_packet0,iface=ssa1 client 02:00:00:00:ca:00 "" 02:00:00:00:5a:00
      port nodes net_af_packet1,iface=sla0 node 02:00:00:00:01:01 198.51.100.1 ;;
    chassis-b)
      port spine net_af_packet0,iface=ssb1 client 02:00:00:00:cb:00 "" 02:00:00:00:5b:00
      port nodes net_af_packet1,iface=slb0 node 02:00:00:00:01:01 198.51.100.1 ;;
  esac
  printf '\n[[vips]]\naddress = "%s"\nprotocols = ["tcp", "udp"]\n' "$VIP"
  [ -n "${LAB_AFFINITY:-}" ] && [ "$who" = single ] && printf 'affinity = true\n'
  [ -n "${LAB_PORTAL:-}" ] && [ "$who" = single ] && printf 'portal = "iscsi"\n'
  for c in a b; do
    printf '\n[[chassis]]\nname = "chassis-%s"\n' "$c"
    [ "$who" = spine ] && printf 'mac = "02:00:00:00:c%s:00"\nport = "to-%s"\n' "$c" "$c"
  done
  for i in $(seq 1 "${LAB_NODES:-4}"); do
    local c=chassis-a
    [ "$i" -gt 2 ] && c=chassis-b
    printf '\n[[nodes]]\nname = "n%s"\nchassis = "%s"\nmac = "%s"\nip = "%s"\n' "$i" "$c" "$(node_mac "$i")" "$(node_ip "$i")"
    [ "$who" = spine ] && printf 'port = "to-%s"\n' "${c#chassis-}"
    case " ${LAB_DRAIN:-} " in *" n$i "*) echo 'state = "draining"' ;; esac
    case " ${LAB_IPIP:-} " in *" n$i "*) echo 'forward = "ipip"' ;; esac
  done
  # LAB_PORTAL: the VIP's iSCSI portal lists these targets (NAME or NAME@GROUP, space-separated), with
  # LAB_PORTAL_OPTS (';'-separated [portal] settings).
  if [ -n "${LAB_PORTAL:-}" ] && [ "$who" = single ]; then
    printf '\n[portal]\n%s\n' "${LAB_PORTAL_OPTS:+${LAB_PORTAL_OPTS//;/$'\n'}}"
    for t in $LAB_PORTAL; do
      printf '\n[[portal.targets]]\nname = "%s"\n' "${t%@*}"
      [ "${t#*@}" != "$t" ] && printf 'group = "%s"\n' "${t#*@}"
    done
  fi
}

case "$cmd" in
  up) up "${2:-5}" "${3:-single}" ;;
  down) down ;;
  config) if [ -n "${2:-}" ]; then config "${3:-single}" > "$2"; else config single; fi ;;
  *) echo "usage: $0 up [NODES] [single|tiered] | down | config FILE [single|spine|chassis-a|chassis-b]" >&2; exit 2 ;;
esac
