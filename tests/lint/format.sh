#!/bin/sh
# Every C++ file is formatted with the repository's .clang-format.
set -u
cd "$(dirname "$0")/../.."
command -v clang-format >/dev/null || { echo "clang-format not installed"; exit 1; }
bad=$(git ls-files 'cmd/*.cpp' 'cmd/*.hpp' 'src/*.cpp' 'src/*.hpp' 'tests/*.cpp' 'tests/*.hpp' 2>/dev/null |
      while read -r f; do [ -f "$f" ] && ! clang-format --dry-run -Werror "$f" >/dev/null 2>&1 && echo "$f"; done)
[ -z "$bad" ] || { echo "not clang-formatted (run clang-format -i):"; echo "$bad"; exit 1; }
