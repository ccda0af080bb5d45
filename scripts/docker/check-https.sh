#!/usr/bin/env bash
# make check-https, run by `make up` (compose) and `make swarm-up` (swarm): refuse to serve the app over
# plain HTTP on an address other hosts reach. With DJANGO_HTTPS=false, Django sends no Secure cookies
# and no HSTS: right for a trial on 127.0.0.1 (.env.example's), wrong on a public address, where the
# session cookie and the admin password cross the network in the clear.
#
# Public: NGINX_BIND when it is not a loopback address (Compose), TLS_BIND with docker-compose.tls.yml
# in COMPOSE_FILE, and always on Swarm, whose nginx listens on every address of the edge nodes.
# ALLOW_PUBLIC_PLAIN_HTTP=true (an explicit choice, e.g. a private LAN) lets it start with a warning.
# Values come from the shell first, then .env, as Compose reads them.
set -o errexit -o nounset -o pipefail
mode=${1:-compose}

setting() {
  local name=$1 default=$2 value
  if [ -n "${!name+set}" ]; then value=${!name}; else value=$( [ -f .env ] && sed -n "s/^$name=//p" .env | tail -1 || true); fi
  printf '%s' "${value:-$default}"
}

boolean() {
  local name=$1 value=$2
  case "$value" in
    true | false) printf '%s' "$value" ;;
    *) echo "$name='$value' must be true or false." >&2; exit 2 ;;
  esac
}

loopback() {
  case "$1" in 127.* | ::1 | "[::1]" | localhost) return 0 ;; *) return 1 ;; esac
}

debug=$(boolean DJANGO_DEBUG "$(setting DJANGO_DEBUG false)")
# settings.py's default: HTTPS on unless debugging.
https_default=true
[ "$debug" = true ] && https_default=false
https=$(boolean DJANGO_HTTPS "$(setting DJANGO_HTTPS "$https_default")")
allow=$(boolean ALLOW_PUBLIC_PLAIN_HTTP "$(setting ALLOW_PUBLIC_PLAIN_HTTP false)")

public=""
case "$mode" in
  compose)
    bind=$(setting NGINX_BIND 127.0.0.1)
    loopback "$bind" || public="NGINX_BIND=$bind"
    if [[ ":$(setting COMPOSE_FILE docker-compose.yml):" == *:docker-compose.tls.yml:* ]]; then
      tls_bind=$(setting TLS_BIND 127.0.0.1)
      loopback "$tls_bind" || public="${public:+$public, }TLS_BIND=$tls_bind"
    fi
    ;;
  swarm) public="Swarm (nginx listens on every address of the edge nodes)" ;;
  *) echo "usage: $0 [compose|swarm]" >&2; exit 2 ;;
esac

if [ -z "$public" ] || [ "$https" = true ]; then
  exit 0
fi
message="DJANGO_HTTPS=false while the site is reachable from other hosts ($public): no Secure cookies, no HSTS."
if [ "$allow" = true ]; then
  echo "WARNING: $message Starting anyway: ALLOW_PUBLIC_PLAIN_HTTP=true." >&2
  exit 0
fi
echo "Refusing to start. $message" >&2
echo "Put TLS in front and set DJANGO_HTTPS=true (docs/security.md, \"Behind a TLS terminator\")," >&2
echo "or keep NGINX_BIND=127.0.0.1, or set ALLOW_PUBLIC_PLAIN_HTTP=true in .env to accept plain HTTP." >&2
exit 1
