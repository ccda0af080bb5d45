"""The Celery application: `celery -A server_config worker|beat|flower` finds it here."""

import os

from celery import Celery
from celery.signals import task_prerun
from celery.utils.log import get_logger
from django.db import close_old_connections

# Celery's processes log in the project's format; a task carries the request id that queued it.
from logs import celery_context  # noqa: F401
from task_queue import memory  # noqa: F401  (sizes the pool's memory bound)
from task_queue.liveness import ConsumerLiveness
from task_queue.queues import DeclareTopology

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server_config.settings")

logger = get_logger(__name__)

app = Celery("server_config")
# Every CELERY_* Django setting configures the app, so settings.py is the only place to look.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
app.steps["consumer"].add(DeclareTopology)
app.steps["consumer"].add(ConsumerLiveness)


@task_prerun.connect
def _redelivery_logged(task=None, task_id=None, **kwargs) -> None:
    # At-least-once delivery at work: an earlier delivery of this message never finished (its
    # worker died, stopped or lost the broker). Operators count these lines; the write is idempotent.
    if task is not None and (task.request.delivery_info or {}).get("redelivered"):
        logger.warning("Task %s[%s] redelivered: an earlier delivery did not finish", task.name, task_id)


@task_prerun.connect
def _database_connections_fresh(**kwargs) -> None:
    # With connections reused across tasks (CELERY_DB_REUSE_MAX), do what Django does before each
    # request: close those past CONN_MAX_AGE or broken, and health-check the rest on first use, so
    # a database restart costs one retry, not a worker full of dead connections.
    close_old_connections()
