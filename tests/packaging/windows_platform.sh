#!/bin/sh
# Checks that the Windows half of the platform layer compiles: cross-compiles
# src/platform/windows.cpp and src/error.cpp with mingw-w64 and links them into a tiny program,
# so a change to src/platform/platform.hpp cannot silently break the Windows port.
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
    (void)p::run_shell_command("echo", {{"K", "V"}});
    (void)p::user_state_base();
    (void)p::user_config_base();
    (void)p::resolve_host("localhost");
    auto log = p::AppendFile::open("audit.jsonl", std::filesystem::perms::owner_read);
    log.append("{}\n");
    p::system_log("certenroll-cli", p::LogSeverity::Notice, "{}");
  }
  return p::system_state_dir().empty() || p::system_config_file().empty() ||
         p::temporary_suffix().empty() || p::host_name().empty() ||
         p::process_id() == 0 ||
         (p::stdin_is_terminal() && p::is_privileged() && p::trust_store_is_native() && false);
}
CPP
"$cxx" -std=c++20 -Wall -Wextra -Werror -Isrc -o "$out/platform-check.exe" \
  src/platform/windows.cpp src/error.cpp "$out/main.cpp" -ladvapi32 -lws2_32 -static
test -s "$out/platform-check.exe"
echo "windows_platform: src/platform/windows.cpp cross-compiles and links with $cxx"
