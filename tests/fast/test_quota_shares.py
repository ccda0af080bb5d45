"""Refreshes asked through the API spend shares of the weather API's budget, so a caller looping
over the cities cannot starve beat's scheduled refresh: real worker, RabbitMQ, PostgreSQL, the
Open-Meteo stand-in, and the shipped WEATHER_QUOTA_SCHEDULE_RESERVE and WEATHER_QUOTA_CALLER_SHARE."""

import time
from decimal import Decimal

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client

from access.tokens import api_token_issue
from quota.models import QuotaBudget
from quota.selectors import quota_status
from quota.windows import windows
from tests.fast.test_tasks import make_cities
from tests.polling import wait_for
from weather.models import PipelineRun
from weather.services.forecast_quota import ON_DEMAND_BUDGET
from weather.workflows import update_all_weather_data


def refresher(name: str) -> Client:
    """An account that may refresh cities, as an operator grants it: weather.add_weatherdata only."""
    user = get_user_model().objects.create_user(name, password="not-used-here")
    user.user_permissions.set(Permission.objects.filter(codename="add_weatherdata"))
    token = api_token_issue(user=user)
    return Client(raise_request_exception=False, headers={"Authorization": f"Token {token}"})


def a_fresh_minute() -> None:
    """Start a loop early in a minute window, so the window does not turn half-way through it."""
    left = windows()[0].end(time.time()) - time.time()
    if left < 15:
        time.sleep(left + 0.1)


def scheduled_refresh() -> PipelineRun:
    """The task beat sends, sent as beat does, and its run once closed."""
    task_id = update_all_weather_data.delay().id
    return wait_for(
        lambda: PipelineRun.objects.filter(task_id=task_id, state__in=PipelineRun.FINISHED_STATES).first(),
        timeout=90,
        what="the scheduled refresh to finish",
    )


def test_the_shipped_shares_are_half_for_the_schedule_and_a_twentieth_per_caller():
    assert (settings.WEATHER_QUOTA_SCHEDULE_RESERVE, settings.WEATHER_QUOTA_CALLER_SHARE) == (0.5, 0.05)


def test_one_callers_refresh_loop_gets_429_while_beats_refresh_still_runs_every_city(worker, stub):
    cities = make_cities(40)
    client = refresher("looper")
    a_fresh_minute()
    statuses = []
    for city in cities:
        response = client.post(f"/api/cities/{city.id}/refresh/")
        statuses.append(response.status_code)
        if response.status_code == 429:
            break
    # A twentieth of the minute's 600 calls, then 429 saying to wait for the minute to turn.
    assert statuses == [202] * 30 + [429]
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.json()["extra"]["blocked_by"] == "minute"
    assert "kept for the scheduled refresh" in response.json()["message"]
    run = scheduled_refresh()
    assert (run.state, run.cities_total, run.cities_ok, run.cities_deferred) == ("success", 40, 40, 0)


def test_once_callers_spent_their_part_of_the_day_beats_refresh_still_has_the_reserve(worker, stub):
    cities = make_cities(12)
    day = windows()[2]
    index = day.index(time.time())
    # Many callers spent the part of the day that is not reserved, and their fetches ran.
    for name in (ON_DEMAND_BUDGET, "open-meteo"):
        QuotaBudget.objects.update_or_create(
            name=name, defaults={"day_window": index, "day_used": Decimal(day.limit // 2)}
        )
    response = refresher("newcomer").post(f"/api/cities/{cities[0].id}/refresh/")
    assert response.status_code == 429, response.content
    assert response.json()["extra"]["blocked_by"] == "day"
    run = scheduled_refresh()
    assert (run.state, run.cities_ok, run.cities_deferred) == ("success", 12, 0)
    assert quota_status().window("day").left == day.limit // 2 - 12


@pytest.mark.django_db
def test_joining_a_fetch_already_queued_costs_the_caller_nothing():
    city = make_cities(1)[0]
    client = refresher("twice")
    assert client.post(f"/api/cities/{city.id}/refresh/").status_code == 202
    assert client.post(f"/api/cities/{city.id}/refresh/").status_code == 200
    caller = QuotaBudget.objects.exclude(name__in=["open-meteo", ON_DEMAND_BUDGET]).get()
    assert caller.minute_used == 1
