#!/bin/sh
# The systemd units pass `systemd-analyze verify` (with ExecStart pointed at the built binary,
# since the package is not installed when this runs). Usage: systemd_units.sh CLI
set -eu
cli="$(realpath "$1")"
cd "$(dirname "$0")/../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|/usr/bin/certenroll-cli|$cli|" packaging/systemd/certenroll-renew.service > "$work/certenroll-renew.service"
cp packaging/systemd/certenroll-renew.timer "$work/"
out="$(systemd-analyze verify --man=no "$work/certenroll-renew.service" "$work/certenroll-renew.timer" 2>&1)" || {
  echo "$out"; exit 1; }
# verify only warns about some mistakes: treat any output about our units as a failure.
if printf '%s' "$out" | grep -q certenroll-renew; then echo "$out"; exit 1; fi
echo "systemd units OK"
