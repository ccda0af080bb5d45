"""A leaking task under the shipped limits costs a pool process, never the worker's container.

The app image's worker runs in a container with the memory limit docker-compose.yml gives every worker
(CELERY_MEMORY_LIMIT's default) and Celery's default pool size (one process per CPU), with
WORKER_MAX_MEMORY_PER_CHILD unset, as `.env.example` leaves it. Its tasks leak more, all together,
than the container may hold: the pool must replace the grown processes (task_queue/memory.py sizes
their bound) before the kernel's OOM killer SIGKILLs one of them mid-task, or the worker itself.

The worker reaches this machine's RabbitMQ on the host's network (it needs no database: the task keeps
no result), on a queue of its own; the image is built from this checkout, as the stack tiers do.
"""

import json
import re
import shutil
import subprocess
import time
import uuid

import pytest
from celery import Celery
from kombu import Exchange, Queue

from tests.stack.stack import REPO, TEST_APP_IMAGE, env_lines

COMPOSE_FILE = (REPO / "docker-compose.yml").read_text()
# What `make up` gives each worker container when .env does not say otherwise.
SHIPPED_LIMIT = re.search(r"\$\{CELERY_MEMORY_LIMIT:-(\w+)\}", COMPOSE_FILE)[1]
BROKER = "amqp://guest:guest@127.0.0.1:5672//"
LEAK_MIB = 100
# Together well past the container's limit: without recycling, the pool would hold 1.5 GiB.
TASKS = 15


def docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def app_image(tmp_path_factory) -> str:
    """The app image of this checkout (the layer cache makes a rebuild of unchanged code quick)."""
    machine = env_lines(REPO / "tests" / "stack" / "machine.env")
    context = tmp_path_factory.mktemp("image") / "server"
    shutil.copytree(REPO / "server", context, ignore=shutil.ignore_patterns("__pycache__", "var", "*.crt"))
    if machine.get("BUILD_CA_BUNDLE"):
        shutil.copy(machine["BUILD_CA_BUNDLE"], context / "docker" / "build-ca" / "build-ca-bundle.crt")
    arguments = [f"--build-arg=PYTHON_IMAGE={machine['PYTHON_IMAGE']}"] if "PYTHON_IMAGE" in machine else []
    docker("build", "--quiet", "-t", TEST_APP_IMAGE, *arguments, str(context), timeout=900)
    return TEST_APP_IMAGE


@pytest.fixture
def worker(app_image):
    """A worker container as the stack runs it, memory-wise; removed afterwards, its log kept in build/."""
    queue = f"memory-test-{uuid.uuid4().hex[:8]}"
    name = f"fbrain-{queue}"
    environment = {
        "DJANGO_SECRET_KEY": "s" * 50, "USE_POSTGRES": "false", "CELERY_BROKER_URL": BROKER,
        "CELERY_TASK_DEFAULT_QUEUE": queue, "ETL_QUEUE": f"{queue}-imports", "LOG_FORMAT": "text",
    }  # fmt: skip
    docker(
        "run", "-d", "--name", name, "--network", "host", "--memory", SHIPPED_LIMIT,
        *(arg for item in environment.items() for arg in ("-e", "=".join(item))),
        "-v", f"{REPO / 'tests' / 'security' / 'leaking_tasks.py'}:/app/leaking_tasks.py:ro",
        app_image, "celery", "-A", "server_config", "worker", "--loglevel=info", "-I", "leaking_tasks",
        "-Q", queue, "--without-gossip", "--without-mingle",
    )  # fmt: skip
    try:
        yield name, queue
    finally:
        logs = docker("logs", name, check=False)
        (REPO / "build").mkdir(exist_ok=True)
        (REPO / "build" / f"{name}.log").write_text(logs.stdout + logs.stderr)
        docker("rm", "--force", "--volumes", name, check=False)
        declared = Celery(broker=BROKER)
        with declared.connection_for_write() as connection:
            for name_ in (queue, f"{queue}-imports", f"{queue}.dead-letter", f"{queue}-imports.dead-letter"):
                try:
                    connection.default_channel.queue_delete(name_)
                except Exception:  # noqa: S112 - a queue that does not exist is already gone
                    continue
            connection.default_channel.exchange_delete(queue)


def logs_of(name: str) -> str:
    result = docker("logs", name, check=False)
    return result.stdout + result.stderr


def wait_for_log(name: str, pattern: str, *, count: int = 1, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = logs_of(name)
        if len(re.findall(pattern, text)) >= count:
            return text
        state = json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)
        assert state["Running"], f"the worker's container stopped ({state}):\n{text[-3000:]}"
        time.sleep(2)
    raise AssertionError(f"no {count} x {pattern!r} in {timeout} s:\n{logs_of(name)[-3000:]}")


def test_a_leaking_task_is_recycled_not_oom_killed_under_the_shipped_limits(worker):
    name, queue = worker
    wait_for_log(name, r"celery@\S+ ready", timeout=300)
    # The bound it chose, and from what: the container's limit and the pool's size.
    chosen = r"Pool processes are replaced past \d+ KiB \(\d+ pool processes, container limit 1024 MiB\)"
    assert re.search(chosen, logs_of(name)), logs_of(name)[-3000:]
    sender = Celery(broker=BROKER)
    sender.conf.broker_transport_options = {"confirm_publish": True}
    # The worker declared its queue (quorum, with dead-letter arguments): publish to it, declare nothing.
    target = Queue(queue, Exchange(queue, type="topic", no_declare=True), routing_key=queue, no_declare=True)
    for _ in range(TASKS):
        sender.send_task("leaking_tasks.leak", args=[LEAK_MIB], queue=target)
    text = wait_for_log(name, r"Task leaking_tasks\.leak\[[^\]]+\] succeeded", count=TASKS, timeout=600)
    # More pool processes ran them than the pool has: the grown ones were replaced (Celery logs nothing
    # when it replaces one; billiard's own warning goes to a logger no one configures).
    processes = set(re.findall(r"leaked \d+ MiB in pool process (\d+)", text))
    pool_size = int(re.search(r"\((\d+) pool processes", text)[1])
    assert len(processes) > pool_size, text[-3000:]
    state = json.loads(docker("inspect", "--format", "{{json .State}}", name).stdout)
    restarts = docker("inspect", "--format", "{{.RestartCount}}", name).stdout.strip()
    assert state["Running"] and not state["OOMKilled"] and restarts == "0", state
    # And the kernel killed no process in it either (a pool process killed by the OOM killer would be
    # replaced too, with "exited with signal 9" in the log, while OOMKilled stays false).
    assert "signal 9" not in text and "SIGKILL" not in text


def test_a_per_child_bound_the_container_cannot_hold_stops_the_worker_at_start(app_image):
    # The old default, 1 GiB per pool process in a 1 GiB container: refused before it consumes anything.
    started = docker(
        "run", "--rm", "--memory", SHIPPED_LIMIT, "-e", "DJANGO_SECRET_KEY=" + "s" * 50,
        "-e", "USE_POSTGRES=false", "-e", f"CELERY_BROKER_URL={BROKER}",
        "-e", "WORKER_MAX_MEMORY_PER_CHILD=1048576",
        app_image, "celery", "-A", "server_config", "worker", "--concurrency=2",
        check=False, timeout=300,
    )  # fmt: skip
    assert started.returncode != 0
    assert "the container would be OOM-killed before any pool process is replaced" in started.stderr
