"""The Open-Meteo client on the API's real shapes, and against the local stand-in over HTTP."""

import re

import pytest

from weather.openmeteo import (
    LocationFailure,
    OpenMeteoClient,
    PermanentAPIError,
    TransientAPIError,
    parse_forecast,
    parse_geocoding,
    parse_retry_after,
)
from weather.retries import retry_countdown

UNITS = {"time": "iso8601", "interval": "seconds", "temperature_2m": "°C"}


def item(temperature, location_id=None, time="2026-11-24T10:15"):
    body = {
        "latitude": 52.52,
        "longitude": 13.419998,
        "generationtime_ms": 0.05,
        "utc_offset_seconds": 0,
        "timezone": "GMT",
        "timezone_abbreviation": "GMT",
        "elevation": 38.0,
        "current_units": UNITS,
        "current": {
            "time": time,
            "interval": 900,
            "temperature_2m": temperature,
            "relative_humidity_2m": 81,
            "surface_pressure": 1012.3,
            "wind_speed_10m": 11.2,
            "wind_direction_10m": 250,
            "weather_code": 3,
        },
    }
    if location_id is not None:
        body = {**body, "location_id": location_id}
    return body


def test_it_parses_one_location_answered_as_an_object():
    [current] = parse_forecast(item(4.2), expected=1)
    assert current.temperature == 4.2
    assert current.weather_code == 3
    assert current.observed_at.isoformat() == "2026-11-24T10:15:00+00:00"


def test_it_matches_many_locations_by_location_id_not_position():
    body = [item(3.0, location_id=2), item(1.0), item(2.0, location_id=1)]
    results = parse_forecast(body, expected=3)
    assert [r.temperature for r in results] == [1.0, 2.0, 3.0]


def test_a_location_missing_from_the_array_fails_alone():
    results = parse_forecast([item(1.0), item(3.0, location_id=2)], expected=3)
    assert isinstance(results[1], LocationFailure)
    assert results[2].temperature == 3.0


def test_a_null_value_is_stored_as_unknown():
    [current] = parse_forecast(item(None), expected=1)
    assert current.temperature is None


def test_an_item_without_current_fails_alone():
    broken = item(1.0, location_id=1)
    del broken["current"]
    results = parse_forecast([item(0.5), broken], expected=2)
    assert isinstance(results[1], LocationFailure) and "current" in results[1].reason


def test_an_object_for_a_batch_is_a_permanent_error():
    with pytest.raises(PermanentAPIError, match="one location for a request of 2"):
        parse_forecast(item(1.0), expected=2)


def test_geocoding_without_results_key_means_no_match():
    assert parse_geocoding({"generationtime_ms": 0.2}) is None
    body = {
        "results": [
            {"name": "Paris", "country_code": "US", "latitude": 33.66, "longitude": -95.55},
            {
                "name": "Paris",
                "country_code": "FR",
                "latitude": 48.85,
                "longitude": 2.35,
                "timezone": "Europe/Paris",
            },
        ]
    }
    assert parse_geocoding(body, country="fr").latitude == 48.85
    assert parse_geocoding(body).country == "US"


@pytest.mark.parametrize(
    ("header", "seconds"), [("7", 7.0), ("-3", 0.0), ("soon", None), (None, None), ("999999", 3600.0)]
)
def test_retry_after_is_parsed_and_capped(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_countdown_grows_with_jitter_and_honours_retry_after(settings):
    settings.WEATHER_RETRY_BACKOFF_SECONDS = 2
    settings.WEATHER_RETRY_BACKOFF_MAX_SECONDS = 300
    for retries, (low, high) in enumerate([(1, 2), (2, 4), (4, 8)]):
        delays = {retry_countdown(retries) for _ in range(50)}
        assert all(low <= d <= high for d in delays) and len(delays) > 1
    assert retry_countdown(0, retry_after=60) == 60


@pytest.fixture
def client(stub):
    return OpenMeteoClient(forecast_url=stub.forecast_url, geocoding_url=stub.geocoding_url, timeout=1.0)


def test_it_fetches_many_locations_in_one_request(client, stub):
    results = client.fetch_current([(48.85, 2.35), (52.52, 13.4), (-33.87, 151.21)])
    assert len(results) == 3 and all(not isinstance(r, LocationFailure) for r in results)
    assert stub.stats()["forecast_requests"] == 1


@pytest.mark.parametrize(
    ("script", "error", "text"),
    [
        ({"status": 503}, TransientAPIError, "server error (503)"),
        ({"status": 429, "retry_after": 30}, TransientAPIError, "rate limit (429)"),
        ({"timeout": True}, TransientAPIError, "did not answer within 1 s"),
        (
            {"status": 400, "reason": "Parameter 'current' is invalid"},
            PermanentAPIError,
            "current' is invalid",
        ),
        ({"malformed": True}, PermanentAPIError, "malformed JSON"),
    ],
)
def test_errors_are_typed_transient_or_permanent(client, stub, script, error, text):
    stub.script([script])
    with pytest.raises(error, match=re.escape(text)) as raised:
        client.fetch_current([(48.85, 2.35)])
    if script.get("retry_after"):
        assert raised.value.retry_after == 30


def test_an_unreachable_api_is_transient():
    client = OpenMeteoClient(
        forecast_url="http://127.0.0.1:1/v1/forecast", geocoding_url="http://x", timeout=1
    )
    with pytest.raises(TransientAPIError, match="unreachable"):
        client.fetch_current([(1.0, 1.0)])


def test_it_geocodes_through_the_api(client, stub):
    place = client.geocode("Berlin", country="DE")
    assert place.country == "DE" and abs(place.latitude - 52.52) < 0.1
    assert client.geocode("Qwxzzyville") is None
