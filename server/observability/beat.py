"""Beat's own Prometheus endpoint: when its scheduler last ticked, and whether it holds the lock.

No exporter can see beat: it answers no ping and Flower knows only the workers. The liveness file
its health check reads (server_config/beat.py) lives in beat's container; these gauges carry the
same fact to Prometheus. A frozen beat stops answering scrapes (`up` falls to 0); a beat whose loop
is stuck answers with a tick time that grows old. Either way the BeatSilent alert fires.
"""

import functools
import logging

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from observability.publishing import TASKS_SENT, tasks_sent_count

logger = logging.getLogger(__name__)


class BeatMetrics:
    def __init__(self, *, port: int) -> None:
        # A registry of its own: beat's endpoint shows beat's facts, not every library's defaults.
        self.registry = CollectorRegistry()
        self.last_tick = Gauge(
            "fbrain_beat_last_tick_timestamp_seconds",
            "When beat's scheduler last woke up, Unix time (at least every 5 s while it runs).",
            registry=self.registry,
        )
        self.lock_held = Gauge(
            "fbrain_beat_scheduler_lock_held",
            "1 when this beat holds the scheduler lock and sends the periodic tasks, 0 on standby.",
            registry=self.registry,
        )
        # The periodic tasks beat sends, by name.
        self.registry.register(TASKS_SENT)
        tasks_sent_count()
        if port:
            try:
                start_http_server(port, registry=self.registry)
            except OSError as exc:
                # Metrics are not worth stopping the scheduler for; the missing target shows in Prometheus.
                logger.warning("Beat's metrics endpoint could not listen on port %s: %s", port, exc)

    def ticked(self, *, lock_held: bool) -> None:
        self.last_tick.set_to_current_time()
        self.lock_held.set(1 if lock_held else 0)


@functools.cache
def beat_metrics(*, port: int) -> BeatMetrics:
    """The process's one BeatMetrics: `celery beat` builds a second scheduler for its start-up banner
    (celery/apps/beat.py, startup_info), and the endpoint must show the ticks of the one that runs."""
    return BeatMetrics(port=port)
