"""The dashboard page renders its data and its empty states, and shows runs to staff only."""

from django.test import Client
from django.utils import timezone

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
