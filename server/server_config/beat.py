"""Beat's scheduler, with a liveness file for health checks.

Beat answers no ping, so a container health check cannot ask it whether it is alive. The
DatabaseScheduler wakes at least every few seconds; touching a file on each wake lets a check read
the file's age instead.
"""

from pathlib import Path

from django.conf import settings
from django_celery_beat.schedulers import DatabaseScheduler


class LivenessDatabaseScheduler(DatabaseScheduler):
    # Cap the sleep between ticks so the liveness file never ages past a few seconds while idle.
    max_interval = 5

    def tick(self, *args, **kwargs):
        delay = super().tick(*args, **kwargs)
        Path(settings.BEAT_LIVENESS_FILE).touch()
        return delay
