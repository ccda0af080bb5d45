"""Beat's scheduler: a liveness file for health checks, and one active scheduler per database.

Beat answers no ping, so a container health check cannot ask it whether it is alive. The
DatabaseScheduler wakes at least every few seconds; touching a file on each wake lets a check read
the file's age instead.

Two beats would send every periodic task twice. Whatever started the second one (a scaled service,
`docker compose run beat`, a beat left running on another host), only the holder of a PostgreSQL
advisory lock sends anything; the others stand by and take over when the holder's session ends.
"""

import contextlib
import logging
import zlib
from pathlib import Path

from django.conf import settings
from django.db import DatabaseError, connections
from django_celery_beat.schedulers import DatabaseScheduler

from observability.beat import beat_metrics

logger = logging.getLogger(__name__)

LOCK_KEY = zlib.crc32(b"fbrain:celery-beat")


class SchedulerLock:
    """A session-level advisory lock on a connection of its own, which Django never recycles."""

    def __init__(self) -> None:
        self.connection = None
        self.was_held: bool | None = None

    def held(self) -> bool:
        held, why = self._check()
        if held != self.was_held:
            if held:
                logger.info("This beat holds the scheduler lock: it sends the periodic tasks")
            else:
                logger.warning("This beat sends nothing: %s", why)
            self.was_held = held
        return held

    def release(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(DatabaseError):
                self.connection.close()
            self.connection = None

    def _check(self) -> tuple[bool, str]:
        if connections["default"].vendor != "postgresql":
            return True, ""  # SQLite (make dev): one machine, one beat
        try:
            if self.connection is not None:
                with self.connection.cursor() as cursor:
                    cursor.execute("SELECT 1")  # the lock lives as long as this session
                return True, ""
            self.connection = connections.create_connection("default")
            with self.connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
                if cursor.fetchone()[0]:
                    return True, ""
            self.release()
            return False, "another beat holds the scheduler lock; standing by until it is released"
        except DatabaseError as exc:
            self.release()
            return False, f"the database is unreachable ({exc}); standing by"


class LivenessDatabaseScheduler(DatabaseScheduler):
    # Cap the sleep between ticks so the liveness file never ages past a few seconds while idle.
    max_interval = 5

    def __init__(self, *args, **kwargs):
        self.lock = SchedulerLock()
        self.metrics = beat_metrics(port=settings.BEAT_METRICS_PORT)
        super().__init__(*args, **kwargs)

    def tick(self, *args, **kwargs):
        Path(settings.BEAT_LIVENESS_FILE).touch()
        held = self.lock.held()
        self.metrics.ticked(lock_held=held)
        if not held:
            return self.max_interval
        return super().tick(*args, **kwargs)
