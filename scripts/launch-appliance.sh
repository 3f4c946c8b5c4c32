#!/usr/bin/env bash
# Brings up a sluice appliance on bare metal: preflight checks (one PASS/WARN/FAIL line each, with what to
# do about a FAIL), then hugepages and NIC binding when asked, then sluice itself with the EAL arguments its
# configuration implies. Whatever it changed (hugepages reserved, hugetlbfs mounted, NICs bound) it
# restores when sluice stops; a crash is recovered by the next launch or by --cleanup.
#
#   sudo scripts/launch-appliance.sh --config /etc/sluice/prod.toml --reserve-hugepages --bind
#
# See --help, and README.md "On an appliance".
set -uo pipefail

usage() {
  cat <<'EOF'
usage: launch-appliance.sh --config FILE [options] [-- SLUICE-ARGS...]

  -c, --config FILE       the sluice configuration (required)
      --check             run the preflight checks only; change nothing
      --dry-run           run the checks, print every action and the final command; change nothing
      --reserve-hugepages reserve the missing hugepages and mount hugetlbfs if none is mounted;
                          both are released when sluice stops
      --hugepage-mount D  where to mount hugetlbfs when none is mounted (default /dev/hugepages)
      --bind              bind each configured PCI NIC to the DPDK driver; the previous kernel driver
                          is restored when sluice stops
      --driver NAME       vfio-pci (default) or uio_pci_generic (no IOMMU: no DMA isolation)
      --force             allow a NIC that carries the host's default route, and NICs on another NUMA
                          node than the worker lcores (both FAIL otherwise)
      --cleanup           restore what an earlier launch of this configuration changed, then exit
      --sluice PATH       the sluice binary (default: $SLUICE_BIN, the build next to this script, PATH)
  -h, --help              this text
Everything after -- goes to sluice (e.g. -- --stats-json /var/lib/sluice/last.json).
Exit: sluice's own status once it ran; 2 when a preflight check failed; 1 when an action failed.
EOF
}

config="" mode=run reserve=0 bind=0 force=0 driver=vfio-pci huge_mount=/dev/hugepages sluice="${SLUICE_BIN:-}"
extra=()
while (($#)); do
  case "$1" in
    -c | --config) config="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --check) mode=check; shift ;;
    --dry-run) mode=dry; shift ;;
    --cleanup) mode=cleanup; shift ;;
    --reserve-hugepages) reserve=1; shift ;;
    --hugepage-mount) huge_mount="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --bind) bind=1; shift ;;
    --driver) driver="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    --force) force=1; shift ;;
    --sluice) sluice="${2:-}"; shift 2 || { usage >&2; exit 2; } ;;
    -h | --help) usage; exit 0 ;;
    --) shift; extra=("$@"); break ;;
    *) echo "launch-appliance: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
done
case "$driver" in vfio-pci | uio_pci_generic) ;; *)
  echo "launch-appliance: --driver must be vfio-pci or uio_pci_generic, not '$driver'" >&2; exit 2 ;;
esac

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
state_dir=/run/sluice
fails=0 warns=0
pass() { printf 'PASS  %s\n' "$1"; }
warn() { printf 'WARN  %s\n' "$1"; [ -n "${2:-}" ] && printf '      fix: %s\n' "$2"; warns=$((warns + 1)); }
fail() { printf 'FAIL  %s\n' "$1"; [ -n "${2:-}" ] && printf '      fix: %s\n' "$2"; fails=$((fails + 1)); }
skip() { printf 'SKIP  %s\n' "$1"; }
plan() { printf 'PLAN  %s\n' "$1"; }

# Expands a CPU list (`0-3,8,10-11`, flags such as `domain` ignored) to one number per line.
expand_cpus() {
  local part
  for part in ${1//,/ }; do
    if [[ $part =~ ^([0-9]+)-([0-9]+)$ ]]; then seq "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}"
    elif [[ $part =~ ^[0-9]+$ ]]; then echo "$part"; fi
  done
}
cmdline_cpus() { # the CPUs of kernel parameter $1 (isolcpus, nohz_full, rcu_nocbs)
  local arg
  for arg in $(cat /proc/cmdline); do [[ $arg == "$1="* ]] && expand_cpus "${arg#*=}"; done
}
default_route_devs() { { ip -o route show default; ip -o -6 route show default; } 2>/dev/null |
  sed -n 's/.* dev \([^ ]*\).*/\1/p' | sort -u; }
cpu_node() { local n; n=$(ls -d /sys/devices/system/cpu/cpu"$1"/node* 2>/dev/null | head -1); echo "${n##*node}"; }
# A DPDK primary holds a write lock on its runtime config; succeed if one does for prefix $1.
prefix_in_use() {
  local f="/var/run/dpdk/$1/config"
  [ -e "$f" ] || return 1
  # Exit 1 only when the lock is held; a file this user cannot open (not root) cannot be judged.
  ! python3 -c '
import fcntl, sys
try:
    f = open(sys.argv[1], "r+")
except OSError:
    sys.exit(0)
try:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
except OSError:
    sys.exit(1)' "$f" 2>/dev/null
}
hugetlbfs_mount() { # the first hugetlbfs mount for page size $1 kB
  awk -v kb="$1" '$3 == "hugetlbfs" {
      ps = "2048"; n = split($4, o, ","); for (i = 1; i <= n; i++) if (o[i] ~ /^pagesize=/) ps = substr(o[i], 10)
      if (ps ~ /M$/) ps = ps * 1024; else if (ps ~ /G$/) ps = ps * 1048576; else if (ps ~ /K$/) ps = ps + 0
      if (ps == kb) { print $2; exit } }' /proc/mounts
}

mount_id() { awk -v d="$1" '$5 == d && / - hugetlbfs / { id = $1 } END { print id }' /proc/self/mountinfo; }

# ---- what was changed, and undoing it -------------------------------------------------------------
state=""
record() { mkdir -p "$state_dir" && echo "$*" >>"$state"; }
remove_dpdk_files() { # hugepage files, runtime directory and console socket of prefix $1 (sluice has exited)
  local mnt
  for mnt in $(awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts); do
    rm -f "$mnt/$1"map_* 2>/dev/null
  done
  rm -rf "/var/run/dpdk/$1"
  local sock; sock=$(field console)
  [ -S "$sock" ] && rm -f "$sock"
  true
}
restore() { # undoes every line of the state file, last first
  [ -n "$state" ] && [ -s "$state" ] || { rm -f "$state"; return 0; }
  local kind a b c
  while read -r kind a b c; do
    case "$kind" in
      bind)
        if [ "$b" = none ]; then echo "restore: unbinding $a"; dpdk-devbind.py -u "$a"
        else echo "restore: binding $a back to $b"; dpdk-devbind.py -b "$b" "$a"; fi ;;
      mount) # only the very mount this launcher made (by mount id), never one it finds there now
        if [ "$(mount_id "$a")" = "$c" ]; then
          echo "restore: unmounting $a"; umount "$a" && { [ "$b" = created ] && rmdir "$a" 2>/dev/null; true; }
        else echo "restore: $a is not the hugetlbfs this launcher mounted (already gone); leaving it"; fi ;;
      hugepages) echo "restore: nr_hugepages back to $b"; echo "$b" >"$a" ;;
    esac
  done < <(tac "$state")
  rm -f "$state"
}

# ---- preflight --------------------------------------------------------------------------------------
if [ -z "$sluice" ]; then
  for c in "$(realpath -m "$here/../target/release/sluice")" "$(command -v sluice 2>/dev/null)"; do
    [ -n "$c" ] && [ -x "$c" ] && { sluice="$c"; break; }
  done
fi
[ "$(id -u)" -eq 0 ] && pass "root" || fail "root: running as uid $(id -u); DPDK needs root here" "run with sudo"
[ -n "$sluice" ] && [ -x "$sluice" ] && pass "sluice binary: $sluice" ||
  fail "sluice binary: ${sluice:-not found}" "cargo build --release, or --sluice PATH / SLUICE_BIN"

facts=""
if [ -z "$config" ]; then
  fail "config: none given" "--config /etc/sluice/NAME.toml"
elif [ ! -r "$config" ]; then
  fail "config: $config does not exist or is not readable" "write it (examples/demo.toml is an example)"
elif [ -x "$sluice" ]; then
  if out=$("$sluice" --config "$config" --check 2>&1); then
    pass "config: $config (${out%%$'\n'*})"
    facts=$("$sluice" --config "$config" --check --json | python3 -c '
import json, shlex, sys
f = json.load(sys.stdin)
print("prefix", f["file_prefix"]); print("no_huge", int(f["no_huge"])); print("hugepage_mb", f["hugepage_mb"])
print("eal", shlex.join(f["eal_args"][1:])); print("console", f["console_socket"])
for l in f["lcores"]: print("lcore", l["lcore"], l["cpu"], l["role"])
for p in f["ports"]: print("port", p["name"], p["pci"] or "-", ",".join(p["ifaces"]) or "-")')
  else
    fail "config: $config: ${out##*: config }" "fix that field; sluice --config $config --check re-checks it"
  fi
fi
field() { awk -v k="$1" '$1 == k { $1 = ""; sub(/^ /, ""); print; exit }' <<<"$facts"; }

flags=$(grep -m1 '^flags' /proc/cpuinfo)
missing=""
for f in sse4_2 ssse3 popcnt; do [[ " $flags " == *" $f "* ]] || missing+=" $f"; done
[ -z "$missing" ] && pass "cpu flags: sse4_2 ssse3 popcnt (DPDK's -march=corei7 build)" ||
  fail "cpu flags: missing$missing, which this DPDK build requires" "run on an x86-64 CPU from 2010 or later"
[[ " $flags " == *" constant_tsc "* && " $flags " == *" nonstop_tsc "* ]] ||
  warn "cpu flags: no invariant TSC (constant_tsc, nonstop_tsc): latency figures and timers drift" ""

if [ -n "$facts" ]; then
  prefix=$(field prefix)
  state="$state_dir/launch-$prefix.state"
  # What an earlier launch of this prefix left behind (killed before it could clean up): its hugepage
  # files hold pages, its state file lists what to restore. Cleared before the checks count anything.
  if prefix_in_use "$prefix"; then
    [ "$mode" = cleanup ] && { echo "launch-appliance: '$prefix' is still running; stop it first" >&2; exit 1; }
  elif [ "$mode" = run ] || [ "$mode" = cleanup ]; then
    [ -s "$state" ] && echo "launch-appliance: restoring what an earlier launch of '$prefix' changed"
    remove_dpdk_files "$prefix"
    restore
  elif [ -s "$state" ]; then
    warn "state: an earlier launch of '$prefix' left changes ($state); launching (or --cleanup) restores them" ""
  fi
fi
if [ "$mode" = cleanup ]; then
  [ -n "$facts" ] || { echo "launch-appliance: --cleanup needs a valid configuration" >&2; exit 2; }
  exit 0
fi

if [ -z "$facts" ]; then
  skip "lcores, hugepages, NICs: need a valid configuration"
else
  # -- lcores
  online=$(expand_cpus "$(cat /sys/devices/system/cpu/online)")
  workers="" lcore_ok=1
  while read -r _ lcore cpu role; do
    grep -qx "$cpu" <<<"$online" || { fail "lcores: lcore $lcore ($role) runs on CPU $cpu, which does not exist (online: $(cat /sys/devices/system/cpu/online))" "pick CPUs from that list in eal.lcores / eal.cpus"; lcore_ok=0; }
    [ "$role" = worker ] && workers+="$cpu "
  done < <(grep '^lcore ' <<<"$facts")
  dup=$(grep '^lcore ' <<<"$facts" | awk '{ print $3 }' | sort -n | uniq -d | tr '\n' ' ')
  [ -n "$dup" ] && { fail "lcores: CPU ${dup% } runs more than one lcore; poll-mode lcores sharing a CPU starve each other" "give every lcore its own CPU (eal.cpus)"; lcore_ok=0; }
  ((lcore_ok)) && pass "lcores: $(grep '^lcore ' <<<"$facts" | awk '{ printf "%s%s@%s(%s)", s, $2, $3, $4; s = " " }')"
  miss=""
  for cpu in $workers; do
    for p in isolcpus nohz_full rcu_nocbs; do cmdline_cpus "$p" | grep -qx "$cpu" || miss+=" $p"; done
  done
  wl=$(tr ' ' ',' <<<"${workers% }")
  [ -z "$miss" ] && pass "lcore isolation: worker CPUs $wl are in isolcpus, nohz_full and rcu_nocbs" ||
    warn "lcore isolation: worker CPUs $wl are not all in$(tr ' ' '\n' <<<"$miss" | sort -u | tr '\n' ' ' | sed 's/ $//'): the kernel may interrupt the poll loops" \
      "add isolcpus=$wl nohz_full=$wl rcu_nocbs=$wl to the kernel command line and reboot"
  prefix_in_use "$prefix" && fail "file prefix: '$prefix' is in use by a running DPDK process" \
    "stop it, or give this appliance its own eal.file_prefix" || pass "file prefix: '$prefix' is free"

  # -- hugepages
  huge_kb=$(awk '/^Hugepagesize:/ { print $2 }' /proc/meminfo)
  huge_sys="/sys/kernel/mm/hugepages/hugepages-${huge_kb}kB"
  need_pages=0 add_pages=0 mount_needed=0
  if [ "$(field no_huge)" = 1 ]; then
    warn "hugepages: eal.no_huge = true: slower, and dpdk-proc-info and dpdk-dumpcap cannot attach" \
      "set eal.no_huge = false on an appliance"
  else
    need_pages=$(((($(field hugepage_mb) * 1024) + huge_kb - 1) / huge_kb))
    free_pages=$(cat "$huge_sys/free_hugepages")
    if ((free_pages >= need_pages)); then
      pass "hugepages: $free_pages free ${huge_kb} kB pages, sluice needs $need_pages ($(field hugepage_mb) MiB)"
    elif ((reserve)); then
      add_pages=$((need_pages - free_pages))
      plan "hugepages: $free_pages free ${huge_kb} kB pages, sluice needs $need_pages: reserving $add_pages more"
    else
      fail "hugepages: $free_pages free ${huge_kb} kB pages, sluice needs $need_pages ($(field hugepage_mb) MiB)" \
        "run with --reserve-hugepages, or: echo $(($(cat "$huge_sys/nr_hugepages") + need_pages - free_pages)) > $huge_sys/nr_hugepages"
    fi
    mnt=$(hugetlbfs_mount "$huge_kb")
    if [ -n "$mnt" ]; then pass "hugetlbfs: ${huge_kb} kB pages mounted at $mnt"
    elif ((reserve)); then mount_needed=1; plan "hugetlbfs: none mounted: mounting at $huge_mount"
    else fail "hugetlbfs: no ${huge_kb} kB hugetlbfs mounted" "run with --reserve-hugepages, or: mount -t hugetlbfs -o pagesize=${huge_kb}K nodev $huge_mount"; fi
  fi

  # -- NICs
  routes=$(default_route_devs)
  to_bind=()
  any_pci=0
  while read -r _ name pci ifaces; do
    if [ "$pci" != - ]; then
      any_pci=1
      dev="/sys/bus/pci/devices/$pci"
      if [ ! -e "$dev" ]; then
        fail "port $name: PCI device $pci does not exist" "list NICs with: dpdk-devbind.py -s (or lspci -D)"; continue
      fi
      # The kernel interfaces on this device (virtio puts them one level further down).
      netdevs=$(for n in /sys/class/net/*; do
        case "$(readlink -f "$n")" in "$(readlink -f "$dev")"/*) printf '%s ' "${n##*/}" ;; esac
      done)
      for nd in $netdevs; do
        if grep -qx "$nd" <<<"$routes"; then
          if ((force)); then warn "port $name: $pci ($nd) carries the host's default route; going ahead (--force)" ""
          else fail "port $name: $pci ($nd) carries the host's default route; binding it would cut this host off" \
            "use another NIC for the dataplane, or --force if you really mean it"; continue 2; fi
        fi
      done
      drv=$(basename "$(readlink "$dev/driver" 2>/dev/null)" 2>/dev/null); drv=${drv:-none}
      case "$drv" in
        vfio-pci | uio_pci_generic | igb_uio) pass "port $name: $pci bound to $drv" ;;
        mlx4_core | mlx5_core) pass "port $name: $pci on $drv (bifurcated: DPDK drives it alongside the kernel)" ;;
        *) if ((bind)); then plan "port $name: $pci on ${drv}${netdevs:+ ($netdevs)}: binding to $driver"; to_bind+=("$pci $drv")
           else fail "port $name: $pci is on ${drv}${netdevs:+ (${netdevs% })}, not a DPDK driver" "run with --bind, or: dpdk-devbind.py -b $driver $pci"; fi ;;
      esac
      node=$(cat "$dev/numa_node" 2>/dev/null || echo -1)
      if [ "$node" -ge 0 ]; then
        far=""; for cpu in $workers; do [ "$(cpu_node "$cpu")" = "$node" ] || far+="$cpu "; done
        if [ -z "$far" ]; then pass "numa: port $name ($pci) and the worker lcores are on node $node"
        elif ((force)); then warn "numa: port $name ($pci) is on node $node, worker CPUs ${far% } are not (--force)" ""
        else fail "numa: port $name ($pci) is on node $node, worker CPUs ${far% } are not: every packet crosses the interconnect" \
          "pick worker CPUs on node $node (lscpu shows them), or --force"; fi
      else pass "numa: port $name ($pci): no NUMA locality reported"; fi
    elif [ "$ifaces" != - ]; then
      for i in ${ifaces//,/ }; do
        if [ ! -e "/sys/class/net/$i" ]; then fail "port $name: interface $i does not exist" "create it, or fix ports.device"
        elif grep -qx "$i" <<<"$routes" && ((!force)); then
          fail "port $name: interface $i carries the host's default route" "use another interface, or --force"
        else pass "port $name: kernel interface $i"; fi
      done
    else
      pass "port $name: virtual device, nothing to bind"
    fi
  done < <(grep '^port ' <<<"$facts")
  if ((${#to_bind[@]})); then
    if [ "$driver" = vfio-pci ]; then
      groups=$(ls /sys/kernel/iommu_groups 2>/dev/null | wc -l)
      noiommu=$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null || echo N)
      if ! modinfo vfio-pci >/dev/null 2>&1 && [ ! -d /sys/bus/pci/drivers/vfio-pci ]; then
        fail "vfio-pci: the module is not available" "install the kernel's modules package, or --driver uio_pci_generic"
      elif ((groups == 0)) && [ "$noiommu" != Y ]; then
        fail "iommu: no IOMMU groups; vfio-pci needs the IOMMU" \
          "enable VT-d / AMD-Vi in the BIOS and add intel_iommu=on iommu=pt (or amd_iommu=on) to the kernel command line; or --driver uio_pci_generic"
      else pass "iommu: $groups IOMMU groups, vfio-pci available"; fi
    else
      modinfo uio_pci_generic >/dev/null 2>&1 || [ -d /sys/bus/pci/drivers/uio_pci_generic ] &&
        warn "uio_pci_generic: available; no DMA isolation (the documented fallback without an IOMMU)" "" ||
        fail "uio_pci_generic: the module is not available" "install the kernel's modules package"
    fi
  elif ((!any_pci)); then
    skip "iommu, vfio-pci: no PCI NICs configured (virtual devices only)"
  fi
fi

echo "preflight: $fails failed, $warns warnings"
if ((fails)); then
  [ "$mode" = check ] || echo "launch-appliance: not starting sluice: $fails check(s) failed" >&2
  exit 2
fi
[ "$mode" = check ] && exit 0

# ---- actions ----------------------------------------------------------------------------------------
act() { # act DESCRIPTION COMMAND...: prints the description; runs the command unless this is a dry run
  local what="$1"; shift
  if [ "$mode" = dry ]; then printf 'would run: %s\n' "$what"; return 0; fi
  printf 'run: %s\n' "$what"
  "$@"
}
undo_and_exit() { echo "launch-appliance: $1; undoing what was done" >&2; restore; exit 1; }
write_sys() { echo "$2" >"$1"; }

if ((add_pages)); then
  before=$(cat "$huge_sys/nr_hugepages")
  act "echo $((before + add_pages)) > $huge_sys/nr_hugepages" write_sys "$huge_sys/nr_hugepages" $((before + add_pages)) || undo_and_exit "cannot reserve hugepages"
  if [ "$mode" = run ]; then
    record hugepages "$huge_sys/nr_hugepages" "$before"
    got=$(cat "$huge_sys/free_hugepages")
    ((got >= need_pages)) || undo_and_exit "the kernel gave only $got free pages of $need_pages (memory fragmented: reserve at boot with hugepages= on the kernel command line)"
  fi
fi
if ((mount_needed)); then
  created=existed; [ -d "$huge_mount" ] || created=created
  act "mkdir -p $huge_mount" mkdir -p "$huge_mount" || undo_and_exit "cannot create $huge_mount"
  act "mount -t hugetlbfs -o pagesize=${huge_kb}K nodev $huge_mount" mount -t hugetlbfs -o "pagesize=${huge_kb}K" nodev "$huge_mount" || { [ "$created" = created ] && rmdir "$huge_mount"; undo_and_exit "cannot mount hugetlbfs"; }
  [ "$mode" = run ] && record mount "$huge_mount" "$created" "$(mount_id "$huge_mount")"
fi
for entry in "${to_bind[@]}"; do
  read -r pci drv <<<"$entry"
  act "modprobe $driver" modprobe "$driver" || undo_and_exit "cannot load $driver"
  act "dpdk-devbind.py -b $driver $pci" dpdk-devbind.py -b "$driver" "$pci" || undo_and_exit "cannot bind $pci to $driver"
  [ "$mode" = run ] && record bind "$pci" "$drv"
done

cmd=("$sluice" --config "$config" "${extra[@]}")
echo "EAL arguments: $(field eal)"
if [ "$mode" = dry ]; then
  printf 'would start: %s\n' "${cmd[*]}"
  exit 0
fi

# ---- run --------------------------------------------------------------------------------------------
printf 'start: %s\n' "${cmd[*]}"
"${cmd[@]}" &
child=$!
stopping=0
# Background children of a script ignore SIGINT, so every stop request reaches sluice as SIGTERM.
trap 'stopping=1; kill -TERM "$child" 2>/dev/null' TERM INT
trap 'kill -HUP "$child" 2>/dev/null' HUP
status=0
while :; do
  wait "$child"; status=$?
  kill -0 "$child" 2>/dev/null || break # wait returned for a signal: sluice is still running
done
echo "launch-appliance: sluice exited with $status$( ((stopping)) && echo " after a stop request")"
remove_dpdk_files "$prefix"
restore
exit "$status"
