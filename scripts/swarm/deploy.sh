#!/usr/bin/env bash
# make swarm-up: render build/swarm/stack.yml from .env (stack-config.sh), deploy it to the Swarm
# that `docker` talks to (DOCKER_HOST or the current context: a manager), as the stack named
# COMPOSE_PROJECT_NAME (fbrain), then wait until it has converged (converge.py; bound:
# SWARM_WAIT_SECONDS, 600). The same command deploys a first time and rolls out a change: a new
# APP_IMAGE in .env updates web, the workers, beat and Flower by their update_config, and migrate runs again.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-.venv/bin/python}

stack=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env | tail -1)
stack=${stack:-fbrain}
wait_seconds=$(sed -n 's/^SWARM_WAIT_SECONDS=//p' .env | tail -1)
wait_seconds=${SWARM_WAIT_SECONDS:-${wait_seconds:-600}}

if [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" != true ]; then
  echo "docker does not talk to a Swarm manager here: run this on a manager, or set DOCKER_HOST to one (docs/scale-out.md)." >&2
  exit 1
fi

PYTHON=$python scripts/swarm/stack-config.sh build/swarm/stack.yml
# --prune: a service removed from the files goes from the Swarm too.
docker stack deploy --detach=true --prune --with-registry-auth -c build/swarm/stack.yml "$stack"
"$python" scripts/swarm/converge.py "$stack" "$wait_seconds"
