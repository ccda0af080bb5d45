"""The shared API budget in real PostgreSQL: the cost of a request, the windows' arithmetic at their
boundaries, all-or-nothing reservations, the pause after a 429, and many processes spending at once."""

import io
import multiprocessing
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from quota.cost import request_cost
from quota.models import QuotaBudget
from quota.selectors import quota_status
from quota.services import QuotaCostTooHighError, quota_pause, quota_reserve
from quota.windows import window_named_in, windows
from tests.fast.quota_spender import spend

# The start of a UTC hour (and so of a minute), and of a UTC day.
HOUR_START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC).timestamp()
DAY_START = datetime(2026, 11, 26, tzinfo=UTC).timestamp()


@pytest.fixture
def limits(settings):
    """Small limits on the provider's real window lengths."""
    settings.WEATHER_QUOTA_PER_MINUTE = 10
    settings.WEATHER_QUOTA_PER_HOUR = 25
    settings.WEATHER_QUOTA_PER_DAY = 40
    settings.WEATHER_QUOTA_MINUTE_SECONDS = 60
    settings.WEATHER_QUOTA_HOUR_SECONDS = 3600
    settings.WEATHER_QUOTA_DAY_SECONDS = 86_400
    return settings


# --- cost -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locations", "variables", "days", "expected"),
    [
        (0, 6, 1, "0"),  # nothing asked, nothing spent
        (1, 6, 1, "1"),  # this project's request: six current variables
        (100, 6, 1, "100"),  # batching saves round trips, not calls
        (1, 10, 14, "1"),  # at both thresholds: still one call
        (1, 11, 1, "1.1"),  # just past ten variables
        (1, 15, 1, "1.5"),
        (1, 6, 28, "2"),  # four weeks
        (1, 20, 28, "4"),  # the weights multiply
        (1, 1, 15, "1.072"),  # 15/14 rounded up, never down
        (3, 11, 15, "3.536"),  # 3 × 1.1 × 15/14 = 3.5357... rounded up
    ],
)
def test_it_counts_a_request_as_the_provider_does(locations, variables, days, expected):
    assert request_cost(locations=locations, variables=variables, days=days) == Decimal(expected)


def test_it_refuses_a_negative_request():
    with pytest.raises(ValueError, match="negative"):
        request_cost(locations=-1, variables=6)


# --- windows ----------------------------------------------------------------------------------


def test_the_windows_turn_on_utc_boundaries(limits):
    minute, hour, day = windows()
    before_midnight = DAY_START + 86_400 - 0.001
    assert day.index(before_midnight) == day.index(DAY_START)
    assert day.index(DAY_START + 86_400) == day.index(DAY_START) + 1
    assert day.end(DAY_START + 5) == DAY_START + 86_400  # the daily window is the UTC day
    assert hour.end(HOUR_START - 0.001) == HOUR_START
    assert minute.index(HOUR_START + 59.999) == minute.index(HOUR_START)
    assert minute.end(HOUR_START + 59.999) == HOUR_START + 60
    assert minute.end(HOUR_START + 60) == HOUR_START + 120


def test_a_429_reason_names_its_window(limits):
    assert window_named_in("Daily API request limit exceeded. Please try again tomorrow.").name == "day"
    assert window_named_in("Hourly API request limit exceeded. Please try again in the next hour.").name == (
        "hour"
    )
    assert window_named_in("Minutely API request limit exceeded. Please try again in one minute.").name == (
        "minute"
    )
    assert window_named_in("Too many requests").name == "minute"  # the shortest guess


# --- reservations -----------------------------------------------------------------------------


def test_it_grants_up_to_the_limit_then_says_when_the_window_turns(limits, db):
    now = HOUR_START + 30
    assert all(quota_reserve(cost=Decimal(2), now=now).granted for _ in range(5))
    refused = quota_reserve(cost=Decimal("0.001"), now=now)
    assert not refused.granted
    assert refused.blocked_by == "minute"
    assert refused.wait_seconds == pytest.approx(30)
    # The next minute starts a new count.
    assert quota_reserve(cost=Decimal(10), now=HOUR_START + 60).granted


def test_a_refused_reservation_spends_nothing_in_any_window(limits, db):
    # 24 of the hour's 25 spent over three minutes; 2 more fit the minute but not the hour.
    for minute in range(3):
        assert quota_reserve(cost=Decimal(8), now=HOUR_START + 60 * minute).granted
    refused = quota_reserve(cost=Decimal(2), now=HOUR_START + 180)
    assert (refused.granted, refused.blocked_by) == (False, "hour")
    assert refused.wait_seconds == pytest.approx(3600 - 180)
    status = quota_status(now=HOUR_START + 180)
    assert [(w.name, w.used) for w in status.windows] == [("minute", 0), ("hour", 24), ("day", 24)]
    assert quota_reserve(cost=Decimal(1), now=HOUR_START + 180).granted


def test_the_day_budget_lasts_until_midnight_utc(limits, db):
    for hour in range(2):
        for minute in range(2):
            assert quota_reserve(cost=Decimal(10), now=DAY_START + 3600 * hour + 60 * minute).granted
    late = DAY_START + 86_400 - 1
    refused = quota_reserve(cost=Decimal(1), now=late)
    assert (refused.granted, refused.blocked_by) == (False, "day")
    assert refused.wait_seconds == pytest.approx(1)
    assert quota_reserve(cost=Decimal(1), now=DAY_START + 86_400).granted


def test_a_host_with_a_lagging_clock_cannot_reopen_a_spent_window(limits, db):
    assert quota_reserve(cost=Decimal(10), now=HOUR_START + 60).granted
    # A host 2 s behind still thinks it is the previous minute: that minute's count is not reset.
    refused = quota_reserve(cost=Decimal(1), now=HOUR_START + 58)
    assert (refused.granted, refused.blocked_by) == (False, "minute")
    assert refused.wait_seconds == pytest.approx(62)


def test_a_request_larger_than_a_whole_window_is_an_error_not_a_wait(limits, db):
    with pytest.raises(QuotaCostTooHighError, match="WEATHER_BATCH_SIZE"):
        quota_reserve(cost=Decimal(11), now=HOUR_START)


# --- pause ------------------------------------------------------------------------------------


def test_a_429_with_retry_after_pauses_every_caller_for_that_long(limits, db):
    until = quota_pause(retry_after=7, reason="Too many requests", now=HOUR_START)
    assert until == HOUR_START + 7
    refused = quota_reserve(cost=Decimal(1), now=HOUR_START + 6.5)
    assert (refused.granted, refused.blocked_by) == (False, "pause")
    assert refused.wait_seconds == pytest.approx(0.5)
    status = quota_status(now=HOUR_START + 1)
    assert status.paused_until == datetime.fromtimestamp(HOUR_START + 7, UTC)
    assert status.left() == 0
    assert quota_reserve(cost=Decimal(1), now=HOUR_START + 7).granted


def test_a_429_without_retry_after_pauses_until_its_window_turns(limits, db):
    until = quota_pause(retry_after=None, reason="Hourly API request limit exceeded.", now=HOUR_START + 100)
    assert until == HOUR_START + 3600
    assert quota_pause(retry_after=None, reason="", now=HOUR_START + 100) == HOUR_START + 120


def test_a_pause_only_grows(limits, db):
    quota_pause(retry_after=30, reason="long", now=HOUR_START)
    quota_pause(retry_after=2, reason="short", now=HOUR_START + 1)
    status = quota_status(now=HOUR_START + 5)
    assert status.paused_until == datetime.fromtimestamp(HOUR_START + 30, UTC)
    assert status.pause_reason == "long"


# --- many processes ---------------------------------------------------------------------------

SPENDERS = 8


@pytest.mark.parametrize(("cost", "limit", "expected"), [("1", 100, 100), ("0.7", 100, 142)])
def test_many_processes_spending_at_once_never_exceed_the_budget(transactional_db, cost, limit, expected):
    # 8 processes × 40 attempts = 320 calls asked for a minute that allows `limit`.
    context = multiprocessing.get_context("spawn")
    start, granted = context.Barrier(SPENDERS), context.Value("i", 0)
    env = {
        "WEATHER_QUOTA_PER_MINUTE": str(limit),
        "WEATHER_QUOTA_PER_HOUR": "100000",
        "WEATHER_QUOTA_PER_DAY": "100000",
    }
    database = django_settings.DATABASES["default"]["NAME"]
    processes = [
        context.Process(target=spend, args=(database, env, cost, HOUR_START + 1, start, granted))
        for _ in range(SPENDERS)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=180)
        assert process.exitcode == 0
    assert granted.value == expected
    budget = QuotaBudget.objects.get()
    assert budget.minute_used == Decimal(cost) * expected
    assert budget.minute_used <= limit


# --- visible ----------------------------------------------------------------------------------


def test_the_api_shows_used_and_left_per_window_and_the_pause(limits, api):
    quota_reserve(cost=Decimal("2.5"))
    quota_pause(retry_after=60, reason="Minutely API request limit exceeded.")
    body = api.get("/api/quota/").json()
    assert [(w["name"], w["limit"], w["used"], w["left"]) for w in body["windows"]] == [
        ("minute", 10, 2.5, 7.5),
        ("hour", 25, 2.5, 22.5),
        ("day", 40, 2.5, 37.5),
    ]
    assert body["left"] == 0  # paused: nothing can be spent now
    assert body["paused_until"] and body["pause_reason"].startswith("Minutely")


def test_the_status_command_prints_the_budget(limits, db):
    quota_reserve(cost=Decimal(3))
    out = io.StringIO()
    call_command("quota_status", stdout=out)
    assert "minute" in out.getvalue() and "3.000 used of 10" in out.getvalue()
    assert "not paused" in out.getvalue()
