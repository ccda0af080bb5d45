"""Celery's processes log in the project's format, and a task carries the request id that queued it.

Celery configures logging itself (and takes over the root logger) unless a receiver of its
`setup_logging` signal does it: this one applies settings.LOGGING, in the worker and in beat.

A task published while a request id is current (a web request, or a task that was itself queued
by one) carries it in a message header; the worker makes it current while the task runs, so the
task's lines, and the tasks it queues in turn (a refresh's batches, an import's next step), carry
the id of the request that started it all.
"""

from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun

from logs.config import configure
from logs.context import request_id_accept, request_id_var

HEADER = "request_id"


@setup_logging.connect
def _logging_configured(**kwargs) -> None:
    from django.conf import settings

    configure(settings.LOGGING)


@before_task_publish.connect
def _request_id_sent(headers=None, **kwargs) -> None:
    request_id = request_id_var.get()
    if request_id and headers is not None:
        headers.setdefault(HEADER, request_id)


@task_prerun.connect
def _request_id_current(task=None, **kwargs) -> None:
    request_id = task.request.get(HEADER) if task is not None else None
    # A header comes from whoever could publish to the broker: checked like an incoming HTTP one.
    request_id_var.set(request_id_accept(request_id) if request_id else None)


@task_postrun.connect
def _request_id_cleared(**kwargs) -> None:
    # A worker process runs one task at a time: the next one must not inherit this one's id.
    request_id_var.set(None)
