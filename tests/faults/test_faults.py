"""Faults injected into the real stack's processes and containers while it works: every weather
update ends stored exactly once, or failed with its reason; none is lost. Each test records its
figures for docs/reliability.md (`make test-faults`). Tests run in file order on one stack."""

import json
import re
import subprocess
import time

import pytest

from tests.faults.load import (
    assert_nothing_lost,
    cities_create,
    container_log,
    container_name,
    fetches_enqueue,
    pool_processes,
    redelivered,
    restart_counts,
    service_logs,
    stub_for_load,
    tally,
    tally_when_finished,
    tasks_running,
    worker_main_process,
    workers_answering,
)
from tests.polling import wait_for
from tests.reliability import FaultFigures, record

pytestmark = pytest.mark.fault

FETCHES = 500


def fetches_under_way(stack, prefix: str, *, latency_ms: int) -> tuple[float, list[str]]:
    """500 cities of their own, one fetch task each, each API answer `latency_ms` late; returns once
    the first tasks have finished, with the rest queued or running."""
    cities_create(stack, prefix, FETCHES)
    stub_for_load(stack, latency_ms=latency_ms)
    started = time.time()
    task_ids = fetches_enqueue(stack, prefix)
    tasks_running(stack, prefix, task_ids, at_least=20)
    return started, task_ids


def test_a_misbehaving_weather_api_ends_every_city_stored_or_failed_with_its_reason(stack):
    cities_create(stack, "F5", 300)
    stack.stub("/_stub/reset", {})
    stub_for_load(
        stack, error_5xx_rate=0.3, timeout_rate=0.1, timeout_seconds=3, rate_429=0.05, retry_after=1,
        malformed_rate=0.05, drop_location_rate=0.2, seed=6,
    )  # fmt: skip
    before = restart_counts(stack, "celery", "web")
    try:
        queued = stack.compose("exec", "-T", "web", "python", "manage.py", "refresh_weather").stdout
        run_id = int(queued.split("run ")[1].split()[0])
        row = wait_for(
            lambda: (
                (r := stack.sql(f"SELECT state, cities_total, cities_ok, cities_failed, errors::text "
                                f"FROM weather_pipelinerun WHERE id = {run_id}").split("|", 4))[0]
                in ("success", "partial", "failure") and r
            ),
            timeout=300, interval=2, what="the refresh run to close",
        )  # fmt: skip
        stats = stack.stub("/_stub/stats")
    finally:
        stack.stub("/_stub/reset", {})
    state, total, ok, failed, errors = row[0], int(row[1]), int(row[2]), int(row[3]), json.loads(row[4])
    t = tally(stack, "F5", [])
    batches = -(-total // 10)
    assert total == 300 and ok + failed == total and state in ("success", "partial")
    assert t.stored_once == ok and t.duplicates == 0
    # Every failed city is named with its reason; retries stayed within 3 per batch.
    assert len(errors) == failed and all(e["error"] for e in errors)
    assert stats["forecast_requests"] <= batches * 4
    assert restart_counts(stack, "celery", "web") == before
    reasons = sorted({e["error"].split(":")[0][:60] for e in errors})
    record(
        FaultFigures(
            order=5, fault="Weather API: 30% 5xx, 10% timeouts, 5% 429 + Retry-After, 5% malformed JSON, "
            "20% of batch answers missing a location",
            test="misbehaving_weather_api", sent=total, completed=ok, redelivered=0,
            failed_with_reason=failed, lost=total - ok - failed, duplicates=t.duplicates,
            notes=f"{stats['forecast_requests']} API requests for {batches} batches (bound {batches * 4}); "
            f"run {state}; reasons: {'; '.join(reasons)[:300]}; no worker restarted",
        )
    )  # fmt: skip


def test_killing_pool_processes_mid_fetch_loses_nothing(stack):
    started, task_ids = fetches_under_way(stack, "F1", latency_ms=150)
    killed = 0
    for _ in range(3):
        for cid in stack.container_ids("celery"):
            for pid in pool_processes(cid)[:1]:
                subprocess.run(["kill", "-9", str(pid)], check=True)
                killed += 1
        time.sleep(2)
    t = tally_when_finished(stack, "F1", task_ids, timeout=300)
    stack.stub("/_stub/reset", {})
    again = redelivered(stack, task_ids, started)
    assert_nothing_lost(t)
    assert again >= 1  # killed while running: handed back by the broker and run again
    record(
        FaultFigures(
            order=1, fault="`kill -9` of worker pool processes during 500 fetches",
            test="kill_pool_processes", sent=t.sent, completed=t.succeeded, redelivered=again,
            failed_with_reason=t.failed, lost=t.missing, duplicates=t.duplicates,
            notes=f"{killed} pool processes killed (3 rounds, both workers); each city has exactly one "
            "observation",
        )
    )  # fmt: skip


def test_docker_kill_of_a_worker_container_mid_fetch_loses_nothing(stack):
    started, task_ids = fetches_under_way(stack, "F1K", latency_ms=150)
    victim = stack.container_ids("celery")[0]
    subprocess.run(["docker", "kill", victim], check=True, capture_output=True)
    t = tally_when_finished(stack, "F1K", task_ids, timeout=300)
    stack.stub("/_stub/reset", {})
    again = redelivered(stack, task_ids, started)
    assert_nothing_lost(t)
    assert again >= 1
    # The killed container comes back (restart policy, or `up` as an operator would) and rejoins.
    stack.compose("up", "-d", "--wait", "--scale", "celery=2", "celery", timeout=300)
    wait_for(lambda: workers_answering(stack) == 2, timeout=120, interval=3, what="both workers to answer")
    record(
        FaultFigures(
            order=1, fault="`docker kill` of a worker container during 500 fetches",
            test="docker_kill_worker_container", sent=t.sent, completed=t.succeeded, redelivered=again,
            failed_with_reason=t.failed, lost=t.missing, duplicates=t.duplicates,
            notes="the other worker took the killed one's unacknowledged tasks; the container rejoined",
        )
    )  # fmt: skip


def test_a_frozen_worker_is_replaced_by_its_own_container_and_its_tasks_run_elsewhere(stack):
    started, task_ids = fetches_under_way(stack, "F11", latency_ms=150)
    victim = stack.container_ids("celery")[0]
    restarts = restart_counts(stack, "celery")
    # SIGSTOP from the host, as a hung kernel call or a debugger would freeze it: no handler runs.
    subprocess.run(["kill", "-STOP", str(worker_main_process(victim))], check=True)
    frozen = time.monotonic()
    # No operator and no Docker socket: start-worker's watchdog kills the stale worker, the restart
    # policy starts the container again, and its new worker answers.
    wait_for(
        lambda: restart_counts(stack, "celery") != restarts and workers_answering(stack) == 2,
        timeout=400, interval=3, what="the frozen worker's container to be replaced",
    )  # fmt: skip
    replaced_after = time.monotonic() - frozen
    t = tally_when_finished(stack, "F11", task_ids, timeout=300)
    stack.stub("/_stub/reset", {})
    again = redelivered(stack, task_ids, started)
    assert_nothing_lost(t)
    assert again >= 1  # the frozen worker held tasks; the broker handed them to the other worker
    killed_at = re.search(r"for (\d+) s \(limit (\d+) s\): the worker is stuck", container_log(victim))
    assert killed_at, "start-worker's watchdog did not log the kill"
    record(
        FaultFigures(
            order=11, fault="A worker's main process frozen with SIGSTOP during 500 fetches",
            test="sigstop_worker", sent=t.sent, completed=t.succeeded, redelivered=again,
            failed_with_reason=t.failed, lost=t.missing, duplicates=t.duplicates,
            notes=f"killed by its watchdog after {killed_at[1]} s without progress (limit {killed_at[2]} "
            f"s); a new worker answered {replaced_after:.0f} s after the freeze; the {again} tasks it held "
            "were redelivered and ran",
        )
    )  # fmt: skip


def test_compose_stop_of_the_workers_under_load_hands_back_unfinished_work(stack):
    started, task_ids = fetches_under_way(stack, "F2", latency_ms=300)
    stop_began = time.monotonic()
    stack.compose("stop", "celery", timeout=400)
    stop_took = time.monotonic() - stop_began
    exits = [c["ExitCode"] for c in stack.containers("celery")]
    at_stop = tally(stack, "F2", task_ids)
    stack.compose("up", "-d", "--wait", "--scale", "celery=2", "celery", timeout=300)
    t = tally_when_finished(stack, "F2", task_ids, timeout=300)
    stack.stub("/_stub/reset", {})
    assert exits == [0, 0]  # warm shutdown: running tasks finished, nothing cut off
    assert at_stop.finished < t.sent  # work was waiting in the queue when they stopped
    assert_nothing_lost(t)
    record(
        FaultFigures(
            order=2, fault="`docker compose stop celery` during 500 fetches",
            test="compose_stop_workers", sent=t.sent, completed=t.succeeded,
            redelivered=redelivered(stack, task_ids, started), failed_with_reason=t.failed,
            lost=t.missing, duplicates=t.duplicates,
            notes=f"both workers stopped in {stop_took:.1f} s (grace 12 min) with exit code 0; "
            f"{t.sent - at_stop.finished} tasks stayed queued and ran after `up`",
        )
    )  # fmt: skip


def test_postgres_down_for_20_seconds_under_load_retries_then_completes(stack):
    before = restart_counts(stack, "celery", "web")
    started, task_ids = fetches_under_way(stack, "F4", latency_ms=100)
    stack.compose("stop", "db", timeout=120)
    statuses = set()
    down_until = time.monotonic() + 20
    while time.monotonic() < down_until:
        statuses.add(stack.http("GET", "/readyz").status)
        time.sleep(1)
    stack.compose("start", "db", timeout=120)
    wait_for(lambda: stack.http("GET", "/readyz").status == 200, timeout=120, what="readyz 200 again")
    t = tally_when_finished(stack, "F4", task_ids, timeout=400)
    stack.stub("/_stub/reset", {})
    assert statuses == {503}
    assert_nothing_lost(t)
    assert restart_counts(stack, "celery", "web") == before
    retries = len(re.findall(r"\(retry \d+ of 8\)", service_logs(stack, started)))
    record(
        FaultFigures(
            order=4, fault="PostgreSQL stopped for 20 s during 500 fetches",
            test="postgres_down_20s", sent=t.sent, completed=t.succeeded, redelivered=0,
            failed_with_reason=t.failed, lost=t.missing, duplicates=t.duplicates,
            notes=f"/readyz answered {sorted(statuses)} while down, 200 after; tasks retried with backoff "
            f"({retries} database retries) and completed; no web or worker container restarted",
        )
    )  # fmt: skip


PUBLISHER = """
import json, time, uuid
from weather.models import City
from weather.tasks import fetch_weather_for_city
confirmed, refused = [], []
for city_id in City.objects.filter(name__startswith='F3-').values_list('id', flat=True):
    task_id = str(uuid.uuid4())
    try:
        fetch_weather_for_city.apply_async((city_id,), task_id=task_id)
        confirmed.append(task_id)
    except Exception as exc:
        refused.append([task_id, f'{type(exc).__name__}: {exc}'])
        time.sleep(0.1)
print(json.dumps({'confirmed': confirmed, 'refused': refused}))
"""


def stored_count(stack, prefix: str) -> int:
    return int(stack.sql(
        "SELECT count(DISTINCT w.city_id) FROM weather_weatherdata w JOIN weather_city c ON c.id = w.city_id "
        f"WHERE c.name LIKE '{prefix}-%'"
    ))  # fmt: skip


def broker_queues(stack) -> str:
    """The broker's queues (name, type, durable, messages), once it answers."""
    return wait_for(
        lambda: stack.compose(
            "exec", "-T", "rabbitmq", "rabbitmqctl", "-q", "list_queues", "-p", "fbrain",
            "name", "type", "durable", "messages", check=False,
        ).stdout,
        timeout=180, interval=2, what="RabbitMQ to list its queues",
    )  # fmt: skip


def test_a_rabbitmq_restart_while_5000_tasks_flow_loses_no_confirmed_task(stack):
    total = 5000
    cities_create(stack, "F3", total)
    before = restart_counts(stack, "celery", "web")
    stub_for_load(stack)
    started = time.time()
    publisher = subprocess.Popen(
        stack.compose_args("exec", "-T", "web", "python", "manage.py", "shell", "-c", PUBLISHER),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: stored_count(stack, "F3") >= 300, timeout=300, interval=1, what="F3 under way")
        queues_before = broker_queues(stack)
        restart_began = time.monotonic()
        stack.compose("restart", "rabbitmq", timeout=300)
        restart_took = time.monotonic() - restart_began
        queues_after = broker_queues(stack)
        out, err = publisher.communicate(timeout=900)
    finally:
        if publisher.poll() is None:
            publisher.kill()
    assert publisher.returncode == 0, err
    published = json.loads(out.strip().splitlines()[-1])
    confirmed, refused = published["confirmed"], published["refused"]
    t = tally_when_finished(stack, "F3", confirmed, timeout=900)
    stack.stub("/_stub/reset", {})
    assert len(confirmed) + len(refused) == total
    # Every publish was confirmed or refused with a reason; every confirmed task ran once to success.
    assert all(reason for _, reason in refused)
    assert t.succeeded == len(confirmed) and t.failed == 0 and t.duplicates == 0, t
    # The queue is a durable quorum queue, there before and after the restart.
    assert "celery\tquorum\ttrue" in queues_before and "celery\tquorum\ttrue" in queues_after
    wait_for(lambda: workers_answering(stack) == 2, timeout=120, interval=3, what="both workers to answer")
    assert restart_counts(stack, "celery", "web") == before
    refused_ran = int(stack.sql(
        "SELECT count(*) FROM django_celery_results_taskresult WHERE status = 'SUCCESS' AND task_id IN "
        f"({','.join(repr(task_id) for task_id, _ in refused) or repr('')})"
    ))  # fmt: skip
    reasons = sorted({reason[:100] for _, reason in refused})[:2]
    record(
        FaultFigures(
            order=3, fault="`docker compose restart rabbitmq` while 5,000 tasks are published and consumed",
            test="rabbitmq_restart_5000_tasks", sent=total, completed=t.succeeded + refused_ran,
            redelivered=redelivered(stack, confirmed, started), failed_with_reason=len(refused) - refused_ran,
            lost=len(confirmed) - t.succeeded, duplicates=t.duplicates,
            notes=f"{len(confirmed)} publishes confirmed, {len(refused)} refused with an error "
            f"(such as {' / '.join(reasons) or 'none'}; {refused_ran} of them had reached the queue "
            f"and ran); restart took {restart_took:.0f} s; the workers reconnected by themselves",
        )
    )  # fmt: skip


def test_a_worker_cut_from_the_network_recovers_by_itself(stack):
    # Both workers consuming first: one still reconnecting after an earlier test's fault would be
    # replaced by its watchdog during the cut, and again while the cut keeps its successor from the
    # broker (six restarts once, after a failed RabbitMQ-restart test).
    wait_for(lambda: workers_answering(stack) == 2, timeout=300, interval=5, what="both workers to answer")
    before = restart_counts(stack, "celery")
    started, task_ids = fetches_under_way(stack, "F9", latency_ms=150)
    network, victim = f"{stack.project}_backend", stack.container_ids("celery")[0]
    subprocess.run(["docker", "network", "disconnect", network, victim], check=True)
    time.sleep(20)
    subprocess.run(["docker", "network", "connect", network, victim], check=True)
    t = tally_when_finished(stack, "F9", task_ids, timeout=600)
    stack.stub("/_stub/reset", {})
    assert_nothing_lost(t)
    wait_for(lambda: workers_answering(stack) == 2, timeout=300, interval=5, what="the cut worker to answer")
    # The cut worker either reconnects in place or, when its reconnection outlasts
    # WORKER_LIVENESS_MAX_AGE, is replaced once by its own watchdog (start-worker); the other is untouched.
    after = restart_counts(stack, "celery")
    cut = container_name(victim)
    assert {name: n for name, n in after.items() if name != cut} == {
        name: n for name, n in before.items() if name != cut
    }
    replaced = after[cut] - before[cut]
    assert replaced in (0, 1), after
    recovery = "replaced once by its watchdog" if replaced else "answered pings again without a restart"
    record(
        FaultFigures(
            order=9, fault="A worker container disconnected from the network for 20 s during 500 fetches",
            test="network_cut_worker", sent=t.sent, completed=t.succeeded,
            redelivered=redelivered(stack, task_ids, started), failed_with_reason=t.failed, lost=t.missing,
            duplicates=t.duplicates,
            notes=f"finished {time.time() - started:.0f} s after the first publish; the cut worker "
            f"{recovery}",
        )
    )  # fmt: skip


# A task of its own: a starting beat rewrites the entries CELERY_BEAT_SCHEDULE names from settings.
SCHEDULE_EVERY_3_SECONDS = """
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every, _ = IntervalSchedule.objects.get_or_create(every=3, period='seconds')
PeriodicTask.objects.update_or_create(name='fault-test-cleanup', defaults={
    'task': 'weather.tasks.cleanup_old_weather_data', 'interval': every})
print('ok')
"""


def test_a_second_beat_stands_by_and_sends_nothing_twice(stack):
    stack.django(SCHEDULE_EVERY_3_SECONDS)
    second = stack.compose("run", "-d", "--no-deps", "beat").stdout.strip().splitlines()[-1]
    try:
        wait_for(
            lambda: "standing by" in container_log(second),
            timeout=120, what="the second beat to stand by",
        )  # fmt: skip
        window_start = stack.sql("SELECT now()")
        time.sleep(30)
        sent = int(stack.sql(
            "SELECT count(*) FROM django_celery_results_taskresult WHERE "
            f"periodic_task_name = 'fault-test-cleanup' AND date_created > '{window_start}'"
        ))  # fmt: skip
        # The active beat stops (only it: `compose stop beat` would stop the one-off too); the standby
        # takes over within a few ticks.
        subprocess.run(["docker", "stop", stack.container_ids("beat")[0]], check=True, capture_output=True)
        assert (
            "running"
            in subprocess.run(
                ["docker", "inspect", "-f", "{{.State.Status}}", second], capture_output=True, text=True
            ).stdout
        )
        takeover = stack.sql("SELECT now()")
        wait_for(
            lambda: int(stack.sql(
                "SELECT count(*) FROM django_celery_results_taskresult WHERE "
                f"periodic_task_name = 'fault-test-cleanup' AND date_created > '{takeover}'"
            )) >= 2,
            timeout=120, interval=2, what="the standby beat to take over",
        )  # fmt: skip
    finally:
        subprocess.run(["docker", "rm", "-f", second], capture_output=True)
        stack.compose("start", "beat", timeout=120)
    duplicates = int(stack.sql(
        "SELECT count(*) - count(DISTINCT (city_id, observed_at)) FROM weather_weatherdata"
    ))  # fmt: skip
    # One beat sends every 3 s: about 10 in 30 s; two beats would have sent about 20.
    assert 5 <= sent <= 13, sent
    assert duplicates == 0
    record(
        FaultFigures(
            order=7, fault="A second beat started by mistake (`docker compose run -d beat`)",
            test="second_beat", sent=sent, completed=sent, redelivered=0, failed_with_reason=0, lost=0,
            duplicates=duplicates,
            notes=f"{sent} periodic sends in 30 s at a 3 s interval (two senders would make about 20); the "
            "second beat stood by on the PostgreSQL advisory lock and took over when the first stopped",
        )
    )  # fmt: skip
