#!/bin/sh
# The man page renders without warnings (groff -ww, mandoc -Tlint), and its EXIT STATUS table matches README's, which the
# unit tests check against src/error.cpp.
set -eu
cd "$(dirname "$0")/../.."
warnings=$(groff -t -man -ww -z man/certenroll-cli.1 2>&1)
[ -z "$warnings" ] || { echo "groff warnings:"; echo "$warnings"; exit 1; }
mandoc -Tlint -Wwarning man/certenroll-cli.1
/usr/bin/python3 - <<'PY'
import re, sys
readme = open("README.md").read()
block = readme.split("exit-codes:begin")[1].split("exit-codes:end")[0]
rows = re.findall(r"^\| (\d+) \| (\w+) \| (.+?) \|$", block, re.M)
man = open("man/certenroll-cli.1").read()
missing = [r for r in rows if "\t".join(r) not in man]
if missing:
    sys.exit("man page EXIT STATUS lacks: %s" % missing)
PY
