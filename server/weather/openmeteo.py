"""Client for Open-Meteo's forecast and geocoding APIs.

Errors are split at this boundary: `TransientAPIError` (timeouts, connection errors, 5xx, 429) is
worth retrying, `PermanentAPIError` (other 4xx, a malformed or incomplete answer) is not.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import requests
from django.conf import settings

# Open-Meteo's name for each measurement we store (WeatherData.MEASUREMENTS, CurrentConditions).
VARIABLES = {
    "temperature": "temperature_2m",
    "humidity": "relative_humidity_2m",
    "pressure": "surface_pressure",
    "wind_speed": "wind_speed_10m",
    "wind_direction": "wind_direction_10m",
    "weather_code": "weather_code",
}
CURRENT_VARIABLES = tuple(VARIABLES.values())
# Open-Meteo refuses more in one request ("Only up to 1000 locations can be requested at once").
MAX_LOCATIONS_PER_REQUEST = 1000
MAX_RETRY_AFTER_SECONDS = 3600.0
# An error body can be large (an HTML page from a proxy); logs and results keep its start only.
_REASON_LIMIT = 300


class OpenMeteoError(Exception):
    """Any failure to get an answer from Open-Meteo."""


class TransientAPIError(OpenMeteoError):
    def __init__(self, message: str, *, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(TransientAPIError):
    """A 429: the provider's quota for this address is spent. `reason` names the window
    ("Minutely API request limit exceeded. ..."), for when no Retry-After says how long."""

    def __init__(self, message: str, *, reason: str, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after)
        self.reason = reason


class PermanentAPIError(OpenMeteoError):
    pass


@dataclass(frozen=True)
class CurrentConditions:
    observed_at: datetime
    temperature: float | None
    humidity: float | None
    pressure: float | None
    wind_speed: float | None
    wind_direction: float | None
    weather_code: int | None


@dataclass(frozen=True)
class LocationFailure:
    """One location of a batch that Open-Meteo did not answer usefully."""

    reason: str


@dataclass(frozen=True)
class Place:
    name: str
    country: str
    latitude: float
    longitude: float
    timezone: str


class OpenMeteoClient:
    def __init__(
        self,
        *,
        forecast_url: str,
        geocoding_url: str,
        timeout: float,
        api_key: str = "",
        session: requests.Session | None = None,
    ):
        self.forecast_url = forecast_url
        self.geocoding_url = geocoding_url
        # Connecting should be quick even when answering is slow.
        self.timeout = (min(timeout, 5.0), timeout)
        self.api_key = api_key
        self.session = session or _new_session()

    def fetch_current(
        self, locations: Sequence[tuple[float, float]]
    ) -> list[CurrentConditions | LocationFailure]:
        """Current conditions for each (latitude, longitude), in the order given, in one request."""
        if not locations:
            return []
        if len(locations) > MAX_LOCATIONS_PER_REQUEST:
            raise ValueError(
                f"at most {MAX_LOCATIONS_PER_REQUEST} locations per request, got {len(locations)}"
            )
        params = {
            "latitude": ",".join(_coordinate(lat) for lat, _ in locations),
            "longitude": ",".join(_coordinate(lon) for _, lon in locations),
            "current": ",".join(CURRENT_VARIABLES),
            "timezone": "GMT",
        }
        if self.api_key:
            params["apikey"] = self.api_key
        body = self._get_json(self.forecast_url, params)
        return parse_forecast(body, expected=len(locations))

    def geocode(self, name: str, *, country: str = "") -> Place | None:
        """The most relevant place called `name` (in `country`, an ISO code, when given), or None."""
        params = {"name": name, "count": 10, "language": "en", "format": "json"}
        if self.api_key:
            params["apikey"] = self.api_key
        body = self._get_json(self.geocoding_url, params)
        return parse_geocoding(body, country=country)

    def _get_json(self, url: str, params: dict) -> object:
        try:
            response = self.session.get(url, params=params, timeout=self.timeout)
        except requests.Timeout as exc:
            raise TransientAPIError(f"Open-Meteo did not answer within {self.timeout[1]:g} s") from exc
        except requests.ConnectionError as exc:
            raise TransientAPIError(f"Open-Meteo unreachable: {_root_cause(exc)}") from exc
        except requests.RequestException as exc:
            raise PermanentAPIError(f"request to Open-Meteo failed: {exc}") from exc

        status = response.status_code
        if status == 429:
            reason = _reason(response)
            raise RateLimitedError(
                f"Open-Meteo rate limit (429): {reason}",
                reason=reason,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status >= 500:
            raise TransientAPIError(
                f"Open-Meteo server error ({status}): {_reason(response)}",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
            )
        if status != 200:
            raise PermanentAPIError(f"Open-Meteo refused the request ({status}): {_reason(response)}")
        try:
            body = response.json()
        except ValueError as exc:
            raise PermanentAPIError(f"Open-Meteo answered malformed JSON: {exc}") from exc
        if isinstance(body, dict) and body.get("error") is True:
            raise PermanentAPIError(
                f"Open-Meteo error: {str(body.get('reason', 'no reason given'))[:_REASON_LIMIT]}"
            )
        return body


def parse_forecast(body: object, *, expected: int) -> list[CurrentConditions | LocationFailure]:
    """Match a forecast answer to the requested locations.

    One location answers with an object, several with an array in request order where every item
    but the first carries its `location_id`. Coordinates are not used for matching: Open-Meteo
    returns the centre of its grid cell, not what was asked.
    """
    if isinstance(body, dict):
        items = [body]
    elif isinstance(body, list):
        items = body
    else:
        raise PermanentAPIError(
            f"Open-Meteo answer is a JSON {type(body).__name__}, expected an object or array"
        )
    if expected > 1 and isinstance(body, dict):
        raise PermanentAPIError(f"Open-Meteo answered one location for a request of {expected}")

    by_position: dict[int, object] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        position = item.get("location_id", 0)
        if isinstance(position, int) and 0 <= position < expected and position not in by_position:
            by_position[position] = item
    if not by_position:
        raise PermanentAPIError("Open-Meteo answer holds no usable location")

    results: list[CurrentConditions | LocationFailure] = []
    for position in range(expected):
        item = by_position.get(position)
        if item is None:
            results.append(LocationFailure("location missing from Open-Meteo's answer"))
            continue
        try:
            results.append(_parse_current(item))
        except (KeyError, TypeError, ValueError) as exc:
            results.append(LocationFailure(f"incomplete answer for this location: {exc}"))
    return results


def _parse_current(item: dict) -> CurrentConditions:
    current = item["current"]
    if not isinstance(current, dict):
        raise TypeError("'current' is not an object")
    observed_at = datetime.fromisoformat(current["time"])
    # The request asks for GMT, so a naive time is UTC; an explicit offset is honoured if present.
    observed_at = (
        observed_at.replace(tzinfo=UTC) if observed_at.tzinfo is None else observed_at.astimezone(UTC)
    )
    values = {name: _number(current.get(variable), variable) for name, variable in VARIABLES.items()}
    if values["weather_code"] is not None:
        values["weather_code"] = int(values["weather_code"])
    return CurrentConditions(observed_at=observed_at, **values)


def _number(value: object, name: str) -> float | None:
    # Open-Meteo writes a non-finite value as null.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name} is not a number: {value!r}")
    return float(value)


def parse_geocoding(body: object, *, country: str = "") -> Place | None:
    if not isinstance(body, dict):
        raise PermanentAPIError("geocoding answer is not a JSON object")
    # No match comes back without a "results" key at all.
    for result in body.get("results") or []:
        if not isinstance(result, dict):
            continue
        code = str(result.get("country_code") or "").upper()
        if country and code != country.upper():
            continue
        try:
            return Place(
                name=str(result["name"]),
                country=code,
                latitude=float(result["latitude"]),
                longitude=float(result["longitude"]),
                timezone=str(result.get("timezone") or ""),
            )
        except (KeyError, TypeError, ValueError):
            continue
    return None


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), capped."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - time.time()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def _reason(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:_REASON_LIMIT].strip() or response.reason or "no reason given"
    if isinstance(body, dict) and "reason" in body:
        return str(body["reason"])[:_REASON_LIMIT]
    return json.dumps(body)[:_REASON_LIMIT]


def _root_cause(exc: BaseException) -> str:
    # requests nests urllib3's errors, whose messages repeat the whole URL; the innermost says why.
    while exc.__context__ is not None or exc.__cause__ is not None:
        exc = exc.__cause__ or exc.__context__
    return f"{type(exc).__name__}: {exc}"[:_REASON_LIMIT]


def _coordinate(value: float) -> str:
    return f"{value:.4f}"


def _new_session() -> requests.Session:
    session = requests.Session()
    # Retries belong to the Celery task, with backoff the broker can hold; none here.
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "f-brain-weather-pipeline/1.0"
    return session


@lru_cache(maxsize=1)
def _client_for(forecast_url: str, geocoding_url: str, timeout: float, api_key: str) -> OpenMeteoClient:
    return OpenMeteoClient(
        forecast_url=forecast_url, geocoding_url=geocoding_url, timeout=timeout, api_key=api_key
    )


def get_client() -> OpenMeteoClient:
    """The process's client: one HTTP session, so connections are reused across tasks."""
    return _client_for(
        settings.WEATHER_API_URL,
        settings.GEOCODING_API_URL,
        settings.WEATHER_API_TIMEOUT,
        settings.WEATHER_API_KEY,
    )
