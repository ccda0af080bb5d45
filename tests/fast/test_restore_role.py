"""`make restore` loads a dump as the app's role, so an object of the dump cannot make that role a
superuser: the real scripts (restore-as-app.sh, app-database.psql) against this machine's
PostgreSQL, with a role and databases of the test's own, made and dropped here."""

import secrets
import subprocess
from pathlib import Path

import psycopg
import pytest

REPO = Path(__file__).resolve().parents[2]
RESTORE_AS_APP = REPO / "scripts" / "backup" / "restore-as-app.sh"
APP_DATABASE = REPO / "postgres" / "initdb.d" / "app-database.psql"
SERVER = {"PGHOST": "127.0.0.1", "PGPORT": "5432"}
SUPERUSER = "postgres"

# What the app role can make on its own: a CHECK constraint calling its own function, which runs
# for each row the restore loads. Run by the app role itself, RESET ROLE changes nothing and the
# ALTER ROLE is refused (and swallowed); run with the superuser behind a SET ROLE, it succeeds.
HOSTILE = """
CREATE FUNCTION escalate(v integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RESET ROLE;
  EXECUTE format('ALTER ROLE %I SUPERUSER', '{app}');
  RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
  RETURN true;
END $$;
CREATE TABLE innocent (v integer CHECK (escalate(v)));
INSERT INTO innocent VALUES (1), (2);
"""


def admin(sql: str, *, dbname: str = "postgres") -> list[tuple]:
    with psycopg.connect(host="127.0.0.1", user=SUPERUSER, dbname=dbname, autocommit=True) as conn:
        cursor = conn.execute(sql)
        return cursor.fetchall() if cursor.description else []


def is_superuser(role: str) -> bool:
    return admin(f"SELECT rolsuper FROM pg_roles WHERE rolname = '{role}'") == [(True,)]


@pytest.fixture
def hostile_dump(tmp_path):
    """A role like the stack's app role, a database it owns holding the hostile object, that
    database's dump as `make backup` takes it (pg_dump -Fc as the superuser), and an empty
    database made as restore.sh makes it; all dropped afterwards."""
    app = f"fbrain_outsider_app_{secrets.token_hex(4)}"
    source, target = f"{app}_source", f"{app}_target"
    admin(f"CREATE ROLE {app} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION")
    try:
        for database in (source, target):
            admin(f'CREATE DATABASE "{database}"')
            subprocess.run(
                ["psql", "-qX", "-U", SUPERUSER, "-d", database, "-v", "ON_ERROR_STOP=1",
                 "-v", f"app={app}", "-v", f"db={database}", "-f", str(APP_DATABASE)],
                env={"PATH": "/usr/bin:/bin", **SERVER}, check=True, capture_output=True,
            )  # fmt: skip
        with psycopg.connect(host="127.0.0.1", user=app, dbname=source, autocommit=True) as conn:
            conn.execute(HOSTILE.format(app=app))
        dump = tmp_path / "postgres.dump"
        with dump.open("wb") as out:
            subprocess.run(
                ["pg_dump", "--format=custom", "-U", SUPERUSER, "-d", source],
                env={"PATH": "/usr/bin:/bin", **SERVER}, stdout=out, check=True,
            )  # fmt: skip
        assert not is_superuser(app)
        yield app, target, dump
    finally:
        for database in (source, target):
            admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin(f"DROP ROLE IF EXISTS {app}")


def test_a_dump_that_resets_its_role_cannot_make_the_app_role_a_superuser(hostile_dump):
    app, target, dump = hostile_dump
    environment = {"PATH": "/usr/bin:/bin", **SERVER, "FBRAIN_DB_USER": app, "POSTGRES_DB": target}
    with dump.open("rb") as stdin:
        subprocess.run(["bash", str(RESTORE_AS_APP)], env=environment, stdin=stdin, check=True)
    assert not is_superuser(app)
    # The restore itself worked: the rows are back, owned by the app role.
    assert admin("SELECT count(*) FROM innocent", dbname=target) == [(2,)]
    assert admin("SELECT tableowner FROM pg_tables WHERE tablename = 'innocent'", dbname=target) == [(app,)]


def test_the_same_dump_restored_by_the_superuser_with_role_would_make_it_one(hostile_dump):
    # Why restore.sh no longer does this: `pg_restore --role` is a SET ROLE the dump can undo.
    app, target, dump = hostile_dump
    with dump.open("rb") as stdin:
        subprocess.run(
            ["pg_restore", "--no-owner", f"--role={app}", "--exit-on-error", "-U", SUPERUSER, "-d", target],
            env={"PATH": "/usr/bin:/bin", **SERVER}, stdin=stdin, check=True,
        )  # fmt: skip
    try:
        assert is_superuser(app)
    finally:
        admin(f"ALTER ROLE {app} NOSUPERUSER")
