"""A 100 MB import through the real worker: bad rows reported by line, memory bounded by the batch
size, not by the file's size."""

import os
from pathlib import Path

import pytest
from django.conf import settings

from tests.fast.conftest import task_done
from tests.reliability import FaultFigures, record
from weather.models import City, PipelineRun
from weather.workflows import etl_run_enqueue

pytestmark = pytest.mark.large

TARGET_BYTES = 100 * 1024 * 1024
BAD_EVERY = 100_000  # one bad line in so many: a reading in Fahrenheit


def write_large_import(path: Path) -> tuple[int, list[int]]:
    """Observations of 1,000 cities, one per hour, until the file reaches 100 MB."""
    rows, bad_lines = 0, []
    with path.open("w") as out:
        out.write("name,country,latitude,longitude,timezone,observed_at,temperature,humidity\n")
        written = 0
        while written < TARGET_BYTES:
            rows += 1
            city, hour = rows % 1000, rows // 1000
            temperature = "171.5" if rows % BAD_EVERY == 0 else f"{(rows % 400) / 10 - 10:.1f}"
            if rows % BAD_EVERY == 0:
                bad_lines.append(rows + 1)  # the header is line 1
            day, hour_of_day = divmod(hour, 24)
            observed_at = f"2020-{1 + day // 28 % 12:02d}-{1 + day % 28:02d}T{hour_of_day:02d}:00"
            line = (
                f"Bulk City {city:04d},FR,{40 + city / 100:.4f},{-5 + city / 100:.4f},Europe/Paris,"
                f"{observed_at},{temperature},{rows % 100}\n"
            )
            written += out.write(line)
    return rows, bad_lines


def pool_peak_rss_kib(worker_pid: int) -> int:
    """The highest resident memory any of the worker's pool processes has reached (VmHWM)."""
    peaks = []
    for child in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split():
        for line in Path(f"/proc/{child}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]))
    return max(peaks)


def run_import(name: str, timeout: float) -> PipelineRun:
    run = etl_run_enqueue(source=name)
    task_done(run.task_id, timeout=timeout)
    return PipelineRun.objects.get(pk=run.pk)


def test_a_100_mb_import_reports_bad_rows_by_line_in_bounded_memory(worker, celery_worker_process):
    folder = Path(settings.ETL_IMPORT_DIR)
    small = folder / "small.csv"
    small.write_text("name,country,latitude,longitude\nSmall Town,FR,45.0,4.0\n")
    run_import(small.name, timeout=60)
    before = pool_peak_rss_kib(celery_worker_process.pid)

    rows, bad_lines = write_large_import(folder / "large.csv")
    size = os.path.getsize(folder / "large.csv")
    run = run_import("large.csv", timeout=1200)
    after = pool_peak_rss_kib(celery_worker_process.pid)

    assert run.state == "partial", run.error_summary
    assert (run.rows_total, run.rows_invalid) == (rows, len(bad_lines))
    assert [e["line"] for e in run.errors] == bad_lines
    assert all("temperature 171.5 is outside" in e["error"] for e in run.errors)
    assert run.observations_loaded == rows - len(bad_lines)
    assert City.objects.filter(name__startswith="Bulk City").count() == 1000
    # Streaming in batches: the pool's peak grows by a fraction of the file, not by the file.
    growth = (after - before) * 1024
    assert growth < size / 4, f"peak RSS grew by {growth / 2**20:.0f} MiB for a {size / 2**20:.0f} MiB file"
    record(
        FaultFigures(
            order=10, fault="Bad input: a 100 MB CSV import with a bad line every 100,000",
            test="etl_100_mb_import", sent=rows, completed=run.observations_loaded, redelivered=0,
            failed_with_reason=run.rows_invalid, lost=rows - run.observations_loaded - run.rows_invalid,
            duplicates=0,
            notes=f"{size / 2**20:.0f} MiB, {rows} rows; bad rows reported by line; worker pool peak RSS "
            f"{before / 1024:.0f} MiB before, {after / 1024:.0f} MiB after",
        )
    )  # fmt: skip
