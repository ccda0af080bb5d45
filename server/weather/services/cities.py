import csv
import zoneinfo
from pathlib import Path

from django.db import IntegrityError, transaction

from weather.errors import ConflictError, InvalidInputError, UnavailableError
from weather.models import City
from weather.openmeteo import OpenMeteoError, TransientAPIError, get_client

BUNDLED_CITIES = Path(__file__).resolve().parent.parent / "data" / "cities.csv"


def city_create(
    *,
    name: str,
    country: str = "",
    latitude: float | None = None,
    longitude: float | None = None,
    timezone: str = "",
) -> City:
    """Create a city; without coordinates, look them up by name with the geocoding API."""
    name = name.strip()
    country = country.strip().upper()
    if (latitude is None) != (longitude is None):
        raise InvalidInputError("Give both latitude and longitude, or neither to look the city up by name.")
    if timezone and timezone not in zoneinfo.available_timezones():
        raise InvalidInputError(f"Unknown time zone {timezone!r}.", {"timezone": ["Use an IANA name."]})
    if latitude is None:
        place = _geocode(name, country)
        latitude, longitude = place.latitude, place.longitude
        country = country or place.country
        timezone = timezone or place.timezone

    existing = City.objects.filter(name__iexact=name, country=country).first()
    if existing is not None:
        raise ConflictError(f"{existing} already exists.", {"id": existing.id})
    try:
        with transaction.atomic():
            return City.objects.create(
                name=name, country=country, latitude=latitude, longitude=longitude, timezone=timezone
            )
    except IntegrityError as exc:
        # Two requests for the same city raced past the check above.
        city = City.objects.filter(name=name, country=country).first()
        raise ConflictError(
            f"{name} ({country or 'no country'}) already exists.", {"id": city and city.id}
        ) from exc


def _geocode(name: str, country: str):
    try:
        place = get_client().geocode(name, country=country)
    except TransientAPIError as exc:
        raise UnavailableError(
            f"The geocoding service is unavailable ({exc}); give coordinates or retry."
        ) from exc
    except OpenMeteoError as exc:
        raise InvalidInputError(f"The geocoding service refused the lookup: {exc}") from exc
    if place is None:
        where = f" in {country}" if country else ""
        raise InvalidInputError(f"No place named {name!r}{where} was found; give latitude and longitude.")
    return place


def cities_seed(*, path: Path = BUNDLED_CITIES) -> tuple[int, int]:
    """Load the bundled city list; cities already present are left as they are. Returns (created, total)."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    cities = [
        City(
            name=row["name"],
            country=row["country"],
            latitude=float(row["latitude"]),
            longitude=float(row["longitude"]),
            timezone=row["timezone"],
        )
        for row in rows
    ]
    before = City.objects.count()
    City.objects.bulk_create(cities, ignore_conflicts=True, batch_size=500)
    return City.objects.count() - before, len(cities)
