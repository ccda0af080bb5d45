"""Imports through the real worker: URL sources load however the answer is framed, a refused or
capped source fails its run with the rule and loads nothing, nothing secret is recorded, staged rows
of failed and abandoned runs go, imports wait on a queue of their own, and the pool's memory stays
bounded by the caps, not by the source."""

import json
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone
from django_celery_results.models import TaskResult

from server_config.celery import app
from tests.fast.conftest import queue_depth, task_done
from tests.fast.imports.conftest import PeakMemory, pool_pids
from tests.polling import wait_for
from weather.api.serializers import PipelineRunSerializer
from weather.models import City, EtlRow, PipelineRun
from weather.services.runs import ABANDONED_REASON
from weather.tasks import cleanup_abandoned_imports
from weather.workflows import city_refresh_enqueue, etl_run_enqueue

MIB = 2**20
ROWS = 3000
CITIES = b"name,country,latitude,longitude\n" + b"".join(
    b"Import Town %d,PT,%.4f,%.4f\n" % (i, 37 + i / 1000, -9 + i / 1000) for i in range(ROWS)
)


def run_import(source: str, timeout: float = 120) -> PipelineRun:
    run = etl_run_enqueue(source=source)
    task_done(run.task_id, timeout=timeout)
    return wait_for(
        lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
        what="the import to finish",
    )


@pytest.mark.parametrize(
    ("framing", "compressed"),
    [("length", False), ("chunked", False), ("close", False), ("length", True), ("chunked", True)],
)
def test_a_url_import_loads_however_the_answer_is_framed(worker, source, framing, compressed):
    # Content-Length answers used to fail at the end with "I/O operation on closed file".
    run = run_import(source.answer("/cities.csv", CITIES, framing=framing, gzip=compressed))
    assert (run.state, run.rows_total, run.cities_ok) == ("success", ROWS, ROWS), run.error_summary
    assert City.objects.filter(name__startswith="Import Town").count() == ROWS


def test_a_url_import_follows_redirects(worker, source):
    source.answer("/cities.csv", CITIES, framing="chunked", gzip=True)
    source.redirect("/latest", "/2026/cities.csv", status=302)
    source.redirect("/2026/cities.csv", source.url("/cities.csv"), status=301)
    run = run_import(source.url("/latest"))
    assert (run.state, run.cities_ok) == ("success", ROWS), run.error_summary
    assert [seen.path for seen in source.seen] == ["/latest", "/2026/cities.csv", "/cities.csv"]


def test_a_refused_source_fails_its_run_with_the_rule_and_records_no_secret(worker, source, inside):
    inside.answer("/metrics", b"flower_events_total 12\nsecret_broker_password 1\n")
    # localhost is on the fast tier's allow-list: the address, not the name, must stop it.
    source.redirect("/moved?token=t0ken", inside.url("/metrics", host="localhost"))
    url = source.url("/moved?token=t0ken").replace("://", "://reader:pa55word@")
    run = run_import(url)
    assert run.state == "failure"
    assert run.error_summary == "The input cannot be imported: source address is loopback"
    assert inside.seen == []
    assert not City.objects.exists()
    shown = f"http://127.0.0.2:{source.port}/moved"
    assert run.source == shown and PipelineRunSerializer(run).data["source"] == shown
    # The task results and Flower see the source as shown, never the URL whole.
    for result in TaskResult.objects.all():
        for field in (result.task_args, result.result, result.traceback):
            assert "pa55word" not in (field or "") and "t0ken" not in (field or "")


def test_a_source_over_a_cap_loads_nothing_and_leaves_no_staged_rows(worker):
    # 3,000 good rows (a batch of 2,000 already staged), then a line past ETL_MAX_LINE_BYTES.
    (Path(settings.ETL_IMPORT_DIR) / "long-line.csv").write_bytes(CITIES + b"x" * 10_000 + b"\n")
    run = run_import("long-line.csv")
    assert run.state == "failure"
    assert run.error_summary == (
        "The input cannot be imported: a line of the source is longer than ETL_MAX_LINE_BYTES"
    )
    assert run.source == "long-line.csv"
    assert not City.objects.exists()
    assert not EtlRow.objects.filter(run=run).exists()


def test_a_gzip_bomb_and_a_200_mb_line_leave_the_worker_memory_bounded(worker, celery_worker_process, source):
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    bomb = b"".join(compressor.compress(b"0" * MIB) for _ in range(400)) + compressor.flush()
    source.answer("/bomb.csv", bomb, headers={"Content-Encoding": "gzip"})
    piece = b"x" * 65536
    source.answer("/line.csv", lambda: (piece for _ in range(200 * MIB // len(piece))), framing="chunked")
    with PeakMemory(pool_pids(celery_worker_process.pid)) as memory:
        bombed = run_import(source.url("/bomb.csv"))
        long_line = run_import(source.url("/line.csv"))
    rule = "The input cannot be imported: a line of the source is longer than ETL_MAX_LINE_BYTES"
    assert (bombed.error_summary, long_line.error_summary) == (rule, rule)
    print(f"\nworker pool: {len(bomb)} byte gzip bomb and 200 MiB line, peak {memory.peak_mib:.0f} MiB,"
          f" growth {memory.growth_mib:.1f} MiB")  # fmt: skip
    assert memory.growth_mib < 32, f"a pool process grew by {memory.growth_mib:.0f} MiB"


def test_imports_wait_on_their_own_queue_without_holding_a_refresh(worker):
    (Path(settings.ETL_IMPORT_DIR) / "queued.csv").write_bytes(CITIES)
    city = City.objects.create(name="Refreshed", country="PT", latitude=38.7, longitude=-9.1)
    app.control.cancel_consumer(settings.ETL_QUEUE, destination=[worker], reply=True)
    try:
        run = etl_run_enqueue(source="queued.csv")
        wait_for(lambda: queue_depth(settings.ETL_QUEUE) == 1, what="the import in its queue")
        # No worker serves imports now, and a refresh runs all the same.
        assert task_done(city_refresh_enqueue(city_id=city.id)).status == "SUCCESS"
        assert PipelineRun.objects.get(pk=run.pk).state == "queued"
    finally:
        app.control.add_consumer(settings.ETL_QUEUE, destination=[worker], reply=True)
    task_done(run.task_id, timeout=120)
    assert PipelineRun.objects.get(pk=run.pk).state == "success"


def test_the_sweep_fails_abandoned_imports_and_deletes_what_they_staged(worker):
    def staged_run(state: str, age: timedelta) -> PipelineRun:
        run = PipelineRun.objects.create(kind=PipelineRun.Kind.ETL, state=state)
        PipelineRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - age)
        EtlRow.objects.bulk_create(EtlRow(run=run, line=line, raw={}) for line in range(1, 101))
        return run

    max_age = timedelta(hours=settings.ETL_STAGING_MAX_AGE_HOURS)
    crashed = staged_run("running", max_age + timedelta(minutes=5))
    left_over = staged_run("failure", timedelta(minutes=1))
    in_progress = staged_run("running", max_age - timedelta(minutes=5))
    result = task_done(cleanup_abandoned_imports.delay().id)
    assert json.loads(result.result) == {
        "runs_failed": 1, "rows_deleted": 200, "max_age_hours": settings.ETL_STAGING_MAX_AGE_HOURS
    }  # fmt: skip
    crashed.refresh_from_db()
    assert (crashed.state, crashed.error_summary) == ("failure", ABANDONED_REASON)
    assert EtlRow.objects.filter(run=left_over).count() == 0
    assert EtlRow.objects.filter(run=in_progress).count() == 100
    # Beat runs it hourly; a missed run expires instead of piling up after an outage.
    entry = settings.CELERY_BEAT_SCHEDULE["cleanup-abandoned-imports"]
    assert entry["task"] == cleanup_abandoned_imports.name and entry["options"]["expires"] < 3600
