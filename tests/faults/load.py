"""Load for the fault tests, and the accounting that proves nothing was lost or stored twice.

Each test works on cities of its own (a name prefix), one fetch task per city, so its figures are
read straight from PostgreSQL: every city must end with exactly one observation, every task in
SUCCESS, and the workers' logs say which deliveries were redeliveries.
"""

import json
import re
import subprocess
from dataclasses import dataclass

from tests.openmeteo_stub import current_slot
from tests.polling import wait_for
from tests.stack.stack import Stack


def cities_create(stack: Stack, prefix: str, count: int) -> None:
    stack.django(
        "from weather.models import City\n"
        f"City.objects.bulk_create([City(name='{prefix}-%05d' % i, country='ZZ', "
        f"latitude=round(-60 + (i * 0.37) % 120, 2), longitude=round(-170 + (i * 0.71) % 340, 2)) "
        f"for i in range({count})])\nprint('ok')"
    )


def stub_for_load(stack, **config) -> None:
    """The weather stand-in's behaviour under a load, with one observation time throughout: a task
    the broker hands back runs again, perhaps past a 15-minute boundary, and that later slot would be
    a newer observation, which the tally counts as a city stored twice (a RabbitMQ restart that
    straddled 13:00 did just that)."""
    stack.stub("/_stub/config", {"fixed_time": current_slot(), **config})


def fetches_enqueue(stack: Stack, prefix: str) -> list[str]:
    """One fetch_weather_for_city per city of `prefix`, published from the web container."""
    out = stack.django(
        "import json\nfrom weather.models import City\nfrom weather.tasks import fetch_weather_for_city\n"
        f"ids = City.objects.filter(name__startswith='{prefix}-').values_list('id', flat=True)\n"
        "print(json.dumps([fetch_weather_for_city.delay(i).id for i in ids]))"
    )
    return json.loads(out)


@dataclass
class Tally:
    sent: int
    succeeded: int
    failed: int
    stored_once: int
    missing: int
    duplicates: int

    @property
    def finished(self) -> int:
        return self.succeeded + self.failed


def tally(stack: Stack, prefix: str, task_ids: list[str]) -> Tally:
    ids = ",".join(f"'{task_id}'" for task_id in task_ids) or "NULL"
    states = dict(
        line.split("|")
        for line in stack.sql(
            f"SELECT status, count(*) FROM django_celery_results_taskresult "
            f"WHERE task_id IN ({ids}) GROUP BY status"
        ).splitlines()
    )
    once, missing, extra = stack.sql(
        "SELECT count(*) FILTER (WHERE n = 1), count(*) FILTER (WHERE n = 0), "
        "coalesce(sum(greatest(n - 1, 0)), 0) FROM (SELECT c.id, count(w.id) AS n FROM weather_city c "
        f"LEFT JOIN weather_weatherdata w ON w.city_id = c.id WHERE c.name LIKE '{prefix}-%' "
        "GROUP BY c.id) AS per_city"
    ).split("|")
    return Tally(
        sent=len(task_ids),
        succeeded=int(states.get("SUCCESS", 0)),
        failed=int(states.get("FAILURE", 0)),
        stored_once=int(once),
        missing=int(missing),
        duplicates=int(extra),
    )


def assert_nothing_lost(t: Tally) -> None:
    assert t.failed == 0 and t.succeeded == t.sent, t
    assert t.stored_once == t.sent and t.missing == 0 and t.duplicates == 0, t


def tally_when_finished(stack: Stack, prefix: str, task_ids: list[str], *, timeout: float) -> Tally:
    return wait_for(
        lambda: (t := tally(stack, prefix, task_ids)).finished == t.sent and t,
        timeout=timeout,
        interval=2,
        what=f"the {len(task_ids)} tasks of {prefix} to finish",
    )


def tasks_running(stack: Stack, prefix: str, task_ids: list[str], at_least: int = 1) -> Tally:
    """Wait until the load is under way: some tasks done, most still to come."""
    return wait_for(
        lambda: (t := tally(stack, prefix, task_ids)).succeeded >= at_least and t,
        timeout=120,
        interval=0.5,
        what=f"{prefix}'s tasks to start",
    )


_REDELIVERED = re.compile(r"\[([0-9a-f-]{36})\] redelivered")


def service_logs(stack: Stack, since: float, service: str = "celery") -> str:
    """What a service's containers logged since `since` (epoch seconds)."""
    return stack.compose("logs", "--no-color", "--since", str(int(since) - 1), service, timeout=300).stdout


def redelivered(stack: Stack, task_ids: list[str], since: float) -> int:
    """Deliveries the workers logged as redeliveries of these tasks since `since`."""
    wanted = set(task_ids)
    return sum(1 for match in _REDELIVERED.finditer(service_logs(stack, since)) if match.group(1) in wanted)


def redelivered_ids(logs: str) -> set[str]:
    """The tasks that workers' logs show delivered again by the broker."""
    return {match.group(1) for match in _REDELIVERED.finditer(logs)}


def container_log(container_id: str) -> str:
    out = subprocess.run(["docker", "logs", container_id], capture_output=True, text=True)
    return out.stdout + out.stderr


def container_name(container_id: str) -> str:
    return (
        subprocess.run(
            ["docker", "inspect", "-f", "{{.Name}}", container_id], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .lstrip("/")
    )


def restart_counts(stack: Stack, *services: str) -> dict[str, int]:
    counts = {}
    for service in services:
        for cid in stack.container_ids(service):
            out = subprocess.run(
                ["docker", "inspect", "-f", "{{.Name}} {{.RestartCount}}", cid],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            counts[out[0].lstrip("/")] = int(out[1])
    return counts


def children(pid: int | str) -> list[tuple[int, str]]:
    out = subprocess.run(
        ["ps", "-o", "pid=,comm=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout
    return [(int(p), comm) for p, comm in (line.split(None, 1) for line in out.splitlines())]


def worker_main_process(container_id: str) -> int:
    """Host pid of a worker container's Celery main process: the child of start-worker, its PID 1
    (the other child is the watchdog's `sleep`)."""
    start_worker = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", container_id],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return next(pid for pid, comm in children(start_worker) if comm.strip() != "sleep")


def pool_processes(container_id: str) -> list[int]:
    """Host pids of a worker container's pool processes: the children of its main process."""
    return [pid for pid, _ in children(worker_main_process(container_id))]


def workers_answering(stack: Stack) -> int:
    """Containers of the `celery` service whose worker answers a ping; celery-imports answers too
    and is not counted. A worker's node name is celery@<its container's short id>."""
    out = stack.compose(
        "exec", "-T", "web", "celery", "-A", "server_config", "inspect", "ping", "--timeout", "5",
        check=False, timeout=60,
    ).stdout  # fmt: skip
    return sum(f"celery@{container[:12]}: OK" in out for container in stack.container_ids("celery"))
