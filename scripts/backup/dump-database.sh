#!/usr/bin/env bash
# The database's part of `make backup`: pg_dump's custom format on stdout. Run by backup.sh inside
# the db container (`bash -c "$(cat this file)"`), whose pg_dump matches the server.
#
# Sessions, the cache table, the throttles' budgets and the queued tasks' claims keep their
# definitions but none of their rows: a session key lets whoever holds it act as that user until it
# expires; the request budgets (access/budgets.py) and the claims of tasks queued before the backup
# (task_queue/claims.py) mean nothing after a restore. So a dump holds nothing that signs anyone in
# (API tokens are kept as digests only), and a restored stack asks everyone to log in again.
# The names are Django's session table, CACHES' LOCATION in server_config/settings.py,
# access.ThrottleBudget's and task_queue.TaskClaim's tables.
set -o errexit -o nounset -o pipefail
: "${POSTGRES_USER:?POSTGRES_USER must be set}"
: "${POSTGRES_DB:?POSTGRES_DB must be set}"
exec pg_dump --format=custom --username="$POSTGRES_USER" --dbname="$POSTGRES_DB" \
  --exclude-table-data=django_session --exclude-table-data=fbrain_cache \
  --exclude-table-data=access_throttlebudget --exclude-table-data=task_queue_taskclaim
