"""A task sent back to the broker for later: same id, no retry counted, no failure, chords intact."""

import json

from django_celery_results.models import TaskResult

from tests.fast.conftest import task_done
from tests.fast.deferral_tasks import defer_in_a_chord, defer_then_return
from tests.polling import wait_for


def test_a_deferred_task_runs_again_later_without_counting_a_retry(worker, tmp_path):
    # max_retries=0: a deferral counted as a retry would fail the task at once.
    runs = tmp_path / "runs"
    result = task_done(defer_then_return.delay(str(runs), 2).id, timeout=60)
    assert result.status == "SUCCESS", result.result
    assert json.loads(result.result) == [0, 0, 0]  # three runs, each with retries still 0


def test_a_deferred_task_shows_why_it_waits(worker, tmp_path):
    # Deferred for 5 s: long enough for the test to see the state, whatever the machine's load.
    task_id = defer_then_return.delay(str(tmp_path / "runs"), 1, 5).id
    seen = wait_for(
        lambda: TaskResult.objects.filter(task_id=task_id, status="DEFERRED").first(),
        timeout=30,
        what="the task to be deferred",
    )
    assert json.loads(seen.result)["reason"] == "deferral 1 of 1"
    assert task_done(task_id, timeout=60).status == "SUCCESS"


def test_a_chord_waits_for_its_deferred_members_and_counts_each_once(worker, tmp_path):
    logs = [str(tmp_path / f"runs-{i}") for i in range(3)]
    callback = defer_in_a_chord(logs, 1)
    assert task_done(callback.id, timeout=60).result == "3"
