#!/bin/sh
# The systemd units as shipped:
# - pass `systemd-analyze verify` (with ExecStart pointed at the built binary, since the package
#   is not installed when this runs), alone and with the drop-in the man page documents;
# - name no path that would stop the service from starting (226/NAMESPACE): each one is installed
#   by `cmake --install` (what the packages contain), or created by systemd for the unit
#   (StateDirectory= and the like), or optional ("-" prefix);
# - are rated at most 4.0 by `systemd-analyze security` (7.5 before issue 24, 3.5 since: see
#   tests/packaging/README.md).
# Usage: systemd_units.sh CLI   (CLI in BUILD_DIR/cmd/, whose install tree is checked)
set -eu
cli="$(realpath "$1")"
build="$(dirname "$(dirname "$cli")")"
cd "$(dirname "$0")/../.."
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
service=packaging/systemd/certenroll-renew.service
timer=packaging/systemd/certenroll-renew.timer

verify() {  # verify DIR: the units in DIR (and their drop-ins there)
  out="$(systemd-analyze verify --man=no "$1/certenroll-renew.service" \
           "$1/certenroll-renew.timer" 2>&1)" || { echo "$out"; exit 1; }
  # verify only warns about some mistakes: treat any output about our units as a failure.
  if printf '%s' "$out" | grep -q certenroll-renew; then echo "$out"; exit 1; fi
}
mkdir "$work/units"
sed "s|/usr/bin/certenroll-cli|$cli|" "$service" > "$work/units/certenroll-renew.service"
cp "$timer" "$work/units/"
verify "$work/units"
# The drop-in of certenroll-cli(1), "Scheduled renewal with systemd", for other output paths.
mkdir "$work/units/certenroll-renew.service.d"
sed -n '/^\.SS Scheduled renewal with systemd/,/^\.SH/p' man/certenroll-cli.1 |
  sed -n '/^\.nf/,/^\.fi/p' | grep -v '^\.[nf][fi]$' | sed 's/\\-/-/g' \
  > "$work/units/certenroll-renew.service.d/paths.conf"
grep -q '^ReadWritePaths=' "$work/units/certenroll-renew.service.d/paths.conf" ||
  { echo "certenroll-cli(1) shows no ReadWritePaths= drop-in"; exit 1; }
verify "$work/units"

# Paths: what the packages contain is what `cmake --install` installs.
DESTDIR="$work/root" cmake --install "$build" --prefix /usr >/dev/null
check_paths() {  # check_paths UNIT...: prints each path that would be missing on a stock system
  for unit in "$@"; do
    created=""
    for pair in StateDirectory=/var/lib ConfigurationDirectory=/etc LogsDirectory=/var/log \
                CacheDirectory=/var/cache RuntimeDirectory=/run; do
      for name in $(sed -n "s/^${pair%%=*}=//p" "$unit"); do created="$created ${pair#*=}/$name"; done
    done
    grep -vE '^[#;]|^Documentation=' "$unit" | grep '=' | cut -d= -f2- | tr ' =' '\n\n' |
      grep -E '^[-@+!:]*/' | while read -r path; do
        case "$path" in -*) continue;; esac  # optional: systemd skips it when missing
        path="$(printf '%s' "$path" | sed 's/^[@+!:]*//')"
        [ -e "$work/root$path" ] && continue
        ok=""
        for dir in $created; do
          case "$path/" in "$dir"/*) ok=1;; esac
        done
        [ -n "$ok" ] || echo "$unit names $path: not in the package, not created by systemd"
      done
  done
}
missing="$(check_paths "$service" "$timer")"
[ -z "$missing" ] || { echo "$missing"; exit 1; }
# The check sees the mistake the service once had (a directory the package does not create).
sed 's|^ProtectSystem=strict$|&\nReadWritePaths=/etc/ssl/certenroll|' "$service" > "$work/bad.service"
check_paths "$work/bad.service" | grep -q '/etc/ssl/certenroll' ||
  { echo "the path check misses ReadWritePaths=/etc/ssl/certenroll"; exit 1; }

# Exposure (0-10, systemd's scale; --threshold counts tenths): no more than 4.0.
exposure="$(systemd-analyze security --offline=yes --no-pager --threshold=40 \
              "$work/units/certenroll-renew.service" 2>&1)" || {
  echo "$exposure" | tail -1; echo "systemd-analyze security: exposure above 4.0"; exit 1; }
echo "systemd units OK ($(echo "$exposure" | tail -1 | sed 's/^.*: //'))"
