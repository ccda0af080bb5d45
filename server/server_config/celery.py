"""The Celery application: `celery -A server_config worker|beat|flower` finds it here."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "server_config.settings")

app = Celery("server_config")
# Every CELERY_* Django setting configures the app, so settings.py is the only place to look.
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
