#!/usr/bin/env bash
set -o errexit -o nounset -o pipefail

if [ "${1:-}" != rabbitmq-server ]; then
  exec "$@"
fi
{
  echo "loopback_users.guest = false"
  echo "listeners.tcp.default = 5672"
  echo "management.tcp.port = 15672"
  [ -n "${RABBITMQ_DEFAULT_USER:-}" ] && echo "default_user = $RABBITMQ_DEFAULT_USER"
  [ -n "${RABBITMQ_DEFAULT_PASS:-}" ] && echo "default_pass = $RABBITMQ_DEFAULT_PASS"
  [ -n "${RABBITMQ_DEFAULT_VHOST:-}" ] && echo "default_vhost = $RABBITMQ_DEFAULT_VHOST"
} >/etc/rabbitmq/conf.d/10-defaults.conf
# conf.d may hold read-only mounts; only the data and the generated file need the rabbitmq user.
chown -R rabbitmq:rabbitmq /var/lib/rabbitmq
chown rabbitmq:rabbitmq /etc/rabbitmq/conf.d/10-defaults.conf
exec setpriv --reuid=rabbitmq --regid=rabbitmq --init-groups env HOME=/var/lib/rabbitmq \
  /usr/lib/rabbitmq/bin/rabbitmq-server
