"""`make backup` and `make restore` on the shared stack, after every other test (they destroy it):
the stack with the cities, readings, runs and schedules the other tests left, and more, is backed up
while it runs, destroyed with `docker compose down -v`, restored, and every table holds the same rows;
a dump of an older schema restored into a running stack of newer code is migrated forward. Prints
the backup and restore times it measured."""

import json
import re
import time

import pytest

from tests.polling import wait_for
from tests.stack.stack import REPO, Stack

# Beat rewrites its schedule's rows each time it starts (django-celery-beat's `date_changed`, and
# `last_update` of its change marker) and each time it sends one (`last_run_at`, `total_run_count`):
# a restored stack starts beat again, so these columns differ.
RESTARTED_BY_BEAT = ("date_changed", "last_update", "last_run_at", "total_run_count")
# The stack keeps running through the test: a task result finished after `before` was read (a
# scheduled task at hh:30, say) is not part of the comparison, on either side.
RESULTS = "django_celery_results_taskresult"
READINGS = 100_000

A_SCHEDULE_OF_ITS_OWN = """
from django_celery_beat.models import CrontabSchedule, PeriodicTask
yearly, _ = CrontabSchedule.objects.get_or_create(minute='0', hour='0', day_of_month='1', month_of_year='1')
PeriodicTask.objects.update_or_create(name='backup-test-yearly-cleanup', defaults={
    'task': 'weather.tasks.cleanup_old_weather_data', 'crontab': yearly})
print('ok')
"""


def table_checksums(stack: Stack, results_until: str) -> dict[str, str]:
    """Row count and an md5 of every row's content, per table of the app's database (task results
    finished until `results_until`, a PostgreSQL timestamp)."""
    tables = stack.sql(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name"
    ).split()
    volatile = "".join(f" - '{column}'" for column in RESTARTED_BY_BEAT)
    row = f"(to_jsonb(t){volatile})::text"
    query = " UNION ALL ".join(
        f"SELECT '{name}', count(*), md5(coalesce(string_agg({row}, ',' ORDER BY {row}), ''))"
        f' FROM "{name}" t' + (f" WHERE date_done <= '{results_until}'" if name == RESULTS else "")
        for name in tables
    )
    return {line.split("|", 1)[0]: line.split("|", 1)[1] for line in stack.sql(query).splitlines()}


def settled(stack: Stack) -> str:
    """Wait until the task results stop changing (the refresh's last results land after its run
    closes, and the earlier tests may have left tasks under way); returns the time then."""
    # A PENDING row may stay for good (a message in a dead-letter queue): unchanged is what counts.
    query = f"SELECT count(*), max(date_done) FROM {RESULTS}"
    seen: list[str] = []

    def unchanged_for_10_s() -> bool:
        seen.append(stack.sql(query))
        return len(seen) >= 3 and len(set(seen[-3:])) == 1

    wait_for(unchanged_for_10_s, timeout=300, interval=5, what="the task results to settle")
    return stack.sql("SELECT now()")


def seeded(stack: Stack) -> None:
    """Cities (SEED_CITIES), a refresh run with its readings and task results, a schedule of its own,
    and 100,000 more readings inserted by one statement."""
    queued = stack.compose("exec", "-T", "web", "python", "manage.py", "refresh_weather").stdout
    run_id = int(queued.split("run ")[1].split()[0])
    state = f"SELECT state FROM weather_pipelinerun WHERE id = {run_id}"
    wait_for(
        lambda: stack.sql(state) in ("success", "partial"),
        timeout=300, interval=2, what="the refresh run to close",
    )  # fmt: skip
    assert stack.django(A_SCHEDULE_OF_ITS_OWN) == "ok"
    stack.sql(
        "INSERT INTO weather_weatherdata (city_id, observed_at, temperature, humidity, pressure, wind_speed,"
        " wind_direction, weather_code, source, fetched_at) "
        "SELECT c.id, date_trunc('hour', now()) - interval '1 day' - g * interval '1 minute', g % 40 - 10,"
        " g % 100, 1000 + g % 30, g % 50, g % 360, g % 4, 'backup-test', now() "
        "FROM (SELECT id FROM weather_city ORDER BY id LIMIT 100) c CROSS JOIN generate_series(1, 1000) g"
    )
    assert int(stack.sql("SELECT count(*) FROM weather_weatherdata WHERE source = 'backup-test'")) == READINGS


def backup(stack: Stack) -> tuple[str, float]:
    began = time.monotonic()
    out = stack.run("make backup").stdout
    took = time.monotonic() - began
    folder = re.search(r"make restore FILE=(\S+)", out)[1]
    assert (stack.directory / folder / "postgres.dump").stat().st_size > 0
    definitions = json.loads((stack.directory / folder / "rabbitmq-definitions.json").read_text())
    assert any(queue["name"].endswith(".dead-letter") for queue in definitions["queues"])
    return folder, took


@pytest.mark.destroys_stack
def test_a_backup_restores_every_row_after_down_v_and_an_older_schema_is_migrated(stack):
    seeded(stack)
    cutoff = settled(stack)
    before = table_checksums(stack, cutoff)
    folder, backup_took = backup(stack)
    # The restore says what it replaces and changes nothing unless told yes.
    refused = stack.run(f"make restore FILE={folder}", input="no\n", check=False)
    assert refused.returncode != 0 and "REPLACE the PostgreSQL database" in refused.stdout
    assert table_checksums(stack, cutoff) == before

    stack.run("docker compose down -v")
    began = time.monotonic()
    stack.run(f"make restore FILE={folder} CONFIRM=yes")
    restore_took = time.monotonic() - began
    after = table_checksums(stack, cutoff)
    assert {name: after.get(name) for name in before} == before
    assert stack.http("GET", "/api/cities/?page_size=1").status == 200

    # A dump taken at an older schema (weather's last migration undone), restored into this
    # stack once it is back at the newer one: the restore migrates it forward.
    stack.run("docker compose stop web celery celery-imports beat flower")
    stack.run("docker compose run --rm migrate python manage.py migrate --noinput weather 0001")
    old_folder, _ = backup(stack)
    stack.run("docker compose run --rm migrate && make up")
    stack.run(f"make restore FILE={old_folder} CONFIRM=yes")
    plan = stack.compose("exec", "-T", "web", "python", "manage.py", "showmigrations").stdout
    assert "[X] 0002_etlrow_dedup_key" in plan and "[ ]" not in plan
    assert table_checksums(stack, cutoff)["weather_weatherdata"] == before["weather_weatherdata"]
    dump_mib = (stack.directory / folder / "postgres.dump").stat().st_size / 2**20
    figures = f"backup {backup_took:.0f} s, restore {restore_took:.0f} s, dump {dump_mib:.1f} MiB"
    (REPO / "build").mkdir(exist_ok=True)
    (REPO / "build" / "backup-figures.txt").write_text(figures + "\n")
    print(f"\n{READINGS:,} readings plus the seeded stack: {figures}")
