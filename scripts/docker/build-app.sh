#!/usr/bin/env bash
# Build the application image with `docker compose build`, plus what Compose does not do:
# - BUILD_CA_BUNDLE (from the environment or .env): a TLS-inspecting proxy's CA, copied into
#   server/docker/build-ca/ where only the image's builder stage reads it;
# - on a failed build, no stopped build container left behind (the classic builder keeps the one of a
#   failed step), and a hint naming BUILD_CA_BUNDLE when pip could not verify a certificate.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
read -r -a compose <<<"${COMPOSE:-docker compose}"

ca=${BUILD_CA_BUNDLE:-$(sed -n 's/^BUILD_CA_BUNDLE=//p' .env 2>/dev/null | tail -1)}
if [ -n "$ca" ]; then
  [ -r "$ca" ] || { echo "BUILD_CA_BUNDLE=$ca: no such readable file." >&2; exit 1; }
  cp "$ca" server/docker/build-ca/build-ca-bundle.crt
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
if "${compose[@]}" build "$@" 2>&1 | tee "$log"; then
  exit 0
fi
# The classic builder prints "Running in <id>" for each step's container and keeps the failed one.
for id in $(sed -n 's/.*Running in \([0-9a-f]\{12\}\).*/\1/p' "$log"); do
  docker rm --force "$id" >/dev/null 2>&1 || true
done
if grep -q CERTIFICATE_VERIFY_FAILED "$log"; then
  cat >&2 <<'HINT'

The build could not verify a TLS certificate: a proxy that inspects TLS sits between this machine and
PyPI. Put its CA bundle in .env, e.g. BUILD_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt (once the
proxy's CA is installed on this host), and run make up again. It reaches the builder stage only
(server/docker/build-ca/README.md), never the image you run.
HINT
fi
exit 1
