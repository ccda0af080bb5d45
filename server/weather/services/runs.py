"""The life of a PipelineRun: recorded by a workflow, started by its first task, closed by its last."""

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from quota.selectors import quota_status
from weather.models import EtlRow, PipelineRun

# A run keeps a sample of per-item errors for operators; the counts are always complete.
ERRORS_KEPT = 1000


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


def run_finish(
    *, run_id: int, ok: int, failed: int, errors: Sequence[dict], summary: str, **counts: int
) -> PipelineRun:
    """Close a run from its outcome: `ok` and `failed` items, a sample of the failures, and the
    run's own counters (`counts`, by field name). Setting (not adding) makes it idempotent."""
    run = PipelineRun.objects.get(pk=run_id)
    for field, value in counts.items():
        PipelineRun._meta.get_field(field)  # a misspelt counter fails loudly instead of being dropped
        setattr(run, field, value)
    run.errors = list(errors[:ERRORS_KEPT])
    run.error_summary = summary
    if failed == 0:
        run.state = PipelineRun.State.SUCCESS
    else:
        run.state = PipelineRun.State.PARTIAL if ok else PipelineRun.State.FAILURE
    run.finished_at = timezone.now()
    run.save()
    return run


def refresh_run_finish(*, run_id: int, batch_results: list[dict]) -> PipelineRun:
    """Close a full refresh from its batches' outcomes (each `{"ok": n, "failed": {city id: reason}}`)."""
    ok = 0
    failed: dict[str, str] = {}
    for result in batch_results:
        ok += int(result.get("ok", 0))
        failed.update(result.get("failed", {}))
    run = PipelineRun.objects.get(pk=run_id)
    # What was neither fetched nor failed waited for the day's budget: planned so, or refused late.
    deferred = max(0, run.cities_total - ok - len(failed))
    deferred_until = run.deferred_until
    if deferred and deferred_until is None:
        deferred_until = quota_status().window("day").resets_at
    return run_finish(
        run_id=run_id,
        ok=ok,
        failed=len(failed),
        errors=[{"city_id": int(city_id), "error": reason} for city_id, reason in failed.items()],
        summary=errors_summarize_by_reason(failed.values(), noun="cities"),
        cities_ok=ok,
        cities_failed=len(failed),
        cities_deferred=deferred,
        deferred_until=deferred_until,
    )


def run_fail(*, run_id: int, reason: str) -> None:
    """Close a run that could not finish; a run already closed keeps its outcome. What an import
    staged is deleted either way: nothing of a failed run is loaded later, and 48,000 rows of one
    failed run once stayed for good."""
    with transaction.atomic():
        PipelineRun.objects.filter(pk=run_id).exclude(state__in=PipelineRun.FINISHED_STATES).update(
            state=PipelineRun.State.FAILURE, error_summary=reason[:2000], finished_at=timezone.now()
        )
        EtlRow.objects.filter(run_id=run_id).delete()


ABANDONED_REASON = "The import stopped without finishing (its worker was lost); its staged rows were deleted."


def staged_rows_delete_abandoned(*, older_than: timedelta) -> tuple[int, int]:
    """What a crash left: imports queued more than `older_than` ago and still open are failed (every
    step has a hard time limit, so nothing runs that long), and the rows staged for any closed
    import are deleted. Returns (runs failed, rows deleted)."""
    with transaction.atomic():
        failed = (
            PipelineRun.objects.filter(kind=PipelineRun.Kind.ETL, created_at__lt=timezone.now() - older_than)
            .exclude(state__in=PipelineRun.FINISHED_STATES)
            .update(
                state=PipelineRun.State.FAILURE, error_summary=ABANDONED_REASON, finished_at=timezone.now()
            )
        )
        deleted, _ = EtlRow.objects.filter(run__state__in=PipelineRun.FINISHED_STATES).delete()
    return failed, deleted


def errors_summarize_by_reason(reasons: Iterable[str], *, noun: str) -> str:
    """The commonest reasons first, such as `3 cities failed: 2 × timeout; 1 × refused`."""
    counts = Counter(reasons)
    if not counts:
        return ""
    total = sum(counts.values())
    parts = [f"{n} × {reason}" for reason, n in counts.most_common(5)]
    more = f"; and {len(counts) - 5} other reasons" if len(counts) > 5 else ""
    return f"{total} {noun} failed: " + "; ".join(parts) + more


def errors_summarize_by_line(total: int, errors: Sequence[dict]) -> str:
    """The first bad lines, where an operator starts looking: `7 bad rows: line 4: …; line 5: …`."""
    if not total:
        return ""
    first = "; ".join(f"line {error['line']}: {error['error']}" for error in errors[:5])
    return f"{total} bad rows: {first}" + ("; …" if total > 5 else "")
