#!/bin/sh
# Run by the nginx image's entrypoint before nginx starts (/docker-entrypoint.d/). Writes which peers
# are trusted TLS terminators, from NGINX_TRUSTED_PROXIES (comma-separated addresses or CIDRs; empty:
# none), into the tmpfs conf.d/default.conf includes. Only a trusted peer's X-Forwarded-Proto and
# X-Forwarded-For are believed; for everyone else nginx states its own scheme and the peer's address.
set -eu
out=/etc/nginx/generated/trusted-proxies.conf
{
  echo "# Generated from NGINX_TRUSTED_PROXIES='${NGINX_TRUSTED_PROXIES:-}' at container start."
  echo "geo \$realip_remote_addr \$from_trusted_proxy {"
  echo "    default 0;"
  for cidr in $(printf '%s' "${NGINX_TRUSTED_PROXIES:-}" | tr ',' ' '); do
    case "$cidr" in
      *[!0-9A-Fa-f.:/]*) echo "NGINX_TRUSTED_PROXIES: '$cidr' is not an address or CIDR" >&2; exit 1 ;;
    esac
    echo "    $cidr 1;"
  done
  echo "}"
  for cidr in $(printf '%s' "${NGINX_TRUSTED_PROXIES:-}" | tr ',' ' '); do
    echo "set_real_ip_from $cidr;"
  done
  echo "real_ip_header X-Forwarded-For;"
} >"$out"
