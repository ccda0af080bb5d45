"""The dashboard page renders its data and its empty states."""

from django.test import Client
from django.utils import timezone

from weather.models import City, PipelineRun, WeatherData


def test_it_explains_what_to_do_when_there_are_no_cities(db):
    page = Client().get("/").content.decode()
    assert "No cities yet" in page
    assert "No runs yet" in page


def test_it_shows_cities_their_latest_reading_and_runs(db):
    city = City.objects.create(name="Reykjavik", country="IS", latitude=64.15, longitude=-21.94)
    WeatherData.objects.create(
        city=city, observed_at=timezone.now(), temperature=-3.2, weather_code=71, fetched_at=timezone.now()
    )
    PipelineRun.objects.create(kind="refresh", state="failure", error_summary="3 cities failed: 3 × boom")
    page = Client().get("/").content.decode()
    assert "Reykjavik" in page and "-3.2 °C" in page and "Light snow" in page
    assert 'id="temperature-chart"' in page and "chart-4.6.1.umd.min.js" in page
    assert "3 cities failed: 3 × boom" in page
