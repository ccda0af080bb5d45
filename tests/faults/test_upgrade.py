"""`make upgrade` to a new image while 500 fetches run and a client reads the API ten times a second:
every read is answered 2xx, every task runs once, and every app container runs the new image. After
the fault tests (file order), on their stack; it records its row in docs/reliability.md."""

import threading
import time
from collections import Counter

import pytest

from tests.faults.load import (
    assert_nothing_lost,
    cities_create,
    fetches_enqueue,
    redelivered,
    stub_for_load,
    tally_when_finished,
    tasks_running,
)
from tests.reliability import FaultFigures, record

pytestmark = pytest.mark.fault

APP_SERVICES = ("web", "celery", "celery-imports", "beat", "flower")


def release(stack) -> str:
    """What a user's `git pull` brings: changed code, here under an image tag of its own (so the
    other stacks of this checkout keep theirs). Returns the new tag."""
    package = stack.directory / "server" / "weather" / "__init__.py"
    package.write_text(package.read_text() + "# the release under test\n")
    env = stack.directory / ".env"
    current = [
        line.split("=", 1)[1] for line in env.read_text().splitlines() if line.startswith("APP_IMAGE=")
    ]
    new = f"{current[-1]}-next"
    env.write_text(env.read_text() + f"APP_IMAGE={new}\n")
    return new


def images(stack) -> dict[str, set[str]]:
    return {
        service: {
            container["Image"] for container in stack.containers(service) if container["State"] == "running"
        }
        for service in APP_SERVICES
    }


def test_make_upgrade_under_load_answers_every_read_and_runs_every_task_once(stack):
    stack.act_as_staff()
    new_image = release(stack)
    cities_create(stack, "U1", 500)
    stub_for_load(stack, latency_ms=150)
    started = time.time()
    task_ids = fetches_enqueue(stack, "U1")
    tasks_running(stack, "U1", task_ids, at_least=20)

    statuses: list[int | str] = []
    slowest = [0.0]
    done = threading.Event()

    def read_the_api() -> None:
        while not done.is_set():
            sent = time.monotonic()
            try:
                statuses.append(stack.http("GET", "/api/cities/?page_size=1").status)
            except OSError as exc:  # no answer within 30 s, or none at all: a failed read
                statuses.append(type(exc).__name__)
            slowest[0] = max(slowest[0], time.monotonic() - sent)
            done.wait(0.1)

    reader = threading.Thread(target=read_the_api)
    reader.start()
    try:
        began = time.monotonic()
        stack.run("make upgrade", timeout=1200)
        took = time.monotonic() - began
    finally:
        done.set()
        reader.join()
    t = tally_when_finished(stack, "U1", task_ids, timeout=300)
    stack.stub("/_stub/reset", {})

    assert_nothing_lost(t)
    assert statuses and all(status in range(200, 300) for status in statuses), Counter(statuses)
    assert images(stack) == {service: {new_image} for service in APP_SERVICES}
    record(
        FaultFigures(
            order=12, fault="`make upgrade` to a new image during 500 fetches and 10 API reads a second",
            test="upgrade_under_load", sent=t.sent, completed=t.succeeded,
            redelivered=redelivered(stack, task_ids, started), failed_with_reason=t.failed, lost=t.missing,
            duplicates=t.duplicates,
            notes=f"the upgrade took {took:.0f} s; {len(statuses)} reads during it, every one 2xx, the "
            f"slowest in {slowest[0]:.1f} s; web and both workers rolled (new beside old, then the old "
            "stopped), beat and Flower re-created",
        )
    )  # fmt: skip
