#!/usr/bin/env bash
# make swarm-down: remove the stack (its services, networks and secrets) and wait until its
# containers are gone, as `make down` does. The volumes stay on their nodes.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."

stack=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env 2>/dev/null | tail -1)
stack=${stack:-fbrain}
docker stack rm "$stack"
# `docker stack rm` returns at once; the networks go last, once every task has stopped (a worker may
# take its stop_grace_period to finish what it runs).
for _ in $(seq 1 900); do
  if [ -z "$(docker network ls -q --filter "label=com.docker.stack.namespace=$stack")" ] \
    && [ -z "$(docker service ls -q --filter "label=com.docker.stack.namespace=$stack")" ]; then
    echo "stack $stack removed (its volumes are kept on their nodes)"
    exit 0
  fi
  sleep 1
done
echo "stack $stack: networks still there after 15 minutes: docker network ls --filter label=com.docker.stack.namespace=$stack" >&2
exit 1
