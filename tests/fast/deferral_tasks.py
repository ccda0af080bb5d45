"""A task that defers itself, only in the fast tier's worker (tests/fast/settings.py imports it)."""

from pathlib import Path

from celery import chord, shared_task

from task_queue.deferral import task_defer


@shared_task(bind=True, max_retries=0)
def defer_then_return(self, runs_log: str, deferrals: int, countdown: float = 0.2) -> list[int]:
    """Defer itself `deferrals` times, then return the retry count each run saw."""
    log = Path(runs_log)
    with log.open("a") as fh:
        fh.write(f"{self.request.retries}\n")
    seen = [int(line) for line in log.read_text().split()]
    if len(seen) <= deferrals:
        raise task_defer(self, countdown=countdown, reason=f"deferral {len(seen)} of {deferrals}")
    return seen


@shared_task
def collect(results: list) -> int:
    return len(results)


def defer_in_a_chord(logs: list[str], deferrals: int):
    return chord(defer_then_return.s(log, deferrals) for log in logs)(collect.s())
