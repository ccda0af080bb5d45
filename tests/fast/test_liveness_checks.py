"""The worker's health check and its watchdog apply one bound, WORKER_LIVENESS_MAX_AGE, to the liveness
file its consumer keeps fresh (task_queue/liveness.py): changing the variable changes both."""

import os
import subprocess
import time

import pytest
import yaml

from task_queue.liveness import REFRESH_SECONDS
from tests.stack.stack import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
START_WORKER = REPO / "server" / "docker" / "start-worker"
# The smallest bound start-worker accepts.
SMALLEST_MAX_AGE = 30


def worker_health_check(service: str) -> str:
    test = COMPOSE["services"][service]["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL"
    return test[1].replace("$$", "$")  # Compose's escape for a `$` the container's shell sees


def run_check(service: str, liveness, *, age: float | None, max_age: str | None) -> bool:
    """Whether the service's health check passes with a liveness file `age` s old (None: no file)."""
    if age is not None:
        liveness.touch()
        os.utime(liveness, (time.time() - age, time.time() - age))
    environment = {"PATH": os.environ["PATH"], "WORKER_LIVENESS_FILE": str(liveness)}
    if max_age is not None:
        environment["WORKER_LIVENESS_MAX_AGE"] = max_age
    done = subprocess.run(["sh", "-c", worker_health_check(service)], env=environment, capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("service", ["celery", "celery-imports"])
@pytest.mark.parametrize(
    ("age", "max_age", "healthy"),
    [
        (5, None, True),  # fresh, default bound (60 s)
        (90, None, False),  # past the default bound
        (90, "300", True),  # a longer bound set in .env is followed, not a fixed minute
        (400, "300", False),
        (45, "30", False),  # and a shorter one
        (None, None, False),  # no file: the consumer never consumed
    ],
)
def test_the_worker_health_check_follows_worker_liveness_max_age(tmp_path, service, age, max_age, healthy):
    assert run_check(service, tmp_path / "alive", age=age, max_age=max_age) is healthy


def test_the_smallest_bound_leaves_the_consumer_several_refreshes():
    assert SMALLEST_MAX_AGE >= 3 * REFRESH_SECONDS


@pytest.mark.parametrize("value", ["5", "29", "1m", "-60", "86401", "99999999999999999999"])
def test_start_worker_refuses_a_bound_it_cannot_apply(tmp_path, value):
    # Refused before it waits for anything, with the variable named: no watchdog killing healthy workers.
    environment = {"PATH": os.environ["PATH"], "WORKER_LIVENESS_MAX_AGE": value, "HOME": str(tmp_path)}
    command = ["bash", str(START_WORKER)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    wanted = f"WORKER_LIVENESS_MAX_AGE={value}: give whole seconds from {SMALLEST_MAX_AGE} to 86400"
    assert wanted in done.stderr
