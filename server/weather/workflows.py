"""Workflows: which tasks make up a run, in what order, and the PipelineRun that records it.

Starting a run records it and queues its first task once that row is committed, so a worker always
finds the run it works for. The API and the management commands start runs here, beat by the task
names in settings. This module sits above `weather.tasks` (the steps), which never import it.
"""

import uuid
from collections.abc import Callable
from datetime import timedelta

from celery import chain, chord, group, shared_task
from celery.canvas import Signature
from celery.utils.log import get_task_logger
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from weather import tasks
from weather.models import PipelineRun
from weather.retries import DATABASE_ERRORS, retried_on
from weather.services.enqueue import (
    task_enqueue_on_commit,
    task_enqueue_unless_queued,
    transaction_serialized,
)
from weather.services.etl import etl_source_check
from weather.services.forecast_quota import forecast_quota_reserve_on_demand, refresh_plan
from weather.services.runs import refresh_run_finish, run_begin, run_fail

logger = get_task_logger(__name__)


# How long a city's queued fetch is remembered, so that asking again returns it: longer than a
# fetch with all its retries takes, short enough that a lost one stops blocking the city.
CITY_FETCH_DEDUP_SECONDS = 15 * 60
# A full refresh still open after this long was abandoned (its message lost, its worker killed):
# asking again starts a new one instead of joining it for ever. Beat starts one every 3 hours.
OPEN_REFRESH_MAX_AGE = timedelta(hours=3)


def city_refresh_enqueue(*, city_id: int, caller: str | None = None) -> tuple[str, bool]:
    """Queue a fetch of one city, or return the one still queued: (task id, queued now). A single
    fetch records no run. A `caller` (an account asking through the API) pays for a fetch it queues
    from its share of the budget (forecast_quota_reserve_on_demand); joining a queued one is free."""
    charge = None if caller is None else lambda: forecast_quota_reserve_on_demand(caller=caller, locations=1)
    return task_enqueue_unless_queued(
        tasks.fetch_weather_for_city.si(city_id),
        key=f"city-fetch:{city_id}",
        ttl=CITY_FETCH_DEDUP_SECONDS,
        before_enqueue=charge,
    )


def refresh_run_enqueue() -> PipelineRun:
    """Record a full refresh and queue the task that fans it out, once the record is committed."""
    return _run_enqueue(PipelineRun.Kind.REFRESH, lambda run: update_all_weather_data.si())


def refresh_run_enqueue_or_join() -> tuple[PipelineRun, bool]:
    """The open full refresh if there is one (and False), else a new one (and True): asking twice
    while one runs costs one fan-out, not two. Two requests at once see each other (the lock)."""
    with transaction_serialized("refresh-all"):
        open_run = (
            PipelineRun.objects.filter(
                kind=PipelineRun.Kind.REFRESH, created_at__gte=timezone.now() - OPEN_REFRESH_MAX_AGE
            )
            .exclude(state__in=PipelineRun.FINISHED_STATES)
            .order_by("-created_at")
            .first()
        )
        if open_run is not None:
            return open_run, False
        return refresh_run_enqueue(), True


def etl_run_enqueue(*, source: str) -> PipelineRun:
    """Record an import of `source` and queue its extract, transform and load chain. The run, task
    results and Flower show the source for display (no credentials, query or server path); only
    the extract's message carries it whole."""
    checked = etl_source_check(source)
    return _run_enqueue(
        PipelineRun.Kind.ETL,
        lambda run: chain(
            tasks.extract_data.s(checked.location, run_id=run.id).set(argsrepr=repr((checked.display,))),
            tasks.transform_data.s(),
            tasks.load_data.s(),
        ).on_error(tasks.pipeline_run_failed.s(run_id=run.id)),
        source=checked.display,
    )


def _run_enqueue(kind: str, workflow: Callable[[PipelineRun], Signature], *, source: str = "") -> PipelineRun:
    """Record a run and queue the workflow built for it. The run's `task_id` is the workflow's: for
    a chain, its last task's, so SUCCESS there means the whole run is done."""
    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run = PipelineRun.objects.create(kind=kind, task_id=task_id, source=source)
        task_enqueue_on_commit(
            workflow(run),
            task_id=task_id,
            on_broker_error=lambda reason: run_fail(run_id=run.id, reason=reason),
            run_id=run.id,
        )
    return run


# Registered under its first name: beat's schedule (settings, and the copies django-celery-beat
# keeps in the database), Flower's history and the tests know the task by it.
@shared_task(bind=True, name="weather.tasks.update_all_weather_data")
@retried_on(DATABASE_ERRORS)
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
        return {"run_id": run.id, "cities": 0, "batches": 0, "deferred": plan.deferred}
    callback = tasks.finish_refresh_run.s(run_id=run.id).on_error(tasks.pipeline_run_failed.s(run_id=run.id))
    chord(group(tasks.fetch_weather_batch.s(ids) for ids in batches))(callback)
    cities = len(plan.city_ids)
    logger.info("Refresh run %s: %d cities in %d batches queued", run.id, cities, len(batches))
    return {"run_id": run.id, "cities": cities, "batches": len(batches), "deferred": plan.deferred}
