#!/usr/bin/env bash
# An interrupted harness run leaves nothing behind: SIGTERM to sluice-perf alone (not its process group)
# while sluice, testpmd or the latency loop runs must stop the child, put hugepages and hugetlbfs back
# and remove every hugepage file, runtime directory and temporary file; SIGKILL must still stop the
# child (parent-death signal). Needs root and the release binaries. Usage: test-interrupt.sh CLIENT NODE
set -euo pipefail
cd "$(dirname "$0")/.."
client=$1 node=$2
perf=target/release/sluice-perf
nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# Starts the harness in the background with a private TMPDIR; waits until it has a child named $1.
start() {
  local child=$1; shift
  mkdir -p "$tmp/t"
  TMPDIR=$tmp/t "$perf" "$@" >"$tmp/out" 2>"$tmp/err" &
  pid=$!
  for _ in $(seq 1 200); do
    if cpid=$(pgrep -P "$pid" -x "$child"); then return 0; fi
    kill -0 "$pid" 2>/dev/null || fail "sluice-perf $1 exited before starting $child: $(cat "$tmp/err")"
    sleep 0.1
  done
  fail "sluice-perf $1 did not start $child within 20 s"
}

# Sends $1 to the harness alone and waits for it (and the child) to be gone.
interrupt() {
  sleep 1.5
  kill -"$1" "$pid"
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" -ne 0 ] || fail "an interrupted run exited 0"
  for _ in $(seq 1 150); do kill -0 "$cpid" 2>/dev/null || break; sleep 0.1; done
  ! kill -0 "$cpid" 2>/dev/null || fail "child $cpid still runs after SIGTERM/SIGKILL to the harness"
}

# Nothing of the run is left: processes, hugepages, mounts, hugepage files, runtime directories, temp files.
assert_clean() {
  local what=$1
  ! pgrep -f "file-prefix sluice-perf|$tmp/t/" >/dev/null || fail "$what: a process was left: $(pgrep -af sluice)"
  [ "$(cat $nr)" = "$pages0" ] || fail "$what: nr_hugepages $(cat $nr), was $pages0"
  [ "$(grep -c hugetlbfs /proc/mounts)" = "$mounts0" ] || fail "$what: hugetlbfs mounts changed"
  ! compgen -G "/dev/hugepages/sluice-perf*" >/dev/null || fail "$what: hugepage files left: $(ls /dev/hugepages)"
  ! compgen -G "/var/run/dpdk/sluice-perf*" >/dev/null || fail "$what: runtime dirs left: $(ls /var/run/dpdk)"
  [ -z "$(ls -A "$tmp/t")" ] || fail "$what: temporary files left: $(ls -A "$tmp/t")"
  echo "ok: $what"
}

pages0=$(cat $nr)
mounts0=$(grep -c hugetlbfs /proc/mounts || true)
inputs=(--client "$client" --node "$node" --out "$tmp/results")

start sluice compare "${inputs[@]}" --rounds 2 --seconds 5 --huge yes
[ "$(cat $nr)" -ge 1024 ] || fail "compare --huge yes reserved no hugepages"
interrupt TERM
grep -q "interrupted" "$tmp/err" || fail "no 'interrupted' message: $(cat "$tmp/err")"
assert_clean "compare --huge yes, SIGTERM while sluice runs"

start dpdk-testpmd compare "${inputs[@]}" --rounds 1 --seconds 3 --huge no
interrupt TERM
assert_clean "compare --huge no, SIGTERM while testpmd runs"

start sluice latency --loads 50 --seconds 20 --no-baseline --out "$tmp/results"
interrupt TERM
grep -q "interrupted" "$tmp/err" || fail "no 'interrupted' message: $(cat "$tmp/err")"
assert_clean "latency, SIGTERM while measuring"

# SIGKILL: nothing in the harness runs, but the child still gets SIGINT and cleans up after itself; the
# harness's own EAL files and temporary directory are what SIGKILL cannot avoid leaving.
start sluice latency --loads 50 --seconds 20 --no-baseline --out "$tmp/results"
interrupt KILL
[ ! -e /var/run/dpdk/sluice-perf-lat-sluice ] || fail "the SIGKILLed harness's sluice left its runtime directory"
rm -rf /var/run/dpdk/sluice-perf-lat "$tmp/t" && mkdir "$tmp/t"
assert_clean "latency, SIGKILL while measuring (child stopped by its parent-death signal)"
