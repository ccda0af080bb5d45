"""An existing user comes along: a stack started on the previous defaults (PostgreSQL 15, RabbitMQ 3.10,
the bookworm stand-ins) holding rows and queued tasks reaches the new defaults' major versions with
docs/operations.md's commands, and loses nothing: every row is still there, and every task that waited
in the old broker (one of them delayed by a countdown) runs once on the new one."""

import re
import subprocess

import pytest

from tests.faults.conftest import FAULT_STACK
from tests.faults.load import (
    assert_nothing_lost,
    cities_create,
    fetches_enqueue,
    redelivered_ids,
    tally_when_finished,
)
from tests.polling import wait_for
from tests.stack.stack import REPO, running_stack

pytestmark = pytest.mark.fault

# The previous defaults' major versions, as `make standins` builds them for this test only.
PREVIOUS = {
    "POSTGRES_IMAGE": "fbrain-standin/postgres:15-bookworm-r2",
    "RABBITMQ_IMAGE": "fbrain-standin/rabbitmq:3.10-management-r3",
}


# Tables a backup leaves empty on purpose (scripts/backup/dump-database.sh: sessions, the cache, the
# request budgets and the queued tasks' claims authenticate, count or coalesce callers, and are not restored).
VOLATILE = {"django_session", "fbrain_cache", "access_throttlebudget", "task_queue_taskclaim"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    subprocess.run([str(REPO / "tests/stack/images/build.sh"), "previous"], check=True)
    with running_stack(tmp_path_factory.mktemp("major"), **FAULT_STACK, **PREVIOUS) as stack:
        stack.act_as_staff()
        yield stack
        # The volumes the upgrade kept for a rollback are the user's to remove (it prints how).
        for command in getattr(stack, "cleanup", []):
            stack.run(command, check=False)


def table_counts(stack) -> dict[str, int]:
    tables = stack.sql("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1").split()
    query = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM \"{t}\"" for t in tables)
    return {name: int(n) for name, n in (line.split("|") for line in stack.sql(query).splitlines())}


def succeeded_lines(logs: str, task_ids: list[str]) -> dict[str, int]:
    return {task_id: len(re.findall(rf"\[{task_id}\] succeeded in", logs)) for task_id in task_ids}


def test_make_upgrade_major_moves_every_row_and_every_queued_task_to_postgres_17_and_rabbitmq_4(stack):
    assert stack.sql("SHOW server_version").startswith("15.")
    # Rows written on the old stack: 200 cities fetched by its workers.
    cities_create(stack, "M1", 200)
    fetched = fetches_enqueue(stack, "M1")
    assert_nothing_lost(tally_when_finished(stack, "M1", fetched, timeout=300))
    # Work waiting in the old broker: the workers stopped, 300 fetches queued and one due in 40 s.
    stack.compose("stop", "celery", "celery-imports")
    cities_create(stack, "M2", 300)
    queued = fetches_enqueue(stack, "M2")
    cities_create(stack, "M3", 1)
    delayed = stack.django(
        "from weather.models import City\nfrom weather.tasks import fetch_weather_for_city\n"
        "print(fetch_weather_for_city.apply_async((City.objects.get(name='M3-00000').id,), countdown=40).id)"
    )
    waiting = stack.exec("rabbitmq", "rabbitmqctl", "-q", "list_queues", "-p", "fbrain", "name", "messages")
    waiting = waiting.stdout
    assert re.search(r"^celery\s+300$", waiting, re.M), waiting
    before = table_counts(stack)

    # The user's upgrade: the previous image lines out of .env (the new defaults apply), then the
    # documented command.
    env = stack.directory / ".env"
    tier_lines = {f"{name}={image}" for name, image in PREVIOUS.items()}
    kept = [line for line in env.read_text().splitlines(True) if line.strip() not in tier_lines]
    env.write_text("".join(kept))
    upgraded = stack.timed("make upgrade-major CONFIRM=yes")
    stack.cleanup = re.findall(r"^\s+(docker volume rm \S+)$", upgraded.stdout, re.M)
    assert len(stack.cleanup) == 2, upgraded.stdout

    assert stack.sql("SHOW server_version").startswith("17.")
    assert stack.exec("rabbitmq", "rabbitmqctl", "version").stdout.startswith("4.")
    assert not [c for c in stack.containers("rabbitmq") if "previous" in c["Name"]]
    assert_nothing_lost(tally_when_finished(stack, "M2", queued, timeout=300))
    assert_nothing_lost(tally_when_finished(stack, "M3", [delayed], timeout=180))
    # Each ran on the new workers, once, or again only as a redelivery the workers logged: a worker
    # replaced under load hands its unacknowledged task back (at least once, as everywhere in the
    # stack). A second run that no redelivery explains would be a copy the move made.
    logs = stack.compose("logs", "--no-color", "celery").stdout
    runs = succeeded_lines(logs, [*queued, delayed])
    assert min(runs.values()) == 1, runs
    again = {task_id for task_id, count in runs.items() if count > 1}
    assert again <= redelivered_ids(logs), (again, redelivered_ids(logs))
    # Every row is still there: the tables only grew by what the queued tasks wrote.
    after = table_counts(stack)
    assert set(before) <= set(after)
    shrunk = {
        name: (before[name], after[name]) for name in set(before) - VOLATILE if after[name] < before[name]
    }
    assert shrunk == {}
    assert after["weather_city"] == before["weather_city"]
    wait_for(
        lambda: stack.http("GET", "/readyz").status == 200, timeout=60, what="the upgraded stack to answer"
    )
