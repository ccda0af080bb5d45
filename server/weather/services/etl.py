"""Import cities, and optionally observations, from a CSV file or URL.

Extract streams the input into `EtlRow`s, transform validates each row and records what is wrong
with it by line number, load upserts the valid rows. Each step works in batches and hands the
next one only the run id, so memory and messages stay small whatever the input's size.
"""

import csv
import io
import json
import math
import re
import zoneinfo
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Subquery, TextField, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from weather.errors import InvalidInputError
from weather.imports.refusals import ImportRefused
from weather.imports.sources import Source, source_check, source_open
from weather.models import City, EtlRow, PipelineRun, WeatherData
from weather.names import name_refused_characters
from weather.services.city_caps import etl_city_caps_refusal
from weather.services.observations import observation_build, observations_upsert
from weather.services.runs import ERRORS_KEPT, errors_summarize_by_line, run_fail, run_finish

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
# surrogateescape maps each byte that is not UTF-8 to a lone surrogate; one search per line, not
# one per character (a 100 MB file holds about ten million fields).
_UNDECODABLE = re.compile("[\udc80-\udcff]")
# A staged row as the steps pass it around: plain tuples, not model instances (a third of extract's
# time went into EtlRow.__init__). The order is the staging table's COPY column order.
_STAGED_COLUMNS = ("run_id", "line", "raw", "clean", "error", "readable", "dedup_key")


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
        raise InvalidInputError(
            f"The source cannot be imported: {exc}.", {"fields": {"source": [f"{exc}."]}}
        ) from None


# --- extract ------------------------------------------------------------------------------------


def etl_extract(*, run_id: int, source: Source) -> int:
    """Stream the source's rows into the staging table; returns how many rows were read. A source
    stopped by an import rule raises ImportRefused, and what it staged is the caller's to drop."""
    # A redelivered extract starts over rather than staging the rows twice.
    EtlRow.objects.filter(run_id=run_id).delete()
    total = 0
    batch: list[tuple] = []
    with source_open(source) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="surrogateescape", newline="")
        for line, raw, error in _read_csv(text):
            batch.append((run_id, line, raw, None, error, not error, ""))
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
    whole = "".join(record)
    if _UNDECODABLE.search(whole):
        error = "is not valid UTF-8"
        raw = {k: v.encode("utf-8", "surrogateescape").decode("utf-8", "replace") for k, v in raw.items()}
    if "\x00" in whole:
        error = "contains a NUL byte"
        raw = {k: v.replace("\x00", "") for k, v in raw.items()}
    return raw, error


# --- transform ----------------------------------------------------------------------------------


def etl_transform(*, run_id: int) -> tuple[int, int]:
    """Validate and normalise every staged row; returns (valid, invalid) counts."""
    valid = invalid = 0
    for rows in _staged_batches(run_id, "raw", "readable", "error"):
        staged = []
        for line, raw, readable, error in rows:
            clean, dedup_key = None, ""
            if readable:
                try:
                    clean = clean_row(raw)
                    error = ""
                    dedup_key = "|".join(
                        (clean["name"].casefold(), clean["country"], clean.get("observed_at", ""))
                    )
                except RowError as exc:
                    error = str(exc)
            valid += clean is not None
            invalid += clean is None
            staged.append((run_id, line, raw, clean, error, readable, dedup_key))
        _staged_rows_replace(run_id, staged)
    duplicates = _duplicates_reject(run_id)
    return valid - duplicates, invalid + duplicates


def _staged_rows_replace(run_id: int, rows: Sequence[tuple]) -> None:
    # Rewriting a batch beats bulk_update's per-row CASE expressions by more than three times
    # (docs/performance.md, "Importing a large file"). A batch is a run of consecutive lines.
    with transaction.atomic():
        EtlRow.objects.filter(run_id=run_id, line__gte=rows[0][1], line__lte=rows[-1][1]).delete()
        _staged_rows_write(rows)


def _staged_rows_write(rows: Sequence[tuple]) -> None:
    """Insert staged rows (tuples in _STAGED_COLUMNS order): PostgreSQL's COPY where available,
    almost three times as fast as bulk_create (docs/performance.md, "Importing a large file")."""
    if connection.vendor != "postgresql":
        EtlRow.objects.bulk_create(EtlRow(**dict(zip(_STAGED_COLUMNS, row, strict=True))) for row in rows)
        return
    columns = ", ".join(_STAGED_COLUMNS)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {EtlRow._meta.db_table} ({columns}) FROM STDIN"  # noqa: S608 - fixed names only
        ) as copy,
    ):
        for run_id, line, raw, clean, *rest in rows:
            copy.write_row(
                (run_id, line, json.dumps(raw), None if clean is None else json.dumps(clean), *rest)
            )


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
    if refused := name_refused_characters(name):
        raise RowError(f"name holds control, bidi or zero-width characters: {', '.join(refused)}")
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


def _staged_batches(run_id: int, *fields: str, **filters) -> Iterator[list[tuple]]:
    """The run's staged rows in line order as (line, *fields) tuples, one batch at a time (keyset
    pagination: no OFFSET scans)."""
    last_line = 0
    while True:
        rows = list(
            EtlRow.objects.filter(run_id=run_id, line__gt=last_line, **filters)
            .order_by("line")
            .values_list("line", *fields)[:ETL_BATCH_SIZE]
        )
        if not rows:
            return
        yield rows
        last_line = rows[-1][0]


# --- load ---------------------------------------------------------------------------------------


def etl_load(*, run_id: int) -> PipelineRun:
    """Upsert the valid rows, close the run with its counts and bad lines, and drop the staged rows."""
    refusal = etl_city_caps_refusal(run_id=run_id)
    if refusal:  # over a cap: nothing of the file is loaded
        run_fail(run_id=run_id, reason=refusal)
        EtlRow.objects.filter(run_id=run_id).delete()
        return PipelineRun.objects.get(pk=run_id)
    cities: dict[tuple[str, str], tuple[int, tuple]] = {}
    loaded = observations = 0
    for rows in _staged_batches(run_id, "clean", clean__isnull=False):
        cleans = [clean for _, clean in rows]
        city_ids = _cities_upsert(cleans, cities)
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


def _cities_upsert(
    cleans: list[dict], written: dict[tuple[str, str], tuple[int, tuple]]
) -> dict[tuple[str, str], int]:
    """Upsert the batch's cities (the last line of a city wins) and return their ids. `written`
    remembers what this import already wrote: a file of observations names the same cities on
    every batch, and rewriting them unchanged cost most of the load step."""
    latest = {(c["name"], c["country"]): (c["latitude"], c["longitude"], c["timezone"]) for c in cleans}
    changed = {key: place for key, place in latest.items() if written.get(key, (None, None))[1] != place}
    if changed:
        City.objects.bulk_create(
            [
                City(name=name, country=country, latitude=lat, longitude=lon, timezone=tz)
                for (name, country), (lat, lon, tz) in changed.items()
            ],
            update_conflicts=True,
            unique_fields=["name", "country"],
            update_fields=["latitude", "longitude", "timezone"],
        )
        names = {name for name, _ in changed}
        for city_id, name, country in City.objects.filter(name__in=names).values_list(
            "id", "name", "country"
        ):
            if (name, country) in changed:
                written[(name, country)] = (city_id, changed[(name, country)])
    return {key: written[key][0] for key in latest}


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
