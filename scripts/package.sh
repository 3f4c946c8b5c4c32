#!/usr/bin/env bash
# Builds the Debian package: target/debian/sluice_VERSION_ARCH.deb, with sluice, sluicectl, sluice-perf,
# the launcher (/usr/sbin/sluice-launch), the systemd units, the example configuration as a conffile
# (/etc/sluice/example.toml), man pages, bash/zsh/fish completions and the docs. Installs cargo-deb from
# crates.io when it is missing. Usage: scripts/package.sh [--no-build] (--no-build: use the release
# binaries already in target/release).
set -euo pipefail
cd "$(dirname "$0")/.."
build=1
[ "${1:-}" = "--no-build" ] && build=0

if ! cargo deb --version >/dev/null 2>&1; then
  echo "package: installing cargo-deb"
  cargo install --quiet --locked cargo-deb --version 3.8.0
fi
((build)) && cargo build --release --quiet

assets=target/package
rm -rf "$assets" && mkdir -p "$assets"/{man,completions/bash,completions/zsh,completions/fish,units}
# Man pages and completions, from the binaries' own clap definitions.
target/release/sluice --man >"$assets/man/sluice.1"
target/release/sluicectl man >"$assets/man/sluicectl.1"
target/release/sluice-perf man >"$assets/man/sluice-perf.1"
for b in sluice sluicectl sluice-perf; do
  if [ "$b" = sluice ]; then gen=(target/release/sluice --completions); else gen=(target/release/"$b" completions); fi
  "${gen[@]}" bash >"$assets/completions/bash/$b"
  "${gen[@]}" zsh >"$assets/completions/zsh/_$b"
  "${gen[@]}" fish >"$assets/completions/fish/$b.fish"
done
gzip -9n "$assets"/man/*.1
# The units as installed from source name /usr/local; the package installs under /usr.
for u in scripts/systemd/*.service; do
  sed -e 's|/usr/local/sbin/|/usr/sbin/|g' -e 's|/usr/local/bin/|/usr/bin/|g' \
      -e 's|/usr/local/share/doc/sluice|/usr/share/doc/sluice|g' "$u" >"$assets/units/$(basename "$u")"
done
rm -f target/debian/sluice_*.deb
if ! cargo deb --no-build --strip -p sluice-dataplane -o target/debian/ >"$assets/cargo-deb.log" 2>&1; then
  cat "$assets/cargo-deb.log" >&2
  echo "package: cargo deb failed" >&2
  exit 1
fi
# Its notes on assets outside target/release (generated above, on purpose) are left out.
grep -v "^warning: Only source paths starting with" "$assets/cargo-deb.log" || true
deb=$(ls target/debian/sluice_*.deb)
echo "package: $deb"
