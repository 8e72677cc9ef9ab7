#!/bin/sh
# Installs what certenroll-cli needs on Debian 12 / Ubuntu, from the distribution's packages.
#   packaging/install-deps.sh          build and runtime dependencies
#   packaging/install-deps.sh --test   plus the tools the test suite drives (sandbox CA, KDC,
#                                      SoftHSM2, swtpm, sanitizer and fuzzer runtimes,
#                                      mingw-w64 for the Windows compile check, Google
#                                      Benchmark and GNU time for tests/bench, valgrind for
#                                      tests/valgrind/run, systemd and lintian for
#                                      tests/packaging, certmonger for the
#                                      certmonger-helper tests, debootstrap for tests/pqc)
set -eu
build="build-essential cmake ninja-build pkg-config g++ libcli11-dev
libssl-dev libcurl4-openssl-dev libtinyxml2-dev nlohmann-json3-dev libp11-dev doctest-dev libkrb5-dev
libp11-kit-dev"
test="python3 python3-cryptography openssl curl ca-certificates softhsm2 opensc swtpm swtpm-tools
tpm2-openssl tpm2-tools tpm2-abrmd libtss2-tcti-tabrmd0 dbus libtss2-dev libengine-pkcs11-openssl krb5-kdc krb5-admin-server krb5-user
python3-gssapi clang libfuzzer-14-dev libclang-rt-14-dev clang-format procps groff-base mandoc
man-db rpm systemd lintian bash g++-mingw-w64-x86-64 faketime libbenchmark-dev time valgrind
certmonger debootstrap"
packages="$build"
[ "${1:-}" = "--test" ] && packages="$build $test"
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
# shellcheck disable=SC2086
$sudo apt-get install -y -q --no-install-recommends $packages
