"""The designs `make bench` compares the product against, as Celery tasks a worker can run.

`fetch_one_naive` is the seed document's design: one task, one HTTP request and one INSERT per city,
a new connection each time. The no-op tasks measure Celery's own cost per task.
"""

from datetime import UTC, datetime

import requests
from celery import shared_task
from django.conf import settings
from django.utils import timezone

from weather.models import City, WeatherData
from weather.openmeteo import CURRENT_VARIABLES


@shared_task
def fetch_one_naive(city_id: int) -> None:
    city = City.objects.get(id=city_id)
    params = {"latitude": city.latitude, "longitude": city.longitude, "current": ",".join(CURRENT_VARIABLES)}
    current = requests.get(settings.WEATHER_API_URL, params=params, timeout=10).json()["current"]
    WeatherData.objects.create(
        city=city,
        observed_at=datetime.fromisoformat(current["time"]).replace(tzinfo=UTC),
        temperature=current["temperature_2m"],
        humidity=current["relative_humidity_2m"],
        pressure=current["surface_pressure"],
        wind_speed=current["wind_speed_10m"],
        wind_direction=current["wind_direction_10m"],
        weather_code=current["weather_code"],
        fetched_at=timezone.now(),
    )


@shared_task
def noop() -> None:
    return None


@shared_task(ignore_result=True)
def noop_unstored() -> None:
    return None
