#!/bin/sh
# The man page documents every option the binary accepts, and no option it does not.
# Usage: man_options.sh CLI
set -u
cli="$1"
cd "$(dirname "$0")/../.."
man=man/certenroll-cli.1
status=0
options_of() { "$cli" $1 --help | grep -oE '^ +(-[a-zA-Z], ?)?--[a-z0-9-]+' | grep -oE -- '--[a-z0-9-]+'; }
all=""
for sub in "" policy enroll renew retrieve-pending diagnose certmonger-helper completion; do
  for opt in $(options_of "$sub"); do
    all="$all $opt"
    [ "$opt" = "--help" ] && continue
    pattern=$(printf '%s' "$opt" | sed 's/-/\\\\-/g')
    if ! grep -q -- "$pattern\([^a-z0-9\\\\-]\|\\\\-[^a-z]\|$\)" "$man"; then
      echo "man page lacks ${sub:-global} option $opt"
      status=1
    fi
  done
  if [ -n "$sub" ] && ! grep -q "^\.SH $(printf '%s' "$sub" | tr a-z A-Z | sed 's/-/\\\\-/g')" "$man"; then
    echo "man page has no section for subcommand $sub"
    status=1
  fi
done
# Options the man page names must exist.
for opt in $(grep -oE '\\-\\-[a-z0-9]+(\\-[a-z0-9]+)*' "$man" | sed 's/\\-/-/g' | sort -u); do
  case " $all " in *" $opt "*) ;; *) echo "man page names $opt, which no subcommand accepts"; status=1;; esac
done
exit $status
