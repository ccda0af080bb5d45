"""The extract-transform-load chain, run by the real worker on files in the import folder."""

from pathlib import Path

from django.conf import settings

from tests.fast.conftest import task_done
from tests.polling import wait_for
from weather.models import City, EtlRow, PipelineRun, WeatherData
from weather.services.etl import clean_row
from weather.workflows import etl_run_enqueue

GOOD_AND_BAD = """name,country,latitude,longitude,timezone,observed_at,temperature,humidity
Lisbon,PT,38.7223,-9.1393,Europe/Lisbon,2026-11-20T12:00,17.5,70
Porto,PT,41.1579,-8.6291,Europe/Lisbon,,,
Nowhere,XX,123,0,,,,
Faro,PT,abc,-7.93,,,,
,PT,40.0,-8.0,,,,
Coimbra,Portugal,40.2,-8.4,,,,
Braga,PT,41.55,-8.42,Mars/Olympus,,,
Lisbon,PT,38.7223,-9.1393,Europe/Lisbon,2026-11-20T12:00,17.5,70
Evora,PT,38.57,-7.91,,2026-11-20T12:00,171.0,50
Aveiro,PT,40.64,-8.65,,,,
"""


def write_import(name: str, content: str | bytes) -> str:
    path = Path(settings.ETL_IMPORT_DIR) / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return name


def run_import(name: str) -> PipelineRun:
    run = etl_run_enqueue(source=name)
    task_done(run.task_id, timeout=60)
    return wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        what="the ETL run to finish",
    )


def test_it_loads_good_rows_and_reports_bad_ones_by_line(worker):
    run = run_import(write_import("mixed.csv", GOOD_AND_BAD))
    assert run.state == "partial"
    assert (run.rows_total, run.rows_invalid) == (10, 7)
    assert sorted(City.objects.values_list("name", flat=True)) == ["Aveiro", "Lisbon", "Porto"]
    assert WeatherData.objects.get(city__name="Lisbon").temperature == 17.5
    assert run.observations_loaded == 1
    errors = {e["line"]: e["error"] for e in run.errors}
    assert errors == {
        4: "latitude 123 is outside -90..90",
        5: "latitude 'abc' is not a number",
        6: "name is empty",
        7: "country 'PORTUGAL' is not a two-letter ISO 3166 code",
        8: "timezone 'Mars/Olympus' is not an IANA time zone name",
        9: "duplicate of line 2",
        10: "temperature 171.0 is outside -100..70",
    }
    assert run.error_summary.startswith("7 bad rows: line 4: latitude 123")
    assert not EtlRow.objects.filter(run=run).exists()  # staging is emptied


def test_a_repeated_import_updates_rows_instead_of_adding(worker):
    name = write_import("again.csv", GOOD_AND_BAD)
    run_import(name)
    City.objects.filter(name="Porto").update(latitude=0)
    run_import(name)
    assert City.objects.count() == 3
    assert WeatherData.objects.count() == 1
    assert City.objects.get(name="Porto").latitude == 41.1579


def test_a_file_without_required_columns_fails_the_run_with_the_reason(worker):
    run = run_import(write_import("columns.csv", "city,lat\nParis,48.8\n"))
    assert run.state == "failure"
    assert "missing required column(s) name, latitude, longitude" in run.error_summary


def test_undecodable_and_ragged_lines_are_reported_not_fatal(worker):
    content = (
        b"name,country,latitude,longitude\n"
        b"Z\xfcrich,CH,47.37,8.54\n"
        b"Bern,CH,46.95,7.45,extra\n"
        b"Basel,CH,47.56,7.59\n"
    )
    run = run_import(write_import("encoding.csv", content))
    assert run.state == "partial"
    assert {e["line"]: e["error"] for e in run.errors} == {
        2: "is not valid UTF-8",
        3: "has 5 fields, the header has 4",
    }
    assert list(City.objects.values_list("name", flat=True)) == ["Basel"]


def test_clean_row_normalises_values():
    row = clean_row(
        {"name": " Oslo ", "country": "no", "latitude": "59.91", "longitude": "10.75", "timezone": ""}
    )
    assert row == {"name": "Oslo", "country": "NO", "latitude": 59.91, "longitude": 10.75, "timezone": ""}
