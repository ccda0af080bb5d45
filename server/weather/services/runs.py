"""The life of a PipelineRun: queued by the API or beat, started by its task, closed by its last step."""

import uuid
from collections import Counter
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from weather.models import PipelineRun
from weather.services.enqueue import task_enqueue_on_commit, transaction_serialized

# A run keeps a sample of per-item errors for operators; the counts are always complete.
ERRORS_KEPT = 1000
# A full refresh still open after this long was abandoned (its message lost, its worker killed):
# asking again starts a new one instead of joining it for ever. Beat starts one every 3 hours.
OPEN_REFRESH_MAX_AGE = timedelta(hours=3)


def refresh_run_enqueue() -> PipelineRun:
    """Record a full refresh and queue the task that fans it out, once the record is committed."""
    from weather import tasks

    task_id = str(uuid.uuid4())
    with transaction.atomic():
        run = PipelineRun.objects.create(kind=PipelineRun.Kind.REFRESH, task_id=task_id)
        task_enqueue_on_commit(
            tasks.update_all_weather_data.si(),
            task_id=task_id,
            on_broker_error=lambda reason: run_fail(run_id=run.id, reason=reason),
        )
    return run


def refresh_run_enqueue_or_join() -> tuple[PipelineRun, bool]:
    """The open full refresh if there is one (and False), else a new one (and True): asking twice
    while one runs costs one fan-out, not two. Two requests at once see each other (the lock)."""
    with transaction_serialized("refresh-all"):
        open_run = (
            PipelineRun.objects.filter(
                kind=PipelineRun.Kind.REFRESH, created_at__gte=timezone.now() - OPEN_REFRESH_MAX_AGE
            )
            .exclude(state__in=PipelineRun.FINISHED_STATES)
            .order_by("-created_at")
            .first()
        )
        if open_run is not None:
            return open_run, False
        return refresh_run_enqueue(), True


def run_begin(
    *, kind: str, task_id: str, run_id: int | None = None, source: str = "", total: int = 0
) -> PipelineRun:
    """Mark a run as running: the given one, or this task's, created when nothing queued it first.

    Keyed by the task id, so a redelivered task finds its run again instead of adding a second one.
    """
    if run_id is not None:
        run = PipelineRun.objects.get(pk=run_id)
    else:
        run, _ = PipelineRun.objects.get_or_create(task_id=task_id, defaults={"kind": kind, "source": source})
    run.state = PipelineRun.State.RUNNING
    run.started_at = run.started_at or timezone.now()
    run.cities_total = total
    run.save(update_fields=["state", "started_at", "cities_total"])
    return run


def refresh_run_finish(*, run_id: int, batch_results: list[dict]) -> PipelineRun:
    """Close a full refresh from its batches' outcomes. Setting (not adding) counts makes it idempotent."""
    ok = 0
    failed: dict[str, str] = {}
    for result in batch_results:
        ok += int(result.get("ok", 0))
        failed.update(result.get("failed", {}))
    run = PipelineRun.objects.get(pk=run_id)
    run.cities_ok = ok
    run.cities_failed = len(failed)
    run.errors = [
        {"city_id": int(city_id), "error": reason} for city_id, reason in list(failed.items())[:ERRORS_KEPT]
    ]
    run.error_summary = summarize_errors(failed.values(), noun="cities")
    run.state = _final_state(ok=ok, failed=len(failed))
    run.finished_at = timezone.now()
    run.save()
    return run


def run_fail(*, run_id: int, reason: str) -> None:
    """Close a run that could not finish; a run already closed keeps its outcome."""
    PipelineRun.objects.filter(pk=run_id).exclude(state__in=PipelineRun.FINISHED_STATES).update(
        state=PipelineRun.State.FAILURE, error_summary=reason[:2000], finished_at=timezone.now()
    )


def summarize_errors(reasons, *, noun: str) -> str:
    counts = Counter(reasons)
    if not counts:
        return ""
    total = sum(counts.values())
    parts = [f"{n} × {reason}" for reason, n in counts.most_common(5)]
    more = f"; and {len(counts) - 5} other reasons" if len(counts) > 5 else ""
    return f"{total} {noun} failed: " + "; ".join(parts) + more


def _final_state(*, ok: int, failed: int) -> str:
    if failed == 0:
        return PipelineRun.State.SUCCESS
    return PipelineRun.State.PARTIAL if ok else PipelineRun.State.FAILURE
