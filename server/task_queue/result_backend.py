"""django-celery-results' backend, retrying a database that is down as well as a dropped connection.

The stock backend retries only InterfaceError; while PostgreSQL restarts, storing a result raises
OperationalError, and a task that had done its work would be reported lost. Retrying it (with
CELERY_RESULT_BACKEND_* bounds in settings) lets the task finish once the database is back.
"""

from django.db import OperationalError, connection
from django_celery_results.backends import DatabaseBackend


class RetryingDatabaseBackend(DatabaseBackend):
    def exception_safe_to_retry(self, exc: Exception) -> bool:
        if isinstance(exc, OperationalError):
            connection.close()  # the next attempt opens a new one
            return True
        return super().exception_safe_to_retry(exc)
