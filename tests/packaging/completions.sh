#!/bin/bash
# The shell completions in packaging/completions/ are what the binary generates, and the bash one
# completes subcommands, options and option values. Usage: completions.sh CLI
set -u
cli="$1"
cd "$(dirname "$0")/../.."
status=0
check_file() {
  if ! diff -u "packaging/completions/$2" <("$cli" completion "$1") >/dev/null; then
    echo "packaging/completions/$2 is stale: run '$cli completion $1 > packaging/completions/$2'"
    status=1
  fi
}
check_file bash certenroll-cli.bash
check_file zsh _certenroll-cli
check_file fish certenroll-cli.fish

source packaging/completions/certenroll-cli.bash
# complete WORDS...: the candidates bash would offer for the last word.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
  COMPREPLY=()
  _certenroll_cli
  echo "${COMPREPLY[*]}"
}
expect() {  # expect "WORDS" CANDIDATE...
  local got
  read -r -a words <<< "$1"
  [[ "$1" == *" " ]] && words+=("")
  got=" $(complete_words "${words[@]}") "
  shift
  for want in "$@"; do
    if [[ "$got" != *" $want "* ]]; then
      echo "completing '${words[*]}': expected '$want' in:$got"
      status=1
    fi
  done
}
expect "certenroll-cli re" renew retrieve-pending
expect "certenroll-cli " policy enroll renew retrieve-pending completion
expect "certenroll-cli --" --json --state-dir --config
expect "certenroll-cli enroll --key-t" --key-type
expect "certenroll-cli --json enroll --dry" --dry-run
expect "certenroll-cli enroll --format " pem der pfx
expect "certenroll-cli renew --auth " password kerberos certificate
expect "certenroll-cli renew --a" --all --auth
if [ "$(complete_words certenroll-cli policy --al)" != "" ]; then
  echo "policy has no --all, yet it was offered"; status=1
fi
[ $status = 0 ] && echo "completions OK"
exit $status
