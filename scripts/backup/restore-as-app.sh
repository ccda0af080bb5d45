#!/usr/bin/env bash
# Restore a `make backup` dump (pg_dump's custom format, on stdin) as the app's own role, never as
# the superuser. A dump is data the app role shaped (its tables, functions, constraints), and
# whatever SQL the restore runs for it runs with the restoring session's rights. Under the superuser
# with `--role`, a function called while the rows load (a CHECK constraint, say) can `RESET ROLE`
# back to the superuser and make the app role one. Connected as the app role, RESET ROLE goes back
# to the app role only: such an object gets no more than the app role already had.
#
# Run by scripts/backup/restore.sh inside the db container (`bash -c "$(cat this file)"`), after the
# superuser made the empty database and gave the app role its ownership (app-database.psql).
# Needs FBRAIN_DB_USER and POSTGRES_DB; FBRAIN_DB_PASSWORD_FILE when the socket asks for a password.
set -o errexit -o nounset -o pipefail
: "${FBRAIN_DB_USER:?FBRAIN_DB_USER must be set}"
: "${POSTGRES_DB:?POSTGRES_DB must be set}"
if [ -n "${FBRAIN_DB_PASSWORD_FILE:-}" ]; then
  PGPASSWORD=$(cat "$FBRAIN_DB_PASSWORD_FILE")
  export PGPASSWORD
fi
# --no-owner: every object belongs to the role that creates it, the app role; --no-privileges: the
# app role owns them all and grants nothing to anyone. --exit-on-error: an object the app role may
# not create (what a superuser's hand added) stops the restore instead of leaving half of it.
exec pg_restore --no-owner --no-privileges --exit-on-error \
  --username="$FBRAIN_DB_USER" --dbname="$POSTGRES_DB"
