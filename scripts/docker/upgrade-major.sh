#!/usr/bin/env bash
# `make upgrade-major`: move a running stack to new major versions of PostgreSQL and RabbitMQ (the
# images that .env and docker-compose.yml now name), with every row and every queued task.
#
# Neither data directory crosses a major version: PostgreSQL 15's is unreadable to 17, and RabbitMQ
# upgrades in place only from the series just before (3.13 to 4.0 needs every feature flag enabled
# first; 4.3 starts only on 4.2's data). So each component whose major version changes gets a new,
# empty volume, the old one is kept beside it for a rollback, and:
#   - PostgreSQL: `make backup` dumps the database, `make restore` loads it into the new server
#     (and imports RabbitMQ's definitions: users, vhost, queues, policies), the migrate job runs;
#   - RabbitMQ (the blue-green path RabbitMQ documents): the old broker runs once more beside the new
#     one, on the old volume, and a shovel per non-empty queue moves its messages into the same queue of
#     the new broker, each removed from the old one only once the new one has confirmed it. Workers on
#     the new broker run them as they arrive; the old broker is removed once its queues are empty.
# The writers (web, workers, beat, Flower) are stopped from the backup until the restore, so no row
# is written to the old database and no task is queued on the old broker after the dump.
set -o errexit -o nounset -o pipefail

compose=(${COMPOSE:-docker compose})
wait_seconds=${UPGRADE_WAIT_TIMEOUT:-600}
writers=(web celery celery-imports beat flower)

log() { printf 'upgrade-major: %s\n' "$*" >&2; }
env_value() { sed -n "s/^$1=//p" .env | tail -1; }

config=$("${compose[@]}" config --format json)
field() { python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, {"d": d}))' "$config" "$1"; }
project=$(field 'd["name"]')
network=$(field 'd["networks"]["backend"]["name"]')
new_postgres=$(field 'd["services"]["db"]["image"]')
new_rabbitmq=$(field 'd["services"]["rabbitmq"]["image"]')
vhost=$(field 'd["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_VHOST"]')
user=$(field 'd["services"]["rabbitmq"]["environment"]["RABBITMQ_DEFAULT_USER"]')
postgres_volume=$(field 'd["volumes"]["postgres-data"]["name"]')
rabbitmq_volume=$(field 'd["volumes"]["rabbitmq-data"]["name"]')

container() { "${compose[@]}" ps --all --quiet "$1" | head -1; }
db_container=$(container db)
broker_container=$(container rabbitmq)
if [ -z "$db_container" ] || [ -z "$broker_container" ]; then
  log "no db or rabbitmq container: this upgrades a stack that runs (make up); a new stack needs none"
  exit 2
fi
old_postgres=$(docker inspect --format '{{.Image}}' "$db_container")
old_rabbitmq=$(docker inspect --format '{{.Image}}' "$broker_container")

# The major versions: of the data the running servers hold, and of the images .env now names.
postgres_major() { docker run --rm --entrypoint postgres "$1" --version | sed -E 's/.* ([0-9]+)\..*/\1/'; }
rabbitmq_major() { docker run --rm --entrypoint rabbitmqctl "$1" version | sed -E 's/^([0-9]+)\..*/\1/'; }
pg_from=$("${compose[@]}" exec -T db cat /var/lib/postgresql/data/PG_VERSION)
pg_to=$(postgres_major "$new_postgres")
mq_from=$("${compose[@]}" exec -T rabbitmq rabbitmqctl version | sed -E 's/^([0-9]+)\..*/\1/')
mq_to=$(rabbitmq_major "$new_rabbitmq")
move_postgres=""; [ "$pg_from" != "$pg_to" ] && move_postgres=yes
move_rabbitmq=""; [ "$mq_from" != "$mq_to" ] && move_rabbitmq=yes
if [ -z "$move_postgres$move_rabbitmq" ]; then
  log "PostgreSQL $pg_from and RabbitMQ $mq_from already match the images named ($new_postgres, $new_rabbitmq): nothing to do; 'make upgrade' rolls a new app image"
  exit 0
fi

echo "Upgrading the stack '$project':"
[ -n "$move_postgres" ] && echo "  - PostgreSQL $pg_from -> $pg_to ($new_postgres): dump, new volume, restore"
[ -n "$move_rabbitmq" ] && echo "  - RabbitMQ $mq_from -> $mq_to ($new_rabbitmq): new volume, queued messages shovelled from the old broker"
echo "  - ${writers[*]} stop meanwhile (nginx answers 502); the old volumes are kept as <name>-previous"
if [ "${CONFIRM:-}" != yes ]; then
  read -r -p "Type 'upgrade' to go on (or run with CONFIRM=yes): " answer
  [ "$answer" = upgrade ] || { echo "Nothing changed."; exit 1; }
fi
started=$(date +%s)

# 1. Nothing writes from here on: a worker's warm shutdown hands its unfinished tasks back to the queue.
"${compose[@]}" stop "${writers[@]}"
backup=$(COMPOSE="${compose[*]}" scripts/backup/backup.sh | sed -n 's/^Backup written to \(.*\)\/ in .*/\1/p')
[ -d "$backup" ] || { log "the backup failed; nothing else changed"; exit 1; }
log "backup: $backup"

# 2. Each moved component's volume is copied to <name>-previous, then emptied for the new server.
keep_previous() {
  local volume=$1 image=$2
  docker volume create "$volume-previous" >/dev/null
  docker run --rm --user 0 --entrypoint sh -v "$volume:/from:ro" -v "$volume-previous:/to" "$image" \
    -c 'cp -a /from/. /to/'
  docker volume rm "$volume" >/dev/null
}
if [ -n "$move_postgres" ]; then
  "${compose[@]}" rm --force --stop db
  keep_previous "$postgres_volume" "$old_postgres"
fi
if [ -n "$move_rabbitmq" ]; then
  "${compose[@]}" rm --force --stop rabbitmq
  keep_previous "$rabbitmq_volume" "$old_rabbitmq"
  # The old broker once more, on its own data, beside the new one: same node name (its data is
  # named after it), reached by the new one as rabbitmq-previous.
  previous=$project-rabbitmq-previous
  docker rm --force "$previous" >/dev/null 2>&1 || true
  docker run --detach --name "$previous" --hostname rabbitmq --network "$network" \
    --network-alias rabbitmq-previous -v "$rabbitmq_volume-previous:/var/lib/rabbitmq" "$old_rabbitmq" >/dev/null
  for _ in $(seq 1 "$wait_seconds"); do
    docker exec "$previous" rabbitmq-diagnostics -q check_running >/dev/null 2>&1 && break
    sleep 1
  done
  docker exec "$previous" rabbitmq-diagnostics -q check_running >/dev/null
  docker exec "$previous" rabbitmq-plugins --quiet enable rabbitmq_shovel >/dev/null
fi

# 3. The new servers, the database and the broker's definitions restored, then every service: the
# workers consume from the new broker at once.
COMPOSE="${compose[*]}" CONFIRM=yes scripts/backup/restore.sh "$backup"

# 4. The queued messages: one shovel per non-empty queue of the old broker, into the same queue of
# the new one (declared by the definitions just imported), acknowledged on the new broker's confirm.
if [ -n "$move_rabbitmq" ]; then
  password=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1].strip(), safe=""))' \
    "$(cat "${FBRAIN_SECRETS_DIR:-secrets}/rabbitmq_password")")
  encoded_vhost=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$vhost")
  # The new broker by its container's name: inside the old one, "rabbitmq" is the old one itself.
  new_broker=$(docker inspect --format '{{.Name}}' "$(container rabbitmq)")
  new_broker=${new_broker#/}
  queues() { docker exec "$previous" rabbitmqctl -q list_queues -p "$vhost" name messages durable --no-table-headers; }
  moved=0
  while read -r name messages durable; do
    [ "$durable" = true ] && [ "$messages" -gt 0 ] || continue
    docker exec "$previous" rabbitmqctl -q set_parameter -p "$vhost" shovel "upgrade-$name" "$(printf \
      '{"src-protocol":"amqp091","src-uri":"amqp://%s:%s@localhost/%s","src-queue":"%s","dest-protocol":"amqp091","dest-uri":"amqp://%s:%s@%s/%s","dest-queue":"%s","ack-mode":"on-confirm","src-delete-after":"queue-length"}' \
      "$user" "$password" "$encoded_vhost" "$name" "$user" "$password" "$new_broker" "$encoded_vhost" "$name")"
    log "shovelling $messages message(s) of $name"
    moved=$((moved + messages))
  done < <(queues)
  deadline=$(( $(date +%s) + wait_seconds ))
  until [ -z "$(queues | awk '$3 == "true" && $2 > 0')" ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "messages still wait on the old broker after ${wait_seconds} s (UPGRADE_WAIT_TIMEOUT): $previous keeps running; see docs/operations.md"
      exit 1
    fi
    sleep 2
  done
  docker rm --force "$previous" >/dev/null
  log "$moved message(s) moved to the new broker; the old broker is gone"
fi

echo "Upgraded in $(( $(date +%s) - started )) s. The old data stays in these volumes until you remove them:"
[ -n "$move_postgres" ] && echo "  docker volume rm $postgres_volume-previous"
[ -n "$move_rabbitmq" ] && echo "  docker volume rm $rabbitmq_volume-previous"
exit 0
