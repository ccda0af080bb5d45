"""django-celery-results' backend, retrying a database that is down as well as a dropped connection,
and keeping a success once stored.

The stock backend retries only InterfaceError; while PostgreSQL restarts, storing a result raises
OperationalError, and a task that had done its work would be reported lost. Retrying it (with
CELERY_RESULT_BACKEND_* bounds in settings) lets the task finish once the database is back.

A task runs at least once: when a worker loses the broker, RabbitMQ hands its unacknowledged tasks to
another worker, and the first may still report on them once it is back: a retry it could not
publish, a failure, a start. Stored after the other worker's success, that report turned the row
back (a fault test's city was stored while its task showed RETRY for ever). A success is final here,
as Celery's own key-value backends make it.
"""

from celery import states
from django.db import OperationalError, connection
from django_celery_results.backends import DatabaseBackend


class RetryingDatabaseBackend(DatabaseBackend):
    def exception_safe_to_retry(self, exc: Exception) -> bool:
        if isinstance(exc, OperationalError):
            connection.close()  # the next attempt opens a new one
            return True
        return super().exception_safe_to_retry(exc)

    def _store_result(self, task_id, result, status, traceback=None, request=None, using=None):
        if status != states.SUCCESS and self._succeeded(task_id, using):
            return result  # a late report from a run that another run already finished
        return super()._store_result(task_id, result, status, traceback, request=request, using=using)

    def _succeeded(self, task_id, using) -> bool:
        rows = self.TaskModel._default_manager.using(using)
        return rows.filter(task_id=task_id, status=states.SUCCESS).exists()
