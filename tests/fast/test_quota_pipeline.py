"""The pipeline spends from the shared budget: real worker, real RabbitMQ, real PostgreSQL, and the
Open-Meteo stand-in counting what it receives."""

import json
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from quota.models import DEFAULT_BUDGET, QuotaBudget
from quota.selectors import quota_status
from quota.services import quota_pause
from quota.windows import windows
from tests.fast.conftest import task_done
from tests.fast.test_tasks import make_cities
from tests.polling import wait_for
from weather.models import City, PipelineRun, WeatherData
from weather.openmeteo import RateLimitedError
from weather.services.observations import observations_fetch
from weather.tasks import fetch_weather_batch
from weather.workflows import refresh_run_enqueue


def day_spent_but(left: int) -> None:
    """Spend today's budget (UTC) but `left` calls, as earlier refreshes would have."""
    day = windows()[2]
    QuotaBudget.objects.update_or_create(
        name="open-meteo",
        defaults={"day_window": day.index(time.time()), "day_used": Decimal(day.limit - left)},
    )


def finished(run: PipelineRun) -> PipelineRun:
    return wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        timeout=60,
        what="the refresh run to finish",
    )


def test_every_request_is_reserved_from_the_shared_budget(worker, stub):
    cities = make_cities(7)
    assert task_done(fetch_weather_batch.delay([c.id for c in cities]).id).status == "SUCCESS"
    assert quota_status().window("minute").used == 7 == stub.stats()["locations_requested"]


def test_a_batch_waits_out_a_pause_in_the_broker_without_using_a_retry(worker, stub):
    # The first request arrives only once the pause is over, and the task succeeds.
    cities = make_cities(3)
    until = quota_pause(retry_after=3, reason="test pause")
    result = task_done(fetch_weather_batch.delay([c.id for c in cities]).id, timeout=60)
    assert json.loads(result.result)["ok"] == 3
    (arrived, _, status), *_ = stub.stats()["forecast_log"]
    assert arrived >= until and status == 200
    assert result.status == "SUCCESS"


def test_a_429_pauses_every_worker_until_its_retry_after(worker, stub):
    cities = make_cities(4)
    stub.script([{"status": 429, "retry_after": 2}])
    first = fetch_weather_batch.delay([c.id for c in cities[:2]])
    # A request already on its way when the 429 came cannot be called back; one sent after the
    # pause is recorded, by the other worker process, must wait for it.
    wait_for(lambda: quota_status().paused_until, timeout=30, what="the 429 to pause the budget")
    second = fetch_weather_batch.delay([c.id for c in cities[2:]])
    assert task_done(first.id, timeout=60).status == "SUCCESS"
    assert task_done(second.id, timeout=60).status == "SUCCESS"
    log = stub.stats()["forecast_log"]
    refused = next(entry for entry in log if entry[2] == 429)
    later = [entry for entry in log if entry[0] > refused[0]]
    # No call from either worker process until the Retry-After had passed.
    assert len(later) == 2 and all(entry[0] >= refused[0] + 2 for entry in later)
    assert WeatherData.objects.count() == 4


def test_a_429_without_retry_after_pauses_until_the_window_it_names_ends(db, stub):
    city = make_cities(1)[0]
    stub.script([{"status": 429, "retry_after": None, "reason": "Hourly API request limit exceeded."}])
    with pytest.raises(RateLimitedError) as caught:
        observations_fetch(city_ids=[city.id])
    hour_end = windows()[1].end(time.time())
    status = quota_status()
    assert status.paused_until == datetime.fromtimestamp(hour_end, UTC)
    assert caught.value.retry_after == pytest.approx(hour_end - time.time(), abs=5)


def test_a_refresh_that_does_not_fit_the_day_fetches_the_stalest_first(worker, stub):
    cities = make_cities(10)
    fresh, stale = cities[:7], cities[7:]
    now = timezone.now()
    WeatherData.objects.bulk_create(
        WeatherData(city=c, observed_at=now - timedelta(minutes=i), fetched_at=now)
        for i, c in enumerate(fresh)
    )
    day_spent_but(3)
    run = finished(refresh_run_enqueue())
    assert (run.cities_total, run.cities_ok, run.cities_failed, run.cities_deferred) == (10, 3, 0, 7)
    assert run.deferred_until == datetime.fromtimestamp(windows()[2].end(time.time()), UTC)
    assert set(WeatherData.objects.filter(fetched_at__gt=now).values_list("city_id", flat=True)) == {
        c.id for c in stale
    }
    assert quota_status().window("day").left == 0


def test_a_batch_refused_for_the_day_closes_the_run_as_deferred_not_failed(worker, stub):
    cities = make_cities(4)
    run = refresh_run_enqueue()
    day_spent_but(0)  # spent by someone else between the plan and the batches, at the latest
    run = finished(run)
    assert run.state == "success"
    assert run.cities_failed == 0
    assert run.cities_ok + run.cities_deferred == 4
    assert City.objects.count() == len(cities)


def test_a_single_city_refresh_answers_429_with_retry_after_when_the_budget_is_spent(api):
    city = make_cities(1)[0]
    quota_pause(retry_after=30, reason="Minutely API request limit exceeded.")
    response = api.post(f"/api/cities/{city.id}/refresh/")
    assert response.status_code == 429
    assert 29 <= int(response.headers["Retry-After"]) <= 30
    assert response.json()["extra"]["blocked_by"] == "pause"
    # The refusal charged no part of the budget (the caller's share, the callers' part): rolled back.
    assert not QuotaBudget.objects.exclude(name=DEFAULT_BUDGET).filter(minute_used__gt=0).exists()


def test_a_single_city_refresh_answers_429_when_the_apis_own_day_is_spent(api):
    city = make_cities(1)[0]
    day_spent_but(0)
    response = api.post(f"/api/cities/{city.id}/refresh/")
    assert response.status_code == 429 and response.json()["extra"]["blocked_by"] == "day"
    assert "window turns" in response.json()["message"]
    assert not QuotaBudget.objects.exclude(name=DEFAULT_BUDGET).filter(day_used__gt=0).exists()
