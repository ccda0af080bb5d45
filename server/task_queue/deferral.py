"""Sending a running task back to the broker for later, without counting it as a retry.

A task that may not run yet (the API's quota is spent until the next window) must not hold its
worker process in `sleep`, and must not use up its retry budget, which is for failures. It is
re-published under the same id (so a chord waiting for it still counts it once) with its retry
count unchanged, delayed by the broker (RabbitMQ's native delayed delivery on quorum queues), and
this run ends with `Ignore`: no failure, no retry event, the message acknowledged.
"""

import logging
import math
from datetime import UTC, datetime, timedelta

from celery import Task
from celery.exceptions import Ignore

logger = logging.getLogger(__name__)

# A custom state, so GET /api/tasks/<id>/ and Flower show why the task has not run yet.
DEFERRED = "DEFERRED"


def task_defer(task: Task, *, countdown: float, reason: str) -> Ignore:
    """Re-send the running `task` to run in `countdown` seconds; return the Ignore to raise.

    The broker's delayed delivery counts whole seconds from 1, so the delay is rounded up: a task
    never runs before the moment it waits for.
    """
    delay = max(1, math.ceil(countdown))
    request = task.request
    task.signature_from_request(countdown=delay, retries=request.retries).apply_async()
    eta = datetime.now(UTC) + timedelta(seconds=delay)
    if request.id and not request.is_eager:
        task.update_state(state=DEFERRED, meta={"reason": reason, "eta": eta.isoformat()})
    logger.info("Task %s (%s) deferred %d s, until %s: %s", task.name, request.id, delay, eta, reason)
    return Ignore()
