#!/usr/bin/env bash
# The ECMP lab: several sluice appliances behind a router that spreads the VIP over them with BGP
# multipath, nodes that route their return traffic back through the appliances over BGP as well, and
# real Linux TCP peers, all in network namespaces (nothing in the root namespace).
#
#   scripts/ecmp_lab.sh up [APPLIANCES] [NODES]   (re)build the lab (default 3 appliances, 4 nodes), start FRR
#                                                 and every BIRD, wait until every BGP session is Established
#   scripts/ecmp_lab.sh down                      kill everything in the lab's namespaces and remove them
#   scripts/ecmp_lab.sh config FILE K [NODES]     write appliance K's sluice configuration to FILE
#   scripts/ecmp_lab.sh sessions                  every BGP session's state; exit 0 when all are Established
#   scripts/ecmp_lab.sh predict SPORT             the appliance (aK) the router picks for 203.0.113.100:SPORT →
#                                                 10.10.0.1:2049 over TCP
#   scripts/ecmp_lab.sh predict-many FIRST COUNT  "SPORT aK" for source ports FIRST..FIRST+COUNT-1
#   scripts/ecmp_lab.sh routes                    the router's route to the VIP and every node's route back
#
# Namespaces and addresses (K = 1..APPLIANCES, I = 1..NODES, both at most 9):
#   sl-sw   the switch: bridge brc (client side) and bridge brn (node side); every other namespace's
#           interfaces on the two segments are veths whose other ends are ports of these bridges.
#   sl-cli  the client: eth0 203.0.113.100/24 (MAC 02:00:00:00:c1:01), default route via 203.0.113.1.
#   sl-r    the router: c0 203.0.113.1/24 (veth to sl-cli's eth0), f0 192.0.2.254/24 (MAC 02:00:00:00:fe:01)
#           on brc; forwards with a multipath hash of the 5-tuple taken from the packet's headers
#           (fib_multipath_hash_policy=3, fields 0x37; see up()), so `predict` is exact. FRR (zebra, bgpd;
#           pathspace sl-r: /etc/frr/sl-r, /var/run/frr/sl-r; `vtysh -N sl-r`) as AS 65000 accepts any
#           speaker in 192.0.2.0/24 into peer-group LB (AS 65010) and installs up to 8 equal paths.
#   sl-aK   appliance K. c0 on brc and n0 on brn have no kernel address (no IPv6, the kernel answers no
#           ARP): sluice attaches to them with net_af_packet and answers for 192.0.2.K (MAC
#           02:00:00:00:00:0K) and 198.51.100.K (MAC 02:00:00:00:01:0K) itself. m0 (192.0.2.1K/24, on brc)
#           and m1 (198.51.100.2K/24, on brn) are the management interfaces its BIRD talks BGP over, as
#           AS 65010 with router id 192.0.2.1K: to the router, exporting static protocol vip_10_10_0_1
#           (10.10.0.1/32 via 192.0.2.K), and to every node, exporting static protocol ret
#           (203.0.113.0/24 via 198.51.100.K), both with their next hops kept (sluice's ports, not m0/m1).
#           Both static protocols start disabled: `birdc -s /run/sluice-lab/aK.ctl enable|disable NAME`
#           announces or withdraws them. Nothing is imported.
#   sl-nI   node I: eth0 198.51.100.1I/24 (MAC 02:00:00:00:0a:0I) on brn, the VIP 10.10.0.1/32 on lo
#           (arp_ignore=1, arp_announce=2), L4 multipath hash (policy 1: its own connections' routes hash
#           their 5-tuple). No static route back: its BIRD (AS 65020, router id 198.51.100.1I) peers with
#           every appliance's m1, imports what they announce and exports it to the kernel with merged
#           paths, so the node has one multipath route to 203.0.113.0/24 with a next hop per appliance
#           that announces ret.
# Every BGP session has hold time 3 s and keepalive 1 s; the BIRDs (re)connect after 1 s and wait 1-3 s
# after an error, so a restarted BIRD is back within about a second. IPv6 is off in every namespace.
# Checksum offload (tx) is off on every veth end the kernel sends TCP from.
#
# Files: /run/sluice-lab/ holds the BIRD configurations, control sockets, pid files and logs (aK.*, nI.*)
# and the appliances' console sockets (aK.sock); FRR's configuration is /etc/frr/sl-r/frr.conf, its log
# /var/run/frr/sl-r/frr.log.
#
# sluice itself is not started by `up`: it runs inside its appliance's namespace,
#   ip netns exec sl-aK sluice --config FILE      (FILE from `config FILE K`)
# Configuration knobs of `config`: LAB_NODES (nodes configured when NODES is not given, default 4),
# LAB_DRAIN (space-separated names that are draining), LAB_PREFIX (EAL file prefix, default sluice-ecmp;
# the appliance's is PREFIX-aK), LAB_HEALTH (tcp|icmp|arp: health-check the nodes every 200 ms, rise 2,
# fall 2), LAB_HEALTH_SCOPE (appliance|fleet, default appliance), LAB_APPLIANCES (how many appliances the
# lab has, default 3: every other one is a [[peers]] entry), LAB_FLOWS ("off", or the [flows] settings
# separated by ';'), LAB_PORTAL (the VIP is an iSCSI portal listing these targets, NAME or NAME@GROUP,
# space-separated). Every appliance has [announce] enabled
# (settle 1 s): a stop withdraws its routes first. Each appliance has one worker; the appliances alternate their control and worker lcores over
# the two CPUs (odd K: control on CPU 0, worker on CPU 1; even K the other way) and sleep when idle.
set -euo pipefail

VIP=10.10.0.1
RUN=/run/sluice-lab
FRR_ETC=/etc/frr/sl-r
FRR_RUN=/var/run/frr/sl-r
cmd=${1:-}

lab_namespaces() {
  ip netns list | awk '{print $1}' | grep -E '^sl-(sw|cli|r|a[0-9]+|n[0-9]+)$' || true
}

down() {
  local nss ns pids
  nss=$(lab_namespaces)
  # sluice first gets SIGTERM (it removes its console socket and DPDK runtime files); what is left
  # after a moment is killed.
  for sig in TERM KILL; do
    pids=""
    for ns in $nss; do
      pids="$pids $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')"
    done
    [ -z "${pids// /}" ] && break
    # shellcheck disable=SC2086 # a list of pids
    kill -s "$sig" $pids 2>/dev/null || true
    for _ in $(seq 1 40); do
      # shellcheck disable=SC2086
      kill -0 $pids 2>/dev/null || break
      sleep 0.05
    done
  done
  for ns in $nss; do
    ip netns del "$ns" 2>/dev/null || true
  done
  rm -rf "$RUN" "$FRR_ETC" "$FRR_RUN"
  return 0
}

in_ns() { # NS COMMAND...: run a command inside a namespace
  local ns=$1
  shift
  ip netns exec "$ns" "$@"
}

new_ns() { # NAME: a namespace with lo up and IPv6 off
  ip netns add "$1"
  in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$1" link set lo up
}

# NS IF BRIDGE: a veth whose end IF is in NS and whose other end (named NS-IF without the "sl-") is a
# port of BRIDGE in sl-sw. The end in NS is left down.
wire() {
  local peer="${1#sl-}-$2"
  ip -n sl-sw link add "$peer" type veth peer name "$2" netns "$1"
  ip -n sl-sw link set "$peer" master "$3"
  ip -n sl-sw link set "$peer" up
}

tx_off() { # NS IF: no checksum offload (veth would hand over CHECKSUM_PARTIAL packets)
  in_ns "$1" ethtool -K "$2" tx off >/dev/null
}

ms() { # milliseconds since the epoch
  date +%s%3N
}

frr_up() {
  mkdir -p "$FRR_ETC" "$FRR_RUN"
  cat >"$FRR_ETC/daemons" <<EOT
zebra=yes
bgpd=yes
vtysh_enable=yes
EOT
  : >"$FRR_ETC/vtysh.conf"
  cat >"$FRR_ETC/frr.conf" <<EOT
frr defaults traditional
hostname sl-r
log file $FRR_RUN/frr.log informational
!
router bgp 65000
 bgp router-id 192.0.2.254
 no bgp ebgp-requires-policy
 neighbor LB peer-group
 neighbor LB remote-as 65010
 neighbor LB timers 1 3
 neighbor LB timers connect 1
 bgp listen range 192.0.2.0/24 peer-group LB
 !
 address-family ipv4 unicast
  neighbor LB activate
  maximum-paths 8
 exit-address-family
!
EOT
  chown -R frr:frr "$FRR_ETC" "$FRR_RUN"
  chmod 640 "$FRR_ETC/frr.conf"
  # The daemons' early messages go to a file (the daemons must not keep a caller's pipe open); zebra's
  # note that this kernel has no MPLS is left out of what is shown.
  in_ns sl-r /usr/lib/frr/zebra -d -N sl-r -P 0 -f "$FRR_ETC/frr.conf" -i "$FRR_RUN/zebra.pid" \
    </dev/null >"$FRR_RUN/zebra.out" 2>&1
  grep -v 'Disabling MPLS support' "$FRR_RUN/zebra.out" >&2 || true
  # bgpd needs zebra's API socket.
  for _ in $(seq 1 100); do
    [ -S "$FRR_RUN/zserv.api" ] && break
    sleep 0.05
  done
  in_ns sl-r /usr/lib/frr/bgpd -d -N sl-r -P 0 -f "$FRR_ETC/frr.conf" -i "$FRR_RUN/bgpd.pid" \
    </dev/null >"$FRR_RUN/bgpd.out" 2>&1
  cat "$FRR_RUN/bgpd.out" >&2
}

appliance_bird_conf() { # K NODES
  local k=$1 nodes=$2 i
  cat <<EOT
log "$RUN/a$k.log" all;
router id 192.0.2.1$k;

protocol device {
  scan time 10;
}

# sluice enables these while it can serve (and disables them when it cannot).
protocol static vip_10_10_0_1 {
  disabled;
  ipv4;
  route $VIP/32 via 192.0.2.$k;
}

protocol static ret {
  disabled;
  ipv4;
  route 203.0.113.0/24 via 198.51.100.$k;
}

template bgp fast {
  hold time 3;
  keepalive time 1;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 3;
}

protocol bgp rtr from fast {
  local 192.0.2.1$k as 65010;
  neighbor 192.0.2.254 as 65000;
  ipv4 {
    import none;
    export where proto = "vip_10_10_0_1";
    next hop keep;
  };
}

template bgp node from fast {
  local 198.51.100.2$k as 65010;
  ipv4 {
    import none;
    export where proto = "ret";
    next hop keep;
  };
}
EOT
  for i in $(seq 1 "$nodes"); do
    printf '\nprotocol bgp n%s from node {\n  neighbor 198.51.100.1%s as 65020;\n}\n' "$i" "$i"
  done
}

node_bird_conf() { # I APPLIANCES
  local i=$1 n=$2 k
  cat <<EOT
log "$RUN/n$i.log" all;
router id 198.51.100.1$i;

protocol device {
  scan time 10;
}

# One multipath route per prefix: a next hop per appliance that announces it.
protocol kernel {
  ipv4 {
    import none;
    export all;
  };
  merge paths on;
}

template bgp lb {
  local 198.51.100.1$i as 65020;
  hold time 3;
  keepalive time 1;
  connect delay time 1;
  connect retry time 1;
  error wait time 1, 3;
  ipv4 {
    import all;
    export none;
  };
}
EOT
  for k in $(seq 1 "$n"); do
    printf '\nprotocol bgp a%s from lb {\n  neighbor 198.51.100.2%s as 65010;\n}\n' "$k" "$k"
  done
}

bird_up() { # NAME NS CONF
  printf '%s\n' "$3" >"$RUN/$1.conf"
  in_ns "$2" bird -c "$RUN/$1.conf" -s "$RUN/$1.ctl" -P "$RUN/$1.pid" </dev/null
}

# The lab's size, from what exists: appliances and nodes are namespaces.
count_ns() { # a | n
  lab_namespaces | grep -cE "^sl-$1[0-9]+$" || true
}

bird_sessions() { # BIRD PROTOCOL...: "BIRD PROTOCOL STATE" lines; exit status 0 when all are Established
  local who=$1 table
  shift
  table=$(birdc -s "$RUN/$who.ctl" show protocols 2>/dev/null) || table=""
  printf '%s\n' "$table" | awk -v who="$who" -v want="$*" '
    BEGIN { n = split(want, w, " "); for (i = 1; i <= n; i++) st[w[i]] = "unknown" }
    $1 in st { st[$1] = ($6 != "" ? $6 : $4) }
    END { bad = 0; for (i = 1; i <= n; i++) { print who, w[i], st[w[i]]; if (st[w[i]] != "Established") bad = 1 }; exit bad }'
}

# Prints every BGP session's state, one line each; exit status 0 when all are Established.
sessions() {
  local n m k i ok=0 count
  n=$(count_ns a)
  m=$(count_ns n)
  if ! lab_namespaces | grep -qx sl-r; then
    echo "no lab" >&2
    return 1
  fi
  count=$(vtysh -N sl-r -c 'show bgp ipv4 unicast summary json' 2>/dev/null |
    grep -c '"state": *"Established"') || count=0
  echo "sl-r: $count of $n appliance sessions Established"
  [ "$count" = "$n" ] || ok=1
  # One `show protocols` per BIRD.
  for k in $(seq 1 "$n"); do
    bird_sessions "a$k" rtr $(seq -f 'n%g' 1 "$m") || ok=1
  done
  for i in $(seq 1 "$m"); do
    bird_sessions "n$i" $(seq -f 'a%g' 1 "$n") || ok=1
  done
  return $ok
}

up() {
  local n=$1 m=$2 k i
  case "$n" in [1-9]) ;; *) echo "ecmp_lab.sh: APPLIANCES must be 1..9, not '$n'" >&2; return 2 ;; esac
  case "$m" in [1-9]) ;; *) echo "ecmp_lab.sh: NODES must be 1..9, not '$m'" >&2; return 2 ;; esac
  if ! command -v bird >/dev/null || [ ! -x /usr/lib/frr/bgpd ]; then
    echo "ecmp_lab.sh: needs FRR and BIRD 2 (scripts/install-deps.sh)" >&2
    return 1
  fi
  down
  mkdir -p "$RUN"

  new_ns sl-sw
  for br in brc brn; do
    ip -n sl-sw link add "$br" type bridge mcast_snooping 0
    ip -n sl-sw link set "$br" up
  done

  new_ns sl-cli
  new_ns sl-r
  ip -n sl-r link add c0 type veth peer name eth0 netns sl-cli
  ip -n sl-cli link set eth0 address 02:00:00:00:c1:01
  ip -n sl-cli addr add 203.0.113.100/24 dev eth0
  ip -n sl-cli link set eth0 up
  ip -n sl-cli route add default via 203.0.113.1
  tx_off sl-cli eth0
  # The tests' clients bind source ports below 60000; ephemeral ports (and their TIME_WAIT) stay above.
  in_ns sl-cli sysctl -qw net.ipv4.ip_local_port_range="60000 64999"

  # The multipath hash over the 5-tuple, computed from the packet's headers. Policy 1 (L4) would take a
  # hash the packet already carries instead: the client's socket's random transmit hash, which crosses
  # the veth with the packet, so that a flow's next hop would change with every connection and could not
  # be predicted (`route get` hashes the headers). Policy 3 with fields 0x37 (source and destination
  # address, protocol, source and destination port) always hashes the headers.
  in_ns sl-r sysctl -qw net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=3 \
    net.ipv4.fib_multipath_hash_fields=0x0037
  ip -n sl-r addr add 203.0.113.1/24 dev c0
  ip -n sl-r link set c0 up
  tx_off sl-r c0
  wire sl-r f0 brc
  ip -n sl-r link set f0 address 02:00:00:00:fe:01
  ip -n sl-r addr add 192.0.2.254/24 dev f0
  ip -n sl-r link set f0 up
  tx_off sl-r f0

  for k in $(seq 1 "$n"); do
    local ns=sl-a$k
    new_ns "$ns"
    # The kernel owns only m0's and m1's addresses and answers ARP for them there alone.
    in_ns "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2
    wire "$ns" c0 brc
    wire "$ns" n0 brn
    ip -n "$ns" link set c0 up
    ip -n "$ns" link set n0 up
    wire "$ns" m0 brc
    wire "$ns" m1 brn
    ip -n "$ns" addr add "192.0.2.1$k/24" dev m0
    ip -n "$ns" addr add "198.51.100.2$k/24" dev m1
    ip -n "$ns" link set m0 up
    ip -n "$ns" link set m1 up
    tx_off "$ns" m0
    tx_off "$ns" m1
  done

  for i in $(seq 1 "$m"); do
    local ns=sl-n$i
    new_ns "$ns"
    wire "$ns" eth0 brn
    ip -n "$ns" link set eth0 address "02:00:00:00:0a:0$i"
    ip -n "$ns" addr add "198.51.100.1$i/24" dev eth0
    ip -n "$ns" addr add "$VIP/32" dev lo
    ip -n "$ns" link set eth0 up
    tx_off "$ns" eth0
    # The VIP is on lo: never answer ARP for it on eth0.
    in_ns "$ns" sysctl -qw net.ipv4.conf.all.arp_ignore=1 net.ipv4.conf.all.arp_announce=2 \
      net.ipv4.fib_multipath_hash_policy=1
  done

  frr_up
  for k in $(seq 1 "$n"); do
    bird_up "a$k" "sl-a$k" "$(appliance_bird_conf "$k" "$m")"
  done
  for i in $(seq 1 "$m"); do
    bird_up "n$i" "sl-n$i" "$(node_bird_conf "$i" "$n")"
  done

  local t0 deadline
  t0=$(ms)
  deadline=$((t0 + 20000))
  while ! sessions >/dev/null 2>&1; do
    if [ "$(ms)" -gt "$deadline" ]; then
      sessions >&2 || true
      echo "ecmp_lab.sh: BGP sessions not all Established after 20 s" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "ecmp_lab.sh: $n appliances, $m nodes; every BGP session Established after $(($(ms) - t0)) ms"
}

port() { # NAME DEVICE ROLE MAC [ADDRESS] [GATEWAY]
  printf '\n[[ports]]\nname = "%s"\ndevice = "%s"\nrole = "%s"\nmac = "%s"\n' "$1" "$2" "$3" "$4"
  [ -n "${5:-}" ] && printf 'addresses = ["%s"]\n' "$5"
  [ -n "${6:-}" ] && printf 'gateway_mac = "%s"\n' "$6"
  return 0
}

config() { # K NODES
  local k=$1 nodes=$2 prefix=${LAB_PREFIX:-sluice-ecmp} cpus="0,1" i c
  case "$k" in [1-9]) ;; *) echo "ecmp_lab.sh: K must be 1..9, not '$k'" >&2; return 2 ;; esac
  case "$nodes" in [1-9]) ;; *) echo "ecmp_lab.sh: NODES must be 1..9, not '$nodes'" >&2; return 2 ;; esac
  case "${LAB_APPLIANCES:-3}" in
    [1-9]) ;;
    *) echo "ecmp_lab.sh: LAB_APPLIANCES must be 1..9, not '${LAB_APPLIANCES:-}'" >&2; return 2 ;;
  esac
  # Several appliances share two CPUs: alternate them, and let idle workers sleep.
  [ $((k % 2)) = 0 ] && cpus="1,0"
  cat <<EOT
role = "single"

[eal]
lcores = "0,1"
cpus = "$cpus"
no_huge = true
memory_mb = 512
file_prefix = "$prefix-a$k"

[dataplane]
mbufs = 8191
table_size = 65537
chassis_table_size = 16381
idle_sleep_us = 50

[console]
socket = "$RUN/a$k.sock"

[announce]
enabled = true
settle_ms = 1000
stop_wait_ms = 5000
EOT
  # LAB_FLOWS: "off" turns the flow table off (a stateless balancer); otherwise its ';'-separated
  # settings, e.g. "drain_timeout_s = 6;new_per_sec = 2000" (empty: the defaults).
  case "${LAB_FLOWS:-}" in
    "") ;;
    off) printf '\n[flows]\nenabled = false\n' ;;
    *) printf '\n[flows]\n%s\n' "${LAB_FLOWS//;/$'\n'}" ;;
  esac
  if [ -n "${LAB_HEALTH:-}" ]; then
    printf '\n[health]\nenabled = true\ncheck = "%s"\nport = 2049\ninterval_ms = 200\ntimeout_ms = 150\nrise = 2\nfall = 2\nscope = "%s"\n' \
      "$LAB_HEALTH" "${LAB_HEALTH_SCOPE:-appliance}"
  fi
  # The other appliances (LAB_APPLIANCES of them in all) share reset fan-outs with this one.
  for i in $(seq 1 "${LAB_APPLIANCES:-3}"); do
    [ "$i" = "$k" ] || printf '\n[[peers]]\nname = "a%s"\nmac = "02:00:00:00:01:0%s"\n' "$i" "$i"
  done
  port client net_af_packet0,iface=c0 client "02:00:00:00:00:0$k" "192.0.2.$k" 02:00:00:00:fe:01
  port nodes net_af_packet1,iface=n0 node "02:00:00:00:01:0$k" "198.51.100.$k"
  printf '\n[[vips]]\naddress = "%s"\nprotocols = ["tcp", "udp"]\n' "$VIP"
  [ -n "${LAB_PORTAL:-}" ] && printf 'portal = "iscsi"\n'
  for c in a b; do
    printf '\n[[chassis]]\nname = "chassis-%s"\n' "$c"
  done
  for i in $(seq 1 "$nodes"); do
    c=chassis-a
    [ "$i" -gt 2 ] && c=chassis-b
    printf '\n[[nodes]]\nname = "n%s"\nchassis = "%s"\nmac = "02:00:00:00:0a:0%s"\nip = "198.51.100.1%s"\n' "$i" "$c" "$i" "$i"
    case " ${LAB_DRAIN:-} " in *" n$i "*) echo 'state = "draining"' ;; esac
  done
  # LAB_PORTAL: the VIP is an iSCSI portal for these targets (NAME or NAME@GROUP, space-separated).
  if [ -n "${LAB_PORTAL:-}" ]; then
    printf '\n[portal]\n'
    for t in $LAB_PORTAL; do
      printf '\n[[portal.targets]]\nname = "%s"\n' "${t%@*}"
      [ "${t#*@}" != "$t" ] && printf 'group = "%s"\n' "${t#*@}"
    done
  fi
  return 0
}

# Reads "route get" answers (ip -o) and prints the appliance each one's next hop is: aK for via 192.0.2.K.
appliance_of() {
  awk '{
    a = "none"
    for (f = 1; f < NF; f++) if ($f == "via") { split($(f + 1), o, "."); a = "a" o[4] }
    print a
  }'
}

# Prints "SPORT aK" for each source port; "SPORT none" for all of them when the router has no route to
# the VIP (exit status 1).
predict_many() { # FIRST COUNT
  local first=$1 count=$2
  if [ -z "$(ip -n sl-r route show "$VIP/32")" ]; then
    seq "$first" $((first + count - 1)) | sed 's/$/ none/'
    return 1
  fi
  seq "$first" $((first + count - 1)) |
    awk -v vip="$VIP" '{print "route get " vip " from 203.0.113.100 iif c0 ipproto tcp sport " $1 " dport 2049"}' |
    ip -n sl-r -o -batch - | appliance_of | paste -d' ' <(seq "$first" $((first + count - 1))) -
}

routes() {
  echo "sl-r:"
  ip -n sl-r route show "$VIP/32" | sed 's/^/  /'
  for ns in $(lab_namespaces | grep -E '^sl-n[0-9]+$' | sort -V); do
    echo "$ns:"
    ip -n "$ns" route show 203.0.113.0/24 | sed 's/^/  /'
  done
}

usage() {
  echo "usage: $0 up [APPLIANCES] [NODES] | down | config FILE K [NODES] | sessions | predict SPORT |" \
    "predict-many FIRST COUNT | routes" >&2
  exit 2
}

case "$cmd" in
  up) up "${2:-3}" "${3:-4}" ;;
  down) down ;;
  config)
    if [ -z "${2:-}" ] || [ -z "${3:-}" ]; then usage; fi
    out=$(config "$3" "${4:-${LAB_NODES:-4}}")
    printf '%s\n' "$out" >"$2"
    ;;
  sessions) sessions ;;
  predict)
    [ -n "${2:-}" ] || usage
    out=$(predict_many "$2" 1) || rc=$?
    echo "${out#* }"
    exit "${rc:-0}"
    ;;
  predict-many) [ -n "${3:-}" ] || usage; predict_many "$2" "$3" ;;
  routes) routes ;;
  *) usage ;;
esac
