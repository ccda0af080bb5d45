#!/usr/bin/env bash
# Render the file `docker stack deploy` takes: docker-compose.yml (its Compose-only keys removed by
# compose_for_swarm.py) merged with docker-stack.yml by `docker stack config`, written to $1
# (default build/swarm/stack.yml). Needs no swarm: `docker stack config` works on any Docker CLI.
#
# `docker stack` reads no .env (Compose does): its variables are exported here, the way Compose
# reads them. Except the secrets: an `environment:` entry with an empty value (docker-compose.yml
# blanks DJANGO_SECRET_KEY and the passwords with "") takes the deploying shell's value of that name
# in `docker stack`, which would put the secret in the service's spec for `docker service inspect`
# to show. So they are unset first; the services read theirs from Swarm secrets (*_FILE).
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
out=${1:-build/swarm/stack.yml}
python=${PYTHON:-.venv/bin/python}

if [ -f .env ]; then
  set -o allexport
  # shellcheck disable=SC1091
  source .env
  set +o allexport
fi
unset DJANGO_SECRET_KEY POSTGRES_PASSWORD RABBITMQ_PASSWORD FLOWER_PASSWORD WEATHER_API_KEY

mkdir -p "$(dirname "$out")"
# A failed render leaves the previous file in place, never a half-written one.
trap 'rm -f "$out.partial"' EXIT
# `docker stack config` writes the values it interpolated, but unescapes `$$` into `$` too, and
# `docker stack deploy` interpolates the file once more: every `$` left is a literal one (a shell
# command's "$@" or $(cat ...)), so it is escaped again.
"$python" scripts/swarm/compose_for_swarm.py docker-compose.yml \
  | docker stack config -c - -c docker-stack.yml \
  | sed 's/\$/$$/g' >"$out.partial"
mv "$out.partial" "$out"
echo "wrote $out: docker stack deploy -c $out ${COMPOSE_PROJECT_NAME:-fbrain}"
