"""The Celery application: `celery -A server_config worker|beat|flower` finds it here."""

import os

from celery import Celery
from celery.signals import task_prerun
from django.db import close_old_connections

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server_config.settings")

app = Celery("server_config")
# Every CELERY_* Django setting configures the app, so settings.py is the only place to look.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
def _database_connections_fresh(**kwargs) -> None:
    # With connections reused across tasks (CELERY_DB_REUSE_MAX), do what Django does before each
    # request: close those past CONN_MAX_AGE or broken, and health-check the rest on first use, so
    # a database restart costs one retry, not a worker full of dead connections.
    close_old_connections()
