"""Tasks sent, per task name, counted by the processes that publish them and that Prometheus scrapes.

Flower could count task-sent events (settings.py no longer sends them), but its --purge_offline_workers
removes, at every scrape of its /metrics, the series of each event sender that is not a worker with
heartbeats: web and beat, which send most tasks. So web (every gunicorn process, summed) and beat
count their own publishes. Tasks a worker publishes (a refresh's batches) are not counted here; they
show as received in Flower.
"""

from celery.signals import after_task_publish
from prometheus_client import Counter

TASKS_SENT = Counter(
    "fbrain_celery_tasks_sent",
    "Tasks published by this process (web or beat), by task name.",
    ["task"],
)


def _count_sent(sender=None, headers=None, **kwargs) -> None:
    TASKS_SENT.labels(task=str((headers or {}).get("task") or sender)).inc()


def tasks_sent_count() -> None:
    """Count this process's publishes from now on (idempotent)."""
    after_task_publish.connect(_count_sent, weak=False, dispatch_uid="fbrain-tasks-sent")
