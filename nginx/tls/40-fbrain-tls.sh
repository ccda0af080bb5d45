#!/bin/sh
# Run by the nginx image's entrypoint in the TLS terminator (docker-compose.tls.yml) before nginx
# starts. It stops the container with a message naming the fix when the certificate is missing (nginx
# would only say it cannot open a file), and writes the HTTPS port clients use (TLS_PORT) as the suffix
# terminator.conf puts in its redirect: http://host/ goes to https://host:TLS_PORT/ (none for 443).
# $1, $2: another output file and certificate folder (the tests).
set -eu
out=${1:-/etc/nginx/generated/tls-port.conf}
certificates=${2:-/etc/nginx/tls}
for file in fullchain.pem privkey.pem; do
  if [ ! -r "$certificates/$file" ]; then
    echo "No readable $file in TLS_CERT_DIR: put the certificate chain and its key there, 0644 (docs/security.md)." >&2
    exit 1
  fi
done
port=${TLS_PORT:-443}
case "$port" in
  ''|*[!0-9]*) echo "TLS_PORT: '$port' is not a port number" >&2; exit 1 ;;
esac
if [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then echo "TLS_PORT: $port is not between 1 and 65535" >&2; exit 1; fi
suffix=":$port"
[ "$port" = 443 ] && suffix=""
printf 'map $host $tls_port_suffix {\n    default "%s";\n}\n' "$suffix" >"$out"
