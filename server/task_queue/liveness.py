"""The worker's proof of progress: a file its consumer touches while it consumes.

`celery inspect ping` as a health check starts a whole Python process and makes a broker round trip
each time; on a loaded host it times out and marks healthy workers unhealthy. Instead the consumer
touches a file from a timer on its own event loop, and only while its broker connection is up and
its task consumer exists. The file therefore goes stale when the process is frozen (SIGSTOP, a
deadlock on the event loop), and when the consumer stopped consuming: after a lost connection
Celery stops these steps and blocks in its reconnect loop, so nothing touches the file until it
consumes again. The health check and `start-worker`'s watchdog read only the file's age.
"""

from pathlib import Path

from celery import bootsteps
from celery.utils.log import get_logger
from django.conf import settings

logger = get_logger(__name__)

# Seconds between two touches; the watchdog's bound (WORKER_LIVENESS_MAX_AGE) is several of these.
REFRESH_SECONDS = 10.0


class ConsumerLiveness(bootsteps.StartStopStep):
    """Touches WORKER_LIVENESS_FILE every REFRESH_SECONDS while the consumer consumes."""

    # After the task consumer is declared: a worker that never started consuming never looks alive.
    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.path = Path(settings.WORKER_LIVENESS_FILE)
        self.timer_entry = None

    def start(self, parent) -> None:
        self.refresh(parent)
        self.timer_entry = parent.timer.call_repeatedly(REFRESH_SECONDS, self.refresh, (parent,))

    def stop(self, parent) -> None:
        # Called when the connection is lost (before the reconnect loop) and at shutdown.
        if self.timer_entry is not None:
            self.timer_entry.cancel()
            self.timer_entry = None

    def shutdown(self, parent) -> None:
        self.stop(parent)

    def refresh(self, parent) -> None:
        connection = parent.connection
        if connection is None or parent.task_consumer is None or not connection.connected:
            return
        try:
            self.path.touch()
        except OSError as exc:
            # A full or read-only disk must show as a stale file, not as a crashed event loop.
            logger.warning("Could not touch the liveness file %s: %s", self.path, exc)
