"""`make backup`'s database dump (scripts/backup/dump-database.sh, run here against the fast tier's
real PostgreSQL) keeps every table but no session, cache entry, request budget or task claim: a
session key taken before the backup signs nobody in after a restore."""

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.test import Client

from access.budgets import budget_spend
from task_queue.claims import task_claim

REPO = Path(__file__).resolve().parents[2]
DUMP_DATABASE = REPO / "scripts" / "backup" / "dump-database.sh"
SERVER = {"PATH": "/usr/bin:/bin", "PGHOST": "127.0.0.1", "PGPORT": "5432"}


def dump(tmp_path: Path) -> Path:
    """The dump `make backup` writes, taken from this test's database as the superuser, as in the stack."""
    path = tmp_path / "postgres.dump"
    environment = {**SERVER, "POSTGRES_USER": "postgres", "POSTGRES_DB": connection.settings_dict["NAME"]}
    with path.open("wb") as out:
        subprocess.run(["bash", str(DUMP_DATABASE)], env=environment, stdout=out, check=True)
    return path


def psql(database: str, sql: str) -> str:
    command = ["psql", "-qXtA", "-U", "postgres", "-d", database, "-v", "ON_ERROR_STOP=1", "-c", sql]
    return subprocess.run(command, env=SERVER, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def scratch(transactional_db):
    """An empty database to restore into, dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_restored"
    psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    psql("postgres", f'CREATE DATABASE "{name}"')
    yield name
    psql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_session_key_taken_before_a_backup_signs_nobody_in_after_its_restore(tmp_path, scratch):
    get_user_model().objects.create_user("kept", password="pw-for-this-test-only")
    browser = Client()
    assert browser.login(username="kept", password="pw-for-this-test-only")
    session_key = browser.cookies[settings.SESSION_COOKIE_NAME].value
    cache.set("a-cache-entry-of-someone", "cached", 600)
    budget_spend("a-budget-of-someone", limit=5, window_seconds=60)
    task_claim("a-claim-of-someone", task_id="a-task-of-someone", ttl=600)
    path = dump(tmp_path)
    # Not in the dump's data at all (read back as SQL: the file itself is compressed).
    rows = subprocess.run(
        ["pg_restore", "--data-only", "--file=-", str(path)], env=SERVER, check=True, capture_output=True
    ).stdout
    assert b"kept" in rows
    assert session_key.encode() not in rows
    assert not any(f"a-{kind}-of-someone".encode() in rows for kind in ("cache-entry", "budget", "claim"))
    with path.open("rb") as stdin:
        subprocess.run(
            ["pg_restore", "--no-owner", "--exit-on-error", "-U", "postgres", "-d", scratch],
            env=SERVER, stdin=stdin, check=True,
        )  # fmt: skip
    # The tables are there, empty, so Django finds no session for the key: it is signed out.
    volatile = ["django_session", settings.CACHES["default"]["LOCATION"], "access_throttlebudget"]
    counts = ", ".join(f"(SELECT count(*) FROM {table})" for table in [*volatile, "task_queue_taskclaim"])
    assert psql(scratch, f"SELECT {counts}") == "0|0|0|0"
    assert psql(scratch, "SELECT username FROM auth_user") == "kept"
