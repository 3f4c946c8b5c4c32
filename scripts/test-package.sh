#!/usr/bin/env bash
# The Debian package, built and installed for real: its contents, lintian's verdict (where lintian is
# installed), an install with dpkg, `sluice --version`, the man pages and completions where they belong,
# `systemd-analyze verify` on the installed units, then a purge that leaves nothing behind. Needs root
# and the release binaries (scripts/package.sh --no-build).
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "FAIL: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' sluice 2>/dev/null | grep -q "install ok installed"; then
  fail "a sluice package is already installed here; this test installs and purges its own"
fi
bash scripts/package.sh --no-build
deb=$(ls target/debian/sluice_*.deb)

contents=$(dpkg-deb --contents "$deb")
for f in ./usr/bin/sluice ./usr/bin/sluicectl ./usr/bin/sluice-perf ./usr/sbin/sluice-launch \
         ./lib/systemd/system/sluice@.service ./lib/systemd/system/sluice-speaker@.service \
         ./etc/sluice/example.toml ./usr/share/man/man1/sluice.1.gz ./usr/share/man/man1/sluicectl.1.gz \
         ./usr/share/man/man1/sluice-perf.1.gz ./usr/share/bash-completion/completions/sluicectl \
         ./usr/share/zsh/vendor-completions/_sluicectl ./usr/share/fish/vendor_completions.d/sluicectl.fish \
         ./usr/share/doc/sluice/README.md ./usr/share/doc/sluice/docs/launch.md; do
  grep -q " $f\$" <<<"$contents" || fail "$deb lacks $f"
done
grep -q "/usr/local" <<<"$(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./lib/systemd/system/sluice@.service)" \
  && fail "the packaged unit names /usr/local"
[ "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles)" = "/etc/sluice/example.toml" ] \
  || fail "the example configuration is not a conffile"
depends=$(dpkg-deb --field "$deb" Depends)
grep -q "dpdk" <<<"$depends" || fail "Depends names no DPDK runtime: $depends"
echo "ok: contents, conffile, Depends: $depends"

if command -v lintian >/dev/null; then
  # Errors fail the test; warnings are printed.
  out=$(lintian --tag-display-limit 0 "$deb" || true)
  echo "$out"
  ! grep -q "^E: " <<<"$out" || fail "lintian reports errors"
  echo "ok: lintian (no errors)"
fi

cleanup() { dpkg --purge sluice >/dev/null 2>&1 || true; }
trap cleanup EXIT
dpkg -i "$deb" >/dev/null || fail "dpkg -i $deb"
/usr/bin/sluice --version | grep -q "^sluice " || fail "the installed sluice --version"
/usr/bin/sluicectl --version >/dev/null || fail "the installed sluicectl --version"
man -w sluicectl >/dev/null 2>&1 || [ -s /usr/share/man/man1/sluicectl.1.gz ] || fail "no sluicectl man page"
zcat /usr/share/man/man1/sluicectl.1.gz | grep -q 'EXIT STATUS' || fail "the man page has no EXIT STATUS"
out=$(systemd-analyze verify --man=no /lib/systemd/system/sluice@prod.service /lib/systemd/system/sluice-speaker@prod.service 2>&1) \
  || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify says: $out"
echo "ok: installed; sluice --version, man pages, systemd-analyze verify on the installed units"
dpkg --purge sluice >/dev/null || fail "dpkg --purge"
for f in /usr/bin/sluice /usr/sbin/sluice-launch /lib/systemd/system/sluice@.service /etc/sluice/example.toml; do
  [ ! -e "$f" ] || fail "$f is left after a purge"
done
trap - EXIT
echo "ok: purged, nothing left"
