"""Read-side queries of the weather app; services hold the writes.

A `*_get` reads one object and raises NotFoundError when there is none, so a view answers 404 and
a task fails with a reason; a `*_list` returns a queryset to slice.
"""

import json

from celery.states import READY_STATES
from django.db.models import F, Max, OuterRef, QuerySet, Subquery
from django_celery_results.models import TaskResult

from weather.errors import NotFoundError
from weather.models import City, PipelineRun, WeatherData


def city_get(*, city_id: int) -> City:
    try:
        return City.objects.get(pk=city_id)
    except City.DoesNotExist:
        raise NotFoundError(f"City {city_id} does not exist.") from None


def city_list(*, active: bool | None = None) -> QuerySet[City]:
    cities = City.objects.all()
    if active is not None:
        cities = cities.filter(active=active)
    return cities.order_by("name", "country")


def city_list_with_latest(*, active: bool | None = None) -> QuerySet[City]:
    latest = WeatherData.objects.filter(city=OuterRef("pk")).order_by("-observed_at")
    return city_list(active=active).annotate(
        latest_observed_at=Subquery(latest.values("observed_at")[:1]),
        latest_temperature=Subquery(latest.values("temperature")[:1]),
        latest_weather_code=Subquery(latest.values("weather_code")[:1]),
    )


def city_weather_list(*, city_id: int, limit: int) -> QuerySet[WeatherData]:
    return WeatherData.objects.filter(city_id=city_id).order_by("-observed_at")[:limit]


def run_get(*, run_id: int) -> PipelineRun:
    run = run_list().filter(pk=run_id).first()
    if run is None:
        raise NotFoundError(f"Run {run_id} does not exist.")
    return run


def run_list(*, kind: str | None = None) -> QuerySet[PipelineRun]:
    runs = PipelineRun.objects.all()
    if kind:
        runs = runs.filter(kind=kind)
    return runs.order_by("-created_at", "-id")


def task_status_get(*, task_id: str) -> dict:
    """A task's state from the result table, its failure as one readable line."""
    row = TaskResult.objects.filter(task_id=task_id).first()
    if row is None:
        raise NotFoundError(f"No task {task_id} is known (never queued here, or its result has expired).")
    status = {
        "task_id": row.task_id,
        "task_name": row.task_name,
        "state": row.status,
        "worker": row.worker,
        "date_done": row.date_done if row.status in READY_STATES else None,
    }
    try:
        payload = json.loads(row.result) if row.result else None
    except ValueError:
        payload = row.result
    if row.status == "SUCCESS":
        status["result"] = payload
    elif row.status in ("FAILURE", "RETRY", "REVOKED") and payload is not None:
        # The traceback stays in the database and the admin; callers get the cause only.
        status["error"] = _exception_line(payload)
    return status


def _exception_line(payload) -> str:
    if isinstance(payload, dict) and "exc_type" in payload:
        message = payload.get("exc_message")
        if isinstance(message, list | tuple):
            message = " ".join(str(part) for part in message)
        return f"{payload['exc_type']}: {message}"
    return str(payload)


def city_stalest_active_ids(*, limit: int) -> list[int]:
    """Ids of up to `limit` active cities, those never fetched first, then the longest ago."""
    if limit <= 0:
        return []
    last_fetched = Max("observations__fetched_at")
    return list(
        City.objects.filter(active=True)
        .annotate(last_fetched=last_fetched)
        .order_by(F("last_fetched").asc(nulls_first=True), "id")
        .values_list("id", flat=True)[:limit]
    )
