#!/usr/bin/env bash
# Run once by the postgres image's entrypoint when it creates the database (docker-entrypoint-initdb.d),
# as the superuser, before the server listens. The app gets its own role: it owns the app's database
# and its public schema (so migrations work) but is no superuser and cannot create roles or databases.
# The superuser may log in only through the container's own socket, never over the network.
set -o errexit -o nounset -o pipefail
: "${FBRAIN_DB_USER:?FBRAIN_DB_USER must be set}"
FBRAIN_DB_PASSWORD=$(cat "${FBRAIN_DB_PASSWORD_FILE:?FBRAIN_DB_PASSWORD_FILE must be set}")
export FBRAIN_DB_PASSWORD
# The password travels through the environment into psql (\getenv), never on a command line.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -v app="$FBRAIN_DB_USER" <<'SQL'
\getenv app_password FBRAIN_DB_PASSWORD
CREATE ROLE :"app" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD :'app_password';
SQL
# The entrypoint sources this file or runs it: BASH_SOURCE finds the folder either way.
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v app="$FBRAIN_DB_USER" -v db="$POSTGRES_DB" --file "$(dirname "${BASH_SOURCE[0]}")/app-database.psql"
# First matching line wins: the superuser's network logins are refused before the image's catch-all.
sed -i "1i host all ${POSTGRES_USER} all reject" "$PGDATA/pg_hba.conf"
