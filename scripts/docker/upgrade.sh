#!/usr/bin/env bash
# `make upgrade`: move a running stack to the code in this checkout without refusing a request or
# losing a task (docs/operations.md, "Upgrades").
#
# 1. Build the new image (scripts/docker/build-app.sh) while the old one serves.
# 2. Run the one-shot migrate job: the old code keeps running on the new schema for a minute, which
#    is why a migration must be additive (the guide says what needs more).
# 3. web, celery and celery-imports roll: for each, as many new containers as there are old ones are
#    started beside them and must turn healthy, then the old ones are stopped (`docker stop` honours
#    stop_grace_period: gunicorn finishes its requests, a worker's warm shutdown its tasks; what a
#    worker had not started goes back to the queue) and removed. nginx re-resolves `web` every 10 s
#    and retries a refused connection on the other address, so no request meets a closed door.
# 4. beat and flower are re-created (one of each; beat's schedule lives in the database).
# If a new container does not turn healthy, the new ones are removed and the old ones keep serving.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
read -r -a compose <<<"${COMPOSE:-docker compose}"
wait_timeout=${UPGRADE_WAIT_TIMEOUT:-300}
# nginx's resolver keeps an answer 10 s (nginx/conf.d/default.conf): a new web must be in it first.
resolver_valid=11

log() { printf 'upgrade: %s\n' "$*" >&2; }
started=$(date +%s)

log "building the new image"
COMPOSE="${COMPOSE:-docker compose}" scripts/docker/build-app.sh
log "migrating the database"
"${compose[@]}" run --rm migrate

roll() {
  local service=$1 old count new
  old=$("${compose[@]}" ps --quiet "$service")
  count=$(wc -w <<<"$old")
  if [ "$count" -eq 0 ]; then
    log "$service: not running; starting it"
    "${compose[@]}" up --detach --no-deps --wait --wait-timeout "$wait_timeout" "$service"
    return
  fi
  log "$service: starting $count new beside $count old"
  if ! "${compose[@]}" up --detach --no-deps --no-recreate --wait --wait-timeout "$wait_timeout" \
    --scale "$service=$((count * 2))" "$service"; then
    new=$(comm -13 <(sort <<<"$old") <("${compose[@]}" ps --all --quiet "$service" | sort))
    log "$service: the new containers did not turn healthy; removing them, the old ones keep serving"
    [ -z "$new" ] || docker rm --force $new >/dev/null
    exit 1
  fi
  if [ "$service" = web ]; then
    sleep "$resolver_valid"
  fi
  log "$service: stopping the $count old (their grace period: running work finishes)"
  docker stop $old >/dev/null
  docker rm $old >/dev/null
}

for service in web celery celery-imports; do
  roll "$service"
done
log "beat, flower: re-creating"
"${compose[@]}" up --detach --no-deps --force-recreate --wait --wait-timeout "$wait_timeout" beat flower
log "done in $(($(date +%s) - started)) s"
