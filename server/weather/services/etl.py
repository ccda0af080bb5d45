"""Import cities, and optionally observations, from a CSV file or URL.

Extract streams the input into `EtlRow`s, transform validates each row and records what is wrong
with it by line number, load upserts the valid rows. Each step works in batches and hands the
next one only the run id, so memory and messages stay small whatever the input's size.
"""

import csv
import io
import json
import math
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from weather.errors import InvalidInputError
from weather.imports.refusals import ImportRefused
from weather.imports.sources import Source, source_check, source_open
from weather.models import City, EtlRow, PipelineRun, WeatherData
from weather.services.observations import observation_build, observations_upsert
from weather.services.runs import ERRORS_KEPT, errors_summarize_by_line, run_finish

# Rows per INSERT/UPDATE: large enough to amortise round trips, small enough for bounded memory.
ETL_BATCH_SIZE = 2000
REQUIRED_COLUMNS = ("name", "latitude", "longitude")
# Plausible ranges, to catch unit mix-ups (Fahrenheit, Pa) and typos rather than to judge weather;
# one for each of WeatherData.MEASUREMENTS (clean_row reads them in that list's order).
MEASUREMENT_RANGES = {
    "temperature": (-100.0, 70.0),
    "humidity": (0.0, 100.0),
    "pressure": (300.0, 1100.0),
    "wind_speed": (0.0, 500.0),
    "wind_direction": (0.0, 360.0),
    "weather_code": (0, 99),
}
_TIME_ZONES = zoneinfo.available_timezones()


class EtlSourceError(Exception):
    """The input as a whole cannot be read (unreachable, not CSV, required columns missing)."""


class RowError(ValueError):
    pass


def etl_source_check(source: str) -> Source:
    """The source `source` names, if the import rules allow it (weather/imports/): an http(s) URL
    on an allowed host, or a file name inside ETL_IMPORT_DIR."""
    try:
        return source_check(source)
    except ImportRefused as exc:
        raise InvalidInputError(f"The source cannot be imported: {exc}.") from None


# --- extract ------------------------------------------------------------------------------------


def etl_extract(*, run_id: int, source: Source) -> int:
    """Stream the source's rows into the staging table; returns how many rows were read. A source
    stopped by an import rule raises ImportRefused, and what it staged is the caller's to drop."""
    # A redelivered extract starts over rather than staging the rows twice.
    EtlRow.objects.filter(run_id=run_id).delete()
    total = 0
    batch: list[EtlRow] = []
    with source_open(source) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        for line, raw, error in _read_csv(text):
            batch.append(EtlRow(run_id=run_id, line=line, raw=raw, error=error, readable=not error))
            total += 1
            if len(batch) >= ETL_BATCH_SIZE:
                _staged_rows_write(batch)
                batch = []
    _staged_rows_write(batch)
    PipelineRun.objects.filter(pk=run_id).update(rows_total=total)
    return total


def _read_csv(text: io.TextIOBase) -> Iterator[tuple[int, dict, str]]:
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        raise EtlSourceError("the input is empty: expected a CSV header line") from None
    except csv.Error as exc:
        raise EtlSourceError(f"the header line is not CSV: {exc}") from exc
    columns = [column.strip().lower() for column in header]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        # Not the header itself: what a source sent is never shown back.
        raise EtlSourceError(f"missing required column(s) {', '.join(missing)}")
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield reader.line_num, {}, f"not valid CSV: {exc}"
            continue
        if not any(field.strip() for field in record):
            continue  # blank lines are not rows
        yield reader.line_num, *_stage(columns, record)


def _stage(columns: list[str], record: list[str]) -> tuple[dict, str]:
    error = ""
    if len(record) != len(columns):
        error = f"has {len(record)} fields, the header has {len(columns)}"
    raw = dict(zip(columns, record, strict=False))
    if any(_undecodable(value) for value in raw.values()):
        error = "is not valid UTF-8"
        raw = {k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in raw.items()}
    if any("\x00" in value for value in raw.values()):
        error = "contains a NUL byte"
        raw = {k: v.replace("\x00", "") for k, v in raw.items()}
    return raw, error


def _undecodable(value: str) -> bool:
    # surrogateescape maps each byte that is not UTF-8 to a lone surrogate.
    return any("\udc80" <= char <= "\udcff" for char in value)


# --- transform ----------------------------------------------------------------------------------


def etl_transform(*, run_id: int) -> tuple[int, int]:
    """Validate and normalise every staged row; returns (valid, invalid) counts."""
    valid = invalid = 0
    for rows in _staged_batches(run_id):
        for row in rows:
            if not row.readable:
                invalid += 1
                continue
            try:
                row.clean = clean_row(row.raw)
                row.error = ""
                row.dedup_key = "|".join(
                    (row.clean["name"].casefold(), row.clean["country"], row.clean.get("observed_at", ""))
                )
                valid += 1
            except RowError as exc:
                row.clean, row.error, row.dedup_key = None, str(exc), ""
                invalid += 1
        _staged_rows_replace(rows)
    duplicates = _duplicates_reject(run_id)
    return valid - duplicates, invalid + duplicates


def _staged_rows_replace(rows: list[EtlRow]) -> None:
    # Rewriting a batch beats bulk_update's per-row CASE expressions by more than three times
    # (docs/performance.md, "Importing a large file").
    with transaction.atomic():
        EtlRow.objects.filter(pk__in=[row.pk for row in rows]).delete()
        _staged_rows_write(rows)


_STAGED_COLUMNS = ("run_id", "line", "raw", "clean", "error", "readable", "dedup_key")


def _staged_rows_write(rows: list[EtlRow]) -> None:
    """Insert staged rows: PostgreSQL's COPY where available, almost three times as fast as
    bulk_create (docs/performance.md, "Importing a large file")."""
    if connection.vendor != "postgresql":
        EtlRow.objects.bulk_create(rows)
        return
    columns = ", ".join(_STAGED_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {EtlRow._meta.db_table} ({columns}) FROM STDIN"  # noqa: S608 - fixed names only
        ) as copy,
    ):
        for row in rows:
            copy.write_row(
                (row.run_id, row.line, json.dumps(row.raw),
                 None if row.clean is None else json.dumps(row.clean), row.error, row.readable, row.dedup_key)
            )  # fmt: skip


def _duplicates_reject(run_id: int) -> int:
    """Reject every valid row whose record an earlier line already holds, in one UPDATE."""
    valid = EtlRow.objects.filter(run_id=run_id, clean__isnull=False)
    same_record = valid.filter(dedup_key=OuterRef("dedup_key"))
    first_line = same_record.order_by("line").values("line")[:1]
    return valid.filter(Exists(same_record.filter(line__lt=OuterRef("line")))).update(
        clean=None,
        error=Concat(Value("duplicate of line "), Cast(Subquery(first_line), output_field=TextField())),
    )


def clean_row(raw: dict) -> dict:
    name = (raw.get("name") or "").strip()
    if not name:
        raise RowError("name is empty")
    if len(name) > 200:
        raise RowError("name is longer than 200 characters")
    country = (raw.get("country") or "").strip().upper()
    if country and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise RowError(f"country {country!r} is not a two-letter ISO 3166 code")
    tz = (raw.get("timezone") or "").strip()
    if tz and tz not in _TIME_ZONES:
        raise RowError(f"timezone {tz!r} is not an IANA time zone name")
    clean = {
        "name": name,
        "country": country,
        "latitude": _number(raw, "latitude", -90.0, 90.0, required=True),
        "longitude": _number(raw, "longitude", -180.0, 180.0, required=True),
        "timezone": tz,
    }
    observed_at = (raw.get("observed_at") or "").strip()
    measurements = {
        field: _number(raw, field, *MEASUREMENT_RANGES[field]) for field in WeatherData.MEASUREMENTS
    }
    if observed_at:
        clean["observed_at"] = _timestamp(observed_at).isoformat()
        if measurements["weather_code"] is not None:
            measurements["weather_code"] = int(measurements["weather_code"])
        clean.update(measurements)
    elif any(value is not None for value in measurements.values()):
        raise RowError("has measurements but no observed_at")
    return clean


def _number(raw: dict, field: str, low: float, high: float, *, required: bool = False) -> float | None:
    value = (raw.get(field) or "").strip()
    if not value:
        if required:
            raise RowError(f"{field} is empty")
        return None
    try:
        number = float(value)
    except ValueError:
        raise RowError(f"{field} {value!r} is not a number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise RowError(f"{field} {value} is outside {low:g}..{high:g}")
    return number


def _timestamp(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(f"observed_at {value!r} is not an ISO 8601 date and time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _staged_batches(run_id: int, **filters) -> Iterator[list[EtlRow]]:
    """The run's staged rows in line order, one batch at a time (keyset pagination: no OFFSET scans)."""
    last_line = 0
    while True:
        rows = list(
            EtlRow.objects.filter(run_id=run_id, line__gt=last_line, **filters).order_by("line")[
                :ETL_BATCH_SIZE
            ]
        )
        if not rows:
            return
        yield rows
        last_line = rows[-1].line


# --- load ---------------------------------------------------------------------------------------


def etl_load(*, run_id: int) -> PipelineRun:
    """Upsert the valid rows, close the run with its counts and bad lines, and drop the staged rows."""
    cities: set[tuple[str, str]] = set()
    loaded = observations = 0
    for rows in _staged_batches(run_id, clean__isnull=False):
        cleans = [row.clean for row in rows]
        city_ids = _cities_upsert(cleans)
        cities.update(city_ids)
        observations += _observations_upsert(cleans, city_ids)
        loaded += len(rows)

    rejected = EtlRow.objects.filter(run_id=run_id, clean__isnull=True)
    bad_count = rejected.count()
    bad = [
        {"line": line, "error": error}
        for line, error in rejected.order_by("line").values_list("line", "error")[:ERRORS_KEPT]
    ]
    with transaction.atomic():
        run = run_finish(
            run_id=run_id,
            ok=loaded,
            failed=bad_count,
            errors=bad,
            summary=errors_summarize_by_line(bad_count, bad),
            rows_invalid=bad_count,
            cities_ok=len(cities),
            observations_loaded=observations,
        )
        EtlRow.objects.filter(run_id=run_id).delete()
    return run


def _cities_upsert(cleans: list[dict]) -> dict[tuple[str, str], int]:
    latest = {(c["name"], c["country"]): c for c in cleans}
    City.objects.bulk_create(
        [
            City(name=n, country=cc, latitude=c["latitude"], longitude=c["longitude"], timezone=c["timezone"])
            for (n, cc), c in latest.items()
        ],
        update_conflicts=True,
        unique_fields=["name", "country"],
        update_fields=["latitude", "longitude", "timezone"],
    )
    names = {name for name, _ in latest}
    return {
        (name, country): city_id
        for city_id, name, country in City.objects.filter(name__in=names).values_list("id", "name", "country")
        if (name, country) in latest
    }


def _observations_upsert(cleans: list[dict], city_ids: dict[tuple[str, str], int]) -> int:
    now = timezone.now()
    rows = [
        observation_build(
            city_id=city_ids[(c["name"], c["country"])],
            observed_at=datetime.fromisoformat(c["observed_at"]),
            measurements=c,
            source="csv-import",
            fetched_at=now,
        )
        for c in cleans
        if "observed_at" in c
    ]
    observations_upsert(rows)
    return len(rows)
