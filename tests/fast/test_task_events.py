"""A worker's monitoring events (task_queue/events.py): still sent for every task, now without
publisher confirms, while tasks keep theirs."""

import re
from pathlib import Path
from types import SimpleNamespace

import celery.worker
from celery.utils.imports import symbol_by_name

from server_config.celery import app
from tests.polling import wait_for
from weather.models import City
from weather.tasks import fetch_weather_for_city

TASK_EVENTS = {"task-received", "task-started", "task-succeeded"}


def test_a_real_workers_task_events_reach_a_monitor(worker):
    city = City.objects.create(name="Eventville", country="FR", latitude=45.1, longitude=5.7)
    events: list[dict] = []
    with app.connection_for_read() as conn:
        receiver = app.events.Receiver(conn, handlers={"*": events.append})
        capture = receiver.itercapture(limit=None, timeout=None, wakeup=False)
        next(capture)  # the monitor's queue is bound: it will see every event from now on
        task_id = fetch_weather_for_city.delay(city.id).id
        wait_for(
            lambda: next(capture) or {e["type"] for e in events if e.get("uuid") == task_id} >= TASK_EVENTS,
            timeout=30,
            what="task-received, task-started and task-succeeded from the worker",
        )


def test_events_are_published_without_confirms_and_tasks_with_them():
    consumer = symbol_by_name(app.conf.worker_consumer)
    # The method's own logic, without a running worker around it.
    events_connection = consumer.connection_for_write(SimpleNamespace(app=app, ensure_connected=lambda c: c))
    assert events_connection.transport_options["confirm_publish"] is False
    with app.connection_for_write() as tasks_connection:
        assert tasks_connection.transport_options["confirm_publish"] is True


def test_in_celerys_worker_only_the_events_step_opens_the_consumers_write_connection():
    # If a newer Celery published tasks or results through the consumer's connection_for_write,
    # they would lose their confirms to task_queue/events.py: this fails first.
    package = Path(celery.worker.__file__).parent
    callers = sorted(
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if re.search(r"\b(c|self|consumer)\.connection_for_write\(", path.read_text())
    )
    assert callers == ["consumer/events.py"]
