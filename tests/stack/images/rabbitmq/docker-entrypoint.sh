#!/usr/bin/env bash
# The official rabbitmq image's entrypoint (3.9 and later): started as root it owns the data folder and
# steps down to the rabbitmq user; nothing else. RABBITMQ_DEFAULT_USER/PASS/VHOST are read by
# rabbitmq-server itself; the *_FILE variants are refused, as the official image refuses them.
set -o errexit -o nounset -o pipefail

if [[ "${1:-}" == rabbitmq* ]] && [ "$(id -u)" = 0 ]; then
  if [ "$1" = rabbitmq-server ]; then
    find /var/lib/rabbitmq \! -user rabbitmq -exec chown rabbitmq:rabbitmq '{}' +
  fi
  exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups "$0" "$@"
fi
for old in RABBITMQ_DEFAULT_PASS_FILE RABBITMQ_DEFAULT_USER_FILE RABBITMQ_VM_MEMORY_HIGH_WATERMARK; do
  if [ -n "${!old:-}" ]; then
    echo >&2 "error: $old is set but deprecated"
    exit 1
  fi
done
if [ "${1:-}" = rabbitmq-server ]; then
  exec /usr/lib/rabbitmq/bin/rabbitmq-server
fi
exec "$@"
