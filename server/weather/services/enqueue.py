"""Publishing tasks after the transaction that created their rows commits."""

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from amqp.exceptions import AMQPError
from celery.canvas import Signature
from django.db import connection, transaction
from django_celery_results.models import TaskResult
from kombu.exceptions import KombuError

from task_queue.claims import task_claim
from weather.errors import UnavailableError

logger = logging.getLogger(__name__)

# What a publish raises when the broker is down or refuses the message (publisher confirms).
BROKER_ERRORS = (KombuError, AMQPError, OSError)


def task_enqueue_on_commit(
    signature: Signature,
    *,
    task_id: str | None = None,
    on_broker_error: Callable[[str], None] | None = None,
    run_id: int | None = None,
) -> str:
    """Publish `signature` once the current transaction commits; return its task id at once.

    The id is chosen here so the caller can answer with it before the publish happens. A PENDING
    result row is written now, in the caller's transaction (no round trips of its own), so `GET
    /api/tasks/<id>/` knows the task before a worker takes it; a rollback removes it with the rest,
    and nothing is published. When the broker cannot take the message the row is marked FAILURE,
    `on_broker_error` is called with the reason, and UnavailableError tells the caller that nothing
    was queued.

    A queued task is logged with its id (and its run's), so that one grep finds the request that
    queued it and the worker's lines about it (docs/operations.md, "Logs").
    """
    task_id = task_id or str(uuid.uuid4())
    _pending_row_create(task_id, signature.task)

    def publish() -> None:
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
        context = {"task_id": task_id, "task_name": signature.task}
        if run_id is not None:
            context["run_id"] = run_id
        logger.info(
            "Queued %s[%s]%s", signature.task, task_id, f" for run {run_id}" if run_id else "", extra=context
        )

    transaction.on_commit(publish)
    return task_id


@contextmanager
def transaction_serialized(name: str) -> Iterator[None]:
    """A transaction that runs one at a time per `name`, across every process and replica: a
    PostgreSQL advisory lock held until commit. (SQLite, under `make dev`, already runs one write
    transaction at a time: settings open them IMMEDIATE.)"""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [name])
        yield


def task_enqueue_unless_queued(
    signature: Signature, *, key: str, ttl: float, before_enqueue: Callable[[], None] | None = None
) -> tuple[str, bool]:
    """Queue `signature` unless the task last queued under `key` has not finished: then return that
    task's id and False instead of queueing a second one. `before_enqueue` runs, in the same
    transaction, only when a task is to be queued; what it raises queues nothing.

    The claim on `key` (task_queue/claims.py) holds for `ttl` seconds at most, so a task that never
    reports back (a lost message) stops blocking new ones then. Two callers at once: the second
    waits for the first's transaction, then joins its task.
    """
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        queued = task_claim(key, task_id=task_id, ttl=ttl)
        if queued is not None:
            return queued, False
        if before_enqueue is not None:
            before_enqueue()
        task_enqueue_on_commit(signature, task_id=task_id)
    return task_id, True


def _pending_row_create(task_id: str, task_name: str) -> None:
    # One INSERT ... ON CONFLICT DO NOTHING instead of get_or_create's SELECT, savepoint and INSERT,
    # inside the caller's transaction when there is one (docs/performance.md, "The web path").
    TaskResult.objects.bulk_create(
        [TaskResult(task_id=task_id, status="PENDING", task_name=task_name)], ignore_conflicts=True
    )


def _json_error(reason: str) -> str:
    return json.dumps({"exc_type": "BrokerUnavailable", "exc_message": [reason], "exc_module": "builtins"})
