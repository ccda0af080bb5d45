#!/usr/bin/env bash
# Install the Debian package that provides each missing command, idempotently:
#   scripts/install/ensure-commands.sh COMMAND=PACKAGE ...
# e.g. `wrk=wrk nginx=nginx-light`. Does nothing (and needs no root) when every command is there;
# the package lists are refreshed once, and only when something is missing.
set -o errexit -o nounset -o pipefail

log() { printf 'ensure-commands: %s\n' "$*" >&2; }

missing=()
for pair in "$@"; do
  command=${pair%%=*}
  package=${pair#*=}
  if [ -z "$command" ] || [ -z "$package" ] || [ "$command" = "$pair" ]; then
    log "expected COMMAND=PACKAGE, got '$pair'"
    exit 2
  fi
  command -v "$command" >/dev/null 2>&1 || missing+=("$package")
done

if [ ${#missing[@]} -gt 0 ]; then
  log "installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
