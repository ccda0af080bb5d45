"""Publishing tasks after the transaction that created their rows commits."""

import json
import logging
import uuid
from collections.abc import Callable

from amqp.exceptions import AMQPError
from celery.canvas import Signature
from django.db import transaction
from django_celery_results.models import TaskResult
from kombu.exceptions import KombuError

from weather.errors import UnavailableError

logger = logging.getLogger(__name__)

# What a publish raises when the broker is down or refuses the message (publisher confirms).
BROKER_ERRORS = (KombuError, AMQPError, OSError)


def task_enqueue_on_commit(
    signature: Signature,
    *,
    task_id: str | None = None,
    on_broker_error: Callable[[str], None] | None = None,
) -> str:
    """Publish `signature` once the current transaction commits; return its task id at once.

    The id is chosen here so the caller can answer with it before the publish happens. A PENDING
    result row is written first, so `GET /api/tasks/<id>/` knows the task before a worker takes
    it. When the broker cannot take the message the row is marked FAILURE, `on_broker_error` is
    called with the reason, and UnavailableError tells the caller that nothing was queued.
    """
    task_id = task_id or str(uuid.uuid4())

    def publish() -> None:
        _pending_row_create(task_id, signature.task)
        try:
            signature.apply_async(task_id=task_id)
        except BROKER_ERRORS as exc:
            reason = f"the broker did not accept the task: {exc}"
            logger.error("enqueue %s (%s) failed: %s", signature.task, task_id, reason)
            TaskResult.objects.filter(task_id=task_id).update(status="FAILURE", result=_json_error(reason))
            if on_broker_error is not None:
                on_broker_error(reason)
            raise UnavailableError(
                "The task queue is unreachable; nothing was queued. Try again shortly."
            ) from exc

    transaction.on_commit(publish)
    return task_id


def _pending_row_create(task_id: str, task_name: str) -> None:
    # One INSERT ... ON CONFLICT DO NOTHING instead of get_or_create's SELECT, savepoint and INSERT:
    # the cheapest write on the request path (docs/performance.md, "The web path").
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=task_id, status="PENDING", task_name=task_name)], ignore_conflicts=True
    )


def _json_error(reason: str) -> str:
    return json.dumps({"exc_type": "BrokerUnavailable", "exc_message": [reason], "exc_module": "builtins"})
