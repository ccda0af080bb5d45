"""The pipeline's state as Prometheus gauges, read from the database when Prometheus scrapes.

The database is the one source of truth for these: refresh runs are written by whichever worker ran
them, and the quota is shared by every worker process on every host. Reading at scrape time (a few
indexed single-row queries) means no process has to keep a copy up to date, and a scrape of any web
process gives the same answer.
"""

import time
from collections.abc import Iterator

from django.db import DatabaseError
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from quota.selectors import quota_status
from weather.models import PipelineRun


def _last_finished_refresh() -> PipelineRun | None:
    return (
        PipelineRun.objects.filter(kind=PipelineRun.Kind.REFRESH, finished_at__isnull=False)
        .order_by("-finished_at")
        .only("state", "finished_at", "cities_total", "cities_ok", "cities_failed")
        .first()
    )


def _refresh_families() -> Iterator[GaugeMetricFamily]:
    run = _last_finished_refresh()
    finished = GaugeMetricFamily(
        "fbrain_refresh_last_finished_timestamp_seconds",
        "When the newest finished refresh run ended (success, partial or failure), Unix time.",
    )
    succeeded = GaugeMetricFamily(
        "fbrain_refresh_last_success_timestamp_seconds",
        "When the newest refresh run that fetched at least one city ended, Unix time.",
    )
    cities = GaugeMetricFamily(
        "fbrain_refresh_last_run_cities",
        "Cities of the newest finished refresh run, by outcome.",
        labels=["outcome"],
    )
    if run is not None:
        finished.add_metric([], run.finished_at.timestamp())
        for outcome in ("total", "ok", "failed"):
            cities.add_metric([outcome], getattr(run, f"cities_{outcome}"))
    good = (
        PipelineRun.objects.filter(kind=PipelineRun.Kind.REFRESH, cities_ok__gt=0)
        .exclude(finished_at__isnull=True)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )
    if good is not None:
        succeeded.add_metric([], good.timestamp())
    yield from (finished, succeeded, cities)


def _quota_families() -> Iterator[GaugeMetricFamily]:
    status = quota_status()
    used = GaugeMetricFamily(
        "fbrain_openmeteo_quota_used_calls",
        "Open-Meteo calls spent in the current window.",
        labels=["window"],
    )
    limit = GaugeMetricFamily(
        "fbrain_openmeteo_quota_limit_calls", "Open-Meteo calls allowed per window.", labels=["window"]
    )
    for window in status.windows:
        used.add_metric([window.name], float(window.used))
        limit.add_metric([window.name], window.limit)
    # A 429 from Open-Meteo pauses every caller until the time it named (quota/services.py).
    paused = GaugeMetricFamily(
        "fbrain_openmeteo_paused", "1 while Open-Meteo's rate limit (a 429) pauses every call, else 0."
    )
    paused.add_metric([], 1.0 if status.paused_until is not None else 0.0)
    yield from (used, limit, paused)


class PipelineCollector(Collector):
    """Refresh runs and the Open-Meteo budget; `fbrain_pipeline_metrics_up` 0 when the database failed."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.monotonic()
        families: list[GaugeMetricFamily] = []
        try:
            families = [*_refresh_families(), *_quota_families()]
            up = 1.0
        except DatabaseError:
            # A scrape must still answer (web's own request metrics are in it): say what is missing.
            up = 0.0
        yield from families
        ok = GaugeMetricFamily("fbrain_pipeline_metrics_up", "1 when the database answered this scrape.")
        ok.add_metric([], up)
        yield ok
        took = GaugeMetricFamily("fbrain_pipeline_metrics_seconds", "Time spent reading the database.")
        took.add_metric([], time.monotonic() - started)
        yield took
