from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from weather.models import City, WeatherData
from weather.openmeteo import CurrentConditions, LocationFailure, RateLimitedError, get_client
from weather.services.forecast_quota import forecast_quota_reserve, forecast_rate_limited

# Deleting in slices keeps each statement's locks and WAL short on a large table.
CLEANUP_BATCH_SIZE = 10_000
# An observation as the services pass it to observations_upsert: a tuple of these columns' values
# (observation_build makes one). Tuples, not WeatherData instances: an import builds millions.
OBSERVATION_COLUMNS = ("city_id", "observed_at", *WeatherData.MEASUREMENTS, "source", "fetched_at")
_OBSERVATION_UPDATED = (*WeatherData.MEASUREMENTS, "source", "fetched_at")


@dataclass
class FetchOutcome:
    ok: dict[int, str] = field(default_factory=dict)  # city id -> observation time
    failed: dict[int, str] = field(default_factory=dict)
    # Not fetched because the day's API budget is spent: neither fetched nor failed.
    deferred: list[int] = field(default_factory=list)

    @classmethod
    def all_failed(cls, city_ids: Sequence[int], reason: str) -> "FetchOutcome":
        return cls(failed={city_id: reason for city_id in city_ids})

    def as_result(self) -> dict:
        # JSON object keys are strings; the ids stay readable in Flower and the results table.
        return {
            "ok": len(self.ok),
            "failed": {str(k): v for k, v in self.failed.items()},
            "deferred": len(self.deferred),
        }


def observations_fetch(*, city_ids: Sequence[int]) -> FetchOutcome:
    """Fetch current conditions for these cities in one API request and upsert them in one statement.

    Raises TransientAPIError or PermanentAPIError when the whole request fails; a location the
    answer lacks is reported in `failed` with its reason while the others are stored. The request's
    calls are reserved from the shared budget first: QuotaExhaustedError when it has no room, and a
    429 pauses every worker (RateLimitedError, waiting at least as long as the pause).
    """
    cities = {
        city.id: city for city in City.objects.filter(id__in=city_ids).only("id", "latitude", "longitude")
    }
    outcome = FetchOutcome()
    for city_id in city_ids:
        if city_id not in cities:
            outcome.failed[city_id] = f"City {city_id} does not exist."
    found = [cities[city_id] for city_id in dict.fromkeys(city_ids) if city_id in cities]
    if not found:
        return outcome

    forecast_quota_reserve(locations=len(found))
    try:
        answers = get_client().fetch_current([(city.latitude, city.longitude) for city in found])
    except RateLimitedError as exc:
        forecast_rate_limited(exc)
        raise
    fetched_at = timezone.now()
    rows = []
    for city, answer in zip(found, answers, strict=True):
        if isinstance(answer, LocationFailure):
            outcome.failed[city.id] = answer.reason
        else:
            rows.append(observation_from_current(city_id=city.id, current=answer, fetched_at=fetched_at))
            outcome.ok[city.id] = answer.observed_at.isoformat()
    observations_upsert(rows)
    return outcome


def observation_build(
    *, city_id: int, observed_at: datetime, measurements: Mapping, source: str, fetched_at: datetime
) -> tuple:
    """An observation to upsert: `measurements` holds at least every name in WeatherData.MEASUREMENTS."""
    values = tuple(measurements[name] for name in WeatherData.MEASUREMENTS)
    return (city_id, observed_at, *values, source, fetched_at)


def observation_from_current(*, city_id: int, current: CurrentConditions, fetched_at: datetime) -> tuple:
    """An observation to upsert, from an Open-Meteo answer."""
    return observation_build(
        city_id=city_id,
        observed_at=current.observed_at,
        measurements=vars(current),
        source="open-meteo",
        fetched_at=fetched_at,
    )


def observations_upsert(rows: Sequence[tuple]) -> None:
    """Insert observations (tuples in OBSERVATION_COLUMNS order), updating the row already stored
    for the same city and time.

    This is what makes a repeated or redelivered fetch harmless: it rewrites one row, never adds one.
    """
    if not rows:
        return
    # One statement may not touch the same row twice; the last reading of a pair wins.
    unique = list({row[:2]: row for row in rows}.values())
    if connection.vendor == "postgresql":
        _observations_copy_upsert(unique)
        return
    WeatherData.objects.bulk_create(
        [WeatherData(**dict(zip(OBSERVATION_COLUMNS, row, strict=True))) for row in unique],
        update_conflicts=True,
        unique_fields=["city", "observed_at"],
        update_fields=_OBSERVATION_UPDATED,
        batch_size=1000,
    )


def _observations_copy_upsert(rows: Sequence[tuple]) -> None:
    """COPY the rows into a scratch table, then upsert them in one INSERT … SELECT. Building the
    same upsert with bulk_create spent most of a large import's load step compiling parameters
    (docs/performance.md, "Importing a large file")."""
    table, columns = WeatherData._meta.db_table, ", ".join(OBSERVATION_COLUMNS)
    updates = ", ".join(f"{column} = EXCLUDED.{column}" for column in _OBSERVATION_UPDATED)
    # Fixed names only in these statements; the values travel through COPY.
    with transaction.atomic(), connection.cursor() as cursor:
        # Dropped at commit; dropped first too, should a caller's transaction hold one already.
        cursor.execute("DROP TABLE IF EXISTS pg_temp.observations_incoming")
        cursor.execute(
            f"CREATE TEMP TABLE observations_incoming ON COMMIT DROP AS "  # noqa: S608
            f"SELECT {columns} FROM {table} WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY observations_incoming ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM observations_incoming "  # noqa: S608
            f"ON CONFLICT (city_id, observed_at) DO UPDATE SET {updates}"
        )


def observations_delete_older_than(*, days: int) -> int:
    cutoff = timezone.now() - timedelta(days=days)
    deleted = 0
    while True:
        ids = list(
            WeatherData.objects.filter(observed_at__lt=cutoff).values_list("id", flat=True)[
                :CLEANUP_BATCH_SIZE
            ]
        )
        if not ids:
            return deleted
        deleted += WeatherData.objects.filter(id__in=ids).delete()[0]
