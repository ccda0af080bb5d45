"""The start scripts' wait for the database, the schema and the broker (task_queue/dependencies.py,
server/docker/wait-for-dependencies): what Compose got from depends_on, and Swarm gets from nothing.
Run as the containers run it, a real process against the real PostgreSQL and RabbitMQ, or against a
closed port and an empty database of the test's own."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import psycopg
import pytest
from django.db import connection

from task_queue import dependencies
from tests.stack.stack import REPO

SERVER = REPO / "server"
WAIT_SCRIPT = SERVER / "docker" / "wait-for-dependencies"


def closed_port() -> int:
    """A port nothing listens on: bound, then released (connections to it are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def environment(db):
    """The environment of a container of the stack, on this machine's servers and the migrated test
    database pytest-django made."""
    return {
        **os.environ,
        "POSTGRES_DB": connection.settings_dict["NAME"],
        "DJANGO_SETTINGS_MODULE": "tests.fast.settings",
        "PYTHONPATH": os.pathsep.join([str(SERVER), str(REPO)]),
        # The start scripts call `python`: this interpreter, as the image's PATH gives its venv's.
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
        "LOG_FORMAT": "json",
        "DJANGO_LOG_LEVEL": "INFO",
    }


def run_wait(environment, *arguments: str, timeout: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "wait_for_dependencies", *arguments],
        cwd=SERVER, env=environment, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return result, time.monotonic() - started


def lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_it_returns_at_once_when_everything_is_ready(environment):
    # The start scripts' own path: the sourced shell function, then the process they would exec.
    started = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", f'set -o errexit; source "{WAIT_SCRIPT}"; wait_for_dependencies; echo started'],
        cwd=SERVER, env=environment, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "started"
    assert "waiting" not in result.stderr
    # One Django start-up and three round trips (about 1 s here; generous for a loaded machine).
    assert elapsed < 15


def test_it_waits_for_a_database_that_does_not_answer_then_fails_naming_it(environment):
    port = closed_port()
    environment["POSTGRES_PORT"] = str(port)
    result, elapsed = run_wait(environment, "--timeout", "6")
    assert result.returncode == 1
    assert elapsed >= 6
    logged = lines(result.stderr)
    waiting = [line for line in logged if line["message"].startswith("waiting (")]
    # A line at the start and one each 5 s: the operator sees what is awaited while it waits.
    assert len(waiting) == 2, result.stderr
    assert all(line["level"] == "WARNING" and line["logger"] == "task_queue.dependencies" for line in waiting)
    assert f"the database at 127.0.0.1:{port}/" in waiting[0]["message"]
    final = logged[-1]
    assert final["level"] == "ERROR"
    assert final["message"].startswith("Dependencies not ready, not starting: gave up after 6 s")
    assert "DEPENDENCIES_WAIT_SECONDS=6" in final["message"]
    # Nothing is said about the schema of a database that cannot be reached.
    assert "schema" not in final["message"]


def test_the_bound_comes_from_the_setting(environment):
    environment["POSTGRES_PORT"] = str(closed_port())
    environment["DEPENDENCIES_WAIT_SECONDS"] = "0"
    result, elapsed = run_wait(environment)
    assert result.returncode == 1
    assert "gave up after 0 s (DEPENDENCIES_WAIT_SECONDS=0)" in result.stderr
    assert elapsed < 15


@pytest.fixture
def empty_database(environment):
    """A database of this test's own, with no table: the migrate job has not run yet."""
    name = f"{connection.settings_dict['NAME']}_empty_{uuid.uuid4().hex[:8]}"
    admin = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", autocommit=True)
    with psycopg.connect(**admin) as server:
        server.execute(f'CREATE DATABASE "{name}"')
    yield name
    with psycopg.connect(**admin) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_schema_not_migrated_is_reported_as_such(environment, empty_database):
    environment["POSTGRES_DB"] = empty_database
    result, _ = run_wait(environment, "--timeout", "0")
    assert result.returncode == 1
    final = lines(result.stderr)[-1]["message"]
    assert "the schema is not migrated:" in final
    assert "migration(s) not applied (first " in final and "the migrate job applies them" in final
    assert "database at" not in final and "broker" not in final


def test_a_broker_that_does_not_answer_is_reported(environment):
    port = closed_port()
    environment["CELERY_BROKER_URL"] = f"amqp://guest:guest@127.0.0.1:{port}//"
    result, _ = run_wait(environment, "--timeout", "0")
    assert result.returncode == 1
    final = lines(result.stderr)[-1]["message"]
    assert f"the broker at 127.0.0.1:{port} does not answer" in final
    assert "guest:guest" not in result.stderr  # the address only, never the URL's password


def test_flower_waits_for_the_broker_only(environment):
    # Flower has no database password: a database it cannot reach must not hold it back.
    environment["POSTGRES_PORT"] = str(closed_port())
    result, _ = run_wait(environment, "--checks", "broker", "--timeout", "0")
    assert result.returncode == 0, result.stderr


def test_an_unknown_check_is_refused(environment):
    result, _ = run_wait(environment, "--checks", "database,cache", "--timeout", "0")
    assert result.returncode != 0 and "Unknown check(s) cache" in result.stderr


def test_a_stop_during_the_wait_ends_the_script_at_once(environment):
    # The start script is PID 1: a SIGTERM must end the wait, not make `docker stop` wait out the
    # stop_grace_period. The waiting process goes with it.
    environment["POSTGRES_PORT"] = str(closed_port())
    script = subprocess.Popen(
        ["bash", "-c", f'source "{WAIT_SCRIPT}"; wait_for_dependencies --timeout 60; echo started'],
        cwd=SERVER, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    first = script.stderr.readline()  # the first "waiting" line: the wait is under way
    assert "waiting (" in first, first
    waiter = subprocess.run(["pgrep", "-P", str(script.pid)], capture_output=True, text=True).stdout.split()
    assert len(waiter) == 1
    stopped = time.monotonic()
    script.send_signal(signal.SIGTERM)
    assert script.wait(timeout=10) == 143
    assert time.monotonic() - stopped < 5
    assert script.stdout.read() == ""
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{waiter[0]}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{waiter[0]}"), "the waiting process outlived its script"


def test_it_returns_as_soon_as_the_last_dependency_comes(monkeypatch):
    # In-process, with a clock of its own: down for 7 s, then up; reports at 0 and 5 s, no more.
    now = [0.0]
    monkeypatch.setitem(dependencies.PROBLEMS, "database", lambda: "db down" if now[0] < 7 else None)
    monkeypatch.setitem(dependencies.PROBLEMS, "schema", lambda: None)
    monkeypatch.setitem(dependencies.PROBLEMS, "broker", lambda: None)
    reports = []
    dependencies.wait_for_dependencies(
        checks=dependencies.CHECKS,
        timeout=300,
        report=reports.append,
        clock=lambda: now[0],
        sleep=lambda seconds: now.__setitem__(0, now[0] + seconds),
    )
    assert now[0] == 7
    assert reports == ["waiting (0 s of 300 s): db down", "waiting (5 s of 300 s): db down"]


ONLY = {"start-flower": "--checks broker", "migrate": "--checks database"}


@pytest.mark.parametrize("script", ["start-web", "start-worker", "start-beat", "start-flower", "migrate"])
def test_every_start_script_waits_before_it_starts_its_process(script):
    text = (SERVER / "docker" / script).read_text()
    wait = text.index("\nwait_for_dependencies")
    starts = {"start-worker": "celery -A server_config", "migrate": "manage.py migrate"}
    assert 'source "${BASH_SOURCE[0]%/*}/wait-for-dependencies"' in text
    assert wait < text.index(starts.get(script, "exec "))
    # Flower has no database password, migrate no broker password: each waits for what it uses.
    expected = " ".join(["wait_for_dependencies", *([ONLY[script]] if script in ONLY else [])])
    assert text[wait + 1 :].splitlines()[0] == expected
    assert "docker/wait-for-dependencies" in (SERVER / "Dockerfile").read_text()
