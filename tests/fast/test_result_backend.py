"""The result backend (task_queue/result_backend.py): a success, once stored, is final. A worker cut
from the broker reports late on tasks that another worker has meanwhile run to success."""

import uuid

import pytest
from celery import states
from django_celery_results.models import TaskResult

from server_config.celery import app


def stored(task_id: str) -> TaskResult:
    return TaskResult.objects.get(task_id=task_id)


@pytest.mark.parametrize("late", [states.RETRY, states.FAILURE, states.STARTED])
def test_a_late_report_after_a_success_leaves_the_success(db, late):
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, {"city_id": 1}, states.SUCCESS)
    app.backend.store_result(task_id, RuntimeError("broker unreachable"), late)
    row = stored(task_id)
    assert row.status == states.SUCCESS
    assert app.backend.decode(row.result) == {"city_id": 1}


def test_a_success_after_a_failure_or_a_retry_is_stored(db):
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, RuntimeError("database down"), states.RETRY)
    app.backend.store_result(task_id, RuntimeError("database down"), states.FAILURE)
    app.backend.store_result(task_id, {"city_id": 2}, states.SUCCESS)
    assert stored(task_id).status == states.SUCCESS


def test_the_states_before_a_success_are_stored_as_they_come(db):
    task_id = str(uuid.uuid4())
    app.backend.store_result(task_id, None, states.STARTED)
    assert stored(task_id).status == states.STARTED
    app.backend.store_result(task_id, RuntimeError("try again"), states.RETRY)
    assert stored(task_id).status == states.RETRY
