"""Celery tasks: each takes ids, calls a service, and says in its result or failure what happened.

Delivery is at least once (late acks), so a task may run twice; the services it calls write
idempotently. Only named transient errors are retried, with exponential backoff and jitter.
"""

import random

from celery import chord, group, shared_task
from celery.utils.log import get_task_logger
from django.conf import settings
from django.db import InterfaceError, OperationalError

from task_queue.deferral import task_defer
from weather.errors import QuotaExhaustedError
from weather.models import PipelineRun
from weather.openmeteo import PermanentAPIError, TransientAPIError
from weather.services.cities import city_get
from weather.services.etl import EtlSourceError, etl_extract, etl_load, etl_source_check, etl_transform
from weather.services.forecast_quota import refresh_plan
from weather.services.observations import (
    FetchOutcome,
    observations_delete_older_than,
    weather_fetch_for_cities,
)
from weather.services.runs import refresh_run_finish, run_begin, run_fail

logger = get_task_logger(__name__)

MAX_RETRIES = 3
# A database restart or an overloaded API passes; a bad request or a missing row does not.
DATABASE_ERRORS = (OperationalError, InterfaceError)
TRANSIENT_ERRORS = (TransientAPIError, *DATABASE_ERRORS)
# A database outage (a restart, a failover) outlasts an API hiccup: more retries, the same backoff,
# together about eight minutes with the default 2 s base before a task gives up.
DATABASE_MAX_RETRIES = 8
# An import of a large file streams for minutes (100 MB: about 5 here); everything else takes seconds.
ETL_SOFT_TIME_LIMIT = 600
ETL_TIME_LIMIT = 660
MIN_RETRY_DELAY = 1.0


class FetchFailedError(Exception):
    pass


def retry_countdown(retries: int, retry_after: float | None = None) -> float:
    """Seconds before retry number `retries + 1`: exponential, jittered, never before Retry-After."""
    ceiling = min(
        settings.WEATHER_RETRY_BACKOFF_MAX_SECONDS, settings.WEATHER_RETRY_BACKOFF_SECONDS * 2**retries
    )
    # Half fixed, half random: no immediate retries, and workers hit by one outage spread out.
    delay = ceiling / 2 + random.uniform(0, ceiling / 2)
    # RabbitMQ's native delayed delivery (quorum queues) counts whole seconds, from 1.
    return max(delay, retry_after or 0.0, MIN_RETRY_DELAY)


def retry_budget(exc: Exception) -> int:
    return DATABASE_MAX_RETRIES if isinstance(exc, DATABASE_ERRORS) else MAX_RETRIES


def _retry(task, exc: Exception, what: str):
    """The Retry to raise for a transient error; past the budget, Celery raises `exc` itself."""
    budget = retry_budget(exc)
    logger.warning("%s: %s (retry %d of %d)", what, exc, task.request.retries + 1, budget)
    countdown = retry_countdown(task.request.retries, getattr(exc, "retry_after", None))
    return task.retry(exc=exc, countdown=countdown, max_retries=budget)


# Bookkeeping tasks retry a database outage by themselves; their work is idempotent.
_RETRY_DATABASE_ERRORS = {
    "autoretry_for": DATABASE_ERRORS,
    "max_retries": DATABASE_MAX_RETRIES,
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
}


@shared_task(bind=True, max_retries=MAX_RETRIES)
def fetch_weather_for_city(self, city_id: int) -> dict:
    try:
        city = city_get(city_id)
        outcome = weather_fetch_for_cities(city_ids=[city.id])
    except QuotaExhaustedError as exc:
        # Waiting for the budget is not a failure of the API: no retry is used up.
        raise task_defer(self, countdown=exc.retry_after, reason=f"City {city_id}: {exc.message}") from exc
    except TRANSIENT_ERRORS as exc:
        raise _retry(self, exc, f"City {city_id}") from exc
    if city.id in outcome.failed:
        raise FetchFailedError(f"{city}: {outcome.failed[city.id]}")
    logger.info("Fetched weather for %s (city %s), observed at %s", city, city.id, outcome.ok[city.id])
    return {"city_id": city.id, "observed_at": outcome.ok[city.id], "worker": self.request.hostname}


@shared_task(bind=True, max_retries=MAX_RETRIES)
def fetch_weather_batch(self, city_ids: list[int]) -> dict:
    """One API request and one upsert for these cities. Never fails as a whole: a refresh's chord
    callback must run, so a batch that cannot be fetched reports its cities as failed instead."""
    try:
        outcome = weather_fetch_for_cities(city_ids=city_ids)
    except QuotaExhaustedError as exc:
        if exc.blocked_by != "day":
            # The next minute or hour window, or the end of a pause: the broker holds the batch.
            what = f"Batch of {len(city_ids)} cities: {exc.message}"
            raise task_defer(self, countdown=exc.retry_after, reason=what) from exc
        # Not before tomorrow (UTC): the run closes, counting these as deferred; the next beat tick
        # fetches them first.
        logger.warning("Batch of %d cities deferred to the next day window: %s", len(city_ids), exc.message)
        outcome = FetchOutcome(deferred=list(city_ids))
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < retry_budget(exc):
            raise _retry(self, exc, f"Batch of {len(city_ids)} cities") from exc
        reason = f"gave up after {self.request.retries} retries: {exc}"
        outcome = FetchOutcome.all_failed(city_ids, reason)
    except PermanentAPIError as exc:
        outcome = FetchOutcome.all_failed(city_ids, str(exc))
    logger.info(
        "Fetched weather for a batch of %d cities: %d stored, %d failed, %d deferred",
        len(city_ids),
        len(outcome.ok),
        len(outcome.failed),
        len(outcome.deferred),
    )
    return {**outcome.as_result(), "worker": self.request.hostname}


@shared_task(bind=True, **_RETRY_DATABASE_ERRORS)
def update_all_weather_data(self) -> dict:
    """Refresh every active city: batches fanned out as a chord whose callback closes the run.

    Within what is left of the day's API budget: the stalest cities first, the rest deferred.
    """
    plan = refresh_plan()
    run = run_begin(
        kind=PipelineRun.Kind.REFRESH,
        task_id=self.request.id,
        total=plan.total,
        deferred=plan.deferred,
        deferred_until=plan.deferred_until,
    )
    if plan.deferred:
        logger.warning(
            "Refresh run %s: the day's API budget pays for %d of %d cities; the %d stalest now, "
            "%d deferred until %s",
            run.id,
            len(plan.city_ids),
            plan.total,
            len(plan.city_ids),
            plan.deferred,
            plan.deferred_until,
        )
    size = settings.WEATHER_BATCH_SIZE
    batches = [plan.city_ids[start : start + size] for start in range(0, len(plan.city_ids), size)]
    if not batches:
        refresh_run_finish(run_id=run.id, batch_results=[])
        return {"run_id": run.id, "cities": 0, "batches": 0}
    callback = finish_refresh_run.s(run_id=run.id).on_error(pipeline_run_failed.s(run_id=run.id))
    chord(group(fetch_weather_batch.s(ids) for ids in batches))(callback)
    logger.info("Refresh run %s: %d cities in %d batches queued", run.id, len(plan.city_ids), len(batches))
    return {
        "run_id": run.id,
        "cities": len(plan.city_ids),
        "batches": len(batches),
        "deferred": plan.deferred,
    }


@shared_task(**_RETRY_DATABASE_ERRORS)
def finish_refresh_run(batch_results: list[dict], run_id: int) -> dict:
    run = refresh_run_finish(run_id=run_id, batch_results=batch_results)
    logger.info(
        "Refresh run %s %s: %d ok, %d failed, %d deferred",
        run.id,
        run.state,
        run.cities_ok,
        run.cities_failed,
        run.cities_deferred,
    )
    return {
        "run_id": run.id,
        "state": run.state,
        "cities_ok": run.cities_ok,
        "cities_failed": run.cities_failed,
        "cities_deferred": run.cities_deferred,
    }


@shared_task(**_RETRY_DATABASE_ERRORS)
def pipeline_run_failed(request, exc, traceback, run_id: int) -> None:
    """Errback of a run's workflow: a step failed for good, so the run is closed with the reason."""
    reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    logger.error("Run %s failed in task %s: %s", run_id, getattr(request, "id", "?"), reason)
    run_fail(run_id=run_id, reason=reason)


@shared_task(**_RETRY_DATABASE_ERRORS)
def cleanup_old_weather_data() -> dict:
    days = settings.WEATHER_RETENTION_DAYS
    deleted = observations_delete_older_than(days=days)
    logger.info("Deleted %d observations older than %d days", deleted, days)
    return {"deleted": deleted, "retention_days": days}


@shared_task(bind=True, soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
def extract_data(self, source: str, run_id: int | None = None) -> int:
    source = etl_source_check(source)
    run = run_begin(kind=PipelineRun.Kind.ETL, task_id=self.request.id, run_id=run_id, source=source)
    try:
        rows = etl_extract(run_id=run.id, source=source)
    except EtlSourceError as exc:
        run_fail(run_id=run.id, reason=f"The input cannot be imported: {exc}")
        raise
    logger.info("ETL run %s: extracted %d rows from %s", run.id, rows, source)
    return run.id


@shared_task(soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
def transform_data(run_id: int) -> int:
    valid, invalid = etl_transform(run_id=run_id)
    logger.info("ETL run %s: %d valid rows, %d rejected", run_id, valid, invalid)
    return run_id


@shared_task(soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
def load_data(run_id: int) -> dict:
    run = etl_load(run_id=run_id)
    logger.info(
        "ETL run %s %s: %d cities, %d observations loaded, %d bad rows",
        run.id,
        run.state,
        run.cities_ok,
        run.observations_loaded,
        run.rows_invalid,
    )
    return {
        "run_id": run.id,
        "state": run.state,
        "rows": run.rows_total,
        "rows_invalid": run.rows_invalid,
        "cities_loaded": run.cities_ok,
        "observations_loaded": run.observations_loaded,
    }
