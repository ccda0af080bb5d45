"""`make bench`, the API budget: how much of a limit the pipeline spends, and what sharing costs.

1. Rate under a limit: real workers refresh more cities than one window allows, with a small limit
   and a short window (the stand-in counts calls per window, and refuses past the limit as the real
   API does). The rate achieved is the calls of each full window as a ratio of the limit: 1.0 means
   the budget is spent, not wasted; above 1.0 would be an overspend.
2. Cost per batch: one reservation (the conditional UPDATE in PostgreSQL) against the time of one
   batch of the production size, fetched from the stand-in without latency (its fastest case),
   by one process, then by four fetching at once as worker processes do.
"""

import multiprocessing
import os
import time
import uuid

from bench.processes import process, seed_cities, stub_config, stub_reset, stub_stats
from tests.celery_worker import worker_command

WINDOW = 5  # seconds
LIMIT = 300  # calls per window
BATCH = 100
WINDOWS = 8  # to refresh: the first, partial window and the last are left out of the ratio
CONTENDERS = 4


def rate_under_limit(quick: bool) -> dict:
    """Refresh LIMIT × windows cities with two worker processes; calls per window ÷ the limit."""
    from quota.models import QuotaBudget
    from server_config.celery import app
    from tests.polling import wait_for
    from weather.models import PipelineRun
    from weather.workflows import refresh_run_enqueue

    windows = 4 if quick else WINDOWS
    cities = seed_cities(LIMIT * windows)
    QuotaBudget.objects.all().delete()
    stub_reset()
    stub_config(window_seconds=WINDOW, limit_per_window=LIMIT)
    env = {
        "WEATHER_QUOTA_PER_MINUTE": str(LIMIT),
        "WEATHER_QUOTA_MINUTE_SECONDS": str(WINDOW),
        "WEATHER_BATCH_SIZE": str(BATCH),
    }
    hostname = f"bench-quota-{uuid.uuid4().hex[:6]}@localhost"
    args = worker_command(hostname=hostname, queue=os.environ["CELERY_TASK_DEFAULT_QUEUE"], concurrency=2)
    ready = lambda: app.control.ping([hostname], timeout=0.5)  # noqa: E731
    with process(args, name="worker-quota", ready=ready, env=env):
        started = time.time()
        run = refresh_run_enqueue()
        run = wait_for(
            lambda: PipelineRun.objects.filter(pk=run.pk, state__in=PipelineRun.FINISHED_STATES).first(),
            timeout=60 + windows * WINDOW * 3,
        )
    assert run.cities_ok == len(cities), (run.state, run.cities_ok, run.error_summary)
    stats = stub_stats()
    per_window = [calls for _, calls in sorted((float(k), v) for k, v in stats["calls_per_window"].items())]
    full = per_window[1:-1]  # the first window is joined late, the last holds what is left
    return {
        "limit": LIMIT,
        "window_s": WINDOW,
        "batch": BATCH,
        "cities": len(cities),
        "elapsed_s": round(run.finished_at.timestamp() - started, 2),
        "calls_per_window": per_window,
        "ratio_mean": round(sum(full) / (len(full) * LIMIT), 3) if full else None,
        "ratio_min": round(min(full) / LIMIT, 3) if full else None,
        "max_calls_in_a_window": max(per_window),
        "refused_429": stats["requests"].get("/v1/forecast", {}).get("429", 0),
    }


def _fetch_batches(database: str, batches: list[list[int]], start, out) -> None:
    """One of several processes fetching batches at once, as worker processes do: the time of each
    reservation, and of each whole batch (its own reservation included)."""
    os.environ.update({"POSTGRES_DB": database, "DJANGO_SETTINGS_MODULE": "bench.settings"})
    import django

    django.setup()
    from weather.services.forecast_quota import forecast_quota_reserve
    from weather.services.observations import observations_fetch

    observations_fetch(city_ids=batches[0])  # warm: the client's connection, the database's
    start.wait(timeout=120)
    reserving = fetching = 0.0
    for batch in batches:
        began = time.perf_counter()
        forecast_quota_reserve(locations=len(batch))
        reserved = time.perf_counter()
        observations_fetch(city_ids=batch)
        reserving += reserved - began
        fetching += time.perf_counter() - reserved
    out.put((reserving / len(batches), fetching / len(batches)))


def cost_per_batch(quick: bool) -> dict:
    """Seconds per reservation against seconds per batch of BATCH cities: one process, then
    CONTENDERS processes fetching batches at once (every reservation updates the same row)."""
    from django.conf import settings

    from quota.models import QuotaBudget

    rounds = 10 if quick else 30
    ids = seed_cities(BATCH * CONTENDERS)
    batches = [ids[i : i + BATCH] for i in range(0, len(ids), BATCH)]
    stub_config(latency_ms=0, limit_per_window=0)
    QuotaBudget.objects.all().delete()
    context = multiprocessing.get_context("spawn")
    database = settings.DATABASES["default"]["NAME"]
    figures = {}
    for processes in (1, CONTENDERS):
        start, out = context.Barrier(processes), context.Queue()
        workers = [
            context.Process(target=_fetch_batches, args=(database, [batches[i]] * rounds, start, out))
            for i in range(processes)
        ]
        for worker in workers:
            worker.start()
        results = [out.get(timeout=600) for _ in workers]
        for worker in workers:
            worker.join(timeout=60)
        reserve = max(r for r, _ in results)
        batch = sum(f for _, f in results) / len(results)
        figures[processes] = {
            "reserve_ms": round(reserve * 1000, 3),
            "batch_ms": round(batch * 1000, 2),
            "share": round(reserve / batch, 4),
        }
    return {"processes": figures}
