#!/bin/sh
# The architecture, checked: cmd/ never includes curl, OpenSSL or tinyxml2; src/ never includes
# CLI11 and never prints (except src/platform, which owns the terminal for no-echo prompts); only
# src/xml includes tinyxml2; only src/http includes curl.
set -u
cd "$(dirname "$0")/../.."
status=0
fail() { echo "layering: $1"; status=1; }

hits=$(grep -rnE '#include *[<"](curl/|openssl/|tinyxml2)' cmd/ || true)
[ -z "$hits" ] || fail "cmd/ includes a library it must not see:
$hits"
hits=$(grep -rnE '#include *[<"]CLI/' src/ || true)
[ -z "$hits" ] || fail "src/ includes CLI11:
$hits"
hits=$(grep -rnE 'std::(cout|cerr|clog)|(^|[^a-zA-Z_])(printf|puts|fputs|fprintf) *\(' src/ | grep -v '^src/platform/' || true)
[ -z "$hits" ] || fail "src/ prints (return values or use a diagnostics sink instead):
$hits"
hits=$(grep -rnlE '#include *[<"]tinyxml2' src/ | grep -v '^src/xml/' || true)
[ -z "$hits" ] || fail "tinyxml2 outside src/xml: $hits"
hits=$(grep -rnlE '#include *[<"]curl/' src/ | grep -v '^src/http/' || true)
[ -z "$hits" ] || fail "curl outside src/http: $hits"
exit $status
