#!/bin/sh
# Keeps the Windows port honest without a Windows machine, with mingw-w64:
# 1. src/platform/windows.cpp and src/error.cpp cross-compile and link into a tiny program that
#    references every entry point of src/platform/platform.hpp;
# 2. every other translation unit of src/ and cmd/ compiles for Windows (-fsyntax-only), unless it
#    needs a third-party header that mingw-w64 has no copy of here: OpenSSL, GSS-API/krb5, libp11
#    and p11-kit are built per platform, so their Linux headers say nothing about Windows. The
#    portable headers are used as they are: nlohmann/json, CLI11 and tinyxml2 (header-only or one
#    plain header) and libcurl's (one set for every platform, chosen by compiler macros).
# A translation unit skipped for any other missing header (a POSIX one, say) fails the check.
# Usage: tests/packaging/windows_platform.sh
set -eu
cd "$(dirname "$0")/../.."
cxx=x86_64-w64-mingw32-g++-posix
command -v "$cxx" >/dev/null 2>&1 || cxx=x86_64-w64-mingw32-g++
if ! command -v "$cxx" >/dev/null 2>&1; then
  echo "windows_platform: $cxx not found (install g++-mingw-w64-x86-64)" >&2
  exit 1
fi
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# 1. The platform layer links.
cat >"$out/main.cpp" <<'CPP'
#include "platform/platform.hpp"
// Every entry point is referenced, so each must compile and link on Windows.
namespace p = certenroll::platform;
int main(int argc, char**) {
  if (argc > 1) {  // never taken when the check runs; only the linker must resolve these
    p::write_new_file_durably("a", "x", std::filesystem::perms::owner_read);
    p::replace_file("a", "b");
    p::sync_directory(".");
    auto lock = p::FileLock::try_acquire("lock");
    (void)p::FileLock::holder("lock");
    (void)p::read_hidden_line("PIN: ");
    (void)p::run_shell_command("echo", {{"K", "V"}}, [](std::string_view) { return false; });
    (void)p::ownership_of("a", false);
    p::make_owner_only("a");
    (void)p::read_file_no_follow("a");
    p::harden_process();
    (void)p::user_state_base();
    (void)p::user_config_base();
    (void)p::resolve_host("localhost");
    (void)p::ip_address_text({127, 0, 0, 1});
    (void)p::parse_ip_address("::1");
    auto log = p::AppendFile::open("audit.jsonl", std::filesystem::perms::owner_read);
    log.append("{}\n");
    (void)log.ownership();
    p::system_log("certenroll-cli", p::LogSeverity::Notice, "{}");
  }
  return p::system_state_dir().empty() || p::system_config_file().empty() ||
         p::temporary_suffix().empty() || p::host_name().empty() ||
         p::process_id() == 0 ||
         (p::stdin_is_terminal() && p::is_privileged() && p::trust_store_is_native() && false);
}
CPP
"$cxx" -std=c++20 -Wall -Wextra -Werror -Isrc -o "$out/platform-check.exe" \
  src/platform/windows.cpp src/platform/temporary_suffix.cpp src/platform/trust.cpp \
  src/platform/ip_address.cpp src/error.cpp \
  "$out/main.cpp" -ladvapi32 \
  -lws2_32 -static
test -s "$out/platform-check.exe"
echo "windows_platform: src/platform/windows.cpp cross-compiles and links with $cxx"

# 2. Every other translation unit, with the portable third-party headers.
mkdir "$out/include"
for header in /usr/include/nlohmann /usr/include/CLI /usr/include/tinyxml2.h; do
  [ -e "$header" ] && ln -s "$header" "$out/include/"
done
curl_headers=$(dirname "$(echo '#include <curl/curl.h>' | cpp -H -o /dev/null 2>&1 |
                          sed -n 's/^\. //p' | head -n 1)")
[ -d "$curl_headers" ] && ln -s "$curl_headers" "$out/include/curl"

# cmd/test_seams.cpp belongs to certenroll-cli-test, a POSIX-only test build (it kills itself
# with SIGKILL at a chosen step; cmd/CMakeLists.txt builds it only where that exists).
find src cmd -name '*.cpp' ! -path src/platform/posix.cpp ! -path src/platform/windows.cpp \
  ! -path cmd/test_seams.cpp | sort >"$out/units"
: >"$out/skipped"
: >"$out/failed"
# Two at a time: each unit is a separate compiler run. A unit's missing headers are found first
# (-M -MG lists every header it includes, and names the ones not found as written), so a POSIX
# header cannot hide behind an OpenSSL one that happens to be included first.
xargs -P 2 -n 1 sh -c '
  cxx=$1 out=$2 unit=$3
  flags="-std=c++20 -Isrc -Icmd -isystem $out/include -DCERTENROLL_VERSION=\"0\""
  missing=$("$cxx" $flags -M -MG "$unit" | tr -s " \\\\" "\n\n" | sed "1d" |
            while read -r header; do
              [ -n "$header" ] && [ ! -e "$header" ] && echo "$header"
            done | sort -u)
  unportable=$(echo "$missing" | grep -vE "^(openssl/|gssapi|krb5|libp11\.h$|p11-kit/|$)" || true)
  if [ -n "$unportable" ]; then
    echo "$unit (includes $(echo $unportable))" >>"$out/failed"
  elif [ -n "$missing" ]; then
    echo "$unit ($(echo $missing | cut -d" " -f1))" >>"$out/skipped"
  elif ! "$cxx" $flags -fsyntax-only -Wall -Wextra -Werror "$unit" 2>"$out/log.$$"; then
    echo "$unit" >>"$out/failed"
    cat "$out/log.$$" >&2
  fi' sh "$cxx" "$out" <"$out/units"

checked=$(($(wc -l <"$out/units") - $(wc -l <"$out/skipped") - $(wc -l <"$out/failed")))
echo "windows_platform: $checked translation units compile for Windows; skipped, for headers" \
     "mingw-w64 has no copy of here:"
sed 's/^/  /' "$out/skipped" | sort
if [ -s "$out/failed" ]; then
  echo "windows_platform: these do not compile for Windows:" >&2
  sed 's/^/  /' "$out/failed" >&2
  exit 1
fi
