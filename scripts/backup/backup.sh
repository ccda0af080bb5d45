#!/usr/bin/env bash
# `make backup`: a consistent PostgreSQL dump and RabbitMQ's definitions, taken while the stack runs.
#
# pg_dump reads one snapshot (a repeatable-read transaction), so the dump is consistent without
# stopping anything; it runs inside the db container, whose pg_dump matches the server. The custom
# format (-Fc) is compressed and lets pg_restore drop and recreate each object. RabbitMQ's definitions
# are its users, virtual hosts, queues (with their quorum and dead-letter arguments) and policies; its
# messages are not in them: tasks waiting in the queues are not part of a backup.
#
# Writes backups/<UTC time>/ with postgres.dump and rabbitmq-definitions.json, and prints its path.
# A backup under way is in a .partial folder, renamed only once both files are complete.
set -o errexit -o nounset -o pipefail

compose=(${COMPOSE:-docker compose})
destination="${BACKUP_DIR:-backups}"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
target="$destination/$stamp"
partial="$target.partial"

# The dump holds every row and the definitions RabbitMQ's password hashes: readable by this user only.
umask 077
mkdir -p "$partial"
trap 'rm -rf "$partial"' EXIT

started=$(date +%s)
# Without the rows of the sessions and the cache (dump-database.sh says why).
"${compose[@]}" exec -T db bash -c "$(cat "${BASH_SOURCE[0]%/*}/dump-database.sh")" dump-database \
  >"$partial/postgres.dump"
# To stdout ("-"): the broker's root is read-only and `compose cp` cannot reach its tmpfs.
"${compose[@]}" exec -T rabbitmq rabbitmqctl --quiet export_definitions - >"$partial/rabbitmq-definitions.json"

mv "$partial" "$target"
trap - EXIT
echo "Backup written to $target/ in $(( $(date +%s) - started )) s:"
ls -l "$target" | tail -n +2
echo "Restore it with: make restore FILE=$target"
