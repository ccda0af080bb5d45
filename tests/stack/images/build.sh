#!/usr/bin/env bash
# Build local stand-ins for the official images no registry can give here (docker pull fails):
# a Debian root from debootstrap (how the official debian image is made), and on it the python,
# postgres, rabbitmq, nginx and prometheus images from Debian's packages, honouring the official
# images' environment variables, paths and commands. Cached: each base is made once, the rest
# rebuilds from Docker's layer cache in seconds.
#
#   build.sh            the current series, from Debian trixie: the same major versions as the
#                       defaults in docker-compose.yml (what every tier runs)
#   build.sh previous   the previous defaults' series, from Debian bookworm (PostgreSQL 15,
#                       RabbitMQ 3.10): only the major-upgrade test starts a stack on them
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SERIES=${1:-current}

log() { printf 'stand-in images: %s\n' "$*" >&2; }

# A Debian root file system as an image: fbrain-standin/debian:<suite>.
base() {
  local suite=$1 tag=fbrain-standin/debian:$1
  if ! docker image inspect "$tag" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >/dev/null; }
    mkdir -p "$ROOT/build"
    local rootfs=$ROOT/build/rootfs-$suite
    rm -rf "$rootfs"
    log "debootstrap $suite (about 40 s)"
    debootstrap --variant=minbase "$suite" "$rootfs" "$MIRROR" >"$ROOT/build/debootstrap-$suite.log" 2>&1 \
      || { log "debootstrap failed; see build/debootstrap-$suite.log"; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
    rm -rf "$rootfs"
  fi
  echo "$tag"
}

build() {
  local tag=$1 dir=$2
  shift 2
  log "building $tag"
  docker build --quiet "$@" --tag "$tag" "$HERE/$dir" >/dev/null
}

# A new tag (or -rN suffix) whenever an image's files change, so checkouts sharing one engine never
# run each other's stand-ins.
case $SERIES in
  current)
    BASE=$(base trixie)
    build fbrain-standin/python:3.13-slim-trixie python --build-arg "BASE=$BASE"
    build fbrain-standin/postgres:17-trixie postgres --build-arg "BASE=$BASE" --build-arg PG_MAJOR=17
    # RabbitMQ 4.0 with the defaults of the newest series (4.3): the deprecated features it refuses.
    build fbrain-standin/rabbitmq:4.0-management-trixie rabbitmq --build-arg "BASE=$BASE" --build-arg DEFAULTS=4.3
    build fbrain-standin/nginx:1.26-trixie nginx --build-arg "BASE=$BASE"
    build fbrain-standin/prometheus:2.53-trixie prometheus --build-arg "BASE=$BASE"
    ;;
  previous)
    BASE=$(base bookworm)
    build fbrain-standin/postgres:15-bookworm-r2 postgres --build-arg "BASE=$BASE" --build-arg PG_MAJOR=15
    build fbrain-standin/rabbitmq:3.10-management-r3 rabbitmq --build-arg "BASE=$BASE" --build-arg DEFAULTS=3
    ;;
  *)
    echo "usage: $0 [current|previous]" >&2
    exit 2
    ;;
esac
log "ready ($SERIES)"
