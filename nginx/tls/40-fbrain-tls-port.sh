#!/bin/sh
# Run by the nginx image's entrypoint in the TLS terminator (docker-compose.tls.yml) before nginx
# starts: the HTTPS port clients use (TLS_PORT) as the suffix terminator.conf puts in its redirect, so
# http://host/ goes to https://host:TLS_PORT/ (no suffix for 443).
set -eu
port=${TLS_PORT:-443}
case "$port" in
  ''|*[!0-9]*) echo "TLS_PORT: '$port' is not a port number" >&2; exit 1 ;;
esac
suffix=":$port"
[ "$port" = 443 ] && suffix=""
printf 'map $host $tls_port_suffix {\n    default "%s";\n}\n' "$suffix" >/etc/nginx/generated/tls-port.conf
