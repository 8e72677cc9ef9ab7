#!/bin/sh
# Secrets never in argv (issue 23, item 8): no document, example, man page, completion or hint
# (every string in src/ and cmd/) tells anybody to put a password, PIN or passphrase on a command
# line, where `ps` and /proc/PID/cmdline show it to every local user. Secrets go in a file
# (--password-file, --pin-file, --proxy-password-file, ...) or the environment.
# Flagged: a URL with "user:password@" (a proxy or server URL holding a password), an option
# that takes the secret itself (--password VALUE, --pin VALUE, --proxy-password VALUE,
# --passphrase VALUE, curl's --proxy-user user:password / -U user:password), a PKCS#11 URI with
# pin-value=, and openssl's -passin/-passout pass:SECRET.
set -u
cd "$(dirname "$0")/../.."
status=0
files="README.md SECURITY.md man/certenroll-cli.1 packaging/completions $(ls tests/*/README.md)
       src cmd tests/demo-enroll"
pattern='[a-z0-9]+://[^/@ "'"'"']*:[^/@ "'"'"'*]+@|--(password|pin|proxy-password|passphrase|pfx-password)( +|=)[^- ]|--proxy-user +[^ ]+:[^ ]|pin-value=|-pass(in|out) +pass:'
# user:***@ (a redacted display) and :password@ in a sentence saying it is refused are fine.
hits=$(grep -rnIE "$pattern" $files | grep -vE 'user:\*\*\*@|refused|never|must not|\*\*\*' || true)
if [ -n "$hits" ]; then
  echo "secrets: a document or hint puts a secret in argv (use a file or the environment):"
  echo "$hits"
  status=1
fi
exit $status
