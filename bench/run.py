"""`make bench`: the pipeline measured against its floor and against the naive design, side by side.

Everything runs natively on this machine: the local PostgreSQL and RabbitMQ, real worker processes,
gunicorn, nginx and wrk, and the Open-Meteo stand-in in a process of its own. Figures are reported as
ratios to baselines measured in the same run, because the machine is shared and noisy.

The parts: bench/processes.py (set-up and processes), bench/measure.py (refresh, task overhead,
memory), bench/web.py (the web path, with bench/nginx.conf), bench/quota.py (the API budget),
bench/report.py (the tables).
"""

import argparse
import json

from bench.measure import (
    kombu_floor,
    noop_round_trips,
    refresh_celery,
    refresh_floor,
    refresh_naive,
    worker_memory,
)
from bench.processes import OUT, log, prepare_database, seed_cities, stub_config, stub_process, worker_process
from bench.quota import cost_per_batch, rate_under_limit
from bench.report import image_size, machine, report
from bench.web import web_path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="1,000 cities only, shorter load runs (< 3 min)")
    parser.add_argument("--only", choices=["refresh", "web", "memory", "quota"], help="measure one part")
    options = parser.parse_args()
    quick = options.quick
    wanted = {options.only} if options.only else {"refresh", "web", "memory", "quota"}
    sizes = [1000] if quick else [1000, 10_000]
    latencies = [0, 50]
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": machine(), "quick": quick, "refresh": [], "overhead": [], "floors": {}}
    prepare_database()
    with stub_process():
        if "refresh" in wanted:
            refresh_and_overhead(results, sizes, latencies, quick)
        if "web" in wanted:
            stub_config(latency_ms=0)
            results["web"] = web_path(3 if quick else 10)
            log("web path measured")
        if "memory" in wanted:
            with worker_process(2) as worker:
                results["memory"] = worker_memory(worker, *((400, 1200) if quick else (1000, 10_000)))
            log(f"worker memory: {results['memory']}")
        if "quota" in wanted:
            results["quota"] = {"rate": rate_under_limit(quick), "cost": cost_per_batch(quick)}
            log(f"API budget: {results['quota']}")
    results["image_bytes"] = image_size()
    (OUT / "results.json").write_text(json.dumps(results, indent=2))
    print(report(results))


def refresh_and_overhead(results: dict, sizes: list[int], latencies: list[int], quick: bool) -> None:
    # Floors first: they need no worker.
    for latency in latencies:
        stub_config(latency_ms=latency)
        for size in sizes:
            ids = seed_cities(size)
            results["floors"][f"{size}@{latency}"] = refresh_floor(ids)
            log(f"floor {size} cities @{latency} ms: {results['floors'][f'{size}@{latency}']:.2f} s")
    results["kombu_floor_per_s"] = kombu_floor(2000 if quick else 5000)
    log(f"kombu publish+consume: {results['kombu_floor_per_s']:.0f}/s")

    for concurrency in (1, 2):
        with worker_process(concurrency):
            for stored in (True, False):
                rate = noop_round_trips(500 if quick else 3000, stored=stored)
                results["overhead"].append({"workers": concurrency, "stored": stored, "per_s": rate})
                results_mode = "stored" if stored else "off"
                log(f"no-op, {concurrency} worker(s), results {results_mode}: {rate:.0f}/s")
            for latency in latencies:
                stub_config(latency_ms=latency)
                for size in sizes:
                    ids = seed_cities(size)
                    celery = refresh_celery(ids)
                    naive_size = min(size, 100 if quick else (size if latency == 0 else 1000))
                    naive = refresh_naive(ids[:naive_size]) * (size / naive_size)
                    row = {
                        "cities": size,
                        "latency_ms": latency,
                        "workers": concurrency,
                        "celery_s": celery,
                        "naive_s": naive,
                        "naive_extrapolated": naive_size != size,
                        "floor_s": results["floors"][f"{size}@{latency}"],
                    }
                    results["refresh"].append(row)
                    log(
                        f"refresh {size} @{latency} ms, {concurrency} worker(s): celery {celery:.2f} s, "
                        f"naive {naive:.1f} s{' (extrapolated)' if row['naive_extrapolated'] else ''}"
                    )


if __name__ == "__main__":
    main()
