#!/usr/bin/env bash
# Build local stand-ins for the official images no registry can give here (docker pull fails):
# a Debian bookworm root from debootstrap (how the official debian image is made), and on it the
# python, postgres, rabbitmq, nginx and prometheus images from Debian's packages, honouring the official
# images' environment variables, paths and commands. Cached: the base is made once, the rest
# rebuilds from Docker's layer cache in seconds.
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
BASE=fbrain-standin/debian:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

log() { printf 'stand-in images: %s\n' "$*" >&2; }

if ! docker image inspect "$BASE" >/dev/null 2>&1; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
  mkdir -p "$ROOT/build"
  rootfs=$ROOT/build/rootfs-bookworm
  rm -rf "$rootfs"
  log "debootstrap bookworm (about 40 s)"
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >"$ROOT/build/debootstrap.log" 2>&1 \
    || { log "debootstrap failed; see build/debootstrap.log"; exit 1; }
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$BASE" >/dev/null
  rm -rf "$rootfs"
fi

build() {
  local tag=$1 dir=$2
  log "building $tag"
  docker build --quiet --build-arg "BASE=$BASE" --tag "$tag" "$HERE/$dir" >/dev/null
}
# -r2: the entrypoints that work on a read-only root (docs/security.md). A new suffix whenever an
# entrypoint changes, so checkouts sharing one engine never run each other's stand-ins.
build fbrain-standin/python:3.11-slim-bookworm python
build fbrain-standin/postgres:15-bookworm-r2 postgres
# -r3: the Prometheus plugin enabled, as in the official image.
build fbrain-standin/rabbitmq:3.10-management-r3 rabbitmq
build fbrain-standin/nginx:1.22-bookworm-r2 nginx
build fbrain-standin/prometheus:2.42-bookworm prometheus
log "ready"
