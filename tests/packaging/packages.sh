#!/bin/sh
# Builds the .deb and .rpm with CPack from BUILD_DIR, installs the .deb on this machine and checks
# the installed tool: binary, man page, completion, systemd units; then removes it again.
# Usage: packages.sh BUILD_DIR   (needs root or sudo; CI runs it on a throwaway machine)
set -eu
build="$(realpath "$1")"
cd "$(dirname "$0")/../.."
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
(cd "$build" && rm -f ./*.deb ./*.rpm && cpack -G "DEB;RPM" >/dev/null)
deb="$(ls "$build"/certenroll-cli_*.deb)"
rpm="$(ls "$build"/certenroll-cli-*.rpm)"
# Kerberos, OpenSSL and libp11 are loaded with dlopen, so their dependencies are declared by hand.
for dep in libgssapi-krb5-2 libkrb5-3 libssl3 libp11-3; do
  dpkg-deb -f "$deb" Depends | grep -q "$dep" || { echo "$deb does not depend on $dep"; exit 1; }
done
for dep in krb5-libs openssl-libs libp11; do
  rpm -qpR "$rpm" 2>/dev/null | grep -q "$dep" || { echo "$rpm does not require $dep"; exit 1; }
done

$sudo dpkg -i "$deb" >/dev/null
trap '$sudo dpkg -r certenroll-cli >/dev/null' EXIT
/usr/bin/certenroll-cli --version | grep -q "^certenroll-cli [0-9]"
man -w certenroll-cli | grep -q certenroll-cli.1
bash -c 'source /usr/share/bash-completion/completions/certenroll-cli && complete -p certenroll-cli' >/dev/null
systemd-analyze verify /usr/lib/systemd/system/certenroll-renew.service \
  /usr/lib/systemd/system/certenroll-renew.timer
echo "packages OK: $(basename "$deb"), $(basename "$rpm")"
