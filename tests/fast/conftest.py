"""Fixtures of the fast tier: a real Celery worker process, real PostgreSQL and RabbitMQ, and a
local Open-Meteo stand-in. Nothing is eager or mocked but the weather API itself."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import Client
from django_celery_results.models import TaskResult

from access.tokens import api_token_issue
from server_config.celery import app
from task_queue.dead_letters import DeadLetter, dead_letters_list
from task_queue.queues import dead_letter_queue_name
from tests.celery_worker import worker_command
from tests.openmeteo_stub import OpenMeteoStub
from tests.polling import stop, wait_for

REPO = Path(__file__).resolve().parents[2]
# One log per test database: sessions run side by side (the fast tier and the fault tier's native
# part, `make test-native`) each have a database of their own, and one shared file mixed their lines.
WORKER_LOG = REPO / "build" / f"test-worker-{os.environ.get('POSTGRES_DB', 'fbrain')}.log"


def task_done(task_id: str, *, timeout: float = 30.0) -> TaskResult:
    """The task's result row once it reached SUCCESS or FAILURE."""
    return wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status__in=["SUCCESS", "FAILURE"]).first(),
        timeout=timeout,
        what=f"task {task_id} to finish",
    )


def queue_depth(queue: str | None = None) -> int:
    """Messages ready in a queue of the real broker (this session's task queue by default)."""
    with app.connection_for_write() as conn:
        return conn.default_channel.queue_declare(
            queue or settings.CELERY_TASK_DEFAULT_QUEUE, passive=True
        ).message_count


@pytest.fixture(scope="session")
def openmeteo_stub():
    stub = OpenMeteoStub(host="127.0.0.1", port=int(os.environ["FBRAIN_TEST_STUB_PORT"]))
    stub.start()
    yield stub
    stub.stop()


@pytest.fixture
def stub(openmeteo_stub):
    openmeteo_stub.reset()
    yield openmeteo_stub
    openmeteo_stub.reset()


def dead_letters() -> dict[str, DeadLetter]:
    """This session's dead-letter queue on the real broker, by task id."""
    with app.connection_for_write() as conn:
        letters = dead_letters_list(conn, queue_name=settings.CELERY_TASK_DEFAULT_QUEUE)
    return {letter.task_id: letter for letter in letters}


@dataclass(frozen=True)
class Worker:
    hostname: str
    pid: int


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker, openmeteo_stub):
    """One real worker process for the session, consuming this session's queues on the real broker:
    the default one and the imports' (in the Compose stack, separate worker services serve them)."""
    _require_services()
    queues = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.ETL_QUEUE)
    hostname = f"fast-tier-{os.getpid()}@localhost"
    env = {
        **os.environ,
        "POSTGRES_DB": settings.DATABASES["default"]["NAME"],  # the test database pytest-django made
        "DJANGO_SETTINGS_MODULE": "tests.fast.settings",
        "PYTHONPATH": os.pathsep.join([str(REPO / "server"), str(REPO)]),
        "DJANGO_LOG_LEVEL": "INFO",
        # The Compose stack's format, so that tests can read the worker's lines as JSON objects.
        "LOG_FORMAT": "json",
    }
    WORKER_LOG.parent.mkdir(exist_ok=True)
    log = WORKER_LOG.open("w")
    worker = subprocess.Popen(
        worker_command(hostname=hostname, queue=",".join(queues), concurrency=2),
        cwd=REPO / "server",
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: worker.poll() is not None or app.control.ping(destination=[hostname], timeout=0.5),
            timeout=60,
            what="the worker to answer a ping",
        )
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}; see {WORKER_LOG}")
        yield Worker(hostname, worker.pid)
    finally:
        stop(worker)
        log.close()
        with app.connection_for_write() as conn:
            for queue in queues:
                conn.default_channel.queue_delete(queue)
                conn.default_channel.queue_delete(dead_letter_queue_name(queue))


@pytest.fixture(scope="session")
def celery_worker(celery_worker_process) -> str:
    """The session worker's node name."""
    return celery_worker_process.hostname


def _require_services() -> None:
    # CI must never skip these tests: an unreachable server is a failure with a clear message.
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=0)
    except Exception as exc:
        pytest.fail(f"RabbitMQ at {settings.CELERY_BROKER_URL} is unreachable: {exc}", pytrace=False)


@pytest.fixture
def worker(celery_worker, transactional_db, stub):
    """A test that drives the real worker: its rows must be committed for the worker to see them."""
    return celery_worker


STAFF_PASSWORD = "staff-password-for-tests-only"


@pytest.fixture
def staff_user(db):
    return get_user_model().objects.create_superuser("staff", "staff@example.org", STAFF_PASSWORD)


@pytest.fixture
def staff_token(staff_user) -> str:
    return api_token_issue(user=staff_user)


@pytest.fixture
def api(staff_token) -> Client:
    """A script's client: a staff account's token. raise_request_exception=False: a server error
    must show up as a 500 the test can assert on."""
    return Client(raise_request_exception=False, headers={"Authorization": f"Token {staff_token}"})


@pytest.fixture
def anonymous(db) -> Client:
    return Client(raise_request_exception=False)
