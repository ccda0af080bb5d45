#!/usr/bin/env bash
# `make restore FILE=backups/<time>`: bring a backup of `make backup` into this stack, fresh (after
# `docker compose down -v`) or running.
#
# It replaces the whole database: the database is dropped and created again, so tables a newer schema
# added are gone too, and the migrate job then brings the restored schema up to this code's. The app
# services that write (web, workers, beat, Flower) are stopped meanwhile; nginx stays up and answers
# 502 until web is back. RabbitMQ's definitions are imported (users, virtual hosts, queues, policies,
# added to or updating what the broker has); messages waiting in its queues are left alone.
set -o errexit -o nounset -o pipefail

compose=(${COMPOSE:-docker compose})
source_dir="${1:-}"
source_dir="${source_dir%/}"
writers=(web celery celery-imports beat flower)

if [ -z "$source_dir" ] || [ ! -f "$source_dir/postgres.dump" ]; then
  echo "Usage: make restore FILE=backups/<time> (a folder written by 'make backup', with postgres.dump)" >&2
  exit 2
fi
definitions="$source_dir/rabbitmq-definitions.json"

env_value() { sed -n "s/^$1=//p" .env | tail -1; }
project=$(env_value COMPOSE_PROJECT_NAME)
database=$(env_value POSTGRES_DB)

echo "Restoring $source_dir into the stack '${project:-fbrain}'. This will:"
echo "  - stop ${writers[*]} (nginx answers 502 meanwhile)"
echo "  - REPLACE the PostgreSQL database '${database:-fbrain}': every table and row now in it is deleted"
if [ -f "$definitions" ]; then
  echo "  - import RabbitMQ's definitions (users, virtual hosts, queues, policies)"
fi
echo "  - run the migrate job, then start every service again"
if [ "${CONFIRM:-}" != yes ]; then
  read -r -p "Type 'restore' to go on (or run with CONFIRM=yes): " answer
  [ "$answer" = restore ] || { echo "Nothing changed."; exit 1; }
fi

started=$(date +%s)
"${compose[@]}" stop "${writers[@]}"
"${compose[@]}" up -d --wait --wait-timeout 300 db rabbitmq

# Dropped with FORCE, so that a connection left by a one-off container cannot block the restore;
# created again as the server's first start made it (postgres/initdb.d/app-database.psql). The
# superuser does only this, inside the db container; the dump itself is restored by a session of
# the app's role (FBRAIN_DB_USER), which owns the rows as it owns what its migrations create, and
# which nothing in the dump can turn into the superuser (restore-as-app.sh says how).
"${compose[@]}" exec -T db sh -c 'set -e
  psql --quiet --username="$POSTGRES_USER" --dbname=postgres -v ON_ERROR_STOP=1 \
    -c "DROP DATABASE IF EXISTS \"$POSTGRES_DB\" WITH (FORCE)" -c "CREATE DATABASE \"$POSTGRES_DB\""
  psql --quiet --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" -v ON_ERROR_STOP=1 \
    -v app="$FBRAIN_DB_USER" -v db="$POSTGRES_DB" --file=/docker-entrypoint-initdb.d/app-database.psql'
"${compose[@]}" exec -T db bash -c "$(cat "${BASH_SOURCE[0]%/*}/restore-as-app.sh")" restore-as-app \
  <"$source_dir/postgres.dump"

if [ -f "$definitions" ]; then
  # Through stdin into the container's tmpfs (its root is read-only, and `compose cp` cannot reach a
  # tmpfs), then from that file: RabbitMQ 4's import_definitions reads no standard input.
  # Bindings of queues that are not in the export are left out: the workers' control queues are
  # exclusive to a connection, so RabbitMQ exports their bindings but not them, and would refuse the
  # whole import (resources_missing).
  python3 -c 'import json, sys
d = json.load(sys.stdin)
queues = {(q["vhost"], q["name"]) for q in d.get("queues", [])}
d["bindings"] = [b for b in d.get("bindings", [])
                 if b.get("destination_type") != "queue" or (b["vhost"], b["destination"]) in queues]
json.dump(d, sys.stdout)' <"$definitions" \
    | "${compose[@]}" exec -T rabbitmq sh -c 'cat >/tmp/definitions.json \
    && rabbitmqctl --quiet import_definitions /tmp/definitions.json; status=$?; rm -f /tmp/definitions.json; exit $status'
fi

# A dump of an older schema is migrated forward here, before any app service sees it.
"${compose[@]}" run --rm migrate
"${compose[@]}" up -d --wait --wait-timeout 300
echo "Restored $source_dir in $(( $(date +%s) - started )) s."
