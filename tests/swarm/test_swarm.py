"""F_BRAIN on a Swarm of four Docker hosts (tests/swarm/cluster.py): one manager that holds the
database, the broker and nginx's port, three worker nodes. Deployed with `make swarm-up` from the
files a user has, then driven the way hosts fail. Tests run in file order on one deployment.

Each load is one fetch task per city of its own (tests/faults/load.py): every city must end with
exactly one observation and every task in SUCCESS, whatever happened to the workers meanwhile.
"""

import contextlib
import os
import signal
from pathlib import Path

from tests.faults.load import (
    assert_nothing_lost,
    cities_create,
    fetches_enqueue,
    stub_for_load,
    tally,
    tally_when_finished,
    tasks_running,
)
from tests.polling import wait_for


def started_load(stack, prefix: str, cities: int, latency_ms: int) -> list[str]:
    """`cities` fetches under way, each answered by the weather API after `latency_ms`."""
    stub_for_load(stack, latency_ms=latency_ms)
    cities_create(stack, prefix, cities)
    task_ids = fetches_enqueue(stack, prefix)
    tasks_running(stack, prefix, task_ids, at_least=8)
    return task_ids


def workers_running(stack, count: int, *, timeout: float = 240):
    return wait_for(
        lambda: len(tasks := stack.tasks("celery")) == count and tasks,
        timeout=timeout, interval=2, what=f"{count} running workers",
    )  # fmt: skip


def nodes_of(tasks) -> set[str]:
    return {task.node.name for task in tasks}


def test_make_swarm_up_places_each_role_on_its_labelled_nodes(stack, cluster):
    manager = cluster.manager.name
    for service in ("db", "rabbitmq", "nginx"):
        assert nodes_of(stack.tasks(service)) == {manager}, service
    workers = stack.tasks("celery")
    assert len(workers) == 4
    # Spread by Swarm's scheduler over the worker nodes, never on the manager.
    assert manager not in nodes_of(workers) and len(nodes_of(workers)) >= 2, [w.node.name for w in workers]
    assert len(stack.tasks("beat")) == 1
    migrate = stack.docker(
        "service", "ls", "--filter", f"name={stack.service('migrate')}", "--format", "{{.Replicas}}"
    )
    assert "(1/1 completed)" in migrate.stdout
    assert stack.http("GET", "/readyz", anonymous=True).status == 200


def test_a_full_refresh_through_nginx_is_shared_by_workers_on_several_nodes(stack):
    # A little latency per API request keeps every worker busy long enough to take batches.
    stack.stub("/_stub/config", {"latency_ms": 400})
    since = stack.sql("SELECT now()")
    queued = stack.http("POST", "/api/pipeline/refresh-all/").json()
    run = wait_for(
        lambda: (r := stack.http("GET", f"/api/runs/{queued['run_id']}/").json())["state"]
        in ("success", "partial", "failure") and r,
        timeout=240, interval=2, what="the full refresh",
    )  # fmt: skip
    assert run["state"] == "success", run
    assert run["cities_ok"] == run["cities_total"] >= 150
    workers = stack.sql(
        "SELECT DISTINCT worker FROM django_celery_results_taskresult "
        f"WHERE task_name = 'weather.tasks.fetch_weather_batch' AND date_done >= '{since}'"
    ).split()
    on = stack.workers_by_node()
    assert len({on[worker] for worker in workers}) >= 2, (workers, on)


def test_scaling_the_workers_up_then_down_during_a_load_loses_nothing(stack):
    task_ids = started_load(stack, "scale", 600, latency_ms=500)
    stack.docker("service", "scale", "--detach", f"{stack.service('celery')}=6")
    workers_running(stack, 6)
    assert tally(stack, "scale", task_ids).finished < len(task_ids), "the load ended before the scale-down"
    # Three workers stop in a warm shutdown: what they run finishes, what they hold goes back to the queue.
    stack.docker("service", "scale", "--detach", f"{stack.service('celery')}=3")
    assert_nothing_lost(tally_when_finished(stack, "scale", task_ids, timeout=300))
    stack.docker("service", "scale", "--detach", f"{stack.service('celery')}=4")
    workers_running(stack, 4)


def test_a_drained_worker_node_hands_its_work_to_the_other_nodes(stack, cluster):
    task_ids = started_load(stack, "drain", 600, latency_ms=500)
    drained = max(
        nodes_of(stack.tasks("celery")), key=lambda n: sum(t.node.name == n for t in stack.tasks("celery"))
    )
    stack.docker("node", "update", "--availability", "drain", drained)
    try:
        # Checked as the drain starts, not once the workers have moved: on a slow host the move can
        # take longer than the rest of the load, and what matters is that the drain began mid-load.
        assert tally(stack, "drain", task_ids).finished < len(task_ids), "the load ended before the drain"
        moved = wait_for(
            lambda: len(t := stack.tasks("celery")) == 4 and drained not in nodes_of(t) and t,
            timeout=240, interval=2, what=f"the workers of {drained} to run on other nodes",
        )  # fmt: skip
        assert_nothing_lost(tally_when_finished(stack, "drain", task_ids, timeout=300))
        assert len(nodes_of(moved)) >= 2
    finally:
        stack.docker("node", "update", "--availability", "active", drained)


def test_a_worker_node_that_dies_mid_load_loses_nothing(stack, cluster):
    task_ids = started_load(stack, "dead", 600, latency_ms=500)
    workers = stack.tasks("celery")
    victim = cluster.node(max(nodes_of(workers), key=lambda n: sum(t.node.name == n for t in workers)))
    lost_workers = [t for t in workers if t.node is victim]
    cluster.power_off(victim)
    stack.dead.add(victim.name)
    # The manager stops hearing it, marks it down and starts its workers elsewhere; RabbitMQ misses
    # their heartbeats and hands back what they had taken (acknowledged only after a task ran).
    wait_for(
        lambda: cluster.node_states()[victim.name] == "down",
        timeout=120,
        interval=2,
        what=f"{victim.name} down",
    )
    survivors = workers_running(stack, 4)
    assert victim.name not in nodes_of(survivors)
    assert_nothing_lost(tally_when_finished(stack, "dead", task_ids, timeout=420))
    assert lost_workers, "the victim ran no worker"
    # An operator's next step for a host that will not come back.
    stack.docker("node", "rm", "--force", victim.name)


def worker_pids(task) -> list[int]:
    """The Celery processes of a worker task's container (its main process and its pool), found by
    the container's cgroup, which the node's daemon puts below the node's own."""
    cgroup = Path("/sys/fs/cgroup/pids") / task.node.cgroup.lstrip("/") / task.container
    pids = [int(pid) for pid in (cgroup / "cgroup.procs").read_text().split()]
    return [pid for pid in pids if b"celery" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_a_frozen_worker_is_replaced_and_its_tasks_run_elsewhere(stack):
    task_ids = started_load(stack, "frozen", 600, latency_ms=500)
    frozen = stack.tasks("celery")[0]
    pids = worker_pids(frozen)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        # Its liveness file goes stale: the container's watchdog kills the worker and exits (about
        # 60 s), before the health check's three failures would (about 90 s); Swarm then starts a
        # new task. A container frozen whole is the health check's: docs/scale-out.md.
        state = ("inspect", frozen.id, "--format", "{{.Status.State}} {{.Status.Err}}")
        ended = wait_for(
            lambda: (s := stack.docker(*state).stdout.strip()) and not s.startswith("running") and s,
            timeout=240, interval=3, what="Swarm to end the frozen worker's task",
        )  # fmt: skip
        replaced = workers_running(stack, 4)
        assert frozen.id not in {t.id for t in replaced}, ended
        assert_nothing_lost(tally_when_finished(stack, "frozen", task_ids, timeout=300))
    finally:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_rolling_update_to_a_new_image_during_a_load_loses_nothing(stack, cluster):
    old = stack.tasks("celery")
    release = old[0].image.rsplit(":", 1)[0] + ":2"
    # A new release: the same application with a new tag, built and pushed as a user does.
    dockerfile = f"FROM {old[0].image}\\nLABEL org.opencontainers.image.version=2\\n"
    stack.run(f"printf '{dockerfile}' | docker build -q -t {release} -")
    stack.run(f"docker push {release}")
    task_ids = started_load(stack, "update", 1200, latency_ms=600)
    with (stack.directory / ".env").open("a") as env:
        env.write(f"APP_IMAGE={release}\n")
    stack.on_manager("make swarm-up", timeout=900, label="rolling update: make swarm-up")
    new = stack.tasks("celery")
    assert len(new) == 4 and {t.image for t in new} == {release}
    assert {t.image for t in stack.tasks("web")} == {release}
    assert_nothing_lost(tally_when_finished(stack, "update", task_ids, timeout=300))
    # Old and new workers both ran tasks of this one load: it was under way during the update.
    ids = ",".join(f"'{task_id}'" for task_id in task_ids)
    ran = set(
        stack.sql(
            f"SELECT DISTINCT worker FROM django_celery_results_taskresult WHERE task_id IN ({ids})"
        ).split()
    )
    assert ran & {f"celery@{t.container[:12]}" for t in old}, ran
    assert ran & {f"celery@{t.container[:12]}" for t in new}, ran
