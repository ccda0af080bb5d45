"""Bad messages on the real broker: each is refused and logged, leaves the task queue (a message Celery
rejects is kept in the dead-letter queue for an operator), and the worker goes on consuming."""

import json
import pickle
import uuid

import pytest
from django.conf import settings
from kombu import Exchange, Producer

from server_config.celery import app
from tests.fast.conftest import WORKER_LOG, dead_letters, queue_depth, task_done
from tests.polling import wait_for
from weather.models import City, WeatherData
from weather.tasks import fetch_weather_for_city

FETCH = "weather.tasks.fetch_weather_for_city"


def publish_raw(body: bytes, *, content_type: str, task: str) -> str:
    task_id = str(uuid.uuid4())
    # The headers of Celery's task protocol 2, so the worker treats the message as a task.
    headers = {
        "lang": "py",
        "task": task,
        "id": task_id,
        "root_id": task_id,
        "parent_id": None,
        "group": None,
        "retries": 0,
        "eta": None,
        "expires": None,
        "argsrepr": "",
        "kwargsrepr": "",
        "origin": "test",
    }
    with app.connection_for_write() as conn:
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        Producer(conn.default_channel).publish(
            body, exchange=Exchange(queue), routing_key=queue, content_type=content_type,
            content_encoding="binary" if content_type != "application/json" else "utf-8", headers=headers,
        )  # fmt: skip
    return task_id


def worker_log_mentions(text: str) -> bool:
    return text in WORKER_LOG.read_text(errors="replace")


def still_consuming() -> None:
    city = City.objects.create(name=f"Alive {uuid.uuid4().hex[:6]}", latitude=12, longitude=12)
    assert task_done(fetch_weather_for_city.delay(city.id).id).status == "SUCCESS"
    assert WeatherData.objects.filter(city=city).count() == 1


@pytest.mark.parametrize(
    ("body", "content_type", "task", "logged", "dead_lettered"),
    [
        (json.dumps([[1], {}, {}]).encode(), "application/json", "weather.tasks.no_such_task",
         "Received unregistered task of type 'weather.tasks.no_such_task'", True),
        (pickle.dumps(((1,), {}, {})), "application/x-python-serialize", FETCH,
         "Refusing to deserialize untrusted content of type pickle", True),
        (b"{this is not json", "application/json", FETCH, "Can't decode message body", False),
    ],
    ids=["unregistered-task", "pickle", "invalid-json"],
)  # fmt: skip
def test_a_bad_message_is_refused_logged_and_leaves_the_queue(
    worker, body, content_type, task, logged, dead_lettered
):
    task_id = publish_raw(body, content_type=content_type, task=task)
    wait_for(lambda: worker_log_mentions(logged), timeout=30, what=f"the worker to log {logged!r}")
    wait_for(lambda: queue_depth() == 0, timeout=30, what="the queue to drop the bad message")
    dead = dead_letters()
    if dead_lettered:
        # Kept for an operator to read (`make dead-letters`); Celery rejected it, nothing ran.
        assert dead[task_id].reason == "rejected" and dead[task_id].task_name == task
    else:
        assert task_id not in dead
    still_consuming()


def test_wrong_task_arguments_fail_with_a_readable_cause(worker):
    result = app.send_task(FETCH, args=["a", "b"])
    failed = task_done(result.id)
    assert failed.status == "FAILURE"
    assert "TypeError" in failed.result
    still_consuming()
