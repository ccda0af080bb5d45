"""Celery tasks, the steps of every workflow: each takes ids, calls a service, and says in its result
or failure what happened. How steps are chained, and the runs they record, is `weather.workflows`.

Delivery is at least once (late acks), so a task may run twice; the services it calls write
idempotently. Retries follow the one policy in `weather.retries`.
"""

from datetime import timedelta

from celery import shared_task
from celery.utils.log import get_task_logger
from django.conf import settings

from task_queue.deferral import task_defer
from weather import selectors
from weather.errors import QuotaExhaustedError
from weather.imports.refusals import ImportRefused
from weather.models import PipelineRun
from weather.openmeteo import PermanentAPIError
from weather.retries import DATABASE_ERRORS, TRANSIENT_ERRORS, retried_on, retry_budget, retry_later
from weather.services.etl import EtlSourceError, etl_extract, etl_load, etl_source_check, etl_transform
from weather.services.observations import FetchOutcome, observations_delete_older_than, observations_fetch
from weather.services.runs import refresh_run_finish, run_begin, run_fail, staged_rows_delete_abandoned

logger = get_task_logger(__name__)

# An import of a large file streams for minutes (docs/performance.md, "Importing a large file");
# everything else takes seconds.
ETL_SOFT_TIME_LIMIT = 600
ETL_TIME_LIMIT = 660


class FetchFailedError(Exception):
    pass


@shared_task(bind=True)
def fetch_weather_for_city(self, city_id: int) -> dict:
    try:
        city = selectors.city_get(city_id=city_id)
        outcome = observations_fetch(city_ids=[city.id])
    except QuotaExhaustedError as exc:
        # Waiting for the budget is not a failure of the API: no retry is used up.
        raise task_defer(self, countdown=exc.retry_after, reason=f"City {city_id}: {exc.message}") from exc
    except TRANSIENT_ERRORS as exc:
        raise retry_later(self, exc, f"City {city_id}") from exc
    if city.id in outcome.failed:
        raise FetchFailedError(f"{city}: {outcome.failed[city.id]}")
    logger.info("Fetched weather for %s (city %s), observed at %s", city, city.id, outcome.ok[city.id])
    return {"city_id": city.id, "observed_at": outcome.ok[city.id], "worker": self.request.hostname}


@shared_task(bind=True)
def fetch_weather_batch(self, city_ids: list[int]) -> dict:
    """One API request and one upsert for these cities. Never fails as a whole: a refresh's chord
    callback must run, so a batch that cannot be fetched reports its cities as failed instead."""
    try:
        outcome = observations_fetch(city_ids=city_ids)
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
            raise retry_later(self, exc, f"Batch of {len(city_ids)} cities") from exc
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


# The bookkeeping and ETL steps below retry a database outage; their writes are idempotent.


@shared_task(bind=True)
@retried_on(DATABASE_ERRORS)
def finish_refresh_run(self, batch_results: list[dict], run_id: int) -> dict:
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


@shared_task(bind=True)
@retried_on(DATABASE_ERRORS)
def pipeline_run_failed(self, request, exc, traceback, run_id: int) -> None:
    """Errback of a run's workflow: a step failed for good, so the run is closed with the reason."""
    reason = f"{type(exc).__name__}: {exc}" if isinstance(exc, BaseException) else str(exc)
    logger.error("Run %s failed in task %s: %s", run_id, getattr(request, "id", "?"), reason)
    run_fail(run_id=run_id, reason=reason)


@shared_task(bind=True)
@retried_on(DATABASE_ERRORS)
def cleanup_old_weather_data(self) -> dict:
    days = settings.WEATHER_RETENTION_DAYS
    deleted = observations_delete_older_than(days=days)
    logger.info("Deleted %d observations older than %d days", deleted, days)
    return {"deleted": deleted, "retention_days": days}


@shared_task(bind=True)
@retried_on(DATABASE_ERRORS)
def cleanup_abandoned_imports(self) -> dict:
    hours = settings.ETL_STAGING_MAX_AGE_HOURS
    failed, deleted = staged_rows_delete_abandoned(older_than=timedelta(hours=hours))
    logger.info(
        "Failed %d imports abandoned over %d hours ago; deleted %d staged rows", failed, hours, deleted
    )
    return {"runs_failed": failed, "rows_deleted": deleted, "max_age_hours": hours}


# A retried ETL step starts over: extract empties the run's staging first, transform rewrites each
# row from its raw fields, load upserts.


@shared_task(bind=True, soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
@retried_on(DATABASE_ERRORS)
def extract_data(self, source: str, run_id: int | None = None) -> int:
    # Checked again: the allow-list may have changed since the import was queued.
    checked = etl_source_check(source)
    run = run_begin(kind=PipelineRun.Kind.ETL, task_id=self.request.id, run_id=run_id, source=checked.display)
    try:
        rows = etl_extract(run_id=run.id, source=checked)
    except (EtlSourceError, ImportRefused) as exc:
        run_fail(run_id=run.id, reason=f"The input cannot be imported: {exc}")
        # Without its cause: the stored traceback must not carry what the source or network said.
        raise EtlSourceError(str(exc)) from None
    logger.info("ETL run %s: extracted %d rows from %s", run.id, rows, checked.display)
    return run.id


@shared_task(bind=True, soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
@retried_on(DATABASE_ERRORS)
def transform_data(self, run_id: int) -> int:
    valid, invalid = etl_transform(run_id=run_id)
    logger.info("ETL run %s: %d valid rows, %d rejected", run_id, valid, invalid)
    return run_id


@shared_task(bind=True, soft_time_limit=ETL_SOFT_TIME_LIMIT, time_limit=ETL_TIME_LIMIT)
@retried_on(DATABASE_ERRORS)
def load_data(self, run_id: int) -> dict:
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
