#!/bin/sh
# The architecture, checked: cmd/ never includes OpenSSL, libcurl or tinyxml2; src/ never includes
# CLI11 and never prints (except src/platform, which owns the terminal for no-echo prompts); only
# src/xml includes tinyxml2 (the rest sees the namespace-resolved Element tree); only src/platform
# touches sockets (DNS) and only src/http and src/diagnose use libcurl, which opens every
# connection; src/audit depends on core and platform only.
set -u
cd "$(dirname "$0")/../.."
status=0
fail() { echo "layering: $1"; status=1; }

hits=$(grep -rnE '#include *[<"](openssl/|curl/|tinyxml2)' cmd/ || true)
[ -z "$hits" ] || fail "cmd/ includes a library it must not see:
$hits"
hits=$(grep -rnE '#include *[<"]CLI/' src/ || true)
[ -z "$hits" ] || fail "src/ includes CLI11:
$hits"
hits=$(grep -rnE 'std::(cout|cerr|clog)|(^|[^a-zA-Z_])(printf|puts|fputs|fprintf) *\(' src/ | grep -v '^src/platform/' || true)
[ -z "$hits" ] || fail "src/ prints (return values or use a diagnostics sink instead):
$hits"
hits=$(grep -rnlE '#include *[<"]tinyxml2' src/ | grep -v '^src/xml/' || true)
[ -z "$hits" ] || fail "tinyxml2 outside src/xml (the rest uses xml::Element): $hits"
hits=$(grep -rnlE '#include *<(sys/socket|netdb|poll|netinet/[a-z]+|winsock2|ws2tcpip)\.h>' src/ |
       grep -vE '^src/platform/' || true)
[ -z "$hits" ] || fail "sockets outside src/platform: $hits"
hits=$(grep -rnlE '#include *[<"]curl/' src/ | grep -vE '^src/(http|diagnose)/' || true)
[ -z "$hits" ] || fail "libcurl outside src/http and src/diagnose: $hits"
# The audit trail knows events, not protocols: src/audit sees only core and the platform layer
# (the flows fill its events), and only src/platform talks to syslog.
hits=$(grep -rnE '#include *"' src/audit/ | grep -vE '#include *"(audit/|platform/|encoding/|error\.hpp)' || true)
[ -z "$hits" ] || fail "src/audit includes a module other than core and platform:
$hits"
hits=$(grep -rnE '(^|[^a-zA-Z_])(openlog|syslog) *\(' src/ | grep -vE '^[^:]+:[0-9]+: *//' |
       grep -v '^src/platform/' || true)
[ -z "$hits" ] || fail "syslog outside src/platform:
$hits"
exit $status
