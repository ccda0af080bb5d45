"""The dashboard page renders its data and its empty states, and shows runs to staff only."""

from decimal import Decimal

from django.test import Client
from django.utils import timezone

from quota.services import quota_pause, quota_reserve
from weather.models import City, PipelineRun, WeatherData


def staff_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_explains_what_to_do_when_there_are_no_cities(staff_user):
    page = staff_client(staff_user).get("/").content.decode()
    assert "No cities yet" in page
    assert "No runs yet" in page


def test_it_shows_cities_their_latest_reading_and_runs(staff_user):
    city = City.objects.create(name="Reykjavik", country="IS", latitude=64.15, longitude=-21.94)
    WeatherData.objects.create(
        city=city, observed_at=timezone.now(), temperature=-3.2, weather_code=71, fetched_at=timezone.now()
    )
    PipelineRun.objects.create(kind="refresh", state="failure", error_summary="3 cities failed: 3 × boom")
    page = staff_client(staff_user).get("/").content.decode()
    assert "Reykjavik" in page and "-3.2 °C" in page and "Light snow" in page
    assert 'id="temperature-chart"' in page and "chart-4.6.1.umd.min.js" in page
    assert "3 cities failed: 3 × boom" in page
    assert "Log out" in page and 'name="csrf-token"' in page


def test_a_visitor_sees_cities_but_no_runs_and_a_link_to_log_in(db):
    City.objects.create(name="Reykjavik", country="IS", latitude=64.15, longitude=-21.94)
    PipelineRun.objects.create(kind="refresh", state="failure", error_summary="3 cities failed: 3 × boom")
    page = Client().get("/").content.decode()
    assert "Reykjavik" in page
    assert "boom" not in page and "Pipeline runs are for staff" in page
    assert 'href="/admin/login/?next=/"' in page


def test_without_public_reads_a_visitor_is_sent_to_log_in(db, settings):
    settings.API_PUBLIC_READS = False
    response = Client().get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/?next=/")


def test_it_shows_the_api_budget_its_pause_and_deferred_cities(staff_user):
    quota_reserve(cost=Decimal("12.5"))
    quota_pause(retry_after=60, reason="Minutely API request limit exceeded.")
    PipelineRun.objects.create(
        kind="refresh", state="success", cities_total=10, cities_ok=3, cities_deferred=7,
        deferred_until=timezone.now(),
    )  # fmt: skip
    page = staff_client(staff_user).get("/").content.decode()
    assert "Weather API budget" in page and "<td>12.5</td><td>600</td><td>587.5</td>" in page
    assert "Paused until" in page and "Minutely API request limit exceeded." in page
    assert "7 cities deferred for the API budget" in page


def test_a_visitor_or_a_signed_in_non_staff_user_sees_no_budget_and_no_pause_reason(db, django_user_model):
    # The budget is the operator's (GET /api/quota/ is staff-only): the page keeps it to staff too.
    quota_reserve(cost=Decimal("12.5"))
    quota_pause(retry_after=60, reason="Minutely API request limit exceeded.")
    member = staff_client(django_user_model.objects.create_user("member", password="pw-for-tests"))
    for client in (Client(), member):
        page = client.get("/").content.decode()
        assert "Weather API budget" not in page and "Minutely API request limit" not in page
