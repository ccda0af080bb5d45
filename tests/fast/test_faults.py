"""Faults the fast tier injects into its real worker: a poison message, a rolled-back enqueue."""

import io
import uuid

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django_celery_results.models import TaskResult

from tests.fast.conftest import WORKER_LOG, dead_letters, queue_depth, task_done
from tests.fast.fault_tasks import kill_own_process_until_fixed
from tests.polling import wait_for
from tests.reliability import FaultFigures, record
from weather.models import City, WeatherData
from weather.services.enqueue import task_enqueue_on_commit
from weather.tasks import fetch_weather_for_city

pytestmark = pytest.mark.fault


def dead_letters_command(*args: str) -> str:
    out = io.StringIO()
    call_command("dead_letters", *args, stdout=out)
    return out.getvalue()


def test_a_task_that_kills_its_worker_is_dead_lettered_then_requeued_by_the_operator(worker, tmp_path):
    deliveries, fixed = tmp_path / "deliveries", tmp_path / "fixed"
    poison = kill_own_process_until_fixed.delay(str(deliveries), str(fixed))

    wait_for(lambda: poison.id in dead_letters(), timeout=90, what="the poison message to be dead-lettered")
    killed = len(deliveries.read_text().splitlines())
    # Each delivery killed a different pool process; the broker stopped at the delivery limit.
    assert killed == settings.CELERY_TASK_DELIVERY_LIMIT + 1
    assert len(set(deliveries.read_text().splitlines())) == killed
    assert "WorkerLostError" in WORKER_LOG.read_text(errors="replace")
    assert queue_depth() == 0

    # The worker survived every kill and still runs tasks.
    city = City.objects.create(name=f"Survivor {uuid.uuid4().hex[:6]}", latitude=5, longitude=5)
    assert task_done(fetch_weather_for_city.delay(city.id).id).status == "SUCCESS"

    # What `make dead-letters` shows, then `make requeue-dead-letters` once the cause is fixed.
    listing = dead_letters_command("list")
    assert poison.id in listing and "kill_own_process_until_fixed" in listing
    fixed.touch()
    assert poison.id in dead_letters_command("requeue", poison.id)
    assert task_done(poison.id, timeout=30).status == "SUCCESS"
    assert poison.id not in dead_letters()
    record(
        FaultFigures(
            order=6, fault="Poison message: a task that SIGKILLs its pool process on every delivery",
            test="poison_message_dead_lettered", sent=1, completed=1, redelivered=killed - 1,
            failed_with_reason=0, lost=0, duplicates=0,
            notes=f"{killed} deliveries (limit {settings.CELERY_TASK_DELIVERY_LIMIT}), then the "
            "dead-letter queue; listed and requeued with `manage.py dead_letters`, then SUCCESS; "
            "the worker kept consuming",
        )
    )  # fmt: skip


def test_requeue_and_discard_refuse_ids_that_are_not_dead_letters(worker):
    with pytest.raises(Exception, match="Not in the dead-letter queue: no-such-task"):
        dead_letters_command("requeue", "no-such-task")
    with pytest.raises(Exception, match="Name the task ids to discard"):
        dead_letters_command("discard")


def test_a_task_enqueued_in_a_rolled_back_transaction_is_never_published(worker, stub):
    with pytest.raises(RuntimeError), transaction.atomic():
        doomed = City.objects.create(name="Rolled Back", latitude=-33.9, longitude=151.2)
        doomed_task = task_enqueue_on_commit(fetch_weather_for_city.si(doomed.id))
        raise RuntimeError("the request failed after the enqueue")

    # A task enqueued afterwards runs; the rolled-back one was never sent, so it can never run first.
    city = City.objects.create(name="Committed", latitude=48.85, longitude=2.35)
    with transaction.atomic():
        committed_task = task_enqueue_on_commit(fetch_weather_for_city.si(city.id))
    assert task_done(committed_task).status == "SUCCESS"
    assert not TaskResult.objects.filter(task_id=doomed_task).exists()
    assert not City.objects.filter(name="Rolled Back").exists()
    assert WeatherData.objects.count() == 1
    assert stub.stats()["locations_requested"] == 1
    assert queue_depth() == 0
    record(
        FaultFigures(
            order=8, fault="A task enqueued in a transaction that rolls back",
            test="rolled_back_enqueue_never_runs", sent=1, completed=1, redelivered=0,
            failed_with_reason=0, lost=0, duplicates=0,
            notes="the rolled-back enqueue published nothing (no result row, no API request); "
            "the committed one ran",
        )
    )  # fmt: skip
