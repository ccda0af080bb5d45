"""The life of a PipelineRun: queued by the API or beat, started by its task, closed by its last step."""

import uuid
from collections import Counter

from django.db import transaction
from django.utils import timezone

from quota.selectors import quota_status
from weather.models import PipelineRun
from weather.services.enqueue import task_enqueue_on_commit

# A run keeps a sample of per-item errors for operators; the counts are always complete.
ERRORS_KEPT = 1000


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


def run_begin(
    *,
    kind: str,
    task_id: str,
    run_id: int | None = None,
    source: str = "",
    total: int = 0,
    deferred: int = 0,
    deferred_until=None,
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
    run.cities_deferred = deferred
    run.deferred_until = deferred_until
    run.save(update_fields=["state", "started_at", "cities_total", "cities_deferred", "deferred_until"])
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
    # What was neither fetched nor failed waited for the day's budget: planned so, or refused late.
    run.cities_deferred = max(0, run.cities_total - ok - len(failed))
    if run.cities_deferred and run.deferred_until is None:
        run.deferred_until = quota_status().window("day").resets_at
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
