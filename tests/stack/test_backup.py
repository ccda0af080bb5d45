"""`make backup` and `make restore` on the shared stack, after every other test (they destroy it).

The stack keeps working through the test (refreshes, deferred batches, beat), so the reference is
the dump itself, read back into a scratch database: the backup holds what the test put in, and after
`docker compose down -v` and `make restore` every table holds exactly the dump's rows. A dump of an
older schema restored into a running stack of newer code is migrated forward. Prints the backup and
restore times it measured."""

import json
import re
import subprocess
import time

import pytest

from tests.stack.stack import REPO, STAFF_USER, Stack

# Beat rewrites its schedule's rows each time it starts (django-celery-beat's `date_changed`, and
# `last_update` of its change marker) and each time it sends one (`last_run_at`, `total_run_count`,
# and `enabled`, which it clears on a one-off or expired entry): a restored stack runs beat again,
# so these columns differ.
RESTARTED_BY_BEAT = ("date_changed", "last_update", "last_run_at", "total_run_count", "enabled")
# A restored stack runs tasks again (beat's schedule): their results are new rows, with ids above
# the dump's (the sequence is restored too), and are left out of the comparison.
RESULTS = "django_celery_results_taskresult"
# Beat also syncs its schedule's rows when it starts; of those, what a user wrote is compared.
SCHEDULE = "django_celery_beat_periodictask"
SCHEDULE_AS_WRITTEN = (
    "jsonb_build_object('name', name, 'task', task, 'args', args, 'kwargs', kwargs, 'queue', queue)"
)
READINGS = 100_000
SCRATCH = "fbrain_backup_check"
SEEDED_READINGS = (
    "SELECT count(*), md5(string_agg(w::text, ',' ORDER BY w.id)) FROM weather_weatherdata w "
    "WHERE source = 'backup-test'"
)

A_SCHEDULE_OF_ITS_OWN = """
from django_celery_beat.models import CrontabSchedule, PeriodicTask
yearly, _ = CrontabSchedule.objects.get_or_create(minute='0', hour='0', day_of_month='1', month_of_year='1')
PeriodicTask.objects.update_or_create(name='backup-test-yearly-cleanup', defaults={
    'task': 'weather.tasks.cleanup_old_weather_data', 'crontab': yearly})
print('ok')
"""


def psql(stack: Stack, query: str, *, database: str = "fbrain", user: str = "fbrain") -> str:
    # On stdin, inside the db container (the superuser logs in through its socket only).
    return stack.compose(
        "exec", "-T", "db", "psql", "-U", user, "-d", database, "-tAq", "-v", "ON_ERROR_STOP=1", input=query
    ).stdout.strip()  # fmt: skip


def table_checksums(
    stack: Stack, results_up_to: int, *, database: str = "fbrain", user: str = "fbrain"
) -> dict[str, str]:
    """Row count and an md5 of every row's content, per table of a database (of the task results,
    those with ids up to `results_up_to`)."""
    tables = psql(
        stack,
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
        database=database, user=user,
    ).split()  # fmt: skip
    volatile = "".join(f" - '{column}'" for column in RESTARTED_BY_BEAT)
    row = f"(to_jsonb(t){volatile})::text"

    def content(name: str) -> str:
        return f"({SCHEDULE_AS_WRITTEN})::text" if name == SCHEDULE else row

    query = " UNION ALL ".join(
        f"SELECT '{name}', count(*), md5(coalesce(string_agg({content(name)}, ','"
        f" ORDER BY {content(name)}), ''))"
        f' FROM "{name}" t' + (f" WHERE id <= {results_up_to}" if name == RESULTS else "")
        for name in tables
    )
    lines = psql(stack, query, database=database, user=user).splitlines()
    return {line.split("|", 1)[0]: line.split("|", 1)[1] for line in lines}


def dump_checksums(stack: Stack, folder: str) -> tuple[dict[str, str], int, str]:
    """table_checksums of a backup's dump, restored into a scratch database beside the app's, the
    highest task result id in it, and the seeded readings' count and checksum in it."""
    admin = ("exec", "-T", "db")
    stack.compose(
        *admin, "sh", "-c", f"dropdb -U postgres --if-exists {SCRATCH} && createdb -U postgres {SCRATCH}"
    )
    try:
        subprocess.run(
            stack.compose_args(*admin, "pg_restore", "-U", "postgres", "--no-owner", "-e", "-d", SCRATCH),
            input=(stack.directory / folder / "postgres.dump").read_bytes(), capture_output=True, check=True,
            timeout=600,
        )  # fmt: skip
        readings = psql(stack, SEEDED_READINGS, database=SCRATCH, user="postgres")
        last_result = int(
            psql(stack, f"SELECT coalesce(max(id), 0) FROM {RESULTS}", database=SCRATCH, user="postgres")
        )
        checksums = table_checksums(stack, last_result, database=SCRATCH, user="postgres")
        return checksums, last_result, readings
    finally:
        stack.compose(*admin, "dropdb", "-U", "postgres", "--if-exists", SCRATCH)


def seeded(stack: Stack) -> str:
    """A refresh under way, a schedule of its own and 100,000 more readings inserted by one
    statement, beside what the earlier tests left; returns the readings' count and checksum."""
    stack.compose("exec", "-T", "web", "python", "manage.py", "refresh_weather")
    assert stack.django(A_SCHEDULE_OF_ITS_OWN) == "ok"
    stack.sql(
        "INSERT INTO weather_weatherdata (city_id, observed_at, temperature, humidity, pressure, wind_speed,"
        " wind_direction, weather_code, source, fetched_at) "
        "SELECT c.id, date_trunc('hour', now()) - interval '1 day' - g * interval '1 minute', g % 40 - 10,"
        " g % 100, 1000 + g % 30, g % 50, g % 360, g % 4, 'backup-test', now() "
        "FROM (SELECT id FROM weather_city ORDER BY id LIMIT 100) c CROSS JOIN generate_series(1, 1000) g"
    )
    readings = stack.sql(SEEDED_READINGS)
    assert readings.startswith(f"{READINGS}|"), readings
    return readings


def backup(stack: Stack) -> tuple[str, float]:
    began = time.monotonic()
    out = stack.run("make backup").stdout
    took = time.monotonic() - began
    folder = re.search(r"make restore FILE=(\S+)", out)[1]
    assert (stack.directory / folder / "postgres.dump").stat().st_size > 0
    definitions = json.loads((stack.directory / folder / "rabbitmq-definitions.json").read_text())
    assert any(queue["name"].endswith(".dead-letter") for queue in definitions["queues"])
    return folder, took


# A staff member's signed-in session, made as Django's login makes one: its cookie's name and key.
A_STAFF_SESSION = f"""
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
user = get_user_model().objects.get(username='{STAFF_USER}')
session = SessionStore()
session.update({{SESSION_KEY: str(user.pk), HASH_SESSION_KEY: user.get_session_auth_hash(),
                BACKEND_SESSION_KEY: 'django.contrib.auth.backends.ModelBackend'}})
session.create()
print(settings.SESSION_COOKIE_NAME + '=' + session.session_key)
"""


def runs_with_cookie(stack: Stack, cookie: str) -> int:
    """The status of a staff-only read sent with only this cookie (no token)."""
    return stack.http("GET", "/api/runs/", anonymous=True, headers={"Cookie": cookie}).status


@pytest.mark.destroys_stack
def test_a_backup_restores_every_row_after_down_v_and_an_older_schema_is_migrated(stack):
    readings = seeded(stack)
    session = stack.django(A_STAFF_SESSION)
    assert runs_with_cookie(stack, session) == 200
    folder, backup_took = backup(stack)
    dumped, last_result, dumped_readings = dump_checksums(stack, folder)
    # The dump holds what the test put in, beside what the earlier tests left.
    assert dumped_readings == readings
    assert int(dumped["django_celery_beat_periodictask"].split("|")[0]) >= 4
    assert int(dumped["weather_pipelinerun"].split("|")[0]) >= 1

    # The restore says what it replaces and changes nothing unless told yes.
    database = "SELECT oid FROM pg_database WHERE datname = 'fbrain'"
    oid = stack.sql(database)
    refused = stack.run(f"make restore FILE={folder}", input="no\n", check=False)
    assert refused.returncode != 0 and "REPLACE the PostgreSQL database" in refused.stdout
    assert (stack.sql(database), stack.sql(SEEDED_READINGS)) == (oid, readings)

    stack.down_volumes()
    began = time.monotonic()
    stack.run(f"make restore FILE={folder} CONFIRM=yes")
    restore_took = time.monotonic() - began
    assert table_checksums(stack, last_result) == dumped
    assert stack.sql(SEEDED_READINGS) == readings
    assert stack.http("GET", "/api/cities/?page_size=1").status == 200
    # The backup holds no session (scripts/backup/dump-database.sh): the key signs nobody in now.
    assert stack.sql("SELECT count(*) FROM django_session") == "0"
    assert runs_with_cookie(stack, session) in (401, 403)

    # A dump taken at an older schema (weather's last migration undone), restored into this
    # stack once it is back at the newer one: the restore migrates it forward.
    stack.run("docker compose stop web celery celery-imports beat flower")
    stack.run("docker compose run --rm migrate python manage.py migrate --noinput weather 0001")
    old_folder, _ = backup(stack)
    stack.run("docker compose run --rm migrate && make up")
    stack.run(f"make restore FILE={old_folder} CONFIRM=yes")
    plan = stack.compose("exec", "-T", "web", "python", "manage.py", "showmigrations").stdout
    assert "[X] 0002_etlrow_dedup_key" in plan and "[ ]" not in plan
    assert stack.sql(SEEDED_READINGS) == readings
    dump_mib = (stack.directory / folder / "postgres.dump").stat().st_size / 2**20
    figures = f"backup {backup_took:.0f} s, restore {restore_took:.0f} s, dump {dump_mib:.1f} MiB"
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "backup-figures.txt").write_text(figures + "\n")
    print(f"\n{READINGS:,} readings plus the seeded stack: {figures}")
