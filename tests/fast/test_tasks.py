"""The pipeline's tasks, run by a real worker from real RabbitMQ against real PostgreSQL."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from server_config.beat import SchedulerLock
from tests.fast.conftest import task_done
from tests.polling import wait_for
from weather.models import City, PipelineRun, WeatherData
from weather.tasks import cleanup_old_weather_data, fetch_weather_batch, fetch_weather_for_city
from weather.workflows import refresh_run_enqueue


def make_cities(count: int, *, prefix: str = "Town") -> list[City]:
    return City.objects.bulk_create(
        City(name=f"{prefix} {i}", country="FR", latitude=40 + i * 0.01, longitude=2 + i * 0.01)
        for i in range(count)
    )


def forecast_requests(stub) -> int:
    return stub.stats()["forecast_requests"]


def test_it_stores_one_city_observation(worker, stub):
    # A fetch writes the conditions Open-Meteo reported for the city's current 15-minute slot.
    city = make_cities(1)[0]
    stub.configure(fixed_time="2026-11-24T09:15")
    result = task_done(fetch_weather_for_city.delay(city.id).id)
    assert result.status == "SUCCESS", result.result
    row = WeatherData.objects.get(city=city)
    expected = stub.expected_current(city.latitude, city.longitude, "2026-11-24T09:15")
    assert row.observed_at.isoformat() == "2026-11-24T09:15:00+00:00"
    assert row.temperature == expected["temperature_2m"]
    assert row.weather_code == expected["weather_code"]
    assert json.loads(result.result)["worker"] == worker


def test_it_fetches_a_batch_in_one_request_and_one_upsert(worker, stub):
    cities = make_cities(7)
    result = task_done(fetch_weather_batch.delay([c.id for c in cities]).id)
    assert json.loads(result.result)["ok"] == 7
    assert WeatherData.objects.count() == 7
    assert forecast_requests(stub) == 1
    assert stub.stats()["locations_requested"] == 7


def test_it_updates_instead_of_duplicating_on_a_repeated_fetch(worker, stub):
    city = make_cities(1)[0]
    stub.configure(fixed_time="2026-11-24T09:15")
    for _ in range(3):
        assert task_done(fetch_weather_for_city.delay(city.id).id).status == "SUCCESS"
    assert WeatherData.objects.filter(city=city).count() == 1
    stub.configure(fixed_time="2026-11-24T09:30")
    assert task_done(fetch_weather_for_city.delay(city.id).id).status == "SUCCESS"
    assert WeatherData.objects.filter(city=city).count() == 2


def test_it_retries_transient_errors_then_succeeds(worker, stub):
    city = make_cities(1)[0]
    stub.script([{"status": 503}, {"status": 429, "retry_after": 0.5}, {"timeout": True}])
    result = task_done(fetch_weather_for_city.delay(city.id).id, timeout=60)
    assert result.status == "SUCCESS", result.result
    assert forecast_requests(stub) == 4
    assert WeatherData.objects.filter(city=city).count() == 1


def test_it_gives_up_after_three_retries_with_the_cause(worker, stub):
    city = make_cities(1)[0]
    stub.script([{"status": 503}] * 4)
    result = task_done(fetch_weather_for_city.delay(city.id).id, timeout=60)
    assert result.status == "FAILURE"
    assert "TransientAPIError" in result.result and "503" in result.result
    assert forecast_requests(stub) == 4  # the first try and three retries


def test_a_permanent_error_fails_at_once_without_retry(worker, stub):
    city = make_cities(1)[0]
    stub.script([{"status": 400, "reason": "Cannot initialize WeatherVariable from invalid String value"}])
    result = task_done(fetch_weather_for_city.delay(city.id).id)
    assert result.status == "FAILURE"
    assert "PermanentAPIError" in result.result and "invalid String value" in result.result
    assert forecast_requests(stub) == 1


def test_a_malformed_answer_is_a_permanent_failure(worker, stub):
    city = make_cities(1)[0]
    stub.script([{"malformed": True}])
    result = task_done(fetch_weather_for_city.delay(city.id).id)
    assert result.status == "FAILURE"
    assert "malformed JSON" in result.result
    assert forecast_requests(stub) == 1


def test_an_unknown_city_fails_at_once_with_a_reason(worker, stub):
    result = task_done(fetch_weather_for_city.delay(987654).id)
    assert result.status == "FAILURE"
    assert "City 987654 does not exist" in result.result
    assert forecast_requests(stub) == 0


def test_a_full_refresh_fans_out_in_batches_and_closes_its_run(worker, stub):
    # 12 cities in batches of 5 (WEATHER_BATCH_SIZE in the test settings): 3 requests.
    cities = make_cities(12)
    City.objects.filter(pk=cities[-1].pk).update(active=False)
    run = refresh_run_enqueue()
    run = wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        what="the refresh run to finish",
    )
    assert run.state == "success"
    assert (run.cities_total, run.cities_ok, run.cities_failed) == (11, 11, 0)
    assert WeatherData.objects.count() == 11
    assert forecast_requests(stub) == 3
    assert run.duration_seconds is not None


def test_a_refresh_records_failed_cities_with_their_reasons(worker, stub):
    cities = make_cities(6)
    stub.configure(reject_locations=[[cities[5].latitude, cities[5].longitude]])
    run = refresh_run_enqueue()
    run = wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        what="the refresh run to finish",
    )
    # The second batch holds only the rejected city; the first batch is stored.
    assert run.state == "partial"
    assert (run.cities_ok, run.cities_failed) == (5, 1)
    assert run.errors[0]["city_id"] == cities[5].id
    assert "refused the request (400)" in run.errors[0]["error"]
    assert "1 cities failed" in run.error_summary


def test_a_location_missing_from_a_batch_answer_fails_alone(worker, stub):
    cities = make_cities(3)
    stub.script([{"drop_location": 1}])
    result = task_done(fetch_weather_batch.delay([c.id for c in cities]).id)
    outcome = json.loads(result.result)
    assert outcome["ok"] == 2
    assert outcome["failed"] == {str(cities[1].id): "location missing from Open-Meteo's answer"}
    assert set(WeatherData.objects.values_list("city_id", flat=True)) == {cities[0].id, cities[2].id}


def test_cleanup_deletes_only_observations_past_retention(worker, settings):
    city = make_cities(1)[0]
    now = timezone.now()
    for age_days in (1, 29, 31, 400):
        WeatherData.objects.create(city=city, observed_at=now - timedelta(days=age_days), fetched_at=now)
    result = task_done(cleanup_old_weather_data.delay().id)
    assert json.loads(result.result) == {"deleted": 2, "retention_days": 30}
    assert WeatherData.objects.count() == 2


@pytest.mark.parametrize("entry", ["update-all-weather-data", "cleanup-old-weather-data"])
def test_beat_schedule_declares_the_periodic_tasks(settings, entry):
    schedule = settings.CELERY_BEAT_SCHEDULE[entry]
    expected = {
        "update-all-weather-data": ("weather.tasks.update_all_weather_data", {"0"}, set(range(0, 24, 3))),
        "cleanup-old-weather-data": ("weather.tasks.cleanup_old_weather_data", {"0"}, {1}),
    }[entry]
    assert schedule["task"] == expected[0]
    assert {str(m) for m in schedule["schedule"].minute} == expected[1]
    assert schedule["schedule"].hour == expected[2]
    assert 0 < schedule["options"]["expires"] < 24 * 3600


def test_beat_copies_the_schedule_into_the_database(transactional_db):
    # DatabaseScheduler seeds django-celery-beat's tables from CELERY_BEAT_SCHEDULE at start-up.
    from django_celery_beat.models import PeriodicTask

    from server_config.beat import LivenessDatabaseScheduler
    from server_config.celery import app

    LivenessDatabaseScheduler(app=app, lazy=False)
    tasks = {t.name: t for t in PeriodicTask.objects.all()}
    assert tasks["update-all-weather-data"].crontab.hour == "*/3"
    assert tasks["cleanup-old-weather-data"].crontab.hour == "1"
    assert tasks["update-all-weather-data"].enabled


def test_only_one_beat_holds_the_scheduler_lock_and_a_standby_takes_over(transactional_db):
    first, second = SchedulerLock(), SchedulerLock()
    try:
        assert first.held() and first.held()
        assert not second.held()
        first.release()  # the active beat's session ends (stopped, killed, or cut off)
        assert second.held()
        assert not first.held()
    finally:
        first.release()
        second.release()
